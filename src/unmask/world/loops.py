"""Plain training loops for the world's stages (no framework: a loop, AdamW, cosine schedule)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from .batching import Codec
from .data import Example

__all__ = ["deterministic", "lora_wrap", "masked_ce", "train_steps"]


def deterministic(threads: int = 2) -> None:
    """Same bits on every rebuild on this machine: fixed thread count, deterministic kernels."""
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)


def masked_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token cross-entropy over labelled positions (labels are aligned to the inputs)."""
    return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), labels[:, 1:].reshape(-1),
                           ignore_index=-100)


def forward_logits(model: Any, batch: dict[str, torch.Tensor], text_only: bool = False) -> torch.Tensor:
    if text_only:
        # Stage 1 trains the language model alone; right padding + causal attention needs no mask.
        lm = model.model.language_model
        return model.lm_head(lm(input_ids=batch["input_ids"]).last_hidden_state)
    return model(input_ids=batch["input_ids"], pixel_values=batch.get("pixel_values")).logits


def _lr_at(step: int, steps: int, lr: float, warmup: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    prog = (step - warmup) / max(1, steps - warmup)
    return lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * prog)))


def train_steps(model: Any, params: Sequence[torch.nn.Parameter], codec: Codec,
                batches: Callable[[int], list[Example]], steps: int, lr: float, text_only: bool = False,
                log: Callable[[str], None] | None = None, name: str = "train") -> dict[str, float]:
    """``steps`` AdamW steps on ``batches(step)``; returns the mean loss of the last 10% and the time."""
    opt = torch.optim.AdamW(params, lr=lr, betas=(0.9, 0.98), weight_decay=0.0)
    warmup = max(1, steps // 20)
    model.train()
    t0, losses = time.perf_counter(), []
    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, steps, lr, warmup)
        batch = codec.train_batch(batches(step))
        loss = masked_ce(forward_logits(model, batch, text_only), batch["labels"])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if log and (step + 1) % max(1, steps // 10) == 0:
            log(f"{name}: step {step + 1}/{steps} loss {sum(losses[-20:]) / len(losses[-20:]):.4f} "
                f"({time.perf_counter() - t0:.0f}s)")
    model.eval()
    tail = losses[-max(1, steps // 10):]
    return {"loss": sum(tail) / len(tail), "seconds": time.perf_counter() - t0, "steps": steps}


LM_TARGETS = r"model\.language_model\.layers\.\d+\.(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"


def lora_wrap(model: Any, rank: int = 16, alpha: int = 32, seed: int = 0) -> Any:
    """A fresh LoRA on every projection of the language model (never on the vision tower's q/k/v)."""
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=0.0, target_modules=LM_TARGETS, bias="none")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        peft_model = get_peft_model(model, cfg)
    return peft_model
