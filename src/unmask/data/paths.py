"""Where a record's image lives: the path policy shared by the readers (:mod:`unmask.data.formats`), the
image opener (:mod:`unmask.data.images`), the mix and the benchmark loaders.

A reference is a path under an image root (it may not escape it) or a synthetic ``unmask://`` reference
that the mix ablations write instead of a real file (:func:`unmask.data.images.open_image` makes those).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SYNTHETIC_PREFIX", "is_synthetic", "resolve_image"]

SYNTHETIC_PREFIX = "unmask://"  # generated images (mix ablations): unmask://blank?size=N, unmask://noise?...


def is_synthetic(image: str) -> bool:
    return image.startswith(SYNTHETIC_PREFIX)


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
