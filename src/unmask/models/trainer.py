"""The training loop behind :func:`unmask.models.train.train` (accelerate; one or several processes)."""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from ..console import ticker
from ..errors import UnmaskError

__all__ = ["run_training"]


# -- the run's folders, its resumption check and its step plan (a TrainConfig in, no training) --------------
# Fields that may differ between a run and its resumption (everything else must match).
_RESUME_FREE = {"resume", "overwrite", "save_every", "keep_checkpoints", "num_workers", "progress"}


def _folders(cfg: Any) -> tuple[Path, Path]:
    out = Path(cfg.out)
    return out, out.with_name(out.name + ".partial")


def _prepare_folders(cfg: Any, accelerator: object) -> tuple[Path, Path]:
    from .checkpoints import latest_checkpoint

    out, partial = _folders(cfg)
    main = getattr(accelerator, "is_main_process", True)
    if out.exists() and not cfg.overwrite:
        raise UnmaskError(f"{out}: already exists; pass --overwrite to replace it")
    if partial.exists() and cfg.overwrite and not cfg.resume:
        if main:
            shutil.rmtree(partial)
    elif partial.exists() and not cfg.resume and latest_checkpoint(partial / "checkpoints") is not None:
        raise UnmaskError(
            f"{partial}: an interrupted run left checkpoints; pass --resume to continue it "
            "or --overwrite to start over"
        )
    getattr(accelerator, "wait_for_everyone", lambda: None)()
    return out, partial


def _check_resume_config(cfg: Any, partial: Path) -> None:
    saved_path = partial / "train_config.json"
    if not saved_path.is_file():
        return
    saved = json.loads(saved_path.read_text())
    now = cfg.model_dump(mode="json")
    diff = sorted(k for k in now if k not in _RESUME_FREE and saved.get(k) != now[k])
    if diff:
        raise UnmaskError(
            f"{partial}: cannot resume: settings differ from the interrupted run ({', '.join(diff)})"
        )


def steps_plan(n_samples: int, cfg: Any, world: int) -> tuple[int, int, int]:
    """(batches per epoch per process, optimizer steps per epoch, total optimizer steps)."""
    batches = math.ceil(n_samples / (cfg.batch_size * world))
    per_epoch = math.ceil(batches / cfg.grad_accum)
    total = cfg.max_steps if cfg.max_steps is not None else per_epoch * cfg.epochs
    return batches, per_epoch, total


def _accelerator(cfg: Any) -> Any:
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedDataParallelKwargs

    if int(os.environ.get("WORLD_SIZE", "1")) == 1 and AcceleratorState._shared_state:
        # In-process reuse (tests, the experiment runner): accelerate's state is a singleton.
        AcceleratorState._reset_state(True)
        PartialState._reset_state()
    # Text-only batches leave a trainable projector without gradients: DDP must be told.
    ddp = DistributedDataParallelKwargs(find_unused_parameters=cfg.train_projector)
    import torch

    # accelerate forms a gloo process group on CPU only when told to run on CPU (torchrun without GPUs).
    cpu = not torch.cuda.is_available()
    return Accelerator(
        cpu=cpu,
        gradient_accumulation_steps=cfg.grad_accum,
        mixed_precision="bf16" if cfg.precision == "bf16" else "no",
        kwargs_handlers=[ddp],
    )


def _build_model(cfg: Any, loaded: Any) -> Any:
    from .adapt import apply_lora, freeze_for_training

    model, fam = loaded.model, loaded.family
    model.config.use_cache = False
    if cfg.method == "lora":
        model = apply_lora(
            model,
            fam,
            r=cfg.lora_r,
            alpha=cfg.lora_alpha,
            dropout=cfg.lora_dropout,
            modules=cfg.lora_targets,
            train_projector=cfg.train_projector,
        )
    else:
        freeze_for_training(model, fam, full=True, train_projector=cfg.train_projector)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model.train()
    return model


def _param_groups(model: Any, fam: Any, cfg: Any) -> list[dict[str, Any]]:
    """Trainable parameters; with ``projector_lr`` the projector's in a group of its own at that rate (as
    LLaVA's trainer does with ``mm_projector_lr``), the scheduler scaling both groups alike."""
    from .adapt import module_group

    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    if cfg.projector_lr is None:
        return [{"params": [p for _, p in named]}]
    proj = [p for n, p in named if module_group(fam, n) == "projector"]
    if not proj:
        raise UnmaskError("projector_lr: no trainable projector parameter found")
    rest = [p for n, p in named if module_group(fam, n) != "projector"]
    return [{"params": rest}, {"params": proj, "lr": cfg.projector_lr}]


def _to_device(batch: dict[str, Any], device: Any, dtype: Any) -> dict[str, Any]:
    return {k: (v.to(device, dtype) if v.is_floating_point() else v.to(device)) for k, v in batch.items()}


def _trim_log(log: Path, step: int) -> None:
    if not log.exists():
        return
    from ..data.store import atomic_write_bytes

    keep = [ln for ln in log.read_bytes().splitlines() if ln.strip() and _log_step(ln) <= step]
    atomic_write_bytes(log, b"".join(ln + b"\n" for ln in keep))  # a kill mid-rewrite must not lose the log


def _log_step(line: bytes) -> int:
    try:
        return int(orjson.loads(line)["step"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return 1 << 62  # torn line from a kill: dropped


def _save_final(cfg: Any, accelerator: Any, model: Any, loaded: Any, partial: Path) -> None:
    from .registry import FAMILY_FILE

    unwrapped = accelerator.unwrap_model(model)
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        unwrapped.save_pretrained(str(partial), state_dict=state, safe_serialization=True)
        if cfg.method == "full":
            loaded.processor.save_pretrained(str(partial))
            (partial / FAMILY_FILE).write_text(json.dumps({"family": loaded.family.name}))
        elif cfg.merge:
            merged = unwrapped.merge_and_unload()
            merged.save_pretrained(str(partial / "merged"), safe_serialization=True)
            loaded.processor.save_pretrained(str(partial / "merged"))
            (partial / "merged" / FAMILY_FILE).write_text(json.dumps({"family": loaded.family.name}))
    accelerator.wait_for_everyone()


def run_training(cfg: Any) -> Path:
    import warnings

    import torch
    from accelerate.utils import set_seed
    from torch.utils.data import DataLoader
    from transformers import get_scheduler

    from ..data.store import atomic_write_bytes, write_manifest
    from .batching import collate
    from .checkpoints import latest_checkpoint, load_checkpoint, save_checkpoint, trainable_state_hook
    from .dataset import EpochSampler, training_data
    from .loading import load_model

    # transformers' own deprecation notice, raised from inside peft/accelerate: not the user's concern.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
    accelerator = _accelerator(cfg)
    out, partial = _prepare_folders(cfg, accelerator)
    if cfg.resume:
        _check_resume_config(cfg, partial)
    plugin = accelerator.state.deepspeed_plugin
    zero3 = plugin is not None and plugin.zero_stage == 3
    if cfg.merge and zero3:
        raise UnmaskError(
            "--merge is not possible under DeepSpeed ZeRO-3 (weights are sharded); merge afterwards"
        )
    set_seed(cfg.seed)
    dtype = torch.bfloat16 if cfg.precision == "bf16" else torch.float32
    # Under ZeRO-3 init the weights are partitioned as they load: no forward pass before deepspeed starts.
    loaded = load_model(
        cfg.model,
        family=cfg.family,
        processor=cfg.processor,
        dtype=str(dtype).split(".")[-1],
        trust_remote_code=cfg.trust_remote_code,
        check=not zero3,
    )
    dataset = training_data(
        cfg.data,
        loaded.family,
        loaded.processor,
        data_format=cfg.data_format,
        image_root=cfg.image_root,
        max_length=cfg.max_length,
        no_eos_on_refusal=cfg.no_eos_on_refusal,
    )
    pad_id = loaded.tokenizer.pad_token_id
    sampler = EpochSampler(len(dataset), cfg.seed)
    loader = DataLoader(
        dataset,
        batch_size=cfg.batch_size,
        sampler=sampler,
        num_workers=cfg.num_workers,
        collate_fn=lambda items: collate(items, pad_id, "right"),
        # Its own generator: starting an iterator draws a seed, and from the global RNG that draw would
        # land after the checkpoint's RNG restore in a resumed run, shifting every later dropout mask.
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    batches, per_epoch, total = steps_plan(len(dataset), cfg, accelerator.num_processes)
    epochs = math.ceil(total / per_epoch)

    model = _build_model(cfg, loaded)
    groups = _param_groups(model, loaded.family, cfg)
    params = [p for g in groups for p in g["params"]]
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched_name = {"cosine": "cosine", "linear": "linear", "constant": "constant_with_warmup"}[cfg.scheduler]
    warmup = math.ceil(cfg.warmup_ratio * total)
    # accelerate steps a prepared scheduler once per process per optimizer step: scale to match.
    scheduler = get_scheduler(
        sched_name,
        optimizer,
        num_warmup_steps=warmup * accelerator.num_processes,
        num_training_steps=total * accelerator.num_processes,
    )
    model, optimizer, loader, scheduler = accelerator.prepare(model, optimizer, loader, scheduler)
    accelerator.register_save_state_pre_hook(trainable_state_hook)

    # Only now, with data and model checked, does anything appear on disk.
    if accelerator.is_main_process:
        partial.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    step, start_epoch, skip = 0, 0, 0
    ckpt_dir = partial / "checkpoints"
    last = latest_checkpoint(ckpt_dir) if cfg.resume else None
    if last is not None:
        state = load_checkpoint(accelerator, last)
        step, start_epoch, skip = state["step"], state["epoch"], state["batches_in_epoch"]
        accelerator.print(f"resuming from {last.name} (step {step} of {total})")
    log_path = partial / "train_log.jsonl"
    if accelerator.is_main_process:
        _trim_log(log_path, step)
        # Atomic: a torn file would stop the next --resume (it is compared with the new settings).
        atomic_write_bytes(partial / "train_config.json", json.dumps(cfg.model_dump(mode="json"), indent=2).encode())
    from tqdm.auto import tqdm

    bar = tqdm(
        total=total,
        initial=step,
        desc="train",
        unit="step",
        dynamic_ncols=True,
        disable=not (cfg.progress and accelerator.is_local_main_process and sys.stderr.isatty()),
    )
    # No tqdm bar: plain progress lines when stderr is a file (tqdm would write \r), and inside `unmask run` /
    # `demo` (progress off in the stage settings) the stage's own line.
    tick = (ticker("train step", total, step, always=cfg.progress) if bar.disable and accelerator.is_local_main_process
            else ticker("", 0))
    log = open(log_path, "ab") if accelerator.is_main_process else None
    mdtype = next(accelerator.unwrap_model(model).parameters()).dtype
    t0, losses, done = time.time(), [], step >= total
    try:
        for epoch in range(start_epoch, epochs):
            if done:
                break
            loader.set_epoch(epoch)
            it = accelerator.skip_first_batches(loader, skip) if (epoch == start_epoch and skip) else loader
            consumed = skip if epoch == start_epoch else 0
            for batch in it:
                consumed += 1
                with accelerator.accumulate(model):
                    out_ = model(**_to_device(batch, accelerator.device, mdtype))
                    loss = out_.loss
                    if not torch.isfinite(loss):
                        raise UnmaskError(f"loss is {loss.item()} at step {step + 1}; lower --lr or use fp32")
                    accelerator.backward(loss)
                    if accelerator.sync_gradients and cfg.max_grad_norm:
                        accelerator.clip_grad_norm_(params, cfg.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                losses.append(loss.detach())
                if not accelerator.sync_gradients:
                    continue
                step += 1
                mean = accelerator.reduce(torch.stack(losses).mean(), reduction="mean").item()
                losses = []
                lr = scheduler.get_last_lr()[0]
                if log is not None:
                    log.write(
                        orjson.dumps(
                            {
                                "step": step,
                                "epoch": epoch,
                                "loss": round(mean, 6),
                                "lr": lr,
                                "elapsed_s": round(time.time() - t0, 3),
                            }
                        )
                        + b"\n"
                    )
                    log.flush()
                bar.update(1)
                tick.advance(1)
                bar.set_postfix(loss=f"{mean:.4f}", lr=f"{lr:.2e}")
                if cfg.save_every and step % cfg.save_every == 0 and step < total:
                    save_checkpoint(
                        accelerator,
                        ckpt_dir,
                        step,
                        {"step": step, "epoch": epoch, "batches_in_epoch": consumed},
                    )
                if step >= total:
                    done = True
                    break
            skip = 0
    finally:
        bar.close()
        tick.close()
        if log is not None:
            log.close()
    _save_final(cfg, accelerator, model, loaded, partial)
    if accelerator.is_main_process:
        if not cfg.keep_checkpoints:
            shutil.rmtree(ckpt_dir, ignore_errors=True)
        write_manifest(
            partial,
            "train",
            inputs=[cfg.data],
            params=cfg.model_dump(mode="json"),
            counts={**dataset.stats.as_dict(), "steps": step, "processes": accelerator.num_processes},
            seed=cfg.seed,
            extra={"model_fingerprint": loaded.fingerprint, "family": loaded.family.name},
        )
        if out.exists():
            shutil.rmtree(out)
        os.replace(partial, out)
    accelerator.wait_for_everyone()
    return out
