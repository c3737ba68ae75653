"""One ``unmask run`` per run folder at a time: an advisory lock on ``RUN/.lock``.

Two runs writing one folder would each run the same stages into the same stage folders (their journals
and checkpoints are safe against a kill, not against a second writer). The lock is ``flock`` on an
empty file: the kernel drops it when the process ends, however it ends (``kill -9`` included), so a
stale lock cannot outlive its run. The second run stops at once with one line (``wait=False``, the
default) or waits for the first (``wait=True``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from ..errors import UnmaskError

__all__ = ["LOCK_NAME", "run_lock"]

LOCK_NAME = ".lock"


@contextlib.contextmanager
def run_lock(run_dir: str | Path, *, wait: bool = False) -> Iterator[Path]:
    """Hold ``RUN/.lock`` for the duration of the block (creating ``RUN``)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / LOCK_NAME
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no lock, as before
        yield path
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise UnmaskError(f"{run_dir}: another `unmask run` is writing this run folder; wait for it to "
                              "finish (or stop it), or choose another --out") from None
        yield path
    finally:
        os.close(fd)  # closing the descriptor releases the lock
