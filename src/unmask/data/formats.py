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
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError, short, where
from .formats_detect import detect_format, is_array
from .records import IMAGE, Conversation, Turn
from .synthetic import is_synthetic

__all__ = [
    "FORMATS",
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

FORMATS = ("llava", "llava-jsonl", "messages", "messages-jsonl", "hf")
_SHAPE = {"llava": "llava", "llava-jsonl": "llava", "messages": "messages", "messages-jsonl": "messages"}
_LLAVA_ROLES = {"human": "user", "gpt": "assistant", "system": "system"}
_LLAVA_NAMES = {v: k for k, v in _LLAVA_ROLES.items()}
_MSG_ROLES = ("user", "assistant", "system")


# ------------------------------------------------------------------------------------------- images
# Synthetic images (mix ablations, unmask://blank?size=N, unmask://noise?...): is_synthetic from .synthetic.


def resolve_image(image: str, root: Path) -> Path:
    """Resolve a record's image path under ``root``; a path that escapes it (``..``, absolute, symlink)
    is an error. Returns the resolved path (it need not exist). Synthetic refs are not resolved here
    (``unmask.data.images.open_image`` makes them)."""
    root_real = Path(os.path.realpath(root))
    candidate = Path(image) if os.path.isabs(image) else root_real / image
    real = Path(os.path.realpath(candidate))
    if real != root_real and root_real not in real.parents:
        raise ValueError(f"image path {image!r} escapes the image root {str(root)!r}")
    return real


def check_image_markers(conv: Conversation) -> None:
    n = conv.n_image_markers
    if conv.images and n == 0:
        # LLaVA convention: a record with an image but no marker gets it at the start of the first turn.
        return
    if n != len(conv.images):
        raise ValueError(f"{n} '<image>' marker(s) in the text but {len(conv.images)} image(s)")


# ---------------------------------------------------------------------------------- row <-> record
def _id_of(row: dict[str, Any], index: int) -> tuple[str, dict[str, Any]]:
    extra: dict[str, Any] = {}
    if "id" not in row:
        extra["_no_id"] = True
        return str(index), extra
    rid = row["id"]
    if isinstance(rid, bool) or not isinstance(rid, (str, int)):
        raise ValueError(f"'id' must be a string or an integer, got {type(rid).__name__}")
    if isinstance(rid, int):
        extra["_int_id"] = True
    return str(rid), extra


def _images_of(row: dict[str, Any], key: str, extra: dict[str, Any]) -> list[str]:
    """The row's image paths. LLaVA writes one image as a string (``image``), LLaMA-Factory always a
    list (``images``); the other spelling is remembered, so that each format writes back what it read
    and a conversion writes the target format's own spelling."""
    if key not in row or row[key] is None:
        if key in row:
            extra["_null_image"] = True
        return []
    value = row[key]
    if isinstance(value, str):
        if key == "images":
            extra["_image_str"] = True
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        if key == "image":
            extra["_image_list"] = True
        return list(value)
    raise ValueError(f"'{key}' must be a path or a list of paths")


def _from_llava(row: dict[str, Any], index: int, source: str) -> Conversation:
    conv = row.get("conversations")
    if not isinstance(conv, list) or not conv:
        raise ValueError("no 'conversations' list (or it is empty)")
    rid, extra = _id_of(row, index)
    images = _images_of(row, "image", extra)
    turns = []
    for j, t in enumerate(conv):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            raise ValueError(f"turn {j} needs 'from' and 'value'")
        role = _LLAVA_ROLES.get(t["from"])
        if role is None:
            raise ValueError(f"turn {j}: unknown role {short(t['from'])} (expected human, gpt or system)")
        if not isinstance(t["value"], str):
            raise ValueError(f"turn {j}: 'value' must be a string")
        turns.append(Turn(role=role, text=t["value"]))
        if set(t) - {"from", "value"}:
            extra.setdefault("_turn_extra", {})[str(j)] = {k: v for k, v in t.items() if k not in ("from", "value")}
    for k, v in row.items():
        if k not in ("id", "image", "conversations", "metadata", "source"):
            extra[k] = v
    meta = row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError("'metadata' must be an object")
    return Conversation(id=rid, images=images, turns=turns, source=row.get("source") or source,
                        metadata=meta, extra=extra)


def _content_to_text(content: Any, j: int) -> tuple[str, bool]:
    if isinstance(content, str):
        return content, False
    if isinstance(content, list):
        out = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text":
                out.append(part.get("text", ""))
            elif kind in ("image", "image_url"):
                out.append(IMAGE)
            else:
                raise ValueError(f"message {j}: unknown content part {part!r:.60}")
        return "".join(out), True
    raise ValueError(f"message {j}: 'content' must be a string or a list of parts")


def _from_messages(row: dict[str, Any], index: int, source: str) -> Conversation:
    msgs = row.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise ValueError("no 'messages' list (or it is empty)")
    rid, extra = _id_of(row, index)
    images = _images_of(row, "images", extra)
    turns = []
    for j, m in enumerate(msgs):
        if not isinstance(m, dict) or "role" not in m or "content" not in m:
            raise ValueError(f"message {j} needs 'role' and 'content'")
        if m["role"] not in _MSG_ROLES:
            raise ValueError(f"message {j}: unknown role {short(m['role'])} (expected user, assistant or system)")
        text, parts = _content_to_text(m["content"], j)
        if parts:
            extra.setdefault("_parts", []).append(j)
            if any(set(p) != ({"type", "text"} if p.get("type") == "text" else {"type"}) or p["type"] == "image_url"
                   for p in m["content"]):
                # keys beyond type/text (OpenAI's image_url, Arrow's "text": None, ...) are written back
                extra.setdefault("_part_keys", {})[str(j)] = m["content"]
        turns.append(Turn(role=m["role"], text=text))
    for k, v in row.items():
        if k not in ("id", "images", "messages", "metadata", "source"):
            extra[k] = v
    meta = row.get("metadata") or {}
    if not isinstance(meta, dict):
        raise ValueError("'metadata' must be an object")
    return Conversation(id=rid, images=images, turns=turns, source=row.get("source") or source,
                        metadata=meta, extra=extra)


def _validate(conv: Conversation) -> Conversation:
    if not conv.assistant_indices():
        raise ValueError("no assistant reply")
    check_image_markers(conv)
    return conv


def conversation_from_row(row: Any, index: int, source: str = "", shape: str | None = None) -> Conversation:
    """Convert one decoded row (LLaVA or messages shape). Raises ``ValueError`` with the reason."""
    if not isinstance(row, dict):
        raise ValueError(f"a record must be an object, got {type(row).__name__}")
    if shape is None:
        shape = "messages" if "messages" in row else "llava"
    conv = _from_messages(row, index, source) if shape == "messages" else _from_llava(row, index, source)
    return _validate(conv)


def _put_id(out: dict[str, Any], conv: Conversation) -> None:
    if conv.extra.get("_no_id"):
        return
    out["id"] = int(conv.id) if conv.extra.get("_int_id") else conv.id


def _put_images(out: dict[str, Any], conv: Conversation, key: str) -> None:
    if conv.images:
        if key == "image":  # LLaVA: one image as a string (its training code joins it to a folder)
            as_list = conv.extra.get("_image_list") or len(conv.images) > 1
        else:  # LLaMA-Factory: always a list
            as_list = not (conv.extra.get("_image_str") and len(conv.images) == 1)
        out[key] = list(conv.images) if as_list else conv.images[0]
    elif conv.extra.get("_null_image"):
        out[key] = None


def _put_common(out: dict[str, Any], conv: Conversation) -> None:
    for k, v in conv.extra.items():
        if not k.startswith("_"):
            out[k] = v
    if conv.metadata:
        out["metadata"] = conv.metadata


def to_llava(conv: Conversation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put_id(out, conv)
    _put_images(out, conv, "image")
    turn_extra = conv.extra.get("_turn_extra", {})
    turns = []
    for j, t in enumerate(conv.turns):
        d = {"from": _LLAVA_NAMES[t.role], "value": t.text}
        d.update(turn_extra.get(str(j), {}))
        turns.append(d)
    out["conversations"] = turns
    _put_common(out, conv)
    return out


def to_messages(conv: Conversation) -> dict[str, Any]:
    out: dict[str, Any] = {}
    _put_id(out, conv)
    parts = set(conv.extra.get("_parts", []))
    msgs = []
    for j, t in enumerate(conv.turns):
        if j in parts:
            pieces = t.text.split(IMAGE)
            content: list[dict[str, Any]] = []
            for k, piece in enumerate(pieces):
                if k:
                    content.append({"type": "image"})
                if piece:
                    content.append({"type": "text", "text": piece})
            msgs.append({"role": t.role, "content": _with_part_keys(content, conv.extra.get("_part_keys", {}).get(str(j)))})
        else:
            msgs.append({"role": t.role, "content": t.text})
    out["messages"] = msgs
    _put_images(out, conv, "images")
    _put_common(out, conv)
    return out


def _with_part_keys(parts: list[dict[str, Any]], original: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The original parts (every key, in order) with the current texts, when they still line up part for
    part (same count, text where text was); else the plain parts."""
    if not original or len(original) != len(parts):
        return parts
    if any((o.get("type") == "text") != (p["type"] == "text") for o, p in zip(original, parts, strict=True)):
        return parts
    return [{k: (p["text"] if k == "text" and p["type"] == "text" else v) for k, v in o.items()}
            for o, p in zip(original, parts, strict=True)]


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


_HF_ONE_IMAGE = "_unmask_image_was_string"  # in a saved dataset's extra_json: write that image back as a string


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
                    _check_image_file(real, img)
        except ValueError as exc:
            raise UnmaskError(f"{where(path, index, rid, line=lineno)}: {exc}") from None
        yield conv


def _check_image_file(real: Path, shown: str) -> None:
    if not real.is_file():
        raise ValueError(f"image {shown!r} not found")
    from .images import ImageTooLarge, decode_check

    try:
        decode_check(real)  # every pixel: verify() passes a JPEG cut in half
    except ImageTooLarge as exc:
        raise ValueError(f"image {shown!r}: {exc}") from None
    except Exception as exc:  # PIL raises many types for corrupt files
        raise ValueError(f"image {shown!r} cannot be decoded ({type(exc).__name__})") from None


def read_records(path: str | Path, fmt: str | None = None, image_root: str | Path | None = None,
                 check_images: bool = False, source: str | None = None, extract: Any = None) -> list[Conversation]:
    return list(iter_records(path, fmt, image_root, check_images, source, extract))


# Writing lives in formats_write (imported last: it uses the converters above).
from .formats_write import output_format, write_records  # noqa: E402
