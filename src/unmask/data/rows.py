"""The one check of a decoded record row: what a LLaVA (or messages) row must be, and why it is not.

Every reader of rows asks this module: ``unmask.data.formats`` (every command's slow path) and the mix
fast path (``unmask.mix.fastscan``: its vectorised pass only *suspects* records, then asks
:func:`llava_row` about each suspect and about each record it rewrites). So both paths accept the same
rows and name the same fault, in the same order: the record's shape, ``conversations``, ``id``,
``image``, the turns, ``metadata``, ``source``, an assistant reply, the ``<image>`` markers. Each rule
raises ``ValueError`` with the reason; the caller adds the file and the record.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..errors import short
from .records import IMAGE

__all__ = ["LLAVA_NAMES", "LLAVA_ROLES", "LlavaRow", "check_markers", "check_metadata", "check_source",
           "llava_row", "row_id", "row_images"]

LLAVA_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
LLAVA_NAMES = {v: k for k, v in LLAVA_ROLES.items()}


class LlavaRow(NamedTuple):
    """A checked LLaVA row: its id (as text), image paths, (role, text) turns, metadata and the
    spelling notes (``_no_id``, ``_int_id``, ``_image_list``, ``_null_image``, ``_turn_extra``) a
    writer needs to give the row back as it was."""

    id: str
    images: list[str]
    turns: list[tuple[str, str]]
    metadata: dict[str, Any]
    notes: dict[str, Any]


def row_id(row: dict[str, Any], index: int) -> tuple[str, dict[str, Any]]:
    """The row's id as text (its index when it has none) and how it was spelled."""
    notes: dict[str, Any] = {}
    if "id" not in row:
        notes["_no_id"] = True
        return str(index), notes
    rid = row["id"]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise ValueError(f"'id' must be a string or an integer, got {type(rid).__name__}")
    if isinstance(rid, int):
        notes["_int_id"] = True
    return str(rid), notes


def row_images(row: dict[str, Any], key: str, notes: dict[str, Any]) -> list[str]:
    """The row's image paths. LLaVA writes one image as a string (``image``), LLaMA-Factory always a
    list (``images``); the other spelling is noted, so that each format writes back what it read
    and a conversion writes the target format's own spelling."""
    if key not in row or row[key] is None:
        if key in row:
            notes["_null_image"] = True
        return []
    value = row[key]
    if isinstance(value, str):
        if key == "images":
            notes["_image_str"] = True
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if key == "image":
            notes["_image_list"] = True
        return list(value)
    raise ValueError(f"'{key}' must be a path or a list of paths")


def check_metadata(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError("'metadata' must be an object")
    return meta


def check_source(row: dict[str, Any]) -> None:
    if row.get("source") and not isinstance(row["source"], str):
        raise ValueError(f"'source' must be a string, got {type(row['source']).__name__}")


def check_markers(n_markers: int, n_images: int) -> None:
    """As many ``<image>`` markers as images; LLaVA's convention: a record with images but no marker
    gets them at the start of the first turn."""
    if n_images and n_markers == 0:
        return
    if n_markers != n_images:
        raise ValueError(f"{n_markers} '<image>' marker(s) in the text but {n_images} image(s)")


def llava_row(row: Any, index: int) -> LlavaRow:
    """Check one decoded LLaVA row (``index``: its place in the file, its id when it has none)."""
    if not isinstance(row, dict):
        raise ValueError(f"a record must be an object, got {type(row).__name__}")
    conv = row.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise ValueError("no 'conversations' list (or it is empty)")
    rid, notes = row_id(row, index)
    images = row_images(row, "image", notes)
    turns = []
    for j, t in enumerate(conv):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise ValueError(f"turn {j} needs 'from' and 'value'")
        role = LLAVA_ROLES.get(t["from"]) if isinstance(t["from"], str) else None
        if role is None:
            raise ValueError(f"turn {j}: unknown role {short(t['from'])} (expected human, gpt or system)")
        if not isinstance(t["value"], str):
            raise ValueError(f"turn {j}: 'value' must be a string")
        turns.append((role, t["value"]))
        if len(t) > 2:
            notes.setdefault("_turn_extra", {})[str(j)] = {k: v for k, v in t.items() if k not in ("from", "value")}
    meta = check_metadata(row)
    check_source(row)
    if not any(role == "assistant" for role, _ in turns):
        raise ValueError("no assistant reply")
    check_markers(sum(text.count(IMAGE) for _, text in turns), len(images))
    return LlavaRow(rid, images, turns, meta, notes)
