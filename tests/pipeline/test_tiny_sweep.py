"""`recipes/tiny-sweep.yaml` end to end on the built-in world (small settings): killed mid-way, it resumes
with identical results; changing one fraction reruns only that branch."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import orjson
import pytest

RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "tiny-sweep.yaml"
SMALL = [
    "source_options.world.n_train=48", "source_options.world.n_curated=8", "sweep.fraction=[0.0, 0.25]",
    "train.max_steps=3", "train.batch_size=4", "train.save_every=1",
    "benches.0.options.limit=6", "benches.1.options.limit=6", "benches.2.options.limit=6",
    "generate.max_new_tokens=6", "generate.batch_size=8", "bootstrap=50",
]


def _results(run: Path) -> dict:
    """Every verdict and metric of a run, with the run folder's own path taken out (adapter paths)."""
    out = {}
    for p in sorted((run / "results").rglob("*.jsonl")) + sorted((run / "results").rglob("metrics.json")):
        text = p.read_bytes().replace(str(run).encode(), b"RUN")
        lines = text.splitlines() if p.suffix == ".jsonl" else [text]
        out[str(p.relative_to(run))] = [orjson.loads(x) for x in lines if x.strip()]
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    from unmask.pipeline import load_experiment, run_experiment

    run = tmp_path_factory.mktemp("ref") / "run"
    result = run_experiment(load_experiment(RECIPE, SMALL), run, log=lambda m: None)
    return run, result


def test_sweep_runs_and_reports(reference):
    run, result = reference
    assert set(result["status"].values()) == {"ran"}
    assert set(result["summary"]) == {"base", "mix-0", "mix-0.25"}
    assert (run / "report.html").stat().st_size > 1000
    metrics = orjson.loads((run / "results/mix-0.25/harmful-typo/keyword/metrics.json").read_bytes())
    assert metrics["labels"]["fraction"] == 0.25 and metrics["judge"]["name"] == "keyword"
    assert metrics["overall"]["n"] == 6


def test_killed_run_resumes_with_identical_results(reference, tmp_path, unmask_cmd):
    ref_run, _ = reference
    run = tmp_path / "run"
    cmd = [*unmask_cmd, "run", str(RECIPE), *SMALL, "-o", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    # kill -9 once training has written its first checkpoint (mid-way through the run)
    while time.time() < deadline and proc.poll() is None:
        if list(run.glob(".stages/train-*/model.partial/checkpoints/*")):
            break
        time.sleep(0.2)
    assert proc.poll() is None, "the run finished before it could be killed; make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (run / "summary.json").exists()
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "cached" in res.stderr  # the stages finished before the kill were not redone
    ours, theirs = _results(run), _results(ref_run)
    assert ours.keys() == theirs.keys()
    diff = {k: next((a, b) for a, b in zip(ours[k], theirs[k], strict=True) if a != b)
            for k in ours if ours[k] != theirs[k]}
    assert not diff, f"resumed run differs: {diff}"


def test_changing_one_fraction_reruns_only_its_branch(reference, tmp_path):
    import shutil

    from unmask.pipeline import load_experiment, run_experiment

    ref_run, _ = reference
    run = tmp_path / "run"
    shutil.copytree(ref_run, run)
    changed = [*SMALL[:2], "sweep.fraction=[0.0, 0.5]", *SMALL[3:]]
    status = run_experiment(load_experiment(RECIPE, changed), run, log=lambda m: None)["status"]
    ran = sorted(label for label, s in status.items() if s == "ran")
    assert ran == sorted(["mix/mix-0.5", "train/mix-0.5"]
                         + [f"{k}/mix-0.5/{b}" for k in ("generate",) for b in ("harmful-text", "harmful-typo", "benign-typo")]
                         + [f"{k}/mix-0.5/{b}/keyword" for k in ("judge", "metrics")
                            for b in ("harmful-text", "harmful-typo", "benign-typo")])
    assert all(s == "cached" for label, s in status.items() if "mix-0.5" not in label)
    assert not (run / "results" / "mix-0.25").exists() and (run / "results" / "mix-0.5").exists()
