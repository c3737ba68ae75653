"""The world's typography: a hand-made 5x7 bitmap font, one glyph per 12x12 cell of a 72x72 image.

A request shown in an image is its characters laid out row-major on a 6x6 grid (36 cells; blank cells
are spaces), so image token *i* sees exactly character *i*. Jitter (position, ink, paper, noise) comes
from a seeded generator: the same text and seed give the same pixels.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .model import CHARS, IMAGE_SIZE, PATCH

__all__ = ["GRID", "MAX_CHARS", "fit_text", "render", "render_array"]

GRID = IMAGE_SIZE // PATCH  # 6 cells per row and column
MAX_CHARS = GRID * GRID

# 7 rows of 5 columns per glyph, "#" = ink. Lowercase only (the tokenizer lowercases as well).
_GLYPHS_SRC = {
    "a": ".....|.....|.###.|....#|.####|#...#|.####",
    "b": "#....|#....|#.##.|##..#|#...#|#...#|####.",
    "c": ".....|.....|.###.|#....|#....|#...#|.###.",
    "d": "....#|....#|.##.#|#..##|#...#|#...#|.####",
    "e": ".....|.....|.###.|#...#|#####|#....|.###.",
    "f": "..##.|.#..#|.#...|###..|.#...|.#...|.#...",
    "g": ".....|.####|#...#|#...#|.####|....#|.###.",
    "h": "#....|#....|#.##.|##..#|#...#|#...#|#...#",
    "i": "..#..|.....|.##..|..#..|..#..|..#..|.###.",
    "j": "...#.|.....|..##.|...#.|...#.|#..#.|.##..",
    "k": "#....|#....|#..#.|#.#..|##...|#.#..|#..#.",
    "l": ".##..|..#..|..#..|..#..|..#..|..#..|.###.",
    "m": ".....|.....|##.#.|#.#.#|#.#.#|#...#|#...#",
    "n": ".....|.....|#.##.|##..#|#...#|#...#|#...#",
    "o": ".....|.....|.###.|#...#|#...#|#...#|.###.",
    "p": ".....|.....|####.|#...#|####.|#....|#....",
    "q": ".....|.....|.##.#|#..##|.####|....#|....#",
    "r": ".....|.....|#.##.|##..#|#....|#....|#....",
    "s": ".....|.....|.###.|#....|.###.|....#|####.",
    "t": ".#...|.#...|###..|.#...|.#...|.#..#|..##.",
    "u": ".....|.....|#...#|#...#|#...#|#..##|.##.#",
    "v": ".....|.....|#...#|#...#|#...#|.#.#.|..#..",
    "w": ".....|.....|#...#|#...#|#.#.#|#.#.#|.#.#.",
    "x": ".....|.....|#...#|.#.#.|..#..|.#.#.|#...#",
    "y": ".....|.....|#...#|#...#|.####|....#|.###.",
    "z": ".....|.....|#####|...#.|..#..|.#...|#####",
    "0": ".###.|#...#|#..##|#.#.#|##..#|#...#|.###.",
    "1": "..#..|.##..|..#..|..#..|..#..|..#..|.###.",
    "2": ".###.|#...#|....#|...#.|..#..|.#...|#####",
    "3": "####.|....#|....#|.###.|....#|....#|####.",
    "4": "...#.|..##.|.#.#.|#..#.|#####|...#.|...#.",
    "5": "#####|#....|####.|....#|....#|#...#|.###.",
    "6": "..##.|.#...|#....|####.|#...#|#...#|.###.",
    "7": "#####|....#|...#.|..#..|.#...|.#...|.#...",
    "8": ".###.|#...#|#...#|.###.|#...#|#...#|.###.",
    "9": ".###.|#...#|#...#|.####|....#|...#.|.##..",
    " ": ".....|.....|.....|.....|.....|.....|.....",
    ".": ".....|.....|.....|.....|.....|.##..|.##..",
    ",": ".....|.....|.....|.....|.##..|..#..|.#...",
    "!": "..#..|..#..|..#..|..#..|..#..|.....|..#..",
    "?": ".###.|#...#|....#|...#.|..#..|.....|..#..",
    ":": ".....|.##..|.##..|.....|.##..|.##..|.....",
    ";": ".....|.##..|.##..|.....|.##..|..#..|.#...",
    "'": "..#..|..#..|.#...|.....|.....|.....|.....",
    "-": ".....|.....|.....|#####|.....|.....|.....",
    "(": "...#.|..#..|.#...|.#...|.#...|..#..|...#.",
    ")": ".#...|..#..|...#.|...#.|...#.|..#..|.#...",
    "/": ".....|....#|...#.|..#..|.#...|#....|.....",
    "\n": ".....|.....|.....|.....|.....|.....|.....",
}
# Characters outside the charset (the tokenizer maps them to <unk>) show as a hollow box.
_UNKNOWN = "#####|#...#|#...#|#...#|#...#|#...#|#####"


def _parse(src: str) -> np.ndarray:
    rows = src.split("|")
    assert len(rows) == 7 and all(len(r) == 5 for r in rows), f"bad glyph {src!r}"
    g = np.array([[c == "#" for c in r] for r in rows], dtype=bool)
    # Bold by one pixel to the right: twice the ink per glyph makes the 12x12 patches easier to tell apart.
    bold = g.copy()
    bold = np.pad(bold, ((0, 0), (0, 1)))
    bold[:, 1:] |= g
    return bold  # 7 x 6


_GLYPHS = {ch: _parse(src) for ch, src in _GLYPHS_SRC.items()}
_UNK_GLYPH = _parse(_UNKNOWN)
assert set(_GLYPHS) == set(CHARS), "font and tokenizer charsets differ"


def fit_text(text: str) -> str:
    """``text`` as the renderer lays it out: lowercased; raises when it has more than 36 characters."""
    text = text.lower()
    if len(text) > MAX_CHARS:
        raise ValueError(f"{text!r}: {len(text)} characters do not fit a {GRID}x{GRID} image ({MAX_CHARS} max)")
    return text


def render_array(text: str, rng: np.random.Generator | int = 0) -> np.ndarray:
    """Render ``text`` as a 72x72x3 uint8 array (row-major on the 6x6 grid, jittered by ``rng``)."""
    text = fit_text(text)
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    paper = 255 - rng.integers(0, 24)
    ink = rng.integers(0, 70)
    img = np.full((IMAGE_SIZE, IMAGE_SIZE), float(paper), dtype=np.float32)
    # One jitter draw per cell, also for blank cells, so the noise a cell gets does not depend on the text.
    offsets = rng.integers(-1, 2, size=(MAX_CHARS, 2))
    for i in range(MAX_CHARS):
        ch = text[i] if i < len(text) else " "
        glyph = _GLYPHS.get(ch, _UNK_GLYPH)
        r, c = divmod(i, GRID)
        y = r * PATCH + 2 + int(offsets[i, 0])
        x = c * PATCH + 3 + int(offsets[i, 1])
        cell = img[y : y + 7, x : x + 6]
        cell[glyph] = float(ink)
    img += rng.normal(0.0, 6.0, size=img.shape).astype(np.float32)
    arr = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return np.repeat(arr[:, :, None], 3, axis=2)


def render(text: str, rng: np.random.Generator | int = 0) -> Any:
    """Render ``text`` as a 72x72 RGB ``PIL.Image`` (see :func:`render_array`)."""
    from PIL import Image

    return Image.fromarray(render_array(text, rng))
