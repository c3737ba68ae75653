"""Tiny random checkpoints of each family, built once per test session (no downloads)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_ckpt(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    from unmask.models.testing import cached_checkpoint

    root = tmp_path_factory.getbasetemp() / "unmask-tiny-checkpoints"
    root.mkdir(exist_ok=True)
    return lambda family: cached_checkpoint(family, root)
