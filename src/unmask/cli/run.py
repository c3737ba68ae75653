"""``unmask run``: one YAML experiment from data to report."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app


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
) -> None:
    """Run mix -> train -> attack -> generate -> judge -> metrics -> report, redoing only what changed."""
    from rich.console import Console

    from ..pipeline import load_experiment, run_experiment

    console = Console(stderr=True, highlight=False)
    exp = load_experiment(experiment, overrides or [])
    result = run_experiment(exp, out, dry_run=dry_run, jobs=jobs, log=lambda m: console.print(m, markup=False))
    ran = sum(1 for s in result["status"].values() if s == "ran")
    cached = sum(1 for s in result["status"].values() if s == "cached")
    todo = sum(1 for s in result["status"].values() if s == "todo")
    if dry_run:
        console.print(f"plan: {todo} stage(s) to run, {cached} cached")
    else:
        console.print(f"done: {ran} stage(s) ran, {cached} cached -> {result['run_dir']}")
