"""Model commands: ``unmask train``, ``unmask encode``, ``unmask inspect-batch`` (``generate`` and
``merge-shards`` are in :mod:`unmask.cli.generate`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer

from ..models.train import TrainConfig
from .options import _config, _flag, _train
from .root import app

__all__: list[str] = []

_MODEL_HELP = "a local model folder, a hub id, or a family's built-in model ('tiny': the world plugin's)."


@app.command("train")
def train_cmd(
    data: Path = typer.Argument(
        ..., help="Training records: LLaVA json/jsonl, messages jsonl or a saved HF dataset."
    ),
    model: Optional[str] = typer.Option(None, "--model", "-m", help=f"Base model: {_MODEL_HELP}"),
    out: Optional[Path] = typer.Option(
        None, "-o", "--out", help="Output folder (adapter or full model, log, manifest)."
    ),
    config: Optional[Path] = typer.Option(
        None, "--config", help="YAML file of TrainConfig settings; options given here override it."
    ),
    family: Optional[str] = typer.Option(
        None,
        "--family",
        help="Model family (llava, llava_next, qwen2_vl, tiny); default: from the model's config.",
    ),
    processor: Optional[str] = typer.Option(
        None, "--processor", help="Load the processor from here instead."
    ),
    data_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detected)."),
    image_root: Optional[Path] = typer.Option(
        None,
        "--image-root",
        help="Folder the records' image paths are relative to (default: the data file's folder).",
    ),
    method: Optional[str] = typer.Option(None, "--method", help=f"lora or full (default {_train('method')})."),
    lora_r: Optional[int] = typer.Option(None, "--lora-r", help=f"LoRA rank (default {_train('lora_r')})."),
    lora_alpha: Optional[int] = typer.Option(None, "--lora-alpha", help=f"LoRA alpha (default {_train('lora_alpha')})."),
    lora_dropout: Optional[float] = typer.Option(None, "--lora-dropout", help=f"LoRA dropout (default {_train('lora_dropout')})."),
    lora_targets: Optional[str] = typer.Option(
        None,
        "--lora-targets",
        help="Comma list of language-model linear "
        "layers (default q,k,v,o,gate,up,down _proj); never the vision tower.",
    ),
    train_projector: bool = typer.Option(
        False, "--train-projector", help="Also train the vision-language projector."
    ),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"Peak learning rate (default {_train('lr')})."),
    projector_lr: Optional[float] = typer.Option(
        None, "--projector-lr", help="With --train-projector: the projector's own peak rate (LLaVA's "
        "mm_projector_lr, 2e-5 in the paper's script; default: --lr)."
    ),
    scheduler: Optional[str] = typer.Option(
        None, "--scheduler", help=f"cosine, linear or constant (default {_train('scheduler')})."
    ),
    warmup_ratio: Optional[float] = typer.Option(
        None, "--warmup-ratio", help=f"Warm-up share of steps (default {_train('warmup_ratio')})."
    ),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"Epochs (default {_train('epochs')})."),
    max_steps: Optional[int] = typer.Option(
        None, "--max-steps", help="Stop after this many optimizer steps."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help=f"Samples per device per step (default {_train('batch_size')})."
    ),
    grad_accum: Optional[int] = typer.Option(
        None, "--grad-accum", help=f"Gradient accumulation steps (default {_train('grad_accum')})."
    ),
    max_length: Optional[int] = typer.Option(
        None, "--max-length", help="Longer samples are dropped and counted, never cut "
        f"(default {_train('max_length')})."
    ),
    precision: Optional[str] = typer.Option(None, "--precision", help=f"bf16 or fp32 (default {_train('precision')})."),
    gradient_checkpointing: bool = typer.Option(
        False, "--gradient-checkpointing", help="Trade compute for memory."
    ),
    seed: Optional[int] = typer.Option(
        None, "--seed", help=f"Seed for init, shuffling and dropout (default {_train('seed')})."
    ),
    no_eos_on_refusal: bool = typer.Option(
        False,
        "--no-eos-on-refusal",
        help="No loss on the end-of-turn token of refusal records: marked metadata.refusal or holding "
        "the paper's refusal sentence (the paper's recipe; llava: its exact rule).",
    ),
    save_every: Optional[int] = typer.Option(
        None, "--save-every", help=f"Checkpoint every N steps (default {_train('save_every')}; 0 = never)."
    ),
    keep_checkpoints: bool = typer.Option(
        False, "--keep-checkpoints", help="Keep checkpoints after finishing."
    ),
    merge: bool = typer.Option(False, "--merge", help="LoRA: also save the merged full model in OUT/merged."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue an interrupted run from its last checkpoint."
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow the model folder's own code."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
) -> None:
    """Fine-tune a VLM (LoRA or full) with prompt-masked batches; runs under accelerate launch / torchrun too."""
    from ..data.outputs import check_output
    from ..models.train import train

    if out is not None:
        check_output(out, [data, config, image_root], kind="folder")
    given = dict(
        data=str(data),
        model=model,
        out=str(out) if out else None,
        family=family,
        processor=processor,
        data_format=data_format,
        image_root=str(image_root) if image_root else None,
        method=method,
        lora_r=lora_r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        lora_targets=[t.strip() for t in lora_targets.split(",") if t.strip()] if lora_targets else None,
        train_projector=_flag(train_projector),
        lr=lr,
        projector_lr=projector_lr,
        scheduler=scheduler,
        warmup_ratio=warmup_ratio,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        grad_accum=grad_accum,
        max_length=max_length,
        precision=precision,
        gradient_checkpointing=_flag(gradient_checkpointing),
        seed=seed,
        no_eos_on_refusal=_flag(no_eos_on_refusal),
        save_every=save_every,
        keep_checkpoints=_flag(keep_checkpoints),
        merge=_flag(merge),
        resume=_flag(resume),
        overwrite=_flag(overwrite),
        trust_remote_code=_flag(trust_remote_code),
        progress=False if no_progress else None,
    )
    cfg = _config(TrainConfig, config, given, {"format": "data_format"})
    result = train(cfg)
    if os.environ.get("RANK", "0") == "0":  # one line, not one per process under torchrun
        typer.echo(f"trained {cfg.method} on {data} -> {result}")


@app.command("encode")
def encode_cmd(
    data: Path = typer.Argument(..., help="Training records (any format `unmask train` reads)."),
    processor: str = typer.Option(..., "--processor", help="Processor folder (or hub id) of the model."),
    out: Path = typer.Option(..., "-o", "--out", help="Output JSONL: one {id, input_ids, labels} per record."),
    family: Optional[str] = typer.Option(
        None, "--family", help="Model family (default: from the processor folder's config.json)."
    ),
    data_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detected)."),
    image_root: Optional[Path] = typer.Option(
        None, "--image-root", help="Folder the image paths are relative to (default: the data file's)."
    ),
    max_length: Optional[int] = typer.Option(
        None, "--max-length", help="Leave out records longer than this, as `unmask train` does (default: keep all)."
    ),
    no_eos_on_refusal: bool = typer.Option(
        False, "--no-eos-on-refusal", help="Encode as `unmask train --no-eos-on-refusal` does."
    ),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow the processor folder's own code."
    ),
) -> None:
    """Write exactly what `unmask train` feeds the model per record (token ids and labels); no weights loaded."""
    from ..models.encode import encode_file

    stats = encode_file(
        data,
        processor,
        out,
        family=family,
        data_format=data_format,
        image_root=image_root,
        max_length=max_length,
        no_eos_on_refusal=no_eos_on_refusal,
        trust_remote_code=trust_remote_code,
    )
    extra = f", {stats.no_eos_records} with the end-of-turn untrained" if no_eos_on_refusal else ""
    typer.echo(f"encoded {stats.kept} of {stats.records} records{extra} -> {out}")


@app.command("inspect-batch")
def inspect_batch_cmd(
    data: Path = typer.Argument(..., help="Training records to inspect."),
    model: str = typer.Option(
        ..., "--model", "-m", help=f"Model whose template and tokenizer to use: {_MODEL_HELP}"
    ),
    n: int = typer.Option(3, "-n", help="How many records to show."),
    family: Optional[str] = typer.Option(
        None, "--family", help="Model family (default: from the model's config)."
    ),
    processor: Optional[str] = typer.Option(
        None, "--processor", help="Load the processor from here instead."
    ),
    data_format: Optional[str] = typer.Option(None, "--format", help="Input format (default: detected)."),
    image_root: Optional[Path] = typer.Option(
        None, "--image-root", help="Folder the image paths are relative to."
    ),
    no_eos_on_refusal: bool = typer.Option(
        False, "--no-eos-on-refusal", help="Show the masking of that option."
    ),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow the model folder's own code."
    ),
) -> None:
    """Show which tokens of a few records get loss: trained spans print inside double square brackets."""
    from ..models.inspect import show_batch

    show_batch(
        data,
        model,
        n=n,
        family=family,
        processor=processor,
        data_format=data_format,
        image_root=image_root,
        no_eos_on_refusal=no_eos_on_refusal,
        trust_remote_code=trust_remote_code,
    )
