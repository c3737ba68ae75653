"""Check an output path before any work: it must not destroy what the command reads, and it must be writable
as the kind of thing the command writes (a file, or a folder).

Every command calls :func:`check_output` with its ``-o`` and its inputs. An output is refused when it *is*
an input (the same path, or the same file reached through a symlink or a hard link), when it is a
folder that holds an input (a folder output is replaced as a whole), when a file output names an
existing folder (``-o .``), or when its parent is a file. All before any work, one line each.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from ..errors import UnmaskError

__all__ = ["check_output", "same_file"]


def same_file(a: str | Path, b: str | Path) -> bool:
    """``a`` and ``b`` name one file or folder: equal after resolving symlinks, or the same inode (hard links)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return False


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_output(out: str | Path, inputs: Iterable[str | Path | None] = (), *,
                 kind: Literal["file", "folder", "any"] = "file", flag: str = "-o") -> Path:
    """Refuse an output that would overwrite or replace an input, or that cannot be what the command writes.

    ``kind``: ``file`` (a file output: an existing folder there is an error), ``folder`` (replaced as a
    whole: it must not hold an input), ``any`` (either, decided later by the command; both checks)."""
    out = Path(out)
    if kind == "file" and out.is_dir():
        raise UnmaskError(f"{flag} {out}: is a folder; give a file name")
    if kind == "folder" and out.exists() and not out.is_dir():
        raise UnmaskError(f"{flag} {out}: exists and is not a folder")
    for parent in out.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise UnmaskError(f"{flag} {out}: {parent} is a file, not a folder")
            break
    for inp in inputs:
        if inp is None:
            continue
        inp = Path(inp)
        if same_file(out, inp):
            raise UnmaskError(f"{flag} {out}: is the input {inp}; writing it would destroy it (choose another {flag})")
        if kind != "file" and _inside(inp, out):
            raise UnmaskError(f"{flag} {out}: holds the input {inp}; writing the output replaces the folder "
                              f"(choose another {flag})")
    return out
