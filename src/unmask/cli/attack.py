"""``unmask attack``: build a benchmark folder (samples.jsonl + images/ + manifest.json) from a question set."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ..errors import UnmaskError
from . import app

__all__: list[str] = []


def _load_plugins(modules: list[str]) -> None:
    import importlib
    from importlib.metadata import entry_points

    for ep in entry_points(group="unmask.attacks"):
        try:
            ep.load()
        except Exception as exc:  # a broken third-party plugin must not hide the built-in kinds
            typer.echo(f"warning: plugin {ep.name} ({ep.value}) failed to load: {exc}", err=True)
    for mod in modules:
        try:
            importlib.import_module(mod)
        except ImportError as exc:
            raise UnmaskError(f"--plugin {mod}: cannot import ({exc})") from None


def _first_sentence(doc: str | None) -> str:
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    return para if len(para) <= 90 else para[:87] + "..."


def _print_registry() -> None:
    import importlib

    from ..attacks import ATTACKS, LOADERS
    from ..attacks.registry import lazy_kinds

    for module in sorted(set(lazy_kinds().values())):  # kinds in other modules (plugins', defences)
        importlib.import_module(module)

    typer.echo("attack kinds:")
    for name, cls in sorted(ATTACKS.items()):
        typer.echo(f"  {name:14s} {cls.description or _first_sentence(cls.__doc__)}")
    typer.echo("loaders:")
    for name, fn in sorted(LOADERS.items()):
        typer.echo(f"  {name:14s} {_first_sentence(fn.__doc__)}")


@app.command("attack")
def attack_cmd(
    kind: Optional[str] = typer.Argument(None, help="Attack kind: figstep, mmsb-typo, mmsb-sd-typo, image, text, "
                                         "blank, or one a plugin registers (see --list)."),
    input: Optional[Path] = typer.Argument(None, help="Question set: SafeBench CSV, MM-SafetyBench "
                                           "processed_questions (file or folder), VLGuard test JSON, XSTest / "
                                           "HarmBench / AdvBench CSV, or JSONL."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Benchmark folder to write (built in a temp "
                                       "sibling, renamed when complete)."),
    loader: Optional[str] = typer.Option(None, "--loader", help="Question-set reader (default: detected from the "
                                         "file): safebench, mmsb, vlguard, xstest, harmbench, advbench, jsonl."),
    prompt: Optional[str] = typer.Option(None, "--prompt", help="Text prompt sent with each image, replacing the "
                                         "kind's own; {question} is replaced by the request."),
    limit: Optional[int] = typer.Option(None, "--limit", help="Keep only the first N questions."),
    subset: Optional[str] = typer.Option(None, "--subset", help="VLGuard: safe_safes, safe_unsafes, unsafes; "
                                         "MM-SafetyBench: scenario names (comma-separated). Default: all."),
    images: Optional[Path] = typer.Option(None, "--images", help="Folder of the set's own pictures (VLGuard test "
                                          "images; MM-SafetyBench imgs/). Default: found beside the input."),
    harmful: Optional[bool] = typer.Option(None, "--harmful/--benign", help="jsonl: label the rows that carry no "
                                           "'harmful' / 'label' field (without it such a row is an error)."),
    pictures: Optional[Path] = typer.Option(None, "--pictures", help="mmsb-sd-typo: folder of <id>.jpg/.png "
                                            "pictures stacked above the typography."),
    overflow: Optional[str] = typer.Option(None, "--overflow", help="Text that does not fit. figstep: clip "
                                           "(default: cut at the edge, as FigStep's published images), fit (shrink "
                                           "the font until the list fits), error. mmsb: break (default: split an "
                                           "over-wide word, as MM-SafetyBench's script), clip, error."),
    font: Optional[Path] = typer.Option(None, "--font", help="Use this .ttf instead of the shipped font (its "
                                        "sha256 goes into the manifest)."),
    option: Optional[list[str]] = typer.Option(None, "--option", help="Kind option KEY=VALUE (JSON value), e.g. "
                                               "font_size=60, size=[512,512], rerender=true. Repeatable."),
    workers: Optional[int] = typer.Option(None, "--workers", help="Rendering processes (default: CPU count, "
                                          "at most 4). The images do not depend on it."),
    force: bool = typer.Option(False, "--force", help="Replace OUT if it exists and is not empty."),
    plugin: Optional[list[str]] = typer.Option(None, "--plugin", help="Import this module first (it registers "
                                               "kinds or loaders). Repeatable."),
    list_all: bool = typer.Option(False, "--list", help="List attack kinds and loaders, then exit."),
    check_ocr: bool = typer.Option(False, "--check-ocr", help="Read every image back with OCR: per-image "
                                   "character error rate (ocr.jsonl, ocr.json in OUT), images that do not show "
                                   "their request flagged."),
    ocr_engine: str = typer.Option("tesseract", "--ocr-engine", help="--check-ocr engine: tesseract (Debian "
                                   "tesseract-ocr) or rapidocr (pip install 'unmask[ocr]')."),
    ocr_threshold: float = typer.Option(0.10, "--ocr-threshold", help="--check-ocr: an image reads back when its "
                                        "character error rate is at most this."),
) -> None:
    """Turn a question set into a benchmark folder: samples.jsonl, images/, manifest.json."""
    from ..attacks import build_benchmark
    from ..attacks.registry import parse_option

    _load_plugins(plugin or [])
    if list_all:
        _print_registry()
        return
    if kind is None or input is None or out is None:
        raise UnmaskError("usage: unmask attack KIND INPUT -o DIR (see unmask attack --help; --list for kinds)")
    from ..data.outputs import check_output

    check_output(out, [input, images, pictures, font], kind="folder")
    if check_ocr:  # a missing engine fails before anything is rendered
        from ..attacks.ocr import engine_available

        problem = engine_available(ocr_engine)
        if problem:
            raise UnmaskError(f"--check-ocr: {problem}")
    opts = dict(parse_option(o) for o in (option or []))
    for key, value in (("prompt", prompt), ("overflow", overflow), ("pictures", pictures), ("font", font)):
        if value is not None:
            opts[key] = str(value)
    res = build_benchmark(kind, input, out, loader=loader, limit=limit, workers=workers, force=force,
                          images=images, subset=subset,
                          label=None if harmful is None else ("harmful" if harmful else "benign"), **opts)
    for note in res["notes"]:
        typer.echo(note, err=True)
    c = res["counts"]
    typer.echo(f"{res['out']}: {c['samples']} samples ({c['harmful']} harmful, {c['benign']} benign), "
               f"{c['rendered']} images rendered, {c['copied']} copied, {c['shared']} shared, "
               f"loader {res['loader']}, {res['seconds']:.2f} s")
    if check_ocr:
        from ..attacks.ocr import check_ocr as run_check

        doc = run_check(res["out"], ocr_engine, ocr_threshold)
        if doc["n_images"] == 0:
            typer.echo(f"ocr: no image of this benchmark shows a request to read back ({doc['n_skipped']} skipped)")
            return
        typer.echo(f"ocr ({doc['engine_version']}): {doc['n_read_back']} of {doc['n_images']} images read back "
                   f"({100 * doc['share_read_back']:.1f}%, CER <= {ocr_threshold:g}); mean CER "
                   f"{doc['cer_mean']:.4f}; {doc['seconds_per_image']:.2f} s per image -> {res['out']}/ocr.jsonl")
        if doc["flagged"]:
            shown = ", ".join(doc["flagged"][:10]) + (" ..." if len(doc["flagged"]) > 10 else "")
            typer.echo(f"ocr: {len(doc['flagged'])} images do not show their request: {shown}", err=True)
