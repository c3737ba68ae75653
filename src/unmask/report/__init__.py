"""``unmask report RUN_DIR... -o report.html``: one self-contained HTML page plus a markdown twin.

Each run folder is walked for ``metrics.json`` (written by ``unmask metrics`` / :func:`unmask.metrics.compute_metrics`),
``bias/*.png`` (written by ``unmask bias``) and ``summary.json`` (``unmask run``; its ``extra`` tables as they are). The HTML
holds every plot inline as a base64 PNG and needs no other file or network access; the markdown twin
(``report.md`` beside it) references the same plots saved as PNG files in ``report_assets/``.

Tables: the summaries, one row per metrics file (labels such as model / fraction / method / bench, the
judge, ASR with its interval, judged and unjudged counts, over-refusal), then per category and per attack
as grids (rows: bench and group; columns: models). Every rate links to its samples.
Plots: before / after fine-tuning per bench, ASR vs refusal fraction (with a sweep), ASR per category,
ASR vs over-refusal, and the bias plots found.
Samples (:mod:`unmask.report.samples`, :mod:`unmask.report.browser`): every verdict behind the metrics
files with its prompt, image thumbnail, answer and the judge's reason, filtered in the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..data.store import atomic_path, atomic_write_bytes
from ..errors import UnmaskError
from .agreement import cross_file_agreement
from .collect import Entry, Runs, collect
from .plots import plot_asr_vs_fraction, plot_before_after, plot_category_bars, plot_tradeoff
from .render import render_html, render_markdown
from .samples import IMAGE_BUDGET, gather_samples
from .tables import tables

__all__ = ["Entry", "Runs", "build_report", "collect"]


_PLOTS = (
    ("before_after", "Before / after fine-tuning, per bench", plot_before_after, "no judged rate"),
    ("asr_vs_fraction", "ASR vs refusal fraction", plot_asr_vs_fraction,
     "no sweep (no series with two values of labels.fraction; the before / after plot shows each model)"),
    ("asr_by_category", "ASR per category", plot_category_bars, "no judged per-category rows"),
    ("asr_vs_over_refusal", "ASR vs over-refusal trade-off", plot_tradeoff,
     "no benign set judged by a refusal judge with the same labels"),
)


def _plots(runs: Runs) -> tuple[list[tuple[str, str, bytes]], list[str]]:
    """(file stem, caption, png) for each plot that has data; a note for each that has none."""
    out, notes = [], []
    for stem, caption, fn, missing in _PLOTS:
        png = fn(runs.entries)
        if png is None:
            notes.append(f"No '{caption}' plot: {missing} in the metrics files.")
        else:
            out.append((stem, caption, png))
    for i, (name, path) in enumerate(runs.bias):
        data = path.read_bytes()
        if not data.startswith(b"\x89PNG"):
            raise UnmaskError(f"{path}: not a PNG file")
        caption = "Linear probe" if path.name == "probe_auroc.png" else "Data bias"
        out.append((f"bias_{i:02d}_{path.stem}", f"{caption}: {name}", data))
    return out, notes


def build_report(run_dirs: list[str | Path], out: str | Path, title: str = "unmask report", *,
                 image_budget: int = IMAGE_BUDGET, samples: bool = True) -> dict[str, Any]:
    """Write ``out`` (HTML), its markdown twin and the plot files; returns their paths and counts.

    ``image_budget``: bytes of sample-image thumbnails embedded in the page (past it, samples show the
    image's path); ``samples=False`` leaves the sample browser out."""
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise UnmaskError(f"{out}: the report is HTML; name it *.html (the markdown twin goes beside it)")
    runs = collect(run_dirs)
    plots, notes = _plots(runs)
    found = gather_samples(runs.entries, [Path(d) for d in run_dirs], image_budget=image_budget) if samples else None
    linked = {i for i, f in enumerate(found.files) if f["found"]} if found else set()
    tabs = tables(runs, linked, cross_file_agreement(runs.entries, [Path(d) for d in run_dirs]))
    # Plots go right after the summary and overview tables, before the long per-category / attack ones.
    n_summary = sum(1 for t, _, _ in tabs if t.startswith("Summary ("))
    meta = {"runs": [str(d) for d in run_dirs], "n_metrics": len(runs.entries), "version": __version__,
            "notes": notes + (found.notes if found else []), "plots_after": n_summary + 1}
    md_path = out.with_suffix(".md")
    assets = out.with_name(out.stem + "_assets")
    with atomic_path(assets) as tmp:
        tmp.mkdir(parents=True)
        for stem, _, png in plots:
            (tmp / f"{stem}.png").write_bytes(png)
    images = [(caption, f"{assets.name}/{stem}.png") for stem, caption, _ in plots]
    atomic_write_bytes(md_path, render_markdown(title, tabs, images, meta).encode())
    # The HTML last: its presence means the whole report was written.
    atomic_write_bytes(out, render_html(title, tabs, [(c, png) for _, c, png in plots], meta, found).encode())
    return {"html": out, "markdown": md_path, "assets": assets, "n_metrics": len(runs.entries),
            "n_plots": len(plots), "n_bias": len(runs.bias), "n_samples": len(found.rows) if found else 0,
            "n_images": len(found.images) if found else 0}
