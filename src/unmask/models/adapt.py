"""Freezing and LoRA targets, derived from the family's module names (never from a bare ``q_proj``,
which the vision tower has too)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import UnmaskError
from .registry import Family

__all__ = ["apply_lora", "freeze_for_training", "lora_target_regex", "module_group", "trainable_summary"]


def _under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def module_group(fam: Family, name: str) -> str:
    """Which part a parameter/module name (relative to the transformers model) belongs to."""
    name = re.sub(r"^(base_model\.model\.)", "", name)
    if _under(name, fam.projector):
        return "projector"
    if _under(name, fam.vision_tower):
        return "vision"
    if _under(name, (fam.language_model,)) or name.startswith("lm_head"):
        return "language"
    return "other"


def lora_target_regex(fam: Family, modules: tuple[str, ...] | list[str] | None = None) -> str:
    """A regex that peft full-matches against module names: the given linear layers, inside the LM only."""
    names = tuple(modules or fam.lora_modules)
    for n in names:
        if not re.fullmatch(r"[A-Za-z0-9_]+", n):
            raise UnmaskError(f"LoRA target {n!r} must be a plain module name such as q_proj")
    return rf"{re.escape(fam.language_model)}\..*\.({'|'.join(names)})"


def freeze_for_training(
    model: Any, fam: Family, *, full: bool, train_projector: bool, train_vision: bool = False
) -> None:
    """Set ``requires_grad``: LM trainable under full fine-tuning, vision tower frozen unless asked."""
    for name, p in model.named_parameters():
        group = module_group(fam, name)
        if group == "projector":
            p.requires_grad = train_projector
        elif group == "vision":
            p.requires_grad = train_vision
        else:
            p.requires_grad = full


def apply_lora(
    model: Any,
    fam: Family,
    *,
    r: int,
    alpha: int,
    dropout: float,
    modules: list[str] | None = None,
    train_projector: bool = False,
) -> Any:
    """Wrap ``model`` with LoRA on the language model's linear layers; the projector may train fully."""
    from peft import LoraConfig, get_peft_model

    freeze_for_training(model, fam, full=False, train_projector=False)
    regex = lora_target_regex(fam, modules)
    if not any(re.fullmatch(regex, n) for n, _ in model.named_modules()):
        raise UnmaskError(
            f"no {fam.name} language-model module matches the LoRA targets "
            f"{', '.join(modules or fam.lora_modules)}"
        )
    modules_by_name = dict(model.named_modules())
    # peft keeps a trainable copy of each projector module and saves it with the adapter.
    save = [p.rsplit(".", 1)[-1] for p in fam.projector if p in modules_by_name] if train_projector else None
    cfg = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=regex,
        bias="none",
        task_type="CAUSAL_LM",
        modules_to_save=save or None,
    )
    model = get_peft_model(model, cfg)
    bad = [n for n, p in model.named_parameters() if "lora_" in n and module_group(fam, n) != "language"]
    if bad:  # the regex makes this impossible; the assert documents the trap it guards against
        raise AssertionError(f"LoRA landed outside the language model: {bad[:3]}")
    return model


def trainable_summary(model: Any, fam: Family) -> dict[str, int]:
    counts: dict[str, int] = {}
    for name, p in model.named_parameters():
        if p.requires_grad:
            g = module_group(fam, name)
            counts[g] = counts.get(g, 0) + p.numel()
    counts["total"] = sum(p.numel() for p in model.parameters())
    return counts
