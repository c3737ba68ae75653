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


@pytest.fixture(scope="session")
def shared() -> Callable[..., Path]:
    """``shared("golden", "x.jsonl")``: a path in the shared anchors (``../shared``), or a skip."""
    from unmask.models.testing import shared_anchor

    def find(*parts: str) -> Path:
        path = shared_anchor(*parts)
        if path is None:
            pytest.skip(f"shared anchors not found ({'/'.join(parts)} under ../shared beside the clone)")
        return path

    return find


@pytest.fixture
def train_data(tmp_path: Path) -> Path:
    """12 records: 8 with images (PNG files), 4 text-only refusals."""
    import json

    from PIL import Image

    rows = []
    for i in range(8):
        Image.new("RGB", (40 + i, 36), (255, 255 - 20 * i, 20 * i)).save(tmp_path / f"img{i}.png")
        rows.append(
            {
                "id": f"r{i}",
                "image": f"img{i}.png",
                "conversations": [
                    {"from": "human", "value": "<image>\nwhat color is this?"},
                    {"from": "gpt", "value": f"it is color number {i}"},
                ],
            }
        )
    for i in range(4):
        rows.append(
            {
                "id": f"t{i}",
                "metadata": {"refusal": True},
                "conversations": [
                    {"from": "human", "value": "tell me something"},
                    {"from": "gpt", "value": "I'm sorry, but I cannot assist with your request."},
                ],
            }
        )
    path = tmp_path / "train.json"
    path.write_text(json.dumps(rows))
    return path
