"""All the reliability trials, with the figures for RELIABILITY.md.

    python benchmarks/reliability_trials.py                 # 20 kill -9 trials per stage + the whole suite
    python benchmarks/reliability_trials.py --trials 5 --stages mix,judge --no-suite

1. Crash safety: for mix, judge, generate, train and run, two uninterrupted reference runs (which must
   agree), then N trials: ``kill -9`` at a seeded random moment within the reference's duration (once,
   or in a third of the trials twice), a final run to the end, and every final output compared with the
   reference (records, verdicts, adapter weights, training log, metrics, manifests, stage folders).
2. The rest of ``tests/reliability`` (hostile-input corpus, judge faults, determinism, security), run by
   pytest; its results are counted per file.

Processes come from a fork server with torch and unmask imported (``tests/reliability/crashlib.py``), so
the kill lands in the command's work rather than in its imports; each is a real process ended by SIGKILL.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "reliability"))
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _phase_kind(phase: str) -> str:
    """Group the probes' words: where in the run the kill landed."""
    if phase in ("not started", "journal -1 lines", "checkpoints []"):
        return "before output"
    if phase == "written" or phase.endswith("+ report"):
        return "while finishing"
    return "mid-output"


def crash_trials(stages: list[str], n: int, root: Path, mode: str = "fork") -> list[dict]:
    from crashlib import Runner, run_trials

    runner = Runner(mode)
    t0 = time.monotonic()
    runner.warm()
    print(f"fork server ready in {time.monotonic() - t0:.1f}s", flush=True)
    rows = []
    for stage in stages:
        t0 = time.monotonic()
        trial, results = run_trials(stage, list(range(1, n + 1)), root, runner, ref_runs=2)
        kills = [k for r in results for k in r.kills]
        mid = [k for k in kills if not k["finished_first"]]
        where = Counter(_phase_kind(k["phase"]) for k in mid)
        row = {
            "stage": stage, "trials": len(results), "passed": sum(r.equal for r in results),
            "kills": len(kills), "kills_mid_run": len(mid), "double_kill_trials": sum(len(r.kills) > 1 for r in results),
            "before_output": where["before output"], "mid_output": where["mid-output"],
            "while_finishing": where["while finishing"],
            "leftover_tmp_files": sum(len(r.leftovers) for r in results),
            "ref_s": round(trial.ref_seconds, 2), "mean_trial_s": round(sum(r.seconds for r in results) / len(results), 2),
            "wall_s": round(time.monotonic() - t0, 1),
        }
        rows.append(row)
        print(row, flush=True)
        left = Counter(re.sub(r"tmp-\d+", "tmp-PID", p) for r in results for p in r.leftovers)
        if left:
            print(f"  left behind by killed processes (not outputs): {dict(left)}", flush=True)
        for r in results:
            if not r.equal:
                print(f"  FAILED seed {r.seed}: kills {r.kills} rc {r.rc} {r.diffs}\n{r.log[-1500:]}", flush=True)
    return rows


def suite(junit: Path) -> dict[str, Counter]:
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "tests" / "reliability"), "-q", "-p", "no:cacheprovider",
           "-m", "not slow", "-k", "not kill9", f"--junitxml={junit}"]
    t0 = time.monotonic()
    subprocess.run(cmd, cwd=ROOT)
    print(f"suite (without the crash trials): {time.monotonic() - t0:.1f}s", flush=True)
    counts: dict[str, Counter] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        f = case.get("classname", "").split(".")[-1]
        kids = {c.tag for c in case}
        status = ("failed" if kids & {"failure", "error"} else "xfail" if "skipped" in kids and any(
            "xfail" in (c.get("type", "") + c.get("message", "")) for c in case) else "skipped" if "skipped" in kids
                  else "passed")
        counts.setdefault(f, Counter())[status] += 1
    return counts


def _table(rows: list[dict]) -> str:
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=20, help="kill -9 trials per stage (default 20)")
    ap.add_argument("--stages", default="mix,judge,generate,train,run", help="comma-separated stages")
    ap.add_argument("--no-suite", action="store_true", help="only the crash trials")
    ap.add_argument("--mode", choices=("fork", "exec"), default="fork",
                    help="fork: children of a preloaded fork server (default); exec: `python -m unmask` each time")
    ap.add_argument("--keep", type=Path, default=None, help="keep the trial folders here")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="unmask-reliability-"))
    root.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    rows = crash_trials([s.strip() for s in args.stages.split(",") if s.strip()], args.trials, root / "crash", args.mode)
    print("\n## Crash safety (kill -9, then run again)\n")
    print(_table(rows))
    ok = all(r["passed"] == r["trials"] for r in rows)
    if not args.no_suite:
        counts = suite(root / "junit.xml")
        print("\n## The rest of tests/reliability\n")
        print("| file | passed | xfail (known, reported) | failed |\n|---|---|---|---|")
        for f, c in sorted(counts.items()):
            print(f"| {f} | {c['passed']} | {c['xfail']} | {c['failed']} |")
        ok = ok and not any(c["failed"] for c in counts.values())
    print(f"\nall done in {time.monotonic() - t0:.0f}s; trial folders under {root}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
