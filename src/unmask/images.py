"""Open the images that records and benchmark samples refer to.

A reference is either a path (resolved under an image root with :func:`unmask.formats.resolve_image`,
so it cannot escape it) or a synthetic reference that the mix ablations write instead of a real file:

- ``unmask://blank?size=N``            a white N x N image (default 336)
- ``unmask://noise?seed=S&size=N``     uniform RGB noise from seed S (same seed, same pixels)

Every failure is an :class:`~unmask.errors.UnmaskError` with one line naming the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlparse

from .errors import UnmaskError

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["SCHEME", "ImageTooLarge", "is_synthetic", "open_image", "pil_open"]

SCHEME = "unmask://"
_MAX_SYNTH = 4096


def is_synthetic(ref: str) -> bool:
    return ref.startswith(SCHEME)


def _int_param(ref: str, query: dict[str, list[str]], name: str, default: int) -> int:
    raw = query.get(name, [str(default)])[-1]
    try:
        value = int(raw)
    except ValueError:
        raise UnmaskError(f"image {ref!r}: {name}={raw!r} is not an integer") from None
    return value


class ImageTooLarge(ValueError):
    """A picture over PIL's pixel limit (a decompression bomb), refused before any pixel is decoded."""


def pil_open(path: str | Path) -> Image.Image:
    """``PIL.Image.open`` that refuses decompression bombs: a small file may declare 30000 x 30000 pixels.

    PIL raises above twice ``Image.MAX_IMAGE_PIXELS`` but only *warns* between once and twice the limit
    (and would then allocate gigabytes on ``load``); both are :class:`ImageTooLarge` here."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"too large to decode safely ({exc})") from None


def _synthetic(ref: str) -> Image.Image:
    import numpy as np
    from PIL import Image

    url = urlparse(ref)
    query = parse_qs(url.query)
    kind = url.netloc or url.path.lstrip("/")
    size = _int_param(ref, query, "size", 336)
    if not 1 <= size <= _MAX_SYNTH:
        raise UnmaskError(f"image {ref!r}: size must be between 1 and {_MAX_SYNTH}")
    if kind == "blank":
        return Image.new("RGB", (size, size), (255, 255, 255))
    if kind == "noise":
        seed = _int_param(ref, query, "seed", 0)
        rng = np.random.default_rng(seed)
        return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    raise UnmaskError(f"image {ref!r}: unknown synthetic image {kind!r} (expected blank or noise)")


def open_image(ref: str, root: str | Path | None = None) -> Image.Image:
    """Decode ``ref`` (a path under ``root``, or a synthetic ``unmask://`` reference) as an RGB image."""
    if is_synthetic(ref):
        return _synthetic(ref)
    from .formats import resolve_image

    root = Path(root) if root is not None else Path.cwd()
    try:
        path = resolve_image(ref, root)
    except ValueError as exc:
        raise UnmaskError(f"image {ref!r}: {exc}") from None
    if not path.is_file():
        raise UnmaskError(f"image {ref!r}: not found under {str(root)!r}")
    try:
        with pil_open(path) as im:
            im.load()
            return im.convert("RGB")
    except ImageTooLarge as exc:
        raise UnmaskError(f"image {ref!r} ({path}): {exc}") from None
    except Exception as exc:  # PIL raises many types for corrupt files
        raise UnmaskError(f"image {ref!r} ({path}): cannot be decoded ({type(exc).__name__})") from None
