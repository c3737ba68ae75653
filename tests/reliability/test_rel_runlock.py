"""Two ``unmask run`` into one run folder: the second stops at once with one line (``RUN/.lock``, flock);
the lock dies with its holder, even under ``kill -9``."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

# A run that, once it holds the lock, stops at its first step: its data file does not exist.
_EXPERIMENT = "name: x\ndata: {sources: [absent.json]}\nbenches: [{label: b, kind: text, input: absent.csv}]\n"
_HOLD = """
import fcntl, os, sys, time
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(600)
"""


def _holder(lock: Path) -> subprocess.Popen:
    """Another process holding RUN/.lock (as a running `unmask run` does)."""
    lock.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", _HOLD, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_run_into_one_folder_stops_with_one_line(tmp_path, run_cli, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.yaml").write_text(_EXPERIMENT)
    run = tmp_path / "run"
    holder = _holder(run / ".lock")
    try:
        t0 = time.monotonic()
        code, _, stderr = run_cli("run", "exp.yaml", "-o", run)
        assert time.monotonic() - t0 < 30
        lines = stderr.strip().splitlines()
        assert code == 2 and len(lines) == 1, stderr
        assert "another `unmask run` is writing this run folder" in lines[0] and str(run) in lines[0]
        assert sorted(p.name for p in run.iterdir()) == [".lock"], "the second run wrote into the folder"
        # A dry run writes nothing and takes no lock: it may look at a running run's folder.
        code, _, stderr = run_cli("run", "exp.yaml", "-o", run, "--dry-run")
        assert code == 0, stderr
    finally:
        holder.send_signal(signal.SIGKILL)  # the kernel drops the lock with its holder
        holder.wait()
    code, _, stderr = run_cli("run", "exp.yaml", "-o", run)
    assert code == 2 and "absent.csv: no such file" in stderr and "another" not in stderr, stderr
