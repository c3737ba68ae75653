"""Which format a records file is in, told from its first bytes (see :mod:`unmask.data.formats`)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import UnmaskError

__all__ = ["detect_format", "is_array"]


def detect_format(path: Path) -> str:
    """Pick the format from the file: a folder is a saved HF dataset; a file is a JSON list or JSONL (its
    first byte) of LLaVA or ``messages`` records (its first record's keys)."""
    path = Path(path)
    if not path.exists():
        raise UnmaskError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / "state.json").exists() or (path / "dataset_dict.json").exists():
            return "hf"
        files = _llamafactory_files(path / "dataset_info.json")
        if files:
            raise UnmaskError(f"{path}: a LLaMA-Factory data folder (dataset_info.json lists datasets); pass one "
                              f"dataset's file, e.g. {path / files[0]}")
        if (path / "dataset_info.json").exists():
            return "hf"
        raise UnmaskError(f"{path}: a folder, but not a saved Hugging Face dataset (no state.json)")
    with open(path, "rb") as fh:
        head = fh.read(_HEAD)
    stripped = head.lstrip()
    if stripped.startswith(b"["):
        return "messages" if _first_shape(stripped[1:], array=True) == "messages" else "llava"
    if stripped.startswith(b"{"):
        return "messages-jsonl" if _first_shape(stripped, array=False) == "messages" else "llava-jsonl"
    if not stripped:
        raise UnmaskError(f"{path}: empty file")
    raise UnmaskError(f"{path}: byte 0: not JSON or JSONL (expected '[' or '{{'); pass --format")


_HEAD = 1 << 20  # bytes read to tell the format: enough for the first record of any real file
_KEY_RE = re.compile(rb'"(messages|conversations)"\s*:\s*\[')


def _first_shape(data: bytes, *, array: bool) -> str:
    """``messages`` or ``llava``: the shape of the first record in ``data`` (the file's head).

    The first record is decoded when the head holds it whole; else (a huge first record, or a bad one,
    whose error the reader reports later with its place) the first of the two keys in the raw bytes
    decides (a key cannot match inside a JSON string: its quotes would be escaped there)."""
    text = data.decode("utf-8", errors="replace")
    if not array:
        text = text.split("\n", 1)[0]
    try:
        first, _ = json.JSONDecoder().raw_decode(text.lstrip())
    except ValueError:
        first = None
    if isinstance(first, dict):
        return "messages" if "messages" in first and "conversations" not in first else "llava"
    m = _KEY_RE.search(data if array else data.split(b"\n", 1)[0])
    return "messages" if m is not None and m.group(1) == b"messages" else "llava"


def is_array(path: Path) -> bool:
    """Whether the file is one JSON list (else JSONL): its first non-space byte."""
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 16):
            stripped = chunk.lstrip()
            if stripped:
                return stripped.startswith(b"[")
    return False


def _llamafactory_files(info: Path) -> list[str]:
    """The ``file_name`` entries of a LLaMA-Factory ``dataset_info.json`` ([] for any other file)."""
    try:
        doc = json.loads(info.read_text(encoding="utf-8")) if info.is_file() and info.stat().st_size < 1 << 22 else None
    except (OSError, ValueError):
        return []
    if not isinstance(doc, dict):
        return []
    return [v["file_name"] for v in doc.values() if isinstance(v, dict) and isinstance(v.get("file_name"), str)]
