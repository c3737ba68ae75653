"""``unmask demo`` and ``unmask world``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from . import app


def _default_run_dir() -> Path:
    return Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder (default: a new folder under ./runs)."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
) -> None:
    """Run the main job on the built-in data: the benign-refusal mix and the data-bias analysis."""
    from importlib.resources import files

    from rich.console import Console

    from ..bias import run_bias
    from ..formats import iter_records
    from ..mixfile import make_config, run_mix

    console = Console(stderr=True)
    run_dir = out or _default_run_dir()
    run_dir.mkdir(parents=True, exist_ok=True)
    sample = Path(str(files("unmask") / "data" / "benign_sample.json"))
    mixed = run_dir / "mix-0.1.json"
    counts = run_mix([sample], mixed, make_config(fraction=0.1, seed=seed))
    console.print(f"mix: {counts['refusal_records']} of {counts['input_records']} replies turned into refusals -> {mixed}")
    run_bias([("benign", iter_records(sample)), ("mix-0.1", iter_records(mixed))], run_dir / "bias")
    console.print(f"bias: plots and bias.json in {run_dir / 'bias'}")
    console.print("[yellow]training, attacks, generation and judging on the built-in tiny world come with later stages[/]")
