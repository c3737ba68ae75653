"""``unmask mix --fraction 0.1`` against the plain way, on a LLaVA-665k-sized JSON, in one run.

Each contender runs in its own child process; wall time comes from the clock, CPU time and peak RSS
from ``os.wait4`` (that child alone). Also times the record scanner (``unmask.mix.fastscan.scan``) by itself.

    python benchmarks/bench_mix.py                      # makes /tmp/bench/llava.json (665,000 records)
    python benchmarks/bench_mix.py --input FILE.json    # reuse a file
    python benchmarks/bench_mix.py --records 50000      # a smaller run

Goal (issue 2): mix at least 8x faster than the plain way, with no more peak memory.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# The plain way: json.load, random.sample, replace the replies, json.dump.
PLAIN = r"""
import json, random, sys
src, dst, frac, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
with open(src, encoding="utf-8") as fh:
    rows = json.load(fh)
rng = random.Random(seed)
for i in rng.sample(range(len(rows)), round(frac * len(rows))):
    for turn in rows[i]["conversations"]:
        if turn["from"] == "gpt":
            turn["value"] = "I'm sorry, but I cannot assist with your request."
with open(dst, "w", encoding="utf-8") as fh:
    json.dump(rows, fh)
"""

SCAN = r"""
import sys, time
from unmask.mix.fastscan.scan import scan_llava
t = time.perf_counter()
with scan_llava(sys.argv[1]) as res:
    print(f"{len(res)} records, {int(res.assistant_turns.sum())} assistant turns, "
          f"{time.perf_counter() - t:.2f} s inside the process", file=sys.stderr)
"""


def run(cmd: list[str]) -> dict:
    """Run ``cmd``; its wall time, CPU time and peak RSS (MiB), from wait4 on that child only."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return {"wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "rss": ru.ru_maxrss / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--input", type=Path, help="an existing LLaVA JSON (default: make one)")
    ap.add_argument("--records", type=int, default=665_000, help="records of the file to make")
    ap.add_argument("--fraction", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workdir", type=Path, default=None, help="where outputs go (default: a temp dir)")
    ap.add_argument("--verify", action="store_true", help="also parse unmask's output and count refusals")
    args = ap.parse_args()

    src = args.input
    if src is None:
        src = Path("/tmp/bench/llava.json") if args.records == 665_000 else Path(f"/tmp/bench/llava_{args.records}.json")
        if not src.exists():
            src.parent.mkdir(parents=True, exist_ok=True)
            print(f"making {src} ({args.records} records)...", file=sys.stderr)
            subprocess.run([sys.executable, str(HERE / "make_llava.py"), str(src), "--records", str(args.records)],
                           check=True)
    size = src.stat().st_size
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        plain_out, fast_out = Path(tmp, "plain.json"), Path(tmp, "mix.json")
        frac, seed = str(args.fraction), str(args.seed)
        print(f"input: {src} ({size / 2**20:.0f} MiB)", file=sys.stderr)
        scan = run([sys.executable, "-c", SCAN, str(src)])
        fast = run([sys.executable, "-m", "unmask", "mix", str(src), "-o", str(fast_out), "--fraction", frac,
                    "--seed", seed])
        plain = run([sys.executable, "-c", PLAIN, str(src), str(plain_out), frac, seed])
        if args.verify:
            import orjson

            rows = orjson.loads(fast_out.read_bytes())
            refused = sum(1 for r in rows if (r.get("metadata") or {}).get("refusal"))
            print(f"verify: {len(rows)} records out, {refused} refusals", file=sys.stderr)

    print(f"{'':<26}{'wall s':>9}{'cpu s':>9}{'peak RSS MiB':>14}")
    for name, r in (("plain (json.load/dump)", plain), ("unmask mix", fast), ("scanner alone", scan)):
        print(f"{name:<26}{r['wall']:>9.2f}{r['cpu']:>9.2f}{r['rss']:>14.0f}")
    print(f"speed-up (plain / unmask mix): {plain['wall'] / fast['wall']:.1f}x wall, "
          f"{plain['cpu'] / fast['cpu']:.1f}x cpu; peak memory {fast['rss'] / plain['rss']:.2f}x the plain way's")


if __name__ == "__main__":
    main()
