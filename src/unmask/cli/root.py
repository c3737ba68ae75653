"""The root command: :data:`app` (every ``unmask.cli`` submodule registers its commands on it), the global
``--debug`` / ``--version`` flags, and :func:`resume_hint`. Its own module, below the submodules, so that
they need not import the package that imports them."""

from __future__ import annotations

import typer

__all__ = ["app", "resume_hint"]

app = typer.Typer(
    name="unmask",
    help="Safety-align multimodal LLMs against vision-domain jailbreaks with benign refusal data, and measure it.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion [bash|zsh|fish|powershell]
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state = {"debug": False}


def _version(value: bool) -> None:
    if value:
        from .manners import package_version

        typer.echo(f"unmask {package_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks instead of one-line errors, and "
                               "libraries' deprecation warnings (also accepted after the command)."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    _state["debug"] = debug


_hint: dict[str, str] = {}


def resume_hint(text: str) -> None:
    """Tell the interrupt line what the running command keeps and how to resume it (e.g. the run folder)."""
    _hint["text"] = text
