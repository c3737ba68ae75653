"""Training checkpoints that survive ``kill -9``: written to a temporary folder, renamed when complete.

A checkpoint is ``accelerate``'s state (optimizer, scheduler, RNG, and the model -- only its trainable
tensors outside DeepSpeed/FSDP, so a LoRA checkpoint is megabytes, not the base model again) plus
``unmask_state.json`` (step, epoch, batches consumed in that epoch). A half-written one is never seen:
only ``step-N`` folders count, ``.step-N.tmp`` leftovers are removed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

__all__ = ["latest_checkpoint", "load_checkpoint", "save_checkpoint", "trainable_state_hook"]

_STATE = "unmask_state.json"
_NAME = re.compile(r"^step-(\d+)$")


def trainable_state_hook(models: list[Any], weights: list[dict[str, Any]], output_dir: str) -> None:
    """accelerate save-state pre-hook: keep only trainable tensors of each model's state dict."""
    for i, model in enumerate(models):
        if i >= len(weights):
            break
        keep = {n for n, p in model.named_parameters() if p.requires_grad}
        weights[i] = {k: v for k, v in weights[i].items() if k in keep}


def latest_checkpoint(folder: Path) -> Path | None:
    if not folder.is_dir():
        return None
    best: tuple[int, Path] | None = None
    for p in folder.iterdir():
        m = _NAME.match(p.name)
        if m and (p / _STATE).is_file() and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), p)
    return best[1] if best else None


def save_checkpoint(accelerator: Any, folder: Path, step: int, state: dict[str, Any], keep: int = 1) -> Path:
    """Save on all processes (accelerate needs each rank); the main process publishes it atomically."""
    final = folder / f"step-{step}"
    tmp = folder / f".step-{step}.tmp"
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        folder.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        with open(tmp / _STATE, "w") as fh:
            json.dump(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        older = sorted(
            (p for p in folder.iterdir() if _NAME.match(p.name) and p != final),
            key=lambda p: int(_NAME.match(p.name).group(1)),
        )  # type: ignore[union-attr]
        for p in older[: max(0, len(older) - (keep - 1))]:
            shutil.rmtree(p, ignore_errors=True)
        for p in folder.glob(".step-*.tmp"):
            shutil.rmtree(p, ignore_errors=True)
    accelerator.wait_for_everyone()
    return final


def load_checkpoint(accelerator: Any, path: Path) -> dict[str, Any]:
    accelerator.load_state(str(path), strict=False)  # trainable tensors only
    return json.loads((path / _STATE).read_text())
