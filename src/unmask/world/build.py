"""``build_world``: train the tiny world's base model in the stages real MLLMs are made in.

1. text LM alone: benign requests answered, harmful ones refused, facts, repeating (inherited alignment);
2a. vision tower + projector (LM frozen) regress every image cell onto the LM's input embedding of the
    character drawn there (a blank cell = space), shifted by a fixed "modality gap" vector: an image request
    reaches the LM as the typed request, read through a slightly different channel (a real vision
    encoder's tokens are never exactly the LM's word embeddings);
2b. multimodal instruction tuning, LoRA on the LM (vision frozen), merged: benign typographic requests
    answered, transcription, and text replay that keeps the LM's refusals. No refusal in any image sample.

Fixed seeds, deterministic kernels and a fixed thread count: the same config rebuilds the same bits on
the same machine.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from . import data as D
from .batching import Codec, pixels
from .loops import deterministic, lora_wrap, train_steps
from .model import random_model, save_tiny

__all__ = ["WorldConfig", "build_world", "stage1", "stage2a", "stage2b"]


@dataclass
class WorldConfig:
    """Every knob of the build (the defaults build the shipped base)."""

    s1_steps: int = 600
    s1_batch: int = 64
    s1_lr: float = 2e-3
    s1_mix: dict[str, float] = field(default_factory=lambda: dict(D.STAGE1_MIX))
    s2a_steps: int = 1500
    s2a_batch: int = 64
    s2a_lr: float = 3e-3
    # Modality gap: image cells regress onto (embedding of the character) + s2a_gap x (a fixed random
    # direction of the embeddings' RMS norm). 0 = images read exactly like text: the LM's refusals then
    # carry over to images and there is no gap (v2 in NOTES.md); 0.25 keeps the harm signal latent.
    s2a_gap: float = 0.25
    s2b_steps: int = 400
    s2b_batch: int = 32
    s2b_lr: float = 1e-3
    s2b_rank: int = 16
    s2b_mix: dict[str, float] = field(default_factory=lambda: dict(D.STAGE2B_MIX))
    threads: int = 2


def _trainable(model: Any, prefixes: tuple[str, ...]) -> list[torch.nn.Parameter]:
    params = []
    for name, p in model.named_parameters():
        p.requires_grad_(name.startswith(prefixes))
        if p.requires_grad:
            params.append(p)
    return params


def stage1(model: Any, codec: Codec, cfg: WorldConfig, seed: int, log: Callable[[str], None]) -> dict[str, float]:
    rng = random.Random(f"stage1-{seed}")
    params = _trainable(model, ("model.language_model.",))  # lm_head is tied to embed_tokens
    return train_steps(model, params, codec, lambda _: [D.text_example(rng, cfg.s1_mix) for _ in range(cfg.s1_batch)],
                       cfg.s1_steps, cfg.s1_lr, text_only=True, log=log, name="stage1")


def stage2a(model: Any, codec: Codec, cfg: WorldConfig, seed: int, log: Callable[[str], None]) -> dict[str, float]:
    """Vision + projector learn to land each cell on the LM's own embedding of its character."""
    from .font import MAX_CHARS

    rng = random.Random(f"stage2a-{seed}")
    params = _trainable(model, ("model.vision_tower.", "model.multi_modal_projector."))
    emb = _targets(model, cfg.s2a_gap, seed)
    opt = torch.optim.AdamW(params, lr=cfg.s2a_lr, betas=(0.9, 0.98), weight_decay=0.0)
    from .loops import _lr_at

    warmup = max(1, cfg.s2a_steps // 20)
    t0, losses = time.perf_counter(), []
    model.train()
    for step in range(cfg.s2a_steps):
        for g in opt.param_groups:
            g["lr"] = _lr_at(step, cfg.s2a_steps, cfg.s2a_lr, warmup)
        texts = [D.stage2a_text(rng) for _ in range(cfg.s2a_batch)]
        exs = [D.Example("", "", image_text=t, image_seed=rng.getrandbits(31)) for t in texts]
        pv = torch.from_numpy(__import__("numpy").stack([pixels(e) for e in exs]))
        target = emb[torch.tensor([codec.chars(t.ljust(MAX_CHARS)) for t in texts])]
        feats = _image_features(model, pv)
        # relative MSE: the error measured against the size of the target embedding
        loss = ((feats - target) ** 2).sum(-1).div(target.pow(2).sum(-1)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        losses.append(loss.item())
        if (step + 1) % max(1, cfg.s2a_steps // 10) == 0:
            log(f"stage2a: step {step + 1}/{cfg.s2a_steps} rel-mse {sum(losses[-20:]) / len(losses[-20:]):.4f} "
                f"({time.perf_counter() - t0:.0f}s)")
    model.eval()
    acc = read_accuracy(model, codec, seed=seed + 1000, table=emb)
    log(f"stage2a: nearest-character accuracy {acc:.4f}")
    tail = losses[-max(1, cfg.s2a_steps // 10):]
    return {"loss": sum(tail) / len(tail), "seconds": time.perf_counter() - t0, "steps": cfg.s2a_steps,
            "read_accuracy": acc}


def _image_features(model: Any, pv: torch.Tensor) -> torch.Tensor:
    out = model.model.get_image_features(pixel_values=pv, vision_feature_layer=model.config.vision_feature_layer,
                                         vision_feature_select_strategy=model.config.vision_feature_select_strategy)
    feats = getattr(out, "pooler_output", out)
    if isinstance(feats, (list, tuple)):
        feats = torch.stack(list(feats))
    return feats.reshape(pv.shape[0], -1, model.config.text_config.hidden_size)


def _targets(model: Any, gap: float, seed: int) -> torch.Tensor:
    """Per-token regression targets of stage 2a: the LM's input embeddings, shifted by the modality gap."""
    emb = model.get_input_embeddings().weight.detach().clone()
    if gap:
        g = torch.Generator().manual_seed(10_000 + seed)
        u = torch.randn(emb.shape[1], generator=g)
        u = u / u.norm() * emb.pow(2).sum(-1).mean().sqrt()
        emb = emb + gap * u
    return emb


@torch.no_grad()
def read_accuracy(model: Any, codec: Codec, seed: int = 0, n: int = 128, table: torch.Tensor | None = None) -> float:
    """Share of image cells whose projected feature is nearest (cosine) to the embedding of the right
    character, on fresh images of random text."""
    from .font import MAX_CHARS

    rng = random.Random(f"read-{seed}")
    texts = [D.stage2a_text(rng) for _ in range(n)]
    exs = [D.Example("", "", image_text=t, image_seed=rng.getrandbits(31)) for t in texts]
    pv = torch.from_numpy(__import__("numpy").stack([pixels(e) for e in exs]))
    feats = torch.nn.functional.normalize(_image_features(model, pv), dim=-1)
    emb = model.get_input_embeddings().weight if table is None else table
    char_ids = sorted(set(codec.ids.values()))
    tab = torch.nn.functional.normalize(emb[char_ids], dim=-1)
    pred = torch.tensor(char_ids)[(feats @ tab.T).argmax(-1)]
    gold = torch.tensor([codec.chars(t.ljust(MAX_CHARS)) for t in texts])
    return (pred == gold).float().mean().item()


def stage2b(model: Any, codec: Codec, cfg: WorldConfig, seed: int, log: Callable[[str], None]) -> tuple[Any, dict]:
    rng = random.Random(f"stage2b-{seed}")
    for p in model.parameters():
        p.requires_grad_(False)
    peft_model = lora_wrap(model, rank=cfg.s2b_rank, alpha=2 * cfg.s2b_rank, seed=seed)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    stats = train_steps(peft_model, params, codec, lambda _: [D.mm_example(rng, cfg.s2b_mix) for _ in range(cfg.s2b_batch)],
                        cfg.s2b_steps, cfg.s2b_lr, log=log, name="stage2b")
    merged = peft_model.merge_and_unload()
    for p in merged.parameters():
        p.requires_grad_(True)
    merged.eval()
    return merged, stats


def build_world(out: str | Path, seed: int = 0, cfg: WorldConfig | None = None,
                log: Callable[[str], None] = print, cache: str | Path | None = None) -> dict[str, Any]:
    """Build the base model into ``out`` (model + processor files + ``build.json``); returns the build info.

    ``cache``: a folder for the stage checkpoints (stage1, stage2a) so that variants of later stages reuse
    earlier ones; each is keyed by the config of the stages it contains.
    """
    from ..data.store import atomic_path

    cfg = cfg or WorldConfig()
    deterministic(cfg.threads)
    info: dict[str, Any] = {"seed": seed, "config": asdict(cfg), "stages": {}}
    model, processor = random_model(seed)
    codec = Codec(processor.tokenizer)
    c = asdict(cfg) | {"data": _data_fingerprint()}
    keys = {
        "stage1": {k: v for k, v in c.items() if k.startswith(("s1_", "data"))},
        "stage2a": {k: v for k, v in c.items() if k.startswith(("s1_", "s2a_", "data"))},
    }
    t_all = time.perf_counter()
    for name, fn in (("stage1", stage1), ("stage2a", stage2a)):
        ck = _cache_dir(cache, name, seed, keys[name])
        if ck is not None and (ck / "model.safetensors").exists():
            from .model import load_tiny

            model, _ = load_tiny(ck)
            info["stages"][name] = json.loads((ck / "stage.json").read_text())
            log(f"{name}: reused {ck}")
            continue
        info["stages"][name] = fn(model, codec, cfg, seed, log)
        log(f"{name}: {info['stages'][name]}")
        if ck is not None:
            with atomic_path(ck) as tmp:
                save_tiny(model, processor, tmp)
                (tmp / "stage.json").write_text(json.dumps(info["stages"][name]))
    model, info["stages"]["stage2b"] = stage2b(model, codec, cfg, seed, log)
    info["seconds"] = time.perf_counter() - t_all
    info["torch"] = torch.__version__
    with atomic_path(out) as tmp:
        save_tiny(model, processor, tmp)
        (tmp / "build.json").write_text(json.dumps(info, indent=2))
    log(f"built in {info['seconds']:.0f}s -> {out}")
    return info


def _data_fingerprint() -> str:
    """Hash of the sources that define the world's data and model: a cached stage is stale when they change."""
    import hashlib

    h = hashlib.sha256()
    for name in ("vocab.py", "data.py", "font.py", "model.py", "batching.py", "loops.py"):
        h.update((Path(__file__).parent / name).read_bytes())
    return h.hexdigest()[:16]


def _cache_dir(cache: str | Path | None, name: str, seed: int, params: dict) -> Path | None:
    if cache is None:
        return None
    from ..data.store import content_key

    return Path(cache) / f"{name}-s{seed}-{content_key(params)[:10]}"
