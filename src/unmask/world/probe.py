"""The world's probe request sets (``unmask probe --set world``): its held-out harmful and benign requests
as text and as typographic images (:func:`unmask.world.data.eval_sets`), batched by the world's
:class:`~unmask.world.batching.Codec` (tested identical to the processor's own encoding)."""

from __future__ import annotations

from typing import Any

from ..probe.sources import PROBE_SETS, Builder, ProbeSet
from ..probe.states import Request

__all__ = ["world_builder", "world_requests"]


def world_requests(seed: int = 0) -> tuple[list[Request], list[Request]]:
    """(text route, typography route) of the world's held-out sets, harmful then benign, paired by id."""
    from .data import eval_sets

    sets = eval_sets(seed, with_facts=False)
    text, typo = [], []
    for name, tk, ik in (("harmful", "harm_text", "harm_typo"), ("benign", "benign_text", "benign_typo")):
        for j, (tx, ty) in enumerate(zip(sets[tk], sets[ik], strict=True)):
            rid = f"{name}-{j:03d}"
            text.append(Request(rid, tx.prompt, tx.harmful, tx.topic, payload=tx))
            typo.append(Request(rid, ty.prompt, ty.harmful, ty.topic, image=ty.image_text, payload=ty))
    return text, typo


def world_builder(tokenizer: Any) -> Builder:
    from .batching import Codec

    codec = Codec(tokenizer)
    return lambda reqs: codec.prompt_batch([r.payload for r in reqs])


PROBE_SETS.add("world", ProbeSet(requests=world_requests, builder=world_builder,
                                 description="the tiny world's held-out sets (text and typography)"))
