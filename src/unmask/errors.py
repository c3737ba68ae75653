"""The one error type a user sees: a single line naming the file and the record, exit code 2."""

from __future__ import annotations

__all__ = ["UnmaskError", "short", "where"]


class UnmaskError(Exception):
    """Bad input or an impossible request. The CLI prints ``str(err)`` on one line and exits 2."""

    exit_code = 2


def short(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to about ``limit`` characters: an id or a role in hostile input can be megabytes,
    and an error is one readable line."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def where(path: object, index: int | None = None, rec_id: object = None, *, line: int | None = None,
          byte: int | None = None) -> str:
    """Format a location prefix: ``data.json: record 12 (id 'abc')`` or ``data.jsonl: line 3``."""
    parts = [str(path)]
    loc = []
    if index is not None:
        loc.append(f"record {index}" + (f" (id {short(rec_id)})" if rec_id is not None else ""))
    if line is not None:
        loc.append(f"line {line}")
    if byte is not None:
        loc.append(f"byte {byte}")
    return parts[0] + (": " + ", ".join(loc) if loc else "")
