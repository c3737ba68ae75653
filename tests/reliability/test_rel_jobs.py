"""``unmask run --jobs N``: the same bytes as ``--jobs 1`` (a stage's key does not hold ``jobs``), and a
SIGTERM stops the workers without leaking the pool's semaphores."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from crashstages import _EXPERIMENT, write_llava, write_safebench

from unmask.pipeline.graph import Plan, Stage, run_plan, stage


@stage("threads-probe")
def _probe(st: Stage, out: Path, deps: dict, ctx: object) -> None:
    import torch

    (out / "threads.txt").write_text(str(torch.get_num_threads()))


def test_a_stage_runs_with_the_same_thread_count_whatever_jobs(tmp_path):
    """torch's CPU kernels split sums by thread count: a LoRA adapter trained with 1 and 2 threads differs by
    ~1e-7 (`OMP_NUM_THREADS=1` vs `2` on `unmask train`, batch 8, rank 16). Workers used to get
    cores // jobs threads; now each stage gets this process's count, as with --jobs 1."""
    import torch

    before = torch.get_num_threads()
    want = (os.cpu_count() or 1) + 1  # never cores // 2: the old share would show
    torch.set_num_threads(want)
    try:
        got = {}
        for jobs in (1, 2):
            plan = Plan([Stage("threads-probe", f"p{i}", {"i": i}) for i in range(2)])
            plan.compute_keys(lambda f: f)
            run_plan(plan, tmp_path / f"jobs{jobs}", None, jobs=jobs, log=lambda m: None)
            got[jobs] = sorted(p.read_text() for p in (tmp_path / f"jobs{jobs}").rglob("threads.txt"))
    finally:
        torch.set_num_threads(before)
    assert got[1] == got[2] == [str(want)] * 2, got


def test_sigterm_with_two_jobs_stops_workers_and_leaks_no_semaphore(tmp_path):
    write_llava(tmp_path / "data.json", 8, images=4)
    write_safebench(tmp_path / "sb.csv", 3)
    (tmp_path / "exp.yaml").write_text(_EXPERIMENT.replace("fraction: [0.25]", "fraction: [0.25, 0.5]")
                                       .replace("max_steps: 2", "max_steps: 50").replace("save_every: 1",
                                                                                          "save_every: 0"))
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.Popen([sys.executable, "-m", "unmask", "run", "exp.yaml", "-o", "run", "--jobs", "2"],
                            cwd=tmp_path, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    seen = []
    deadline = time.monotonic() + 300
    for line in proc.stderr:  # wait until the workers train (the long stages)
        seen.append(line)
        if "run     train/" in line or time.monotonic() > deadline:
            break
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=120)  # the pipe closes when every process holding it (tracker too) is gone
    stderr = "".join(seen) + rest
    assert proc.returncode != 0, "an interrupted run exited 0"
    assert "leaked semaphore" not in stderr and "Traceback" not in stderr, stderr[-3000:]
    left = subprocess.run(["pgrep", "-f", f"spawn_main.*{proc.pid}"], capture_output=True, text=True).stdout
    assert not left.strip()
