"""The tiny world as an unmask plugin (entry point ``world`` of the group ``unmask.plugins``).

It uses only the public extension points, as any third-party plugin would: the ``tiny`` model family
(:func:`unmask.models.registry.family`), the ``world:SET`` data source (:data:`unmask.data.sources.SOURCES`),
the ``unmask world ...`` / ``unmask demo`` commands (on :data:`unmask.cli.app`), and, declared with
:func:`unmask.registry.lazy` so that they are imported on first use only, the ``world-typo`` attack kind
(:mod:`unmask.world.attack`) and the ``world`` probe request sets (:mod:`unmask.world.probe`). Importing it is
cheap (no torch, no PIL): ``unmask --help`` loads it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.sources import SOURCES, DataSource
from ..registry import lazy
from . import family as _family  # noqa: F401  (registers the ``tiny`` family)

__all__ = ["data_version"]


def _export(folder: Path, seed: int = 0, **options: Any) -> dict[str, Any]:
    from .export import export_world_data

    return export_world_data(folder, seed=seed, **options)


def data_version() -> str:
    """Hash of the code that generates the world's data: a change to it is a change of the export's input."""
    import hashlib

    from . import data, export, font, vocab

    h = hashlib.sha256()
    for mod in (data, export, font, vocab):
        h.update(Path(mod.__file__).read_bytes())  # type: ignore[arg-type]
    return h.hexdigest()[:16]


lazy("attack kind", "world-typo", "unmask.world.attack")
lazy("probe request set", "world", "unmask.world.probe")
SOURCES.add("world", DataSource(export=_export, version=data_version,
                                description="the tiny world's data sets (train, curated, harmful, benign, ...)"))


from . import cli, cli_demo  # noqa: E402, F401  (register `unmask world ...` and `unmask demo`; typer only)
