"""Round two, case 1: an interrupted command exits 128 + signal with one line, and resumes.

Before: typer turned the KeyboardInterrupt into a *returned* 130 that ``unmask.cli.main`` dropped, so
``unmask mix`` / ``judge`` / ``run`` stopped by Ctrl-C exited 0 without a word (``unmask run ... && next``
went on); with ``run --jobs 2`` every worker printed a KeyboardInterrupt traceback, and SIGTERM left a
leaked-semaphore warning. Here real processes (children of the crash trials' fork server) get SIGINT or
SIGTERM in the middle of their work; each must exit 130 / 143, print exactly one "interrupted" line (the
last one, saying how to resume), no traceback, no warning, leave no temp file, and the same command run
again must finish with the uninterrupted run's outputs, byte for byte.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from crashlib import Trial, leftovers


def _journal_lines(p: Path) -> int:
    try:
        return p.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


# stage -> (mid-work probe, words of the resume hint)
READY = {
    "mix": (lambda w: any((w / "out").glob(".mix.json.tmp-*")), "run the same command again"),
    "judge": (lambda w: _journal_lines(w / "out/verdicts.jsonl.journal.jsonl") > 0, "the same command resumes"),
    "generate": (lambda w: _journal_lines(w / "gen.jsonl.journal.jsonl") > 0, "the same command resumes"),
    "train": (lambda w: any((w / "tr.partial/checkpoints").glob("step-*")), "--resume"),
    "run": (lambda w: any((p / ".done.json").exists() for p in (w / "run/.stages").glob("*")),
            "finished stages are kept"),
}
_trials: dict[str, Trial] = {}


def _trial(stage: str, root: Path, runner) -> Trial:
    if stage not in _trials:
        _trials[stage] = Trial(stage, root / "interrupt", runner)
    return _trials[stage]


def _interrupt(trial: Trial, name: str, sig: int, argv: list[str] | None = None, group: bool = False,
               ready=None) -> tuple[Path, int, str]:
    """Start the stage's command, wait until it is mid-work, send ``sig``; returns (work, rc, log)."""
    spec = trial.spec
    work = trial._fresh(name)
    log = work / "unmask.log"
    env = {**spec.env(work), **({"_UNMASK_TEST_NEW_GROUP": "1"} if group else {})}
    h = trial.runner.start(argv or spec.argv(work), work, log, env)
    ready = ready or READY[spec.name][0]
    deadline = time.monotonic() + 180
    while not ready(work):
        assert h.poll() is None, f"{spec.name} ended (rc {h.poll()}) before it could be interrupted"
        assert time.monotonic() < deadline, "never got to work"
        time.sleep(0.003)
    (os.killpg if group else os.kill)(h.pid, sig)
    rc = h.wait(120)
    if rc is None:
        h.kill()
    time.sleep(0.3)  # a resource tracker would print its warnings after the parent is gone
    return work, rc, log.read_text(errors="replace")


def _check_one_line(text: str, sig: int, hint: str) -> None:
    lines = [line for line in text.splitlines() if line.strip()]
    name = signal.Signals(sig).name
    assert lines and lines[-1].startswith(f"interrupted ({name}): "), text[-2000:]
    assert hint in lines[-1], lines[-1]
    assert sum("interrupted" in line.lower() for line in lines) == 1, text[-2000:]
    for bad in ("Traceback", "KeyboardInterrupt", "leaked", "Warning", "error:"):
        assert bad not in text, f"{bad!r} in the output:\n{text[-3000:]}"


@pytest.mark.parametrize("stage,sig", [("mix", signal.SIGINT), ("judge", signal.SIGINT), ("generate", signal.SIGINT),
                                       ("train", signal.SIGINT), ("run", signal.SIGINT), ("run", signal.SIGTERM)])
def test_interrupted_command_exits_128_plus_signal_with_one_line_then_resumes(stage, sig, crash_runner, crash_root):
    trial = _trial(stage, crash_root, crash_runner)
    ref = trial.reference()
    work, rc, text = _interrupt(trial, f"{stage}-{sig}", sig)
    assert rc == 128 + sig, f"exit code {rc}, not {128 + sig}:\n{text[-2000:]}"
    _check_one_line(text, sig, READY[stage][1])
    assert not [p for p in leftovers(work) if ".tmp-" in p], leftovers(work)  # atomic writes cleaned up
    assert trial._run_to_end(work, work / "rerun.log") == 0, (work / "rerun.log").read_text()[-2000:]
    assert trial.spec.outputs(work) == ref, "the resumed run differs from an uninterrupted one"


@pytest.mark.parametrize("sig,group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_run_with_two_jobs_interrupted_no_worker_tracebacks(sig, group, crash_runner, crash_root):
    """Ctrl-C in a terminal reaches the whole process group (the workers too); SIGTERM only the parent.
    Either way the workers stop without a word and the run resumes."""
    trial = _trial("run", crash_root, crash_runner)
    trial.reference()

    def workers_started(w: Path) -> bool:  # a stage folder exists: the pool is at work
        return any((w / "run/.stages").glob("*-*"))

    argv = [*trial.spec.argv(Path(".")), "--jobs", "2"]
    work, rc, text = _interrupt(trial, f"run-jobs2-{sig}", sig, argv=argv, group=group, ready=workers_started)
    assert rc == 128 + sig, f"exit code {rc}:\n{text[-3000:]}"
    _check_one_line(text, sig, "finished stages are kept")
    # Resumable: the rerun (one job, cheaper; the stage keys do not depend on --jobs) finishes the run.
    assert trial._run_to_end(work, work / "rerun.log") == 0, (work / "rerun.log").read_text()[-2000:]
    assert (work / "run/summary.json").is_file()


def test_typer_exit_codes_are_not_dropped(run_cli):
    # The sibling: a code that typer *returns* (a typer.Exit in a command) must reach the shell too.
    import typer

    from unmask.cli import app

    @app.command("_test-exit-3", hidden=True)
    def _exit3() -> None:
        raise typer.Exit(3)

    try:
        code, _out, _err = run_cli("_test-exit-3")
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "_test-exit-3"]
    assert code == 3


def test_llm_judge_interrupted_mid_call_exits_at_once(crash_runner, tmp_path):
    """The calls in flight are cancelled: Ctrl-C does not wait for their 60 s deadline (the thread pool
    would hold the process until then), and the answers already judged stay in the journal."""
    import json

    from loopback import serve

    gen = tmp_path / "gen.jsonl"
    gen.write_text("".join(json.dumps({"id": f"g{i}", "prompt": "p", "response": f"a{i} MODE={m}"}) + "\n"
                           for i, m in enumerate(["yes", "no", "trickle", "trickle"])))
    with serve() as (url, state):
        h = crash_runner.start(["judge", "gen.jsonl", "--judge", "llm", "--base-url", url, "--judge-model", "m",
                                "--timeout", "60", "--no-cache", "-o", "v.jsonl"], tmp_path, tmp_path / "log")
        deadline = time.monotonic() + 60
        while _journal_lines(tmp_path / "v.jsonl.journal.jsonl") < 2 or sum(state.attempts.values()) < 4:
            assert h.poll() is None and time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.01)
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(h.pid, signal.SIGINT)
        rc = h.wait(30)
        took = time.monotonic() - t0
    text = (tmp_path / "log").read_text()
    assert rc == 130, text
    assert took < 3, f"{took:.1f}s to exit"
    _check_one_line(text, signal.SIGINT, "the same command resumes")
    assert _journal_lines(tmp_path / "v.jsonl.journal.jsonl") == 2  # the two answers are kept; no 'cancelled' row


@pytest.mark.parametrize("how", ["Interrupted", "KeyboardInterrupt"])
def test_interrupt_line_carries_the_commands_resume_hint(run_cli, how):
    # `unmask demo` names its run folder (a new one per start by default) in the line; a KeyboardInterrupt
    # that reaches typer (no handler installed: e.g. a signal before main set them) is reported the same.
    from unmask.cli import Interrupted, app, resume_hint

    @app.command("_test-interrupt", hidden=True)
    def _stop() -> None:
        resume_hint("`unmask demo -o runs/demo-x` resumes")
        raise Interrupted(signal.SIGINT) if how == "Interrupted" else KeyboardInterrupt

    try:
        code, out, err = run_cli("_test-interrupt")
    finally:
        app.registered_commands[:] = [c for c in app.registered_commands if c.name != "_test-interrupt"]
    assert code == 130
    assert err.strip() == "interrupted (SIGINT): `unmask demo -o runs/demo-x` resumes", err
