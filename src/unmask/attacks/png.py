"""A fast, lossless PNG writer for rendered attack images (RGB, 8 bit).

Why: encoding, not drawing, dominates the cost of a typography image (Pillow's PNG writer tries five
filters per row and deflates 1.7 MB per 760x760 canvas). A typography image is bands of ink separated
by runs of blank rows, and many bands recur (the "1. " line of every FigStep image, the white margins).
So the rows are cut into runs of uniform rows and bands of ink; each distinct run or band is deflated
once, as an independent raw-deflate segment ending in a full flush, and cached by content; an image's
IDAT is the concatenation of its segments (the checksum is combined from theirs). The decoded pixels
are exactly the rendered ones (only the compressed bytes differ from Pillow's); the first image each
process writes is decoded and compared, and on any mismatch the process switches to Pillow's writer
(``encoder_name()`` reports which one wrote).

Mode ``L`` input is written as RGB with the gray value in all three channels (what ``convert("RGB")``
gives), so gray renders can be drawn on one channel and still come out as RGB files.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["encode_png", "encoder_name", "pillow_png"]

_SIG = b"\x89PNG\r\n\x1a\n"
_BASE = 65521
_CACHE: dict[object, tuple[bytes, int, int]] = {}
_CACHE_MAX_BYTES = 64 << 20  # keys are band bytes: bound the memory a long run can pin
_state = {"checked": False, "ok": True, "cached_bytes": 0}


def _chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _adler_combine(a1: int, a2: int, len2: int) -> int:
    # zlib's adler32_combine (not exposed by Python's zlib): checksum of A+B from those of A and B.
    rem = len2 % _BASE
    s1 = a1 & 0xFFFF
    s2 = (rem * s1) % _BASE
    s1 += (a2 & 0xFFFF) + _BASE - 1
    s2 += ((a1 >> 16) & 0xFFFF) + ((a2 >> 16) & 0xFFFF) + _BASE - rem
    return (s1 % _BASE) | ((s2 % _BASE) << 16)


def _segment(raw: bytes) -> tuple[bytes, int, int]:
    # A fresh compressor per segment: its bytes depend on its rows alone, so the file does not depend
    # on what a process met before (same input, same bytes, whatever the worker count).
    c = zlib.compressobj(1, zlib.DEFLATED, -15, 8)
    return c.compress(raw) + c.flush(zlib.Z_FULL_FLUSH), zlib.adler32(raw), len(raw)


def _banded_png(img: Image.Image) -> bytes:
    import numpy as np

    w, h = img.size
    a = np.asarray(img)
    gray = img.mode == "L"
    rows = a.reshape(h, -1)
    uniform = (rows == rows[:, :1]).all(axis=1)
    # run label per row: the value of a uniform row, -1 for a row with ink; runs = equal labels
    label = np.where(uniform, rows[:, 0].astype(np.int32), -1)  # a uniform RGB row is gray: one value
    cuts = (np.flatnonzero(np.diff(label) != 0) + 1).tolist()
    segs = []
    adler = 1
    for s, e in zip([0, *cuts], [*cuts, h], strict=True):
        v = int(label[s])
        band = None if v >= 0 else a[s:e].tobytes()
        key: object = (v, e - s, w) if band is None else (band, w, gray)
        hit = _CACHE.get(key)
        if hit is None:
            raw = np.empty((e - s, w * 3 + 1), np.uint8)
            raw[:, 0] = 0  # PNG filter type 0 (None) on every row
            raw[:, 1:] = np.repeat(a[s:e], 3, axis=1) if gray else rows[s:e]
            hit = _segment(raw.tobytes())
            size = 64 if band is None else len(band)
            if size <= _CACHE_MAX_BYTES // 16:  # a photo's one big band is not worth keeping
                if _state["cached_bytes"] + size > _CACHE_MAX_BYTES:
                    _CACHE.clear()
                    _state["cached_bytes"] = 0
                _CACHE[key] = hit
                _state["cached_bytes"] += size
        segs.append(hit[0])
        adler = _adler_combine(adler, hit[1], hit[2])
    idat = b"\x78\x01" + b"".join(segs) + b"\x03\x00" + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    return _SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def pillow_png(img: Image.Image, compress_level: int = 1) -> bytes:
    """Pillow's writer (RGB); the compression level changes the bytes, never the pixels."""
    buf = io.BytesIO()
    (img if img.mode == "RGB" else img.convert("RGB")).save(buf, "PNG", compress_level=compress_level)
    return buf.getvalue()


def encode_png(img: Image.Image) -> bytes:
    """PNG bytes of ``img`` (mode ``L`` or ``RGB``) as an RGB image; pixel-exact."""
    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    if not _state["ok"]:
        return pillow_png(img)
    data = _banded_png(img)
    if not _state["checked"]:
        from ..data.images import pil_open

        _state["checked"] = True
        want = img if img.mode == "RGB" else img.convert("RGB")
        try:
            got = pil_open(io.BytesIO(data))
            got.load()
            same = got.mode == "RGB" and got.size == want.size and got.tobytes() == want.tobytes()
        except Exception:
            same = False
        if not same:
            _state["ok"] = False
            return pillow_png(img)
    return data


def encoder_name() -> str:
    return "banded" if _state["ok"] else "pillow"
