"""Generated data sources: data sets a plugin writes on demand, named ``PREFIX:SET`` in an experiment.

A source (e.g. the tiny world plugin's ``world``) exports all its data sets into one folder; an experiment
that names ``world:train`` gets a pipeline stage that runs the export once (keyed by the seed, the
source's options and its code version) and reads the file the export names ``train``. Image paths inside
the exported records are relative to the export folder. Register one with :data:`SOURCES`::

    from unmask.data.sources import SOURCES, DataSource
    SOURCES.add("mything", DataSource(export=my_export, version=my_code_hash))
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..registry import Registry

__all__ = ["SOURCES", "DataSource", "split_ref"]


@dataclass(frozen=True)
class DataSource:
    """``export(folder, seed, **options) -> {set name: path inside folder}`` writes every data set;
    ``version()`` is a hash of the code that generates them (a change reruns the export)."""

    export: Callable[..., dict[str, Any]]
    version: Callable[[], str]
    description: str = ""


SOURCES: Registry[DataSource] = Registry("data source")


def split_ref(ref: str) -> tuple[str, str] | None:
    """``(source name, set name)`` when ``ref`` is ``NAME:SET`` of a registered source, else None (a file)."""
    prefix, sep, rest = ref.partition(":")
    if not sep or not prefix or len(prefix) == 1 or "/" in prefix or Path(prefix).suffix:
        return None  # no prefix, a drive letter (C:), or a path
    return (prefix, rest) if prefix in SOURCES else None
