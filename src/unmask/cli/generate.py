"""``unmask generate`` and ``unmask merge-shards``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .options import _config, _flag, _gen, _read_text
from .root import app

__all__: list[str] = []

_MODEL_HELP = "a local model folder, a hub id, or a family's built-in model ('tiny': the world plugin's)."


@app.command("generate")
def generate_cmd(
    model: Optional[str] = typer.Option(
        None, "--model", "-m", help=f"Model (required): {_MODEL_HELP} For --backend openai: the served model name."
    ),
    bench: Optional[Path] = typer.Option(
        None, "--bench", help="Benchmark folder holding samples.jsonl, from `unmask attack` (required)."
    ),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Output JSONL, resumed if a run was killed "
                                       "(required)."),
    config: Optional[Path] = typer.Option(
        None, "--config", help="YAML file of GenerateConfig settings (keys: option or field names, e.g. "
        "max_new_tokens, sample); options given here override it."
    ),
    adapter: Optional[str] = typer.Option(
        None, "--adapter", help="LoRA adapter folder (from `unmask train`)."
    ),
    backend: Optional[str] = typer.Option(
        None,
        "--backend",
        help="hf (transformers), openai (any OpenAI-compatible endpoint) or vllm (optional extra); default "
        f"{_gen('backend')}.",
    ),
    family: Optional[str] = typer.Option(
        None, "--family", help="Model family (default: from the model's config)."
    ),
    processor: Optional[str] = typer.Option(
        None, "--processor", help="Load the processor from here instead."
    ),
    batch_size: Optional[int] = typer.Option(
        None, "--batch-size", help=f"Prompts per batch (openai: requests in flight; default {_gen('batch_size')})."
    ),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens", help="Most tokens to generate "
                                                 f"(default {_gen('max_new_tokens')})."),
    min_new_tokens: Optional[int] = typer.Option(None, "--min-new-tokens", help="Fewest tokens to generate "
                                                 f"(default {_gen('min_new_tokens')})."),
    sample: bool = typer.Option(False, "--sample", help="Sample instead of greedy decoding."),
    temperature: Optional[float] = typer.Option(None, "--temperature", help="Sampling temperature (with "
                                                f"--sample; default {_gen('temperature')})."),
    top_p: Optional[float] = typer.Option(None, "--top-p", help="Nucleus sampling mass (with --sample; "
                                          f"default {_gen('top_p')})."),
    seed: Optional[int] = typer.Option(None, "--seed", help=f"Sampling seed (default {_gen('seed')})."),
    system_prompt: Optional[str] = typer.Option(
        None, "--system-prompt", help="A system message before each prompt."
    ),
    dtype: Optional[str] = typer.Option(None, "--dtype", help=f"hf: float32, bfloat16 or float16 (default {_gen('dtype')})."),
    device: Optional[str] = typer.Option(
        None, "--device", help="hf: cuda, cpu, ... (default: cuda if available)."
    ),
    shard: Optional[str] = typer.Option(
        None,
        "--shard",
        help="i/n: only the i-th of n contiguous slices (merge the outputs with `unmask merge-shards`).",
    ),
    limit: Optional[int] = typer.Option(None, "--limit", help="Only the first N samples (smoke tests)."),
    api_base: Optional[str] = typer.Option(None, "--api-base", help="openai: endpoint base URL (default "
                                           f"{_gen('api_base')})."),
    api_key_env: Optional[str] = typer.Option(
        None,
        "--api-key-env",
        help="openai: environment variable holding the API key, never written anywhere (default "
        f"{_gen('api_key_env')}).",
    ),
    timeout: Optional[float] = typer.Option(
        None, "--timeout", help=f"openai: seconds one request may take in all, body included (default {_gen('timeout_s')})."
    ),
    retries: Optional[int] = typer.Option(None, "--retries", help=f"openai: retries of a failed request (default {_gen('retries')})."),
    trust_remote_code: bool = typer.Option(
        False, "--trust-remote-code", help="Allow the model folder's own code."
    ),
    no_progress: bool = typer.Option(False, "--no-progress", help="No progress bar."),
    defence: Optional[list[str]] = typer.Option(
        None, "--defence", help="Inference-time defence, repeatable: prompt (AdaShield-S appended to each prompt), "
        "ocr-text (the image's text read by OCR, given as text, no image), caption (ECSO: if the model judges its "
        "own answer harmful, it answers again from a caption of the image, without the image)."),
    defence_text: Optional[Path] = typer.Option(
        None, "--defence-text", help="File holding the prompt defence's text (default: AdaShield-S's)."),
    ocr_engine: Optional[str] = typer.Option(None, "--ocr-engine", help="ocr-text defence's engine: tesseract or "
                                             f"rapidocr (default {_gen('ocr_engine')})."),
) -> None:
    """Answer every prompt of a benchmark folder: batched, greedy by default, resumable, shardable."""
    from ..data.outputs import check_output
    from ..generate import GenerateConfig, generate

    cfg = _config(
        GenerateConfig,
        config,
        dict(
            model=model,
            bench=str(bench) if bench else None,
            out=str(out) if out else None,
            adapter=adapter,
            backend=backend,
            family=family,
            processor=processor,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=_flag(sample),
            temperature=temperature,
            top_p=top_p,
            seed=seed,
            system_prompt=system_prompt,
            dtype=dtype,
            device=device,
            shard=shard,
            limit=limit,
            api_base=api_base,
            api_key_env=api_key_env,
            timeout_s=timeout,
            retries=retries,
            trust_remote_code=_flag(trust_remote_code),
            progress=False if no_progress else None,
            defences=defence or None,
            defence_text=_read_text(defence_text, "--defence-text") if defence_text else None,
            ocr_engine=ocr_engine,
        ),
        {"sample": "do_sample", "timeout": "timeout_s", "defence": "defences"},
    )
    check_output(Path(cfg.out), [Path(cfg.bench) / "samples.jsonl", Path(cfg.bench), config])
    path = generate(cfg)
    typer.echo(f"generated -> {path}")


@app.command("merge-shards")
def merge_shards_cmd(
    parts: list[Path] = typer.Argument(..., help="The shard outputs of `unmask generate --shard i/n`."),
    out: Path = typer.Option(..., "-o", "--out", help="Merged JSONL, in benchmark order."),
) -> None:
    """Join the shard outputs of one generation run (checks they cover the benchmark once)."""
    from ..data.outputs import check_output
    from ..generate import merge_shards

    check_output(out, parts)
    path = merge_shards(list(parts), out)
    typer.echo(f"merged {len(parts)} shards -> {path}")
