"""Tiny random checkpoints of each family, built once per test session (no downloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

_REPO = Path(__file__).resolve().parents[2]


def _shared_dir(*parts: str) -> Path:
    for base in (_REPO.parent / "shared", Path("/work/shared")):
        path = base.joinpath(*parts)
        if path.exists():
            return path
    pytest.skip(f"shared anchors not found ({'/'.join(parts)} under ../shared beside the clone)")
    raise AssertionError  # unreachable: skip raises


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
