"""The requests a probe reads, in two routes (text and typography), and how each route is batched.

- ``--set NAME``: request sets a plugin registers in :data:`PROBE_SETS` (the world plugin's ``world``:
  its held-out harmful and benign requests as text and as typographic images, batched by its own codec).
- benchmark folders from ``unmask attack``: a typographic one (``figstep``, ``mmsb-typo``,
  ``world-typo``...) and its text twin (the ``text`` kind on the same question set), batched by the
  model family's :class:`~unmask.models.batching.Encoder` exactly as ``unmask generate`` encodes them.
  Clusters are the samples' ``topic`` (when the question set carries one), else each request alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from ..registry import Registry
from .states import Request

__all__ = ["PROBE_SETS", "ProbeSet", "bench_builder", "bench_requests"]

Builder = Callable[[Sequence[Request]], dict[str, Any]]


@dataclass(frozen=True)
class ProbeSet:
    """Request sets a plugin provides (``unmask probe --set NAME``): ``requests(seed)`` gives the (text
    route, typography route) requests, paired by id; ``builder(tokenizer)`` batches them."""

    requests: Callable[[int], tuple[list[Request], list[Request]]]
    builder: Callable[[Any], Builder]
    description: str = ""


PROBE_SETS: Registry[ProbeSet] = Registry("probe request set")


def bench_requests(folder: str | Path, want_images: bool) -> list[Request]:
    """The samples of a benchmark folder as requests; the typographic route needs an image on every
    sample, the text route none."""
    from ..data.bench import read_bench

    folder = Path(folder)
    out = []
    for s in read_bench(folder):
        if want_images and not s.image:
            raise UnmaskError(f"{folder / 'samples.jsonl'}: sample {s.id!r} has no image; the typography "
                              "route needs an image benchmark (e.g. `unmask attack figstep`)")
        if not want_images and s.image:
            raise UnmaskError(f"{folder / 'samples.jsonl'}: sample {s.id!r} has an image; the text route needs "
                              "the text twin (`unmask attack text` on the same question set)")
        cluster = str(s.source.get("topic") or s.id)
        out.append(Request(s.id, s.prompt, s.harmful, cluster, image=s.image))
    if all(r.harmful for r in out) or not any(r.harmful for r in out):
        raise UnmaskError(f"{folder / 'samples.jsonl'}: a probe needs both harmful and benign samples "
                          "(build the benchmark from a set with both, or concatenate two sets)")
    return out


def bench_builder(loaded: Any, image_root: str | Path | None, system: str | None = None) -> Builder:
    from ..models.batching import Encoder, collate

    enc = Encoder(loaded.family, loaded.processor, image_root=Path(image_root) if image_root else None)
    pad = loaded.tokenizer.pad_token_id or 0

    def build(reqs: Sequence[Request]) -> dict[str, Any]:
        items = [enc.encode_prompt(r.id, r.prompt, [r.image] if r.image else [], system) for r in reqs]
        return collate(items, pad, side="left")

    return build
