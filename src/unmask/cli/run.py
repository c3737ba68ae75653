"""``unmask run``: one YAML experiment from data to report."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Optional

import typer

from .root import app

# What `unmask run` writes at the top of its run folder (files, then folders replaced as a whole).
_RUN_FILES = ("experiment.yaml", "summary.json", "report.html", "report.md", ".hashes.json")
_RUN_FOLDERS = ("results", "report_assets")


def _check_run_folder(run_dir: Path, experiment: Path, exp: Any) -> None:
    """The run folder's own files must not be the experiment or its inputs (``-o .`` beside experiment.yaml)."""
    from ..data.outputs import check_output
    from ..data.sources import split_ref

    inputs = [experiment, *exp.data.sources, exp.data.refusal_source, exp.data.curated,
              *(b.input for b in exp.benches)]
    inputs = [p for p in inputs if p is not None and split_ref(str(p)) is None]  # not generated data
    check_output(run_dir, [], kind="folder", flag="--out")
    for name in _RUN_FILES:
        check_output(run_dir / name, inputs, flag="--out")
    for name in _RUN_FOLDERS:
        check_output(run_dir / name, inputs, kind="folder", flag="--out")


@app.command("run")
def run_cmd(
    experiment: Path = typer.Argument(..., help="Experiment YAML (see recipes/)."),
    overrides: Optional[list[str]] = typer.Argument(None, help="key=value overrides, e.g. train.max_steps=10 "
                                                    "'sweep.fraction=[0,0.1]'."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder (default: the YAML's `out`, "
                                       "else runs/<name>)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate the experiment and print the plan: which "
                                 "stages are cached and which would run."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Run up to N independent stages side by side "
                                       "(default: the experiment's `jobs`, 1)."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="A progress line with ETA inside long "
                                  "stages (train steps, generate batches, judge rows), on stderr: live on a "
                                  "terminal, a plain line every 10 s when redirected."),
) -> None:
    """Run mix -> train -> attack -> generate -> judge -> metrics -> report, redoing only what changed."""
    from rich.console import Console

    from ..console import show_progress
    from ..errors import UnmaskError
    from ..pipeline import load_experiment, run_experiment
    from ..pipeline.lock import run_lock
    from ..pipeline.stages import validate_plan

    console = Console(stderr=True, highlight=False)
    exp = load_experiment(experiment, overrides or [])
    try:
        validate_plan(exp)  # what a run would fail on later: one line naming the file and the key, before any work
    except UnmaskError as exc:
        raise UnmaskError(f"{experiment}: {exc}") from None
    run_dir = Path(out or exp.out or Path("runs") / exp.name)
    _check_run_folder(run_dir, experiment, exp)
    show_progress(progress and not dry_run)
    with contextlib.nullcontext() if dry_run else run_lock(run_dir):  # one run per folder (a dry run writes nothing)
        result = run_experiment(exp, run_dir, dry_run=dry_run, jobs=jobs,
                                log=lambda m: console.print(m, markup=False))
    ran = sum(1 for s in result["status"].values() if s == "ran")
    cached = sum(1 for s in result["status"].values() if s == "cached")
    todo = sum(1 for s in result["status"].values() if s == "todo")
    if dry_run:
        console.print(f"plan: {todo} stage(s) to run, {cached} cached")
    else:
        console.print(f"done: {ran} stage(s) ran, {cached} cached -> {result['run_dir']}")
