"""Where a record's image may lie: the image-root policy every reader applies to image paths.

A path is resolved under the image root and must stay inside it (no ``..``, absolute path or symlink
out); ``unmask://`` references are generated images (``unmask.data.images`` makes them) and are not
resolved. :class:`PathChecker` applies the same rule to many records at the cost of one check per folder.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SYNTHETIC_PREFIX", "PathChecker", "is_synthetic", "resolve_image"]

from .synthetic import SCHEME as SYNTHETIC_PREFIX  # generated images (mix ablations): blank / noise refs
from .synthetic import is_synthetic


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


class PathChecker:
    """``resolve_image`` (synthetic refs skipped) for many records sharing a few folders: each folder's
    real path is checked once and its symlinks listed once (one ``scandir``), instead of a ``realpath``
    per record. Raises ``ValueError`` as ``resolve_image`` does."""

    def __init__(self, root: Path):
        self.root = root
        self._links: dict[str, set[str]] = {}  # checked folder -> names of the symlinks in it

    def plain(self, folder: str) -> bool:
        """``folder`` (as ``os.path.split`` gives it) was checked: inside the root, and no symlinks in it;
        so every name in it but '..' is inside the root."""
        return not self._links.get(folder, True)

    def __call__(self, image: str) -> None:
        if is_synthetic(image):
            return
        parent, name = os.path.split(image)
        links = self._links.get(parent)
        if links is None:
            if os.path.isabs(image) or ".." in parent.split("/"):
                resolve_image(image, self.root)  # the slow, exact check; nothing cached
                return
            try:
                resolve_image(parent or ".", self.root)
            except ValueError:
                resolve_image(image, self.root)  # the error names the image, as resolve_image's does
                return
            folder = self.root / parent
            try:
                links = {e.name for e in os.scandir(folder) if e.is_symlink()}
            except OSError:
                links = set()
            self._links[parent] = links
        if name in links or name == "..":
            resolve_image(image, self.root)
