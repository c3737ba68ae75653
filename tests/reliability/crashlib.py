"""Crash trials: run an ``unmask`` command, ``kill -9`` it at a seeded random moment (once or twice), run it
again to the end, and compare every final output with an uninterrupted run's.

Processes come from a fork server that has already imported torch, transformers and unmask, so a trial
costs the command's work, not ten seconds of imports, and the kill lands inside that work. Each child
is a real OS process running ``unmask.cli.main`` and is ended with SIGKILL: nothing gets to clean up.
``mode="exec"`` runs ``python -m unmask`` instead (slower; same semantics).

Used by ``test_rel_crash.py`` (a sample in CI, all trials under ``-m slow``) and by
``benchmarks/reliability_trials.py``.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crashstages import STAGES, StageSpec

__all__ = ["Runner", "Trial", "TrialResult", "run_trials"]

PRELOAD = ["crashwarm"]  # imports torch, transformers classes, peft, accelerate and all of unmask


def _as_at_a_terminal() -> None:
    """SIGINT as a user's shell leaves it: Python's default (KeyboardInterrupt). A test run started in the
    background of a non-interactive shell (as CI may start it) inherits SIGINT *ignored*, and unmask keeps an
    ignored SIGINT ignored (nohup semantics), so without this the Ctrl-C trials would test nothing."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _exec_child_setup() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # an exec'd Python then installs its default handler


def _child(argv: list[str], cwd: str, log: str, env: dict[str, str]) -> None:
    """Fork-server child: run ``unmask ARGV`` in ``cwd`` with stdout/stderr to ``log``."""
    os.chdir(cwd)
    _as_at_a_terminal()
    if env.pop("_UNMASK_TEST_NEW_GROUP", None):  # its own process group, as a shell job (test_rel_interrupt)
        os.setpgrp()
    os.environ.update(env)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 0
    try:
        from unmask.cli import main

        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - report, then exit like the real CLI would
        import traceback

        traceback.print_exc()
        code = 1
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class Runner:
    """Starts ``unmask`` processes: ``fork`` (from a preloaded fork server) or ``exec`` (a fresh interpreter)."""

    def __init__(self, mode: str = "fork"):
        if mode not in ("fork", "exec"):
            raise ValueError(mode)
        self.mode = mode
        self._ctx = None
        self._warm = False
        if mode == "fork":
            self._ctx = multiprocessing.get_context("forkserver")
            self._ctx.set_forkserver_preload(PRELOAD)

    def warm(self) -> None:
        """Start the fork server now (it imports torch once); later starts are cheap."""
        if self._ctx is None or self._warm:
            return
        self._warm = True
        # The server finds ``crashwarm`` through PYTHONPATH (Python 3.11's fork server ignores sys.path).
        here = str(Path(__file__).resolve().parent)
        old = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = os.pathsep.join([here, *([old] if old else [])])
        try:
            p = self._ctx.Process(target=os._exit, args=(0,))
            p.start()
            p.join()
        finally:
            if old is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = old

    def start(self, argv: list[str], cwd: Path, log: Path, env: dict[str, str] | None = None) -> Any:
        self.warm()
        env = {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
        if self._ctx is not None:
            p = self._ctx.Process(target=_child, args=(argv, str(cwd), str(log), env), daemon=False)
            p.start()
            return _Forked(p)
        fh = open(log, "ab")
        proc = subprocess.Popen([sys.executable, "-m", "unmask", *argv], cwd=cwd, stdout=fh, stderr=fh,
                                env={**os.environ, **env}, preexec_fn=_exec_child_setup)
        fh.close()
        return _Exec(proc)


class _Forked:
    def __init__(self, p: Any):
        self.p, self.pid = p, p.pid

    def poll(self) -> int | None:
        return self.p.exitcode

    def wait(self, timeout: float) -> int | None:
        self.p.join(timeout)
        return self.p.exitcode

    def kill(self) -> None:
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.p.join()


class _Exec:
    def __init__(self, proc: subprocess.Popen):
        self.proc, self.pid = proc, proc.pid

    def poll(self) -> int | None:
        return self.proc.poll()

    def wait(self, timeout: float) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL
        self.proc.wait()


@dataclass
class TrialResult:
    stage: str
    seed: int
    kills: list[dict[str, Any]] = field(default_factory=list)  # {at_s, phase, finished_first}
    rc: int | None = None
    equal: bool = False
    diffs: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)
    seconds: float = 0.0
    log: str = ""

    @property
    def killed_mid_run(self) -> int:
        return sum(1 for k in self.kills if not k["finished_first"])


class Trial:
    """The reference run of one stage (uninterrupted) and its kill trials, all under ``root``."""

    def __init__(self, stage: str | StageSpec, root: Path, runner: Runner, timeout: float = 300.0,
                 ref_runs: int = 1):
        self.spec = STAGES[stage] if isinstance(stage, str) else stage
        self.root = Path(root)
        self.runner = runner
        self.timeout = timeout
        self.ref_runs = ref_runs  # 2: also checks that two uninterrupted runs agree
        self.inputs = self.root / f"{self.spec.name}-inputs"
        self._ref: dict[str, bytes] | None = None
        self.ref_seconds = 0.0

    def _fresh(self, name: str) -> Path:
        work = self.root / name
        shutil.rmtree(work, ignore_errors=True)
        shutil.copytree(self.inputs, work, symlinks=True)
        return work

    def _run_to_end(self, work: Path, log: Path) -> int:
        if self.spec.complete(work):  # the killed run had finished (train refuses to overwrite)
            return 0
        h = self.runner.start(self.spec.argv(work), work, log, self.spec.env(work))
        rc = h.wait(self.timeout)
        if rc is None:
            h.kill()
            raise TimeoutError(f"{self.spec.name}: no exit within {self.timeout:.0f}s; see {log}")
        return rc

    def reference(self) -> dict[str, bytes]:
        if self._ref is None:
            if not self.inputs.exists():
                tmp = self.inputs.with_name(self.inputs.name + ".tmp")
                shutil.rmtree(tmp, ignore_errors=True)
                tmp.mkdir(parents=True)
                self.spec.prepare(tmp)
                tmp.rename(self.inputs)
            times = []
            for k in range(self.ref_runs):
                work = self._fresh(f"{self.spec.name}-reference{k}")
                t0 = time.monotonic()
                rc = self._run_to_end(work, work / "unmask.log")
                times.append(time.monotonic() - t0)
                if rc != 0:
                    raise RuntimeError(f"{self.spec.name}: the uninterrupted run failed (rc {rc}): "
                                       f"{(work / 'unmask.log').read_text()[-2000:]}")
                got = self.spec.outputs(work)
                if self._ref is not None and got != self._ref:
                    bad = sorted(n for n in set(got) | set(self._ref) if got.get(n) != self._ref.get(n))
                    raise RuntimeError(f"{self.spec.name}: two uninterrupted runs differ: {bad}")
                self._ref = got
            # The kill window: the quicker run (the machine may be busy with other work).
            self.ref_seconds = min(times)
        return self._ref

    def run(self, seed: int) -> TrialResult:
        """One trial: 1 or 2 kills at seeded random moments within the reference run's duration, then
        a run to the end; its outputs are compared with the reference's."""
        ref = self.reference()
        rng = random.Random(f"{self.spec.name}:{seed}")
        res = TrialResult(self.spec.name, seed)
        work = self._fresh(f"{self.spec.name}-trial-{seed}")
        log = work / "unmask.log"
        t_start = time.monotonic()
        for _ in range(rng.choice((1, 1, 2))):
            at = rng.uniform(0.02, 1.0) * self.ref_seconds
            if self.spec.complete(work):
                break
            h = self.runner.start(self.spec.argv(work), work, log, self.spec.env(work))
            finished = h.wait(at) is not None
            phase = self.spec.phase(work)
            if not finished:
                h.kill()
            res.kills.append({"at_s": round(at, 3), "phase": phase, "finished_first": finished})
        res.rc = self._run_to_end(work, log)
        res.seconds = time.monotonic() - t_start
        res.log = log.read_text(errors="replace")[-3000:]
        if res.rc != 0:
            res.diffs.append(f"final run exited {res.rc}")
            return res
        got = self.spec.outputs(work)
        for name in sorted(set(ref) | set(got)):
            if name not in got:
                res.diffs.append(f"missing {name}")
            elif name not in ref:
                res.diffs.append(f"extra {name}")
            elif got[name] != ref[name]:
                res.diffs.append(f"differs {name}")
        res.leftovers = leftovers(work)
        res.equal = not res.diffs
        if res.equal:
            shutil.rmtree(work, ignore_errors=True)
        return res


def leftovers(work: Path) -> list[str]:
    """Temporary files a killed process left behind (``.NAME.tmp-PID``, journals, ``.partial`` folders)."""
    out = []
    for p in work.rglob("*"):
        n = p.name
        if ".tmp-" in n or n.endswith((".journal.jsonl", ".partial", ".tmp")):
            out.append(str(p.relative_to(work)))
    return sorted(out)


def run_trials(stage: str, seeds: list[int], root: Path, runner: Runner,
               ref_runs: int = 2) -> tuple[Trial, list[TrialResult]]:
    trial = Trial(stage, root, runner, ref_runs=ref_runs)
    trial.reference()
    return trial, [trial.run(s) for s in seeds]
