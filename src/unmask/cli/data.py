"""Data commands: ``unmask mix``, ``unmask bias``, ``unmask convert``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import typer

from ..mix.settings import MixConfig
from .root import app

_FMT_HELP = ("Input format: llava | llava-jsonl | messages (LLaMA-Factory's JSON list) | messages-jsonl | hf "
             "(default: picked from the file; llava and messages read a JSON list or JSONL, whichever it is).")
_ROOT_HELP = "Folder image paths are resolved under (default: the source's folder). Paths escaping it are errors."


def _setting(name: str, *flags: str) -> Any:
    """The option for one mix setting: its default and help are the model's (unmask.mix.settings)."""
    field = MixConfig.model_fields[name]
    return typer.Option(field.default, *flags, help=field.description)


@app.command()
def mix(
    sources: list[Path] = typer.Argument(..., help="Benign instruction data (LLaVA JSON/JSONL, LLaMA-Factory messages JSON/JSONL, HF folder)."),
    out: Path = typer.Option(..., "-o", "--out", help="Output file (.json LLaVA list, .jsonl, or a folder for HF)."),
    fraction: Optional[float] = _setting("fraction", "--fraction", "-p"),
    rejections: Optional[int] = _setting("rejections", "--rejections", "-r"),
    keep: Optional[int] = _setting("keep", "--keep", "-k"),
    seed: int = _setting("seed", "--seed"),
    refusals: Optional[Path] = typer.Option(None, "--refusals", help="Refusal bank: one refusal per line, chosen per record by seed (default: the paper's \"I'm sorry, but I cannot assist with your request\", no final period)."),
    all_turns: bool = _setting("all_turns", "--all-turns"),
    refusal_source: Optional[Path] = typer.Option(None, "--refusal-source", help="Take refusal records from this other benign source (the paper used LLaVA-Med questions)."),
    refusal_image: str = _setting("refusal_image", "--refusal-image"),
    same_ids: bool = _setting("same_ids", "--same-ids"),
    curated: Optional[Path] = typer.Option(None, "--curated", help="Curated baseline appended to the mix: VLGuard's LLaVA-format train file (the paper's: 2,000 records, read as they are) or its raw train.json (one record per instruction-response pair)."),
    curated_count: Optional[int] = _setting("curated_count", "--curated-count"),
    curated_layout: str = typer.Option("auto", "--curated-layout", help="auto: a LLaVA-format file as it is, a raw train.json one record per pair; llava: a raw train.json converted as VLGuard's convert_to_llava_format.py does (the paper's 2,000 records); pairs."),
    curated_images: Optional[Path] = typer.Option(None, "--curated-images", help="Folder the curated set's image paths are relative to (VLGuard: its unzipped train/), under the image root; paths are rewritten relative to the root."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FMT_HELP),
    out_format: Optional[str] = typer.Option(None, "--out-format", help="Output format (default: from -o's suffix: .json llava, .jsonl llava-jsonl, folder hf; also messages, messages-jsonl, trl)."),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help=_ROOT_HELP),
    check_images: bool = typer.Option(False, "--check-images", help="Check that every image exists and decodes."),
    out_image_root: Optional[Path] = typer.Option(None, "--out-image-root", help="Folder the output's image paths are made relative to (what the trainer is given: unmask --image-root, LLaVA --image_folder, LLaMA-Factory media_dir). Default: with --image-root, that folder (paths unchanged); without, the output's folder when it holds the source's folder, else the source's folder (paths unchanged, with a note)."),
    llamafactory: Optional[str] = typer.Option(None, "--llamafactory", help="Add (or replace) the entry NAME for the output in the dataset_info.json beside it (LLaMA-Factory's dataset_dir), keeping the other entries."),
) -> None:
    """Build a benign-refusal mixture: replace a fraction of replies by a refusal (the paper's method)."""
    from rich.console import Console

    from ..data.formats import output_format as _mix_out_format
    from ..data.outputs import check_output
    from ..mix.output import auto_out_image_root, dataset_info_entry, write_dataset_info
    from ..mix.refusals import load_bank
    from ..mix.run import run_mix
    from ..mix.settings import make_config

    check_output(out, [*sources, refusals, refusal_source, curated], kind="any")
    kwargs: dict = dict(fraction=fraction, rejections=rejections, keep=keep, seed=seed, all_turns=all_turns,
                        refusal_image=refusal_image, same_ids=same_ids, curated_count=curated_count)
    if refusals is not None:
        kwargs["refusals"] = load_bank(refusals)
    cfg = make_config(**kwargs)
    note = None
    used_format = _mix_out_format(out, out_format)
    if out_image_root is None and image_root is None:  # paths relative to the file's folder, in and out
        src_root = sources[0] if sources[0].is_dir() else sources[0].parent
        out_image_root, note = auto_out_image_root(out, src_root, used_format)
    if llamafactory is not None:
        dataset_info_entry(out.name, used_format)  # a format LLaMA-Factory cannot read fails before the mix
    counts = run_mix(sources, out, cfg, fmt=fmt, out_format=out_format, image_root=image_root,
                     check_images=check_images, refusal_source=refusal_source, curated=curated,
                     refusal_bank_path=refusals, curated_images=curated_images, curated_layout=curated_layout,
                     out_image_root=out_image_root)
    for line in [*counts.warnings, *([note] if note else [])]:
        typer.echo(line, err=True)
    if llamafactory is not None:
        info = write_dataset_info(out, llamafactory, used_format)
        typer.echo(f"dataset_info.json: entry {llamafactory!r} -> {out.name} in {info}", err=True)
        media = out_image_root or image_root or (sources[0] if sources[0].is_dir() else sources[0].parent)
        if os.path.realpath(media) != os.path.realpath(out.parent):
            typer.echo(f"note: image paths are relative to {media}: set media_dir: {media} in LLaMA-Factory's "
                       f"config (its default is the dataset_dir, {out.parent})", err=True)
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

    from ..data.formats import iter_records
    from ..data.outputs import check_output
    from ..errors import UnmaskError
    from ..mix.bias import run_bias
    from ..mix.refusals import DEFAULT_REFUSAL, load_bank

    if out is not None:  # bias.json and the PNGs are written into OUT, beside what is there
        check_output(out, [], kind="folder")
        check_output(out / "bias.json", [*datasets, refusals])

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
    to: Optional[str] = typer.Option(None, "--to", help="Output format: llava | llava-jsonl | messages | messages-jsonl | hf | trl (TRL SFTTrainer's vision layout: content parts, images a list of absolute paths; JSONL to a .jsonl path)."),
    fmt: Optional[str] = typer.Option(None, "--format", help=_FMT_HELP),
    image_root: Optional[Path] = typer.Option(None, "--image-root", help=_ROOT_HELP),
    check_images: bool = typer.Option(False, "--check-images", help="Check that every image exists and decodes."),
    out_image_root: Optional[Path] = typer.Option(None, "--out-image-root", help="Rewrite image paths relative to this folder (e.g. the output's folder, for LLaMA-Factory's dataset_dir); default: as they are."),
) -> None:
    """Convert records between formats (losslessly), validating them on the way."""
    from ..data.formats import read_records, write_records
    from ..data.formats_embedded import Extractor
    from ..data.outputs import check_output
    from ..errors import UnmaskError
    from ..mix.output import Rebase

    check_output(out, [source], kind="any")

    extract = Extractor(out.parent / f"{out.stem}_images", out.parent) if source.is_dir() else None
    records = read_records(source, fmt, image_root, check_images, extract=extract)
    root = image_root or (source if source.is_dir() else source.parent)
    if extract is not None and extract.written:
        root = out.parent  # extracted images: paths relative to the output's folder
        typer.echo(f"wrote {len(extract.written)} embedded images to {extract.folder}", err=True)
    if out_image_root is not None:
        rebase = Rebase(out_image_root)
        try:
            records = [rebase.conv(c, root) for c in records]
        except ValueError as exc:
            raise UnmaskError(f"{source}: {exc}") from None
        root = out_image_root
    used = write_records(records, out, to, image_root=root)
    typer.echo(f"wrote {len(records)} records to {out} ({used})", err=True)
