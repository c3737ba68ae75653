"""Data commands: ``unmask mix``, ``unmask bias``, ``unmask convert``."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app

_FMT_HELP = ("Input format: llava | llava-jsonl | messages (LLaMA-Factory's JSON list) | messages-jsonl | hf "
             "(default: picked from the file; llava and messages read a JSON list or JSONL, whichever it is).")
_ROOT_HELP = "Folder image paths are resolved under (default: the source's folder). Paths escaping it are errors."


@app.command()
def mix(
    sources: list[Path] = typer.Argument(..., help="Benign instruction data (LLaVA JSON/JSONL, LLaMA-Factory messages JSON/JSONL, HF folder)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output file (.json LLaVA list, .jsonl, or a folder for HF)."),
    fraction: Optional[float] = typer.Option(None, "--fraction", "-p", help="Share P of records whose replies become refusals: exactly round(P*N), all N written."),
    rejections: Optional[int] = typer.Option(None, "--rejections", "-r", help="Counts mode (the paper's): R records become refusals..."),
    keep: Optional[int] = typer.Option(None, "--keep", "-k", help="...and K other records stay untouched (output R+K)."),
    seed: int = typer.Option(0, "--seed", help="Random seed; same inputs and seed give a byte-identical output."),
    refusals: Optional[Path] = typer.Option(None, "--refusals", help="Refusal bank: one refusal per line, chosen per record by seed (default: the paper's \"I'm sorry, but I cannot assist with your request\", no final period)."),
    all_turns: bool = typer.Option(False, "--all-turns", help="Replace every assistant turn (default: keep one random question-refusal turn, as the paper)."),
    refusal_source: Optional[Path] = typer.Option(None, "--refusal-source", help="Take refusal records from this other benign source (the paper used LLaVA-Med questions)."),
    refusal_image: str = typer.Option("keep", "--refusal-image", help="Ablation for refusal records' images: keep | blank | noise | remove."),
    same_ids: bool = typer.Option(False, "--same-ids", help="Contrastive ablation: refused records also appear answered (refusal copies get id '<id>#refusal')."),
    curated: Optional[Path] = typer.Option(None, "--curated", help="Curated baseline appended to the mix: VLGuard's LLaVA-format train file (the paper's: 2,000 records, read as they are) or its raw train.json (one record per instruction-response pair)."),
    curated_count: Optional[int] = typer.Option(None, "--curated-count", help="Add only C of the curated file's records (LLaVA format: conversations, a safe image's two requests being one; train.json: pairs), drawn by seed, kept in file order."),
    curated_images: Optional[Path] = typer.Option(None, "--curated-images", help="Folder the curated set's image paths are relative to (VLGuard: its unzipped train/), under the image root; paths are rewritten relative to the root."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FMT_HELP),
    out_format: Optional[str] = typer.Option(None, "--out-format", help="Output format (default: from -o's suffix: .json llava, .jsonl llava-jsonl, folder hf)."),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help=_ROOT_HELP),
    check_images: bool = typer.Option(False, "--check-images", help="Check that every image exists and decodes."),
) -> None:
    """Build a benign-refusal mixture: replace a fraction of replies by a refusal (the paper's method)."""
    from rich.console import Console

    from ..mixfile import make_config, run_mix
    from ..outputs import check_output
    from ..refusals import load_bank

    check_output(out, [*sources, refusals, refusal_source, curated], kind="any")
    kwargs: dict = dict(fraction=fraction, rejections=rejections, keep=keep, seed=seed, all_turns=all_turns,
                        refusal_image=refusal_image, same_ids=same_ids, curated_count=curated_count)
    if refusals is not None:
        kwargs["refusals"] = load_bank(refusals)
    if refusal_image not in ("keep", "blank", "noise", "remove"):
        from ..errors import UnmaskError

        raise UnmaskError(f"mix: --refusal-image must be keep, blank, noise or remove, not {refusal_image!r}")
    cfg = make_config(**kwargs)
    counts = run_mix(sources, out, cfg, fmt=fmt, out_format=out_format, image_root=image_root,
                     check_images=check_images, refusal_source=refusal_source, curated=curated,
                     refusal_bank_path=refusals, curated_images=curated_images)
    for line in counts.warnings:
        typer.echo(line, err=True)
    Console(stderr=True).print(
        f"[green]wrote[/] {out}: {counts['output_records']} records "
        f"({counts['refusal_records']} refusals, {counts['untouched_records']} untouched, "
        f"{counts['curated_records']} curated) from {counts['input_records']} input records"
    )


@app.command()
def bias(
    datasets: list[Path] = typer.Argument(..., help="One or more datasets to compare (any supported format)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Folder for bias.json and the PNG plots."),
    names: Optional[str] = typer.Option(None, "--names", help="Comma-separated display names (default: file stems)."),
    refusals: Optional[Path] = typer.Option(None, "--refusals", help="Refusal bank counted as exact template matches."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FMT_HELP),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help=_ROOT_HELP),
) -> None:
    """Show the data distribution bias: refusal share, reply lengths, openings, images, turns."""
    from rich.console import Console
    from rich.table import Table

    from ..bias import run_bias
    from ..errors import UnmaskError
    from ..formats import iter_records
    from ..outputs import check_output
    from ..refusals import DEFAULT_REFUSAL, load_bank

    if out is not None:
        check_output(out, [*datasets, refusals], kind="folder")

    labels = [n.strip() for n in names.split(",")] if names else [d.stem or d.name for d in datasets]
    if len(labels) != len(datasets):
        raise UnmaskError(f"bias: {len(labels)} names for {len(datasets)} datasets")
    bank = load_bank(refusals) if refusals else [DEFAULT_REFUSAL]
    stats = run_bias([(lbl, iter_records(d, fmt, image_root)) for lbl, d in zip(labels, datasets, strict=True)],
                     out, bank)
    table = Table(title="Data distribution bias")
    for col in ("dataset", "records", "replies", "refusal replies", "template hits", "with image",
                "reply words (p50)", "top opening"):
        table.add_column(col, justify="left" if col in ("dataset", "top opening") else "right")
    for s in stats:
        opening = s["top_openings"][0] if s["top_openings"] else ["", 0]
        table.add_row(s["name"], str(s["records"]), str(s["replies"]), f"{100 * s['refusal_share']:.2f}%",
                      f"{100 * s['refusal_template_share']:.2f}%", f"{100 * s['image_share']:.1f}%",
                      f"{s['reply_words']['p50']:.0f}", f"{opening[0]!r} ({100 * opening[1]:.1f}%)")
    console = Console()
    console.print(table)
    if out is not None:
        console.print(f"plots and bias.json in {out}")


@app.command()
def convert(
    source: Path = typer.Argument(..., help="Records in any supported format."),
    out: Path = typer.Option(..., "-o", "--out", help="Output path; format from its suffix or --to."),
    to: Optional[str] = typer.Option(None, "--to", help="Output format: llava | llava-jsonl | messages | messages-jsonl | hf."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FMT_HELP),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help=_ROOT_HELP),
    check_images: bool = typer.Option(False, "--check-images", help="Check that every image exists and decodes."),
) -> None:
    """Convert records between formats (losslessly), validating them on the way."""
    from ..formats import read_records, write_records
    from ..outputs import check_output

    check_output(out, [source], kind="any")
    records = read_records(source, fmt, image_root, check_images)
    used = write_records(records, out, to)
    typer.echo(f"wrote {len(records)} records to {out} ({used})", err=True)
