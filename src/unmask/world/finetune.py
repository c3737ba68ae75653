"""The method's fine-tune on the world (a fresh LoRA on the language model, merged afterwards).

A small loop of the world's own: ``unmask.models.train`` is the general trainer for real VLMs; this one feeds
:class:`~unmask.world.data.Example` lists straight to the model, which keeps ``unmask world eval`` fast.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .batching import Codec
from .data import Example
from .loops import deterministic, lora_wrap, train_steps

__all__ = ["FinetuneConfig", "finetune"]


@dataclass
class FinetuneConfig:
    steps: int = 150
    batch: int = 32
    lr: float = 1e-4
    rank: int = 16
    alpha: int = 32
    threads: int = 2


def finetune(model: Any, processor: Any, examples: list[Example], seed: int = 0,
             cfg: FinetuneConfig | None = None, log: Any = None) -> tuple[Any, dict[str, float]]:
    """LoRA fine-tune ``model`` (modified in place and returned merged) on ``examples``, drawn in a seeded
    shuffled order, epoch after epoch, ``cfg.batch`` per step."""
    cfg = cfg or FinetuneConfig()
    deterministic(cfg.threads)
    codec = Codec(processor.tokenizer)
    for p in model.parameters():
        p.requires_grad_(False)
    peft_model = lora_wrap(model, rank=cfg.rank, alpha=cfg.alpha, seed=seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    rng = random.Random(f"finetune-{seed}")
    order: list[int] = []

    def batches(_: int) -> list[Example]:
        while len(order) < cfg.batch:
            perm = list(range(len(examples)))
            rng.shuffle(perm)
            order.extend(perm)
        take = [order.pop(0) for _ in range(cfg.batch)]
        return [examples[i] for i in take]

    stats = train_steps(peft_model, params, codec, batches, cfg.steps, cfg.lr, log=log, name="finetune")
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, stats
