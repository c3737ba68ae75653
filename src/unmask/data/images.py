"""Open the images that records and benchmark samples refer to.

A reference is either a path (resolved under an image root with :func:`unmask.data.paths.resolve_image`,
so it cannot escape it) or a synthetic reference that the mix ablations write instead of a real file:

- ``unmask://blank?size=N``            a white N x N image (default 336)
- ``unmask://noise?seed=S&size=N``     uniform RGB noise from seed S (same seed, same pixels)

The syntax is parsed and built in :mod:`unmask.data.synthetic` only; this module draws the pixels. Every
failure is an :class:`~unmask.errors.UnmaskError` with one line naming the reference.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..errors import UnmaskError
from .synthetic import SCHEME, is_synthetic, parse_synthetic

if TYPE_CHECKING:
    from PIL import Image

__all__ = ["RASTER_FORMATS", "SCHEME", "ImageTooLarge", "decode_check", "is_synthetic", "open_image",
           "parse_synthetic", "pil_open"]

# The raster formats a picture may be in. PIL would otherwise identify a file by its content, whatever its
# name, and open EPS / PostScript (by running Ghostscript), PDF, SVG-ish and dozens of exotic formats.
RASTER_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "TIFF")


class ImageTooLarge(ValueError):
    """A picture over PIL's pixel limit (a decompression bomb), refused before any pixel is decoded."""


def pil_open(path: str | Path | BinaryIO) -> Image.Image:
    """``PIL.Image.open`` for untrusted files: raster formats only (:data:`RASTER_FORMATS`, whatever the file is
    named), and no decompression bombs (a small file may declare 30000 x 30000 pixels).

    PIL raises above twice ``Image.MAX_IMAGE_PIXELS`` but only *warns* between once and twice the limit
    (and would then allocate gigabytes on ``load``); both are :class:`ImageTooLarge` here. Every image
    unmask reads goes through this function (a test greps the sources for other ``Image.open`` calls)."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return Image.open(path, formats=RASTER_FORMATS)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageTooLarge(f"too large to decode safely ({exc})") from None


def decode_check(path: str | Path) -> None:
    """Decode every pixel of ``path`` (``verify()`` reads only the header and checksums: a JPEG cut in half
    passes it). Raises :class:`ImageTooLarge` or PIL's own error."""
    with pil_open(path) as im:
        im.load()


def _synthetic(ref: str) -> Image.Image:
    import numpy as np
    from PIL import Image

    try:
        kind, size, seed = parse_synthetic(ref)
    except ValueError as exc:
        raise UnmaskError(f"image {ref!r}: {exc}") from None
    if kind == "blank":
        return Image.new("RGB", (size, size), (255, 255, 255))
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")


def open_image(ref: str, root: str | Path | None = None) -> Image.Image:
    """Decode ``ref`` (a path under ``root``, or a synthetic ``unmask://`` reference) as an RGB image."""
    if is_synthetic(ref):
        return _synthetic(ref)
    from .paths import resolve_image

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


def check_image_file(real: Path, shown: str) -> None:
    """The image exists and every pixel decodes (``ValueError`` naming ``shown`` otherwise)."""
    if not real.is_file():
        raise ValueError(f"image {shown!r} not found")
    try:
        decode_check(real)  # every pixel: verify() passes a JPEG cut in half
    except ImageTooLarge as exc:
        raise ValueError(f"image {shown!r}: {exc}") from None
    except Exception as exc:  # PIL raises many types for corrupt files
        raise ValueError(f"image {shown!r} cannot be decoded ({type(exc).__name__})") from None
