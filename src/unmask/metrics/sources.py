"""Where a ``metrics.json``'s numbers come from: its verdicts, the generations judged and the benchmark samples.

``metrics.json`` names them under ``sources`` so that the report can show every sample behind a number::

    "sources": {"verdicts": [PATH, ...], "generations": [PATH, ...], "samples": [PATH, ...]}

Each PATH is relative to an anchor folder: the metrics file's own folder (``unmask metrics``) or the run
folder (``unmask run``: ``.stages/judge-<key>/verdicts.jsonl``, ...), so a run folder moved or copied as a
whole still resolves. A reader resolves a relative path against the metrics file's folder, then each folder
above it (:func:`resolve_source`); the first that exists wins.

Where the caller does not name the generations or the samples, they are found through the manifests
``unmask judge`` and ``unmask generate`` write beside their outputs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import orjson

from ..data.store import manifest_path

__all__ = ["follow_manifests", "manifest_inputs", "metric_sources", "resolve_source"]


def manifest_inputs(path: str | Path) -> list[Path]:
    """The input files named in ``path``'s manifest that exist now: as written (relative to where the
    command ran), else by name beside ``path``. Empty when there is no readable manifest."""
    path = Path(path)
    try:
        doc = orjson.loads(manifest_path(path).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return []
    inputs = doc.get("inputs") if isinstance(doc, dict) else None
    out = []
    for item in inputs if isinstance(inputs, list) else []:
        p = Path(str(item.get("path", ""))) if isinstance(item, dict) else None
        found = next((c for c in (p, path.parent / p.name) if c.is_file()), None) if p is not None else None
        if found is not None:
            out.append(found)
    return out


def _rel(path: Path, anchor: Path) -> str:
    return os.path.relpath(path.resolve(), anchor.resolve())


def metric_sources(verdicts: Iterable[str | Path], anchor: str | Path, *, generations: Iterable[str | Path] = (),
                   samples: Iterable[str | Path] = ()) -> dict[str, list[str]]:
    """The ``sources`` entry of a metrics file: every path relative to ``anchor``.

    Generations and samples not given are found by :func:`follow_manifests`. Files that do not exist are
    left out: the report says it found no samples rather than guessing.
    """
    v = [Path(p) for p in verdicts]
    gens, samps = follow_manifests(v, [Path(p) for p in generations], [Path(p) for p in samples])
    out = {"verdicts": v, "generations": gens, "samples": samps}
    return {k: list(dict.fromkeys(_rel(p, Path(anchor)) for p in ps if p.is_file())) for k, ps in out.items()}


def follow_manifests(verdicts: list[Path], generations: list[Path], samples: list[Path]) -> tuple[list[Path], list[Path]]:
    """Fill in generations and samples not given from the verdicts' manifests (the judge's inputs:
    ``samples.jsonl`` is the benchmark, anything else the generations), then the generations' manifests."""
    if not generations or not samples:
        via = [p for v in verdicts for p in manifest_inputs(v)]
        generations = generations or [p for p in via if p.name != "samples.jsonl"]
        samples = samples or [p for p in via if p.name == "samples.jsonl"]
        if not samples:
            samples = [p for g in generations for p in manifest_inputs(g) if p.name == "samples.jsonl"]
    return generations, samples


def resolve_source(path: str, metrics_file: str | Path) -> Path | None:
    """A ``sources`` path as a file that exists: absolute as it is; relative, against the metrics file's folder
    and each folder above it. None when nothing exists."""
    p = Path(path)
    if p.is_absolute():
        return p if p.is_file() else None
    for base in Path(metrics_file).resolve().parents:
        if (base / p).is_file():
            return base / p
    return None
