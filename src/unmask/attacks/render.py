"""Text layout and drawing shared by the typographic kinds, reproducing the public renderers.

- FigStep: ``textwrap.fill(instruction, 15)`` then ``"\\n1. "``, ``"\\n2. "``, ``"\\n3. "`` appended, drawn
  with ``ImageDraw.text((20, 10), text, spacing=11)`` in black on a white 760x760 RGB canvas.
- MM-SafetyBench TYPO: greedy word wrap on advance widths (a word joins the line while the running
  width stays ``< 1024``; a continuation line starts with a space, as in the public script), canvas
  1024 x 90*(lines+1), text drawn at (0, 45) in black on white.
"""

from __future__ import annotations

import functools
import textwrap
from typing import TYPE_CHECKING

from ..errors import UnmaskError

if TYPE_CHECKING:
    from PIL import Image, ImageFont

__all__ = ["draw_gray_text", "figstep_layout", "figstep_text", "mmsb_wrap", "stack_vertical", "text_bbox"]

_state: dict[str, bool | None] = {"gray_ok": None}


@functools.lru_cache(maxsize=4096)  # asked for by the plan, the overflow check and the renderer
def figstep_text(instruction: str, wrap: int = 15, steps: int = 3) -> str:
    text = textwrap.fill(instruction.removesuffix("\n"), width=wrap)
    for idx in range(1, steps + 1):
        text += f"\n{idx}. "
    return text


@functools.lru_cache(maxsize=4096)  # asked for by the plan, the overflow check and the renderer
def figstep_layout(instruction: str, font_file: str, size: int, layout: str, wrap: int, steps: int,
                   canvas: tuple[int, int], origin: tuple[int, int], spacing: float,
                   fit: bool) -> tuple[str, int, bool]:
    """FigStep's text at ``size`` -> (text, font size, whether it fits the canvas).

    With ``fit``, text that does not fit is laid out again at smaller sizes (1 pt steps), the wrap
    widened in proportion (``wrap * size / new_size`` characters: the lines keep FigStep's width), until
    the instruction and the whole list fit; the canvas stays FigStep's.
    """
    from .fonts import load_font

    text = figstep_text(instruction, wrap, steps)

    def fits(t: str, s: int) -> bool:
        box = text_bbox(origin, t, load_font(font_file, s, layout), spacing)
        return box[2] <= canvas[0] and box[3] <= canvas[1]

    if fits(text, size):
        return text, size, True
    if not fit:
        return text, size, False
    for smaller in range(size - 1, 3, -1):
        t = figstep_text(instruction, max(wrap, wrap * size // smaller), steps)
        if fits(t, smaller):
            return t, smaller, False
    raise UnmaskError(f"the instruction does not fit the {canvas[0]}x{canvas[1]} canvas even at 4 pt "
                      f"({len(instruction)} characters)")


def draw_gray_text(size: tuple[int, int], xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont,
                   spacing: float = 4) -> Image.Image:
    """Black text on white. Drawn on one gray channel (3x less blending than RGB), which gives the
    same pixels as drawing on RGB; the first call in each process checks that against an RGB drawing
    and, should a Pillow version ever disagree, every later call draws on RGB instead."""
    from PIL import Image, ImageDraw

    def rgb() -> Image.Image:
        ref = Image.new("RGB", size, "#FFFFFF")
        ImageDraw.Draw(ref).text(xy, text, fill="#000000", font=font, spacing=spacing)
        return ref

    if _state["gray_ok"] is False:
        return rgb()
    im = Image.new("L", size, 255)
    ImageDraw.Draw(im).text(xy, text, fill=0, font=font, spacing=spacing)
    if _state["gray_ok"] is None:
        ref = rgb()
        _state["gray_ok"] = im.convert("RGB").tobytes() == ref.tobytes()
        if not _state["gray_ok"]:
            return ref
    return im


def text_bbox(xy: tuple[float, float], text: str, font: ImageFont.FreeTypeFont,
              spacing: float = 4) -> tuple[int, int, int, int]:
    from PIL import Image, ImageDraw

    return ImageDraw.Draw(Image.new("L", (1, 1))).multiline_textbbox(xy, text, font=font, spacing=spacing)


def _split_word(word: str, font: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    # Greedy by characters; each piece (with the leading space a continuation line gets) fits.
    pieces, cur = [], ""
    for ch in word:
        if cur and font.getlength(" " + cur + ch, "L") >= max_width:
            pieces.append(cur)
            cur = ch
        else:
            cur += ch
    return pieces + [cur] if cur else pieces


def mmsb_wrap(text: str, font: ImageFont.FreeTypeFont, max_width: int = 1024, overflow: str = "error",
              where: str = "") -> tuple[str, int]:
    """MM-SafetyBench's greedy wrap -> (text with newlines, line count).

    A word wider than the canvas cannot be wrapped: ``error`` (default) stops naming the row and the
    word; ``clip`` keeps it on its own line and lets it run off the right edge, as the public script
    does; ``break`` cuts it into pieces that fit, each starting a line.
    """
    words = text.strip().replace("\n", " ").split(" ")
    if overflow == "break":
        words = [p for w in words for p in (_split_word(w, font, max_width)
                                            if font.getlength(" " + w, "L") >= max_width else [w])]
    elif overflow == "error":
        for i, w in enumerate(words):
            width = font.getlength(w if i == 0 else " " + w, "L")
            if width >= max_width:
                shown = w if len(w) <= 40 else w[:37] + "..."
                raise UnmaskError(f"{where}: key phrase word {shown!r} is {width:.0f} px wide, the canvas "
                                  f"{max_width} px; pass --overflow clip (cut at the edge, like the public "
                                  f"script) or --overflow break (split the word)")
    formatted = words[0]
    cur = font.getlength(formatted, "L")
    lines = 1
    for w in words[1:]:
        cur += font.getlength(" " + w, "L")
        if cur < max_width:
            formatted += " " + w
        else:
            formatted += "\n " + w
            cur = font.getlength(" " + w, "L")
            lines += 1
    return formatted, lines


def stack_vertical(top: Image.Image, bottom: Image.Image) -> Image.Image:
    """``top`` above ``bottom``, left-aligned, on a canvas as wide as the wider one. The public script
    fills the uncovered part (only when the widths differ) with black; so does this."""
    from PIL import Image

    top = top if top.mode == "RGB" else top.convert("RGB")
    bottom = bottom if bottom.mode == "RGB" else bottom.convert("RGB")
    out = Image.new("RGB", (max(top.width, bottom.width), top.height + bottom.height))
    out.paste(top, (0, 0))
    out.paste(bottom, (0, top.height))
    return out
