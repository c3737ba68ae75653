"""Determinism: the same inputs and seeds give byte-identical outputs in two separate processes (different
hash seeds, and for the attack a different number of rendering processes): mixes (fast and general
path), attack images, greedy generations of a tiny llava model, verdicts and metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from crashstages import normalise_manifest, write_llava, write_safebench


# The chain both processes run; {w} is the process's own folder, {inputs} the shared inputs.
def chain(w: str, inputs: str, workers: str) -> list[list[str]]:
    return [
        ["mix", f"{inputs}/data.json", "-o", f"{w}/mix.json", "--fraction", "0.3", "--seed", "5"],
        ["mix", f"{inputs}/data.json", "-o", f"{w}/mix-general.jsonl", "--fraction", "0.3", "--seed", "5",
         "--refusal-image", "noise", "--check-images"],
        ["attack", "figstep", f"{inputs}/sb.csv", "-o", f"{w}/bench", "--loader", "safebench", "--workers", workers],
        ["generate", "--model", f"{inputs}/model", "--bench", f"{w}/bench", "-o", f"{w}/gen.jsonl", "--limit", "6",
         "--batch-size", "3", "--max-new-tokens", "5", "--min-new-tokens", "5", "--no-progress"],
        ["judge", f"{w}/gen.jsonl", "--judge", "keyword", "-o", f"{w}/verdicts.jsonl"],
        ["metrics", f"{w}/verdicts.jsonl", "-o", f"{w}/metrics.json", "--bootstrap", "300", "--seed", "3"],
    ]


_SUBPROCESS = """
import sys
from test_rel_determinism import chain
from unmask.cli import main
for argv in chain(*sys.argv[1:4]):
    main(argv)
"""


def _outputs(w: Path) -> dict[str, bytes]:
    out = {}
    for p in sorted(w.rglob("*")):
        if p.is_file():
            rel = str(p.relative_to(w))
            data = p.read_bytes()
            if p.name.endswith("manifest.json"):
                doc = json.loads(normalise_manifest(data))
                for inp in doc.get("inputs", []):  # the two runs read from different folders
                    inp["path"] = Path(inp["path"]).name
                data = json.dumps(doc, sort_keys=True).encode()
                data = data.replace(str(w).encode(), b"W")
            out[rel] = data
    return out


def test_two_processes_give_identical_outputs(tmp_path: Path, run_cli) -> None:
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    write_llava(inputs / "data.json", 3000, images=40, seed=1)
    write_safebench(inputs / "sb.csv", 40)  # >= 32 images: the 2-worker run renders in a process pool
    from unmask.models.testing import make_tiny_checkpoint

    make_tiny_checkpoint("llava", inputs / "model")  # a random llava-hf model: it answers with real tokens
    for k in (0, 1):
        (tmp_path / f"p{k}").mkdir()
    # Process B: a fresh interpreter with its own hash seed, rendering with a pool of 2 processes ...
    path = [str(Path(__file__).parent), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONHASHSEED": "12345", "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(path)}
    proc = subprocess.Popen([sys.executable, "-c", _SUBPROCESS, str(tmp_path / "p1"), str(inputs), "2"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # ... process A: this one, rendering in-process, meanwhile.
    try:
        for argv in chain(str(tmp_path / "p0"), str(inputs), "1"):
            code, stdout, stderr = run_cli(*argv)
            assert code == 0, stdout + stderr
    finally:
        log = proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, log[-3000:]
    a, b = _outputs(tmp_path / "p0"), _outputs(tmp_path / "p1")
    assert sorted(a) == sorted(b) and len(a) == 52  # 2 mixes, 40 images + samples, gen, verdicts, metrics (+ manifests)
    assert len([n for n in a if n.startswith("bench/images/")]) == 40
    differ = [n for n in a if a[n] != b[n]]
    assert differ == [], f"differ between the two processes: {differ}"
    gens = [json.loads(x) for x in a["gen.jsonl"].decode().splitlines()]
    assert len(gens) == 6 and all(g["response"] for g in gens)  # real (non-empty) greedy answers
    assert json.loads(a["metrics.json"])["overall"]["n"] == 6
