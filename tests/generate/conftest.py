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


def write_bench(folder: Path, n: int = 7, image_every: int = 2) -> Path:
    """A benchmark folder: typographic PNGs for every ``image_every``-th sample, text-only otherwise."""
    import json

    from PIL import Image, ImageDraw

    (folder / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for i in range(n):
        image = None
        if i % image_every == 0:
            im = Image.new("RGB", (64 + 8 * i, 48), "white")
            ImageDraw.Draw(im).text((4, 4), f"steps {i}\n1.\n2.", fill="black")
            image = f"images/{i}.png"
            im.save(folder / image)
        rows.append(
            {
                "id": f"s{i}",
                "prompt": f"The image shows a list. Fill item {i}.",
                "image": image,
                "category": f"cat{i % 3}",
                "harmful": i % 2 == 0,
                "attack": "figstep",
            }
        )
    (folder / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


@pytest.fixture
def bench(tmp_path: Path) -> Path:
    return write_bench(tmp_path / "bench")


@pytest.fixture
def make_bench() -> Callable[..., Path]:
    return write_bench
