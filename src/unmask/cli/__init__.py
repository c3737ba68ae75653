"""The ``unmask`` command line. Thin: parse, call the library, print.

Each submodule registers its commands on :data:`app`; heavy imports (torch, transformers) happen
inside the commands so that ``unmask --help`` stays instant. Errors a user can fix are
:class:`~unmask.errors.UnmaskError`: one line, exit code 2, traceback only with ``--debug``.
"""

from __future__ import annotations

import sys

import typer

from ..errors import UnmaskError

__all__ = ["app", "main"]

app = typer.Typer(
    name="unmask",
    help="Safety-align multimodal LLMs against vision-domain jailbreaks with benign refusal data, and measure it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors."),
) -> None:
    _state["debug"] = debug


def _register() -> None:
    # Importing a module registers its commands on ``app``.
    from . import (
        attack,  # noqa: F401
        compare,  # noqa: F401
        data,  # noqa: F401
        demo,  # noqa: F401
        evaluate,  # noqa: F401
        model,  # noqa: F401
        run,  # noqa: F401
        utility,  # noqa: F401
        world,  # noqa: F401
    )


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    _register()
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    try:
        app(args=args, prog_name="unmask", standalone_mode=False)
    except UnmaskError as exc:
        if debug:
            raise
        msg = " ".join(str(exc).split("\n"))
        if len(msg) > 1000:  # a value quoted from hostile input can be megabytes; keep both ends
            msg = f"{msg[:600]} [... {len(msg) - 900} characters ...] {msg[-300:]}"
        typer.echo(f"error: {msg}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
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
