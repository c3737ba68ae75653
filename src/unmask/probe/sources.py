"""The requests a probe reads, in two routes (text and typography), and how each route is batched.

- ``--world``: the tiny world's held-out question sets (:func:`unmask.world.data.eval_sets`): every
  harmful and benign request as text and as its typographic image, batched by the world's
  :class:`~unmask.world.batching.Codec` (tested identical to the processor's own encoding).
- benchmark folders from ``unmask attack``: a typographic one (``figstep``, ``mmsb-typo``,
  ``world-typo``...) and its text twin (the ``text`` kind on the same question set), batched by the
  model family's :class:`~unmask.models.batching.Encoder` exactly as ``unmask generate`` encodes them.
  Clusters are the samples' ``topic`` (the world's exported sets carry one), else each request alone.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from .states import Request

__all__ = ["bench_requests", "bench_builder", "world_builder", "world_requests"]

Builder = Callable[[Sequence[Request]], dict[str, Any]]


def world_requests(seed: int = 0) -> tuple[list[Request], list[Request]]:
    """(text route, typography route) of the world's held-out sets, harmful then benign, paired by id."""
    from ..world.data import eval_sets

    sets = eval_sets(seed, with_facts=False)
    text, typo = [], []
    for name, tk, ik in (("harmful", "harm_text", "harm_typo"), ("benign", "benign_text", "benign_typo")):
        for j, (tx, ty) in enumerate(zip(sets[tk], sets[ik], strict=True)):
            rid = f"{name}-{j:03d}"
            text.append(Request(rid, tx.prompt, tx.harmful, tx.topic, payload=tx))
            typo.append(Request(rid, ty.prompt, ty.harmful, ty.topic, image=ty.image_text, payload=ty))
    return text, typo


def world_builder(tokenizer: Any) -> Builder:
    from ..world.batching import Codec

    codec = Codec(tokenizer)
    return lambda reqs: codec.prompt_batch([r.payload for r in reqs])


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
