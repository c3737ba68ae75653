"""Images embedded in a saved Hugging Face dataset (a ``datasets.Image`` column, or ``List(Image())`` as in
TRL's own datasets): each raw Arrow value is ``{"bytes", "path"}``. unmask records hold paths, so
``unmask convert`` writes the bytes to files beside its output (``OUT_STEM_images/<sha256[:16]>.<ext>``,
content-addressed: the same image is written once, a second run writes nothing new) and the records
name them relative to the output's folder. Other readers refuse them with a line saying so."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

__all__ = ["Extractor", "is_embedded", "replace_embedded"]

_EXT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "GIF": ".gif", "BMP": ".bmp", "TIFF": ".tiff"}


def is_embedded(value: Any) -> bool:
    """An Image feature's raw value (or a list of them)."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, dict) and ("bytes" in v or "path" in v) for v in value)
    return isinstance(value, dict) and set(value) <= {"bytes", "path"} and "bytes" in value


class Extractor:
    """Writes embedded images under ``folder``; returns their paths relative to ``base`` (the output's folder)."""

    def __init__(self, folder: Path, base: Path):
        self.folder, self.base = folder, base
        self.written: set[str] = set()

    def __call__(self, value: dict) -> str:
        data = value.get("bytes")
        if not data:
            raise ValueError(f"embedded image without bytes (path {value.get('path')!r})")
        from .images import pil_open
        from .store import atomic_write_bytes

        try:
            with pil_open(io.BytesIO(data)) as im:
                ext = _EXT[im.format]
        except Exception as exc:  # PIL raises many types for corrupt data
            raise ValueError(f"embedded image cannot be decoded ({type(exc).__name__})") from None
        name = hashlib.sha256(data).hexdigest()[:16] + ext
        target = self.folder / name
        if not target.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(target, data)
        rel = target.relative_to(self.base).as_posix()
        self.written.add(rel)
        return rel


def replace_embedded(row: dict, extract: Extractor | None) -> None:
    """Replace a row's embedded images (``datasets.Image`` values) by extracted files' paths, in place."""
    for key in ("images", "image"):
        value = row.get(key)
        if value is None or not is_embedded(value):
            continue
        if extract is None:
            raise ValueError(f"'{key}' holds embedded images (a datasets Image feature): unmask convert writes "
                             f"them to files first (unmask convert DATASET -o OUT.json)")
        row[key] = [extract(v) for v in value] if isinstance(value, list) else extract(value)
