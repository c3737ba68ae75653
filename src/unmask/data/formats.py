"""Converters between the outside world's formats and :class:`~unmask.data.records.Conversation`.

Formats (picked from the file; ``fmt`` overrides):

- ``llava``          a JSON list of LLaVA records (``conversations`` of ``from: human|gpt|system``,
                     ``value``; ``image`` a path or a list of paths)
- ``llava-jsonl``    the same records, one per line
- ``messages``       a JSON list of ``messages`` records (``{"role", "content"}`` + ``images``, ``<image>``
                     inline): LLaMA-Factory's own multimodal layout (its ``data/mllm_demo.json``)
- ``messages-jsonl`` the same records (or OpenAI-style content parts), one per line
- ``hf``             a Hugging Face ``datasets`` folder saved with ``save_to_disk`` (rows in either shape)

Detection: a folder is ``hf``; otherwise the first byte says list (``[``) or lines (``{``) and the first
record's keys say the shape (``messages`` or ``conversations``). On input a format names the record
shape: ``--format messages`` (or ``llava``) reads either a JSON list or JSONL, whichever the file is.

Every converter is lossless both ways: fields unmask does not interpret are kept in
``Conversation.extra`` and written back.

This module reads files; its pieces: ``formats_detect`` (which format a file is), ``rows`` (the one check
of a row), ``formats_rows`` (row <-> record), ``paths`` (where an image may lie), ``formats_write``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError, where
from .formats_detect import detect_format, is_array
from .formats_rows import (
    _HF_ONE_IMAGE,
    FORMATS,
    check_image_markers,
    conversation_from_row,
    to_llava,
    to_messages,
)
from .images import check_image_file
from .paths import SYNTHETIC_PREFIX, is_synthetic, resolve_image
from .records import Conversation

__all__ = [
    "FORMATS",
    "SYNTHETIC_PREFIX",
    "check_image_markers",
    "conversation_from_row",
    "detect_format",
    "is_synthetic",
    "iter_records",
    "output_format",
    "read_records",
    "resolve_image",
    "to_llava",
    "to_messages",
    "write_records",
]

_SHAPE = {"llava": "llava", "llava-jsonl": "llava", "messages": "messages", "messages-jsonl": "messages"}
_check_image_file = check_image_file  # the name callers used before paths.py


# ------------------------------------------------------------------------------------------ reading
def _decode_error(path: Path, exc: Exception, *, line: int | None = None, data: bytes | None = None) -> UnmaskError:
    msg = str(exc)
    if isinstance(exc, UnicodeDecodeError) or "utf-8" in msg.lower() or "utf8" in msg.lower():
        pos = getattr(exc, "pos", None)
        return UnmaskError(f"{where(path, line=line, byte=pos)}: not valid UTF-8")
    pos = getattr(exc, "pos", None)
    if data is not None and pos is not None and pos >= len(data.rstrip()):
        return UnmaskError(f"{where(path, line=line, byte=pos)}: truncated JSON (the file ends mid-record)")
    return UnmaskError(f"{where(path, line=line, byte=pos)}: invalid JSON ({msg.split(':')[0]})")


def _iter_rows(path: Path, fmt: str) -> Iterator[tuple[int, Any, int | None]]:
    """Yield (index, decoded row, line number or None). ``llava`` and ``messages`` read a JSON list or
    JSONL, whichever the file is; the ``-jsonl`` names read lines."""
    if fmt in ("llava", "messages") and is_array(path):
        data = path.read_bytes()
        try:
            rows = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            raise _decode_error(path, exc, data=data) from None
        if not isinstance(rows, list):
            raise UnmaskError(f"{path}: expected a JSON list of records, got {type(rows).__name__}")
        for i, row in enumerate(rows):
            yield i, row, None
    elif fmt in _SHAPE:
        with open(path, "rb") as fh:
            index = 0
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise _decode_error(path, exc, line=lineno, data=line) from None
                yield index, row, lineno
                index += 1
    elif fmt == "hf":
        try:
            import datasets
        except ImportError as exc:  # pragma: no cover - datasets is a base dependency
            raise UnmaskError(f"{path}: reading a saved dataset needs the 'datasets' package") from exc
        ds = datasets.load_from_disk(str(path))
        if isinstance(ds, datasets.DatasetDict):
            if len(ds) != 1:
                raise UnmaskError(f"{path}: a DatasetDict with splits {list(ds)}; point at one split's folder")
            ds = next(iter(ds.values()))
        # Raw Arrow rows: an Image column stays {bytes, path}; decoding it here would let PIL pick any
        # format by content (EPS runs Ghostscript). unmask.data.images.pil_open is the only image decoder.
        rows = (r for batch in ds.with_format("arrow").iter(batch_size=1000) for r in batch.to_pylist())
        for i, row in enumerate(rows):
            # Arrow gives every row every column; a missing value comes back as None.
            row = {k: v for k, v in row.items() if v is not None}
            for key in ("metadata", "extra_json"):
                if isinstance(row.get(key), str):
                    row[key] = orjson.loads(row[key])
            if "extra_json" in row:
                row.update(row.pop("extra_json") or {})
            if row.pop(_HF_ONE_IMAGE, False) and isinstance(row.get("image"), list) and len(row["image"]) == 1:
                row["image"] = row["image"][0]
            yield i, row, None
    else:
        raise UnmaskError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")




def iter_records(path: str | Path, fmt: str | None = None, image_root: str | Path | None = None,
                 check_images: bool = False, source: str | None = None,
                 extract: Any = None) -> Iterator[Conversation]:
    """Read records from ``path``, validating each; errors name the file and the record. ``extract``: an
    :class:`unmask.data.formats_embedded.Extractor` for a saved dataset's embedded images (without one they
    are an error); the paths it returns are relative to the output's folder and are not re-resolved."""
    path = Path(path)
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise UnmaskError(f"{path}: unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    root = Path(image_root) if image_root is not None else (path if path.is_dir() else path.parent)
    src = source if source is not None else path.stem
    shape = _SHAPE.get(fmt)
    for index, row, lineno in _iter_rows(path, fmt):
        rid = row.get("id") if isinstance(row, dict) else None
        try:
            if fmt == "hf":
                from .formats_embedded import replace_embedded

                replace_embedded(row, extract)
            conv = conversation_from_row(row, index, src, shape)
            for img in conv.images:
                if extract is not None and img in extract.written:
                    continue
                if is_synthetic(img):
                    if check_images:
                        from .images import parse_synthetic

                        parse_synthetic(img)  # a ValueError naming the bad parameter
                    continue
                real = resolve_image(img, root)
                if check_images:
                    check_image_file(real, img)
        except ValueError as exc:
            raise UnmaskError(f"{where(path, index, rid, line=lineno)}: {exc}") from None
        yield conv


def read_records(path: str | Path, fmt: str | None = None, image_root: str | Path | None = None,
                 check_images: bool = False, source: str | None = None, extract: Any = None) -> list[Conversation]:
    return list(iter_records(path, fmt, image_root, check_images, source, extract))


# Writing lives in formats_write (imported last: it uses the converters above).
from .formats_write import output_format, write_records  # noqa: E402
