"""``unmask world build|eval|pool``: the tiny world's commands, added to ``unmask`` by its plugin."""

from __future__ import annotations

from pathlib import Path

import typer

from ..cli import add_resume, app

world_app = typer.Typer(
    name="world",
    help="The built-in tiny world: a small Llava-style VLM that refuses harmful text but answers the same "
    "request written in an image. Build its base model, or run its experiment.",
    no_args_is_help=True,
)
app.add_typer(world_app, name="world")
add_resume("world build", "stages saved with --cache are kept; the same command reuses them")


@world_app.command("build")
def build(
    out: Path = typer.Option(Path("world-base"), "-o", "--out", help="Folder to write the base model to "
                             "(model.safetensors, tokenizer, processor files, build.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of every stage (0 builds the shipped base)."),
    cache: Path = typer.Option(None, "--cache", help="Keep stage checkpoints here and reuse them on the next "
                               "build with the same settings."),
    gap: float = typer.Option(None, "--gap", help="Modality gap of stage 2a (default: the shipped base's; 0 = "
                              "images read exactly like text). See src/unmask/world/NOTES.md."),
) -> None:
    """Train the base model from scratch in its three stages (text LM, vision reading, multimodal tuning).

    Deterministic: with the default seed on the same machine it rebuilds the shipped base bit for bit.
    Takes tens of minutes on 2 CPU cores.
    """
    from ..data.store import sha256_file
    from .build import WorldConfig, build_world
    from .model import BASE_DIR

    cfg = WorldConfig() if gap is None else WorldConfig(s2a_gap=gap)
    info = build_world(out, seed=seed, cfg=cfg, cache=cache, log=typer.echo)
    digest = sha256_file(out / "model.safetensors")
    shipped = BASE_DIR / "model.safetensors"
    same = shipped.exists() and sha256_file(shipped) == digest
    typer.echo(f"model.safetensors sha256 {digest}; {'identical to' if same else 'differs from'} the shipped base")
    for name, st in info["stages"].items():
        typer.echo(f"  {name}: {st.get('seconds', 0):.0f}s, final loss {st.get('loss', float('nan')):.4f}")


@world_app.command("eval")
def evaluate(
    model: Path = typer.Option(None, "--model", help="A world checkpoint folder (default: the shipped base)."),
    seeds: str = typer.Option("0,1,2", "--seeds", help="Comma-separated seeds (eval renders, mix and LoRA)."),
    fraction: str = typer.Option("0.1", "--fraction", help="Comma-separated refusal fractions of the "
                                 "typographic replies for the method (and the curated baseline)."),
    no_method: bool = typer.Option(False, "--base-only", help="Evaluate the model only; no fine-tunes."),
    no_curated: bool = typer.Option(False, "--no-curated", help="Skip the curated (harmful images) baseline."),
    no_eos: bool = typer.Option(False, "--no-eos", help="No loss on the EOS after refusals (the paper's trick)."),
    steps: int = typer.Option(150, "--steps", help="LoRA steps of each fine-tune."),
    rank: int = typer.Option(16, "--rank", help="LoRA rank of each fine-tune (alpha = 2 x rank)."),
    lr: float = typer.Option(None, "--lr", help="Peak learning rate of each fine-tune (default: the demo's)."),
    out: Path = typer.Option(None, "-o", "--out", help="Write all numbers (per seed and pooled) to this JSON file."),
) -> None:
    """Held-out evaluation of the world: ASR of harmful requests as text and as typography, refusals of
    benign typographic requests, refusal log-odds; then the method and the curated baseline, over seeds."""
    import orjson

    from ..data.store import atomic_write_bytes
    from ..errors import UnmaskError
    from .experiment import table, world_eval
    from .finetune import FinetuneConfig

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
        fractions = [] if no_method else [float(f) for f in fraction.split(",") if f.strip()]
    except ValueError:
        raise UnmaskError(f"--seeds {seeds!r} / --fraction {fraction!r}: comma-separated numbers expected") from None
    if not seed_list:
        raise UnmaskError("--seeds: give at least one seed")
    if model is not None and not (model / "config.json").is_file():
        raise UnmaskError(f"{model}: not a model folder (no config.json)")
    if out is not None:
        from ..data.outputs import check_output

        check_output(out, [model])
    res = world_eval(model, seeds=seed_list, fractions=fractions, curated=not no_curated,
                     ft=FinetuneConfig(steps=steps, rank=rank, alpha=2 * rank, **({} if lr is None else {"lr": lr})), no_eos=no_eos, log=typer.echo)
    typer.echo(table(res["summary"]))
    if out is not None:
        atomic_write_bytes(out, orjson.dumps(res, option=orjson.OPT_INDENT_2))
        typer.echo(f"wrote {out}")


@world_app.command("pool")
def pool(
    runs: list[Path] = typer.Argument(..., help="Finished `unmask demo` run folders (e.g. one per seed)."),
    out: Path = typer.Option(None, "-o", "--out", help="Write the pooled numbers to this JSON file."),
) -> None:
    """Pool demo runs (seeds, or bases): each rate over all their requests with a 95% interval that resamples
    whole topics and whole runs, the per-run values, and paired differences between the models."""
    import orjson

    from ..data.store import atomic_write_bytes
    from .demo import _SUMMARY
    from .summary import pool_runs

    res = pool_runs(runs, _SUMMARY)

    def pct(r: dict) -> str:
        if r.get("value") is None:
            return "n/a"
        lo, hi = r.get("ci_topics") or r.get("ci") or (r["value"], r["value"])
        return f"{100 * r['value']:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}]"

    for model, row in res["models"].items():
        typer.echo(f"{model}: " + "; ".join(
            f"{key} {pct(r)} (per run {'/'.join('n/a' if v is None else f'{100 * v:.0f}' for v in r['per_run'])}; "
            f"clean {pct(r['clean'])}, off-track {pct(r['off_track'])})" for key, r in row.items()))
    for pair, block in res["differences"].items():
        typer.echo(f"{pair}: " + "; ".join(f"{key} {pct(d)}" for key, d in block.items()).replace("%", " points"))
    if out is not None:
        atomic_write_bytes(out, orjson.dumps(res, option=orjson.OPT_INDENT_2) + b"\n")
        typer.echo(f"wrote {out}")
