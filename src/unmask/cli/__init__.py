"""The ``unmask`` command line. Thin: parse, call the library, print.

Each submodule registers its commands on :data:`app`; heavy imports (torch, transformers) happen
inside the commands so that ``unmask --help`` stays instant. Errors a user can fix are
:class:`~unmask.errors.UnmaskError`: one line, exit code 2, traceback only with ``--debug``.

Ctrl-C (SIGINT) and SIGTERM end a command with one line, "interrupted (SIGINT): <what is kept and how to
resume>", and exit code 130 / 143 (128 + the signal), never 0: typer would turn a KeyboardInterrupt into a
*returned* 130 that a caller in non-standalone mode has to pass on, so :func:`main` raises its own
:class:`Interrupted` from the signal handlers instead. Outputs are written atomically and journals /
checkpoints / stage folders survive, so the interrupted command resumes as the line says.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import typer

from ..errors import UnmaskError
from .root import _hint, app, resume_hint

__all__ = ["Interrupted", "add_resume", "app", "main", "resume_hint"]


def _register() -> None:
    # Importing a module registers its commands on ``app``.
    from ..registry import load_plugins
    from . import (
        attack,  # noqa: F401
        compare,  # noqa: F401
        data,  # noqa: F401
        evaluate,  # noqa: F401
        generate,  # noqa: F401
        model,  # noqa: F401
        probe,  # noqa: F401
        run,  # noqa: F401
        utility,  # noqa: F401
    )

    load_plugins()  # plugins add their commands (the tiny world's `world` and `demo`) before parsing


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived. A BaseException that is not a KeyboardInterrupt, so that typer (which
    swallows KeyboardInterrupt into a return value) and ``except Exception`` blocks let it through, while
    ``finally`` / ``except BaseException`` clean-ups (atomic writes, journals, worker pools) still run."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


# What an interrupted command keeps, and how to go on; a command may say more with resume_hint().
_RESUME = {
    "judge": "finished verdicts are journaled; the same command resumes",
    "generate": "finished answers are journaled; the same command resumes",
    "run": "finished stages are kept; the same command resumes",
    "train": "checkpoints are kept; the same command with --resume continues from the last one",
}
_DEFAULT_RESUME = "outputs are written only when complete; run the same command again"


def add_resume(command: str, text: str) -> None:
    """What an interrupted ``command`` (one word, or a group and its command: "world build") keeps and how to
    resume it; for commands that plugins add."""
    _RESUME[command] = text


def _command(args: list[str]) -> str:
    words = [a for a in args if not a.startswith("-")][:2]
    return " ".join(words) if " ".join(words) in _RESUME else "".join(words[:1])


def _interrupted(signum: int, args: list[str]) -> None:
    """The one line of an interrupted command, then exit 128 + signum."""
    name = signal.Signals(signum).name
    typer.echo(f"interrupted ({name}): {_hint.get('text') or _RESUME.get(_command(args), _DEFAULT_RESUME)}",
               err=True)
    sys.exit(128 + signum)


@contextmanager
def _signals_raise() -> Iterator[None]:
    """While a command runs: SIGINT / SIGTERM raise :class:`Interrupted` in this process. A forked child
    (a render pool) ignores SIGINT and dies on SIGTERM: its parent reports. A second signal while the
    first is being cleaned up exits at once (outputs are crash-safe)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be set from the main thread (library use in a thread)
        return
    pid = os.getpid()

    def second(signum: int, frame: object) -> None:
        os._exit(128 + signum)

    def first(signum: int, frame: object) -> None:
        if os.getpid() != pid:
            if signum == signal.SIGTERM:
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                os.kill(os.getpid(), signal.SIGTERM)
            return
        signal.signal(signal.SIGINT, second)
        signal.signal(signal.SIGTERM, second)
        raise Interrupted(signum)

    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s, h in old.items():
        if h is not signal.SIG_IGN:  # started with the signal ignored (nohup, a pool worker): keep it so
            signal.signal(s, first)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


@contextmanager
def _manners(debug: bool) -> Iterator[None]:
    """Flags shown bare in --help; library deprecation warnings hidden unless --debug (here and in worker
    processes, through the environment, which is put back afterwards: main() may run inside a test)."""
    import warnings

    from ..console import quiet_library_warnings
    from .manners import hide_flag_types

    hide_flag_types()
    saved = {k: os.environ.get(k) for k in ("UNMASK_PROGRESS", "UNMASK_QUIET_WARNINGS")}
    with warnings.catch_warnings():
        if not debug:
            quiet_library_warnings()
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    from .manners import debug_anywhere

    args, debug = debug_anywhere(list(sys.argv[1:] if argv is None else argv))
    _hint.clear()
    try:
        with _signals_raise(), _manners(debug):
            _register()
            rv = app(args=args, prog_name="unmask", standalone_mode=False)
    except Interrupted as exc:
        _interrupted(exc.signum, args)
    except UnmaskError as exc:
        if debug:
            raise
        msg = " ".join(str(exc).split("\n"))
        if len(msg) > 1000:  # a value quoted from hostile input can be megabytes; keep both ends
            msg = f"{msg[:600]} [... {len(msg) - 900} characters ...] {msg[-300:]}"
        typer.echo(f"error: {msg}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:  # outside the main thread, or before the handlers were set
        _interrupted(signal.SIGINT, args)
    except SystemExit:
        raise
    except Exception as exc:
        # Usage errors from (typer's vendored) click: they know how to print themselves.
        if callable(getattr(exc, "show", None)) and isinstance(getattr(exc, "exit_code", None), int):
            exc.show()
            sys.exit(2 if exc.exit_code == 2 or type(exc).__name__.endswith("UsageError") else exc.exit_code)
        if type(exc).__name__ == "Abort":
            sys.exit(1)
        if debug:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
    # Non-standalone typer *returns* the code of a typer.Exit (and 130 for a KeyboardInterrupt it caught).
    if isinstance(rv, int) and not isinstance(rv, bool) and rv != 0:
        if rv == 130:
            _interrupted(signal.SIGINT, args)
        sys.exit(rv)
