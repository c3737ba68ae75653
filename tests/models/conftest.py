"""Tiny random checkpoints of each family, built once per test session (no downloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


def _shared_dir(*parts: str) -> Path:
    from unmask.models.testing import shared_anchor

    path = shared_anchor(*parts)
    if path is None:
        pytest.skip(f"shared anchors not found ({'/'.join(parts)} under ../shared beside the clone)")
    return path


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    from unmask.models.testing import cached_checkpoint

    root = tmp_path_factory.getbasetemp() / "unmask-tiny-checkpoints"
    root.mkdir(exist_ok=True)
    return lambda family: cached_checkpoint(family, root)


@pytest.fixture(scope="session")
def shared() -> Callable[..., Path]:
    """``shared("golden", "x.jsonl")``: a path in the project's shared anchors (``../shared`` beside the
    clone, as in CI), or a skip saying it is absent."""
    return _shared_dir
