"""Records as rows and back: a decoded LLaVA or messages row -> :class:`Conversation` (every rule of a
LLaVA row is :func:`unmask.data.rows.llava_row`), and a :class:`Conversation` -> either row shape. Lossless
both ways: fields unmask does not interpret are kept in ``Conversation.extra`` and written back.
"""

from __future__ import annotations

from typing import Any

from ..errors import short
from .records import IMAGE, Conversation, Turn
from .rows import LLAVA_NAMES, check_markers, check_metadata, check_source, llava_row, row_id, row_images

__all__ = ["check_image_markers", "conversation_from_row", "to_llava", "to_messages"]

_MSG_ROLES = ("user", "assistant", "system")

FORMATS = ("llava", "llava-jsonl", "messages", "messages-jsonl", "hf")
_HF_ONE_IMAGE = "_unmask_image_was_string"  # in a saved dataset's extra_json: write that image back as a string



def _from_llava(row: dict[str, Any], index: int, source: str) -> Conversation:
    r = llava_row(row, index)
    extra = dict(r.notes)
    for k, v in row.items():
        if k not in ("id", "image", "conversations", "metadata", "source"):
            extra[k] = v
    return Conversation(id=r.id, images=r.images, turns=[Turn(role=role, text=text) for role, text in r.turns],
                        source=row.get("source") or source, metadata=r.metadata, extra=extra)


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
    rid, extra = row_id(row, index)
    images = row_images(row, "images", extra)
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
    meta = check_metadata(row)
    check_source(row)
    return Conversation(id=rid, images=images, turns=turns, source=row.get("source") or source,
                        metadata=meta, extra=extra)


def check_image_markers(conv: Conversation) -> None:
    check_markers(conv.n_image_markers, len(conv.images))


def conversation_from_row(row: Any, index: int, source: str = "", shape: str | None = None) -> Conversation:
    """Convert one decoded row (LLaVA or messages shape). Raises ``ValueError`` with the reason."""
    if not isinstance(row, dict):
        raise ValueError(f"a record must be an object, got {type(row).__name__}")
    if shape is None:
        shape = "messages" if "messages" in row else "llava"
    if shape != "messages":
        return _from_llava(row, index, source)  # every rule in rows.llava_row
    conv = _from_messages(row, index, source)
    if not conv.assistant_indices():
        raise ValueError("no assistant reply")
    check_image_markers(conv)
    return conv


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
        d = {"from": LLAVA_NAMES[t.role], "value": t.text}
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


