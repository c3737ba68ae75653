"""The font files the attack images are drawn with.

The fonts ship inside the package (``unmask/fonts/``, with their licences) so an image does not depend
on what the machine has installed:

- ``FreeMonoBold.ttf``         GNU FreeFont 20120503 (Debian fonts-freefont-ttf), GPL-3+ with the font
                               exception: FigStep's font.
- ``LiberationSans-Regular.ttf`` Liberation 2.1.5 (Debian fonts-liberation2), SIL OFL 1.1: metric-compatible
                               with Arial, MM-SafetyBench's font (same advances, so the same line breaks).

A missing font file is an error; there is never a silent fallback to another font. Likewise a character
the font has no glyph for (CJK and emoji in the shipped fonts), a control character, or a text that would
draw no ink at all (only zero-width characters) is an error naming the row (:func:`glyph_problem`): an
image of empty boxes does not show the request. No shipped font covers CJK or emoji; ``--font FILE``
with one that does (e.g. Noto Sans CJK) lets such rows through, and its sha256 goes into the manifest.
"""

from __future__ import annotations

import functools
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..data.store import sha256_file
from ..errors import UnmaskError

if TYPE_CHECKING:
    from PIL import ImageFont

__all__ = ["FIGSTEP_FONT", "FONT_DIR", "MMSB_FONT", "font_info", "font_path", "glyph_problem", "load_font"]

FONT_DIR = Path(__file__).resolve().parent.parent / "fonts"
FIGSTEP_FONT = "FreeMonoBold.ttf"
MMSB_FONT = "LiberationSans-Regular.ttf"

_FONTS: dict[tuple[str, int, str], ImageFont.FreeTypeFont] = {}
_SHA: dict[str, str] = {}
_PATHS: dict[str, Path] = {}
_MASKS_PER_FONT = 512  # rasterised lines kept per font (~60 kB each at FigStep's size)


def _caching_font_class() -> type:
    """A FreeTypeFont whose ``getmask2`` remembers its last lines: the "1. ", "2. ", "3. " of every
    FigStep image are rasterised once per process. ``ImageDraw.text`` blends the very same mask it
    would have computed, so the pixels cannot differ."""
    from collections import OrderedDict

    from PIL import ImageFont

    class CachingFont(ImageFont.FreeTypeFont):
        def getmask2(self, text, mode="", *args, **kwargs):  # type: ignore[no-untyped-def]
            cache = self.__dict__.setdefault("_unmask_masks", OrderedDict())
            try:
                key = (text, mode, args, tuple(sorted(kwargs.items())))
                hit = cache.get(key)
            except TypeError:  # unhashable arguments (e.g. a features list): no caching
                return super().getmask2(text, mode, *args, **kwargs)
            if hit is None:
                hit = super().getmask2(text, mode, *args, **kwargs)
                cache[key] = hit
                if len(cache) > _MASKS_PER_FONT:
                    cache.popitem(last=False)
            else:
                cache.move_to_end(key)
            return hit

    return CachingFont


def font_path(name_or_path: str | Path) -> Path:
    """A shipped font by file name, or a user's font file by path; missing -> error."""
    hit = _PATHS.get(str(name_or_path))
    if hit is not None:  # asked for once per image: skip the file-system calls after the first
        return hit
    p = Path(name_or_path)
    cand = p if (p.is_absolute() or p.parent != Path(".") or p.exists()) else FONT_DIR / p
    if not cand.is_file():
        raise UnmaskError(f"{cand}: font file not found (no fallback to another font; reinstall unmask "
                          f"or pass --font with an existing .ttf)")
    _PATHS[str(name_or_path)] = found = cand.resolve()
    return found


def load_font(path: str | Path, size: int, layout: str = "basic") -> ImageFont.FreeTypeFont:
    """Load once per process, with a pinned layout engine: ``basic`` (FreeType alone, whole-pixel
    advances, always available: the default, so an image does not depend on whether libraqm is
    installed) or ``raqm`` (HarfBuzz shaping: fractional advances and kerning; an error where missing).
    For a monospaced font such as FreeMono both give the same pixels; for a proportional one they differ."""
    from PIL import ImageFont, features

    if layout not in ("basic", "raqm"):
        raise UnmaskError(f"layout must be 'basic' or 'raqm', not {layout!r}")
    if layout == "raqm" and not features.check("raqm"):
        raise UnmaskError("layout 'raqm' asked for, but this Pillow has no libraqm (no fallback to 'basic')")
    key = (str(path), int(size), layout)
    font = _FONTS.get(key)
    if font is None:
        engine = ImageFont.Layout.BASIC if layout == "basic" else ImageFont.Layout.RAQM
        try:
            font = _caching_font_class()(str(path), int(size), layout_engine=engine)
        except OSError as exc:
            raise UnmaskError(f"{path}: cannot load font ({exc})") from None
        _FONTS[key] = font
    return font


def font_info(path: str | Path) -> dict[str, Any]:
    """File name, path and sha256 of a font, plus the rasteriser versions (they can move pixels)."""
    from PIL import __version__ as pil_version
    from PIL import features

    p = str(path)
    if p not in _SHA:
        _SHA[p] = sha256_file(p)
    return {"file": Path(p).name, "path": p, "sha256": _SHA[p], "pillow": pil_version,
            "freetype": features.version("freetype2"), "raqm": features.version("raqm")}


@functools.lru_cache(maxsize=16)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont  # a dependency of matplotlib, hence always installed

    try:
        with TTFont(path, lazy=True, fontNumber=0) as font:
            return frozenset(font.getBestCmap() or {})
    except Exception as exc:
        raise UnmaskError(f"{path}: cannot read the font's character map ({type(exc).__name__}: {exc})") from None


def _show(chars: list[str]) -> str:
    shown = ", ".join(f"{c!r} U+{ord(c):04X}" for c in chars[:5])
    return shown + (f" and {len(chars) - 5} more" if len(chars) > 5 else "")


def glyph_problem(text: str, font_file: str | Path) -> str | None:
    """Why ``text`` cannot be drawn legibly with ``font_file`` (None: it can).

    Line breaks are layout, not glyphs. Control characters, characters missing from the font's
    character map (drawn as empty boxes) and texts without one visible character (only whitespace or
    zero-width / format characters, drawn as nothing) are problems.
    """
    cmap = _cmap(str(font_file))
    chars = [c for c in dict.fromkeys(text) if c != "\n"]
    control = [c for c in chars if unicodedata.category(c) in ("Cc", "Cs")]
    if control:
        return f"control character(s) {_show(control)} cannot be drawn"
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        return (f"{len(missing)} character(s) have no glyph in {Path(font_file).name} and would be drawn as "
                f"empty boxes: {_show(missing)}; pass --font FILE with a font that has them")
    if not any(not c.isspace() and unicodedata.category(c) != "Cf" for c in chars):
        return "the text has no visible character (only whitespace or zero-width characters): the image would be empty"
    return None
