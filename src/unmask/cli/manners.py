"""What the ``unmask`` command line does the way other tools do: ``--version``, ``--debug`` anywhere on the
line, flags shown as flags in ``--help`` (progress and warnings: :mod:`unmask.console`)."""

from __future__ import annotations

__all__ = ["debug_anywhere", "hide_flag_types", "package_version"]


def package_version() -> str:
    """The installed distribution's version (the source tree's ``__version__`` when run uninstalled)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("unmask")
    except PackageNotFoundError:
        from .. import __version__

        return __version__


def debug_anywhere(args: list[str]) -> tuple[list[str], bool]:
    """``--debug`` is a root option; accept it after the subcommand too (``unmask mix ... --debug``) by moving
    it to the front. Tokens after a ``--`` separator are values and stay where they are."""
    end = args.index("--") if "--" in args else len(args)
    debug = "--debug" in args[:end]
    if not debug:
        return args, False
    rest = [a for a in args[:end] if a != "--debug"] + args[end:]
    return ["--debug", *rest], True


def hide_flag_types() -> None:
    """typer's rich help prints a ``<bool>`` type beside every flag (``--sample <bool>``), which reads as if the
    flag took a value; its plain help does not. Show flags (``--x``, ``--x/--no-x``, ``--help``) bare."""
    from typer.core import TyperOption

    original = TyperOption.display_type_rich
    if getattr(original, "_unmask_flags_bare", False):
        return

    def display_type_rich(self: TyperOption, ctx: object) -> str | None:
        if (self.is_flag or self.count) and self.metavar is None:
            return None
        return original(self, ctx)

    display_type_rich._unmask_flags_bare = True  # type: ignore[attr-defined]
    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
