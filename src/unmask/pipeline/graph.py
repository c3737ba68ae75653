"""A small stage graph with content-hash caching.

Each stage's key is the hash of its kind, its settings, the keys of the stages it reads and the
sha256 of the raw files it reads. Its output lives in ``RUN/.stages/<kind>-<key>/`` and is marked done
by ``.done.json`` written last (atomically). So a rerun does only what changed, a sweep shares every
stage it can (equal settings, equal key), and a killed run resumes: finished stages are skipped and
the interrupted one picks up its own journal or checkpoint.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..console import follow_parent, set_stage
from ..data.store import atomic_write_bytes, content_key, sha256_file
from ..errors import UnmaskError

__all__ = ["STAGES", "FileHasher", "Plan", "Stage", "run_plan", "stage", "stage_dirs", "stage_threads"]


@dataclass
class Stage:
    kind: str
    label: str
    params: dict[str, Any] = field(default_factory=dict)
    deps: dict[str, str] = field(default_factory=dict)  # role -> label of the stage read
    files: list[str] = field(default_factory=list)      # raw inputs hashed by content
    key: str = ""

    def dirname(self) -> str:
        return f"{self.kind}-{self.key[:16]}"


# kind -> fn(stage, out_dir, dep_dirs {role: Path}, ctx) ; registered with @stage(kind)
STAGES: dict[str, Callable[..., None]] = {}


def stage(kind: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    def deco(fn: Callable[..., None]) -> Callable[..., None]:
        STAGES[kind] = fn
        return fn

    return deco


class FileHasher:
    """sha256 of files and folders, cached by (size, mtime) in ``RUN/.hashes.json``."""

    def __init__(self, cache: Path | None, allow_missing: bool = False):
        self.cache = cache
        self.allow_missing = allow_missing  # --dry-run: list missing inputs instead of failing
        self.missing: list[str] = []
        self._memo: dict[str, Any] = {}
        if cache is not None and cache.exists():
            try:
                self._memo = orjson.loads(cache.read_bytes())
            except orjson.JSONDecodeError:
                self._memo = {}

    def __call__(self, path: str) -> str:
        p = Path(path)
        if not p.exists():
            if self.allow_missing:
                self.missing.append(str(p))
                return f"missing:{p}"
            raise UnmaskError(f"{p}: no such file or folder")
        st = p.stat()
        stamp = [st.st_size, st.st_mtime_ns] if p.is_file() else None
        hit = self._memo.get(str(p.resolve()))
        if stamp is not None and hit and hit[0] == stamp:
            return hit[1]
        digest = sha256_file(p)
        if stamp is not None:
            self._memo[str(p.resolve())] = [stamp, digest]
        return digest

    def save(self) -> None:
        if self.cache is not None:
            atomic_write_bytes(self.cache, orjson.dumps(self._memo))


@dataclass
class Plan:
    stages: list[Stage]

    def by_label(self) -> dict[str, Stage]:
        return {s.label: s for s in self.stages}

    def compute_keys(self, hasher: Callable[[str], str]) -> None:
        done: dict[str, str] = {}
        for st in self.stages:  # stages are listed in dependency order
            missing = [d for d in st.deps.values() if d not in done]
            if missing:
                raise UnmaskError(f"plan: stage {st.label} reads {missing} before they are planned")
            st.key = content_key({
                "kind": st.kind,
                "params": st.params,
                "deps": {role: done[label] for role, label in sorted(st.deps.items())},
                "files": [hasher(f) for f in st.files],
            })
            done[st.label] = st.key


def _done_marker(d: Path) -> Path:
    return d / ".done.json"


def _execute(kind_module: str, st: Stage, d: Path, deps: dict[str, Path], ctx: Any) -> None:
    """Run one stage and mark it done (in this process or in a worker process)."""
    import importlib

    importlib.import_module(kind_module)  # a worker process registers the stage kinds by importing them
    fn = STAGES[st.kind]
    d.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    set_stage(st.label)  # progress lines inside the stage carry its label
    try:
        fn(st, d, deps, ctx)
    finally:
        set_stage(None)
    atomic_write_bytes(_done_marker(d), orjson.dumps({
        "kind": st.kind, "label": st.label, "key": st.key, "params": st.params,
        "seconds": round(time.time() - t0, 3), "pid": os.getpid(),
    }, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))


def _worker_terminated(signum: int, frame: Any) -> None:
    """The parent ends a worker with SIGTERM (an interrupted run). SIGTERM's default would leave the named
    semaphores this worker made (tqdm's write lock, ...) registered, and the resource tracker would warn of
    "leaked semaphore objects" at exit: release them (multiprocessing's own exit finalizers), then leave at
    once. The stage's outputs are crash-safe; the resumed run continues them."""
    from multiprocessing import util

    try:
        util._run_finalizers(0)
    finally:
        os._exit(128 + signum)


def _worker_init(threads: int) -> None:
    # A worker must not outlive a killed run: it would keep writing into a stage folder that the
    # resumed run is writing too. Linux: die with the parent.
    import signal

    # Ctrl-C reaches every process of the terminal's group; the parent alone reports it and ends the
    # workers (started with SIGINT ignored already, see _spawning; this covers other start methods).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_terminated)
    follow_parent()  # the command line's warning filter (progress settings travel in the environment)
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        except OSError:
            pass
    try:
        import torch

        torch.set_num_threads(threads)
    except ImportError:  # pragma: no cover - torch is a base dependency
        pass


@contextmanager
def _spawning() -> Iterator[None]:
    """Start worker processes with SIGINT ignored: an ignored signal stays ignored across exec, and Python
    then installs no KeyboardInterrupt handler, so a Ctrl-C while a worker imports prints no traceback.
    (Only the main thread may set handlers; the pool starts its workers inside ``submit``.)"""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, old)


def _stop_workers(pool: Any) -> None:
    """End the workers now (a stage's outputs are crash-safe: the rerun resumes it) rather than wait
    for the running stages to finish, then let the pool clean up (no leaked semaphores)."""
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            with contextlib.suppress(Exception):
                proc.terminate()
    pool.shutdown(wait=True, cancel_futures=True)


def stage_threads() -> int:
    """The torch thread count every stage runs with, whatever ``jobs`` is: this process's own.

    A stage's key does not hold ``jobs``, so its result must not depend on it; but torch's CPU kernels
    split their sums by thread count (a LoRA adapter trained with 1 and with 2 threads differs by ~1e-7).
    So workers get the parent's count instead of a share of the cores: ``--jobs 2`` may oversubscribe
    the cores (bound it with ``OMP_NUM_THREADS``), and gives the bytes ``--jobs 1`` gives."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a base dependency
        return 1
    return torch.get_num_threads()


def run_plan(plan: Plan, stages_dir: Path, ctx: Any, *, dry_run: bool = False, jobs: int = 1,
             log: Callable[[str], None] = print) -> dict[str, str]:
    """Run every stage not yet done; each writes into ``stages_dir/<kind>-<key>``. With ``jobs > 1``,
    stages whose inputs are ready run side by side in worker processes, each with this process's torch
    thread count (:func:`stage_threads`: results do not depend on ``jobs``). Returns {label: 'cached' |
    'ran' | 'todo'}."""
    status: dict[str, str] = {}
    dirs = stage_dirs(plan, stages_dir)
    todo: list[Stage] = []
    for st in plan.stages:
        if _done_marker(dirs[st.label]).exists():
            status[st.label] = "cached"
            log(f"  cached  {st.label:<40} {st.dirname()}")
        elif dry_run:
            status[st.label] = "todo"
            log(f"  todo    {st.label:<40} {st.dirname()}")
        else:
            if st.kind not in STAGES:
                raise UnmaskError(f"plan: no stage kind {st.kind!r} (known: {', '.join(sorted(STAGES))})")
            todo.append(st)
    if dry_run or not todo:
        return status

    def args(st: Stage) -> tuple:
        return (STAGES[st.kind].__module__, st, dirs[st.label],
                {role: dirs[label] for role, label in st.deps.items()}, ctx)

    if jobs <= 1:
        for st in todo:
            log(f"  run     {st.label:<40} {st.dirname()}")
            _execute(*args(st))
            status[st.label] = "ran"
        return status

    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    threads = stage_threads()
    finished = {label for label, s in status.items() if s == "cached"}
    pending = list(todo)
    with _sigterm_unwinds(), ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn"),
                                                 initializer=_worker_init, initargs=(threads,)) as pool:
        running: dict[Any, Stage] = {}
        try:
            while pending or running:
                for st in list(pending):
                    if len(running) >= jobs:
                        break
                    if all(dep in finished for dep in st.deps.values()):
                        pending.remove(st)
                        log(f"  run     {st.label:<40} {st.dirname()}")
                        with _spawning():
                            running[pool.submit(_execute, *args(st))] = st
                if not running:
                    raise UnmaskError(f"plan: stages wait on inputs that never come: {[s.label for s in pending]}")
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for fut in done:
                    st = running.pop(fut)
                    fut.result()  # a stage's error stops the run (finished stages stay done)
                    finished.add(st.label)
                    status[st.label] = "ran"
        except Exception:  # a stage failed: let the others finish (their work is kept), then report
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        except BaseException:  # Ctrl-C / SIGTERM (the CLI's Interrupted): stop now
            _stop_workers(pool)
            raise
    return status


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """While a worker pool runs, SIGTERM unwinds (an exception) instead of ending the process on the spot,
    so the pool stops its workers and releases its semaphores (else: a "leaked semaphore" warning from
    multiprocessing's resource tracker after the process is gone). A handler installed before (the
    CLI's) still decides what a SIGTERM becomes; without one, it is ``SystemExit(143)``."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.getsignal(signal.SIGTERM)

    def on_term(signum: int, frame: Any) -> None:
        if callable(before):
            before(signum, frame)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def stage_dirs(plan: Plan, stages_dir: Path) -> dict[str, Path]:
    return {st.label: stages_dir / st.dirname() for st in plan.stages}
