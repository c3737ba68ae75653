"""Writing records (:func:`write_records`; re-exported by :mod:`unmask.data.formats`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError
from .records import Conversation

__all__ = ["output_format", "write_records"]


def output_format(path: str | Path, fmt: str | None) -> str:
    """The format ``write_records`` uses for ``path`` (``fmt``, else from the suffix)."""
    path = Path(path)
    if fmt == "messages" and path.suffix == ".jsonl":
        return "messages-jsonl"  # before LLaMA-Factory's JSON list was read, "messages" meant JSONL
    if fmt:
        return fmt
    if path.suffix == ".json":
        return "llava"
    if path.suffix == ".jsonl":
        return "llava-jsonl"
    return "hf"


def write_records(records: Iterable[Conversation], path: str | Path, fmt: str | None = None,
                  image_root: str | Path | None = None) -> str:
    """Write records atomically (temporary file, then rename). Returns the format used: ``llava`` and
    ``messages`` write one JSON list (``messages`` to a ``.jsonl`` path writes lines), the ``-jsonl``
    names one record per line; ``trl`` (output only, :mod:`unmask.data.formats_trl`) writes TRL's layout with
    image paths made absolute under ``image_root``, as JSONL to a ``.jsonl`` path, else a JSON list."""
    from .formats_rows import _HF_ONE_IMAGE, FORMATS, to_llava, to_messages
    from .store import atomic_path

    path = Path(path)
    fmt = output_format(path, fmt)
    if fmt == "trl":
        from .formats_trl import to_trl

        if image_root is None:
            raise UnmaskError(f"{path}: the trl format needs the image root its paths are resolved under")
        root = image_root
        fmt = "trl-jsonl" if path.suffix == ".jsonl" else "trl"

        def trl_row(conv: Conversation) -> dict[str, Any]:
            try:
                return to_trl(conv, root)
            except ValueError as exc:
                raise UnmaskError(f"{path}: record {conv.id!r}: {exc}") from None

        _write_json(records, path, trl_row, lines=fmt == "trl-jsonl")
        return "trl"
    if fmt in ("llava", "messages", "llava-jsonl", "messages-jsonl"):
        _write_json(records, path, to_messages if fmt.startswith("messages") else to_llava, lines=fmt.endswith("jsonl"))
    elif fmt == "hf":
        import datasets

        rows = []
        for conv in records:
            row = to_llava(conv)
            extra = {k: row.pop(k) for k in list(row) if k not in ("id", "image", "conversations", "metadata")}
            if isinstance(row.get("image"), str):  # an Arrow column is all lists or all strings
                row["image"] = [row["image"]]
                extra[_HF_ONE_IMAGE] = True
            row["metadata"] = orjson.dumps(row.get("metadata", {})).decode()
            row["extra_json"] = orjson.dumps(extra).decode()
            rows.append(row)
        with atomic_path(path) as tmp:
            datasets.Dataset.from_list(rows).save_to_disk(str(tmp))
    else:
        raise UnmaskError(f"{path}: unknown output format {fmt!r} (choose from {', '.join(FORMATS)}, trl)")
    return fmt


def _write_json(records: Iterable[Conversation], path: Path, conv_fn: Any, *, lines: bool) -> None:
    from .store import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        if lines:
            for conv in records:
                fh.write(orjson.dumps(conv_fn(conv)) + b"\n")
            return
        fh.write(b"[")
        for k, conv in enumerate(records):
            if k:
                fh.write(b",\n")
            fh.write(orjson.dumps(conv_fn(conv)))
        fh.write(b"]\n")
