"""Fine-tune a VLM on conversation records: LoRA or full, prompt-masked, resumable, multi-process.

``train(TrainConfig(...)) -> Path`` is the library API (the CLI, the demo and the experiment runner call
it). It runs as is on one device and under ``accelerate launch`` / ``torchrun`` with several processes
(DDP, DeepSpeed ZeRO-3 or FSDP per the accelerate config; see ``recipes/accelerate``).

Output folder ``OUT`` (written as ``OUT.partial`` and renamed when training finished):

- LoRA: ``adapter_config.json`` + ``adapter_model.safetensors`` (peft), loadable with ``--adapter OUT``;
  with ``merge``, also ``merged/`` (a full model + processor)
- full fine-tuning: the model (safetensors) + processor, loadable with ``--model OUT``
- ``train_log.jsonl`` (step, epoch, loss, lr), ``train_config.json``, ``manifest.json`` (data counts)

Checkpoints go to ``OUT.partial/checkpoints`` every ``save_every`` optimizer steps; ``resume=True``
continues from the latest one after a crash or ``kill -9``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = ["TrainConfig", "train"]

class TrainConfig(BaseModel):
    """Everything a training run needs; unknown keys are errors. Defaults follow the paper's recipe."""

    model_config = ConfigDict(extra="forbid")

    data: str = Field(description="training records (LLaVA json/jsonl, messages jsonl or a saved HF dataset)")
    model: str = Field(description="'tiny', a local model folder or a hub id")
    out: str = Field(description="output folder")
    family: str | None = None
    processor: str | None = None
    data_format: str | None = None
    image_root: str | None = None
    trust_remote_code: bool = False
    method: Literal["lora", "full"] = "lora"
    lora_r: int = Field(128, ge=1)
    lora_alpha: int = Field(256, ge=1)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    lora_targets: list[str] | None = None
    train_projector: bool = False
    lr: float = Field(2e-4, gt=0)
    projector_lr: float | None = Field(None, gt=0, description="the projector's own learning rate (LLaVA's "
                                       "mm_projector_lr; the paper's LoRA script: 2e-5); default: lr")
    scheduler: Literal["cosine", "linear", "constant"] = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, le=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, ge=0)
    epochs: int = Field(3, ge=1)
    max_steps: int | None = Field(None, ge=1)
    batch_size: int = Field(8, ge=1, description="per device")
    grad_accum: int = Field(1, ge=1)
    max_length: int = Field(2048, ge=8)
    precision: Literal["bf16", "fp32"] = "bf16"
    gradient_checkpointing: bool = False
    seed: int = 0
    no_eos_on_refusal: bool = False
    save_every: int = Field(500, ge=0, description="optimizer steps between checkpoints; 0 = none")
    keep_checkpoints: bool = False
    merge: bool = False
    resume: bool = False
    overwrite: bool = False
    num_workers: int = Field(0, ge=0)
    progress: bool = True

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        if self.merge and self.method != "lora":
            raise ValueError("merge applies to LoRA training only")
        if self.projector_lr is not None and not self.train_projector:
            raise ValueError("projector_lr needs train_projector")
        return self


def train(cfg: TrainConfig) -> Path:
    """Run the training described by ``cfg`` and return the output folder."""
    from .trainer import run_training

    return run_training(cfg)
