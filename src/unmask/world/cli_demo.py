"""``unmask demo``: the whole phenomenon and the fix, on the tiny world, on a CPU (added by the world plugin)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from ..cli import add_resume, app, resume_hint

add_resume("demo", "finished stages are kept; `unmask demo -o RUN_DIR` resumes")


@app.command()
def demo(
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Run folder (default: a new folder under ./runs)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the data export, the mix, the fine-tunes and the evaluation."),
    sweep: bool = typer.Option(False, "--sweep", help="Also fine-tune at refusal fractions 0, 0.02, 0.05, 0.2, 0.3 "
                               "(the ASR-vs-fraction curve; several more minutes)."),
    replay: str = typer.Option("harmful", "--replay", help="The fine-tune data's text replay: 'harmful' keeps the "
                               "world's harmful text requests with their refusals; 'benign' replaces them (and "
                               "facts about harmful topics) with benign ones: no harmful data anywhere."),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="A progress line with ETA inside long "
                                  "stages (train steps, generate batches, judge rows), on stderr: live on a "
                                  "terminal, a plain line every 10 s when redirected."),
) -> None:
    """Show the vision-domain safety gap and the benign-refusal fix on the built-in tiny world (a few minutes).

    From the shipped base model: ASR of held-out harmful requests as text and as typography, and the
    refusal rate on benign typographic requests; then the same after a 10% benign-refusal mix (the
    method) and after a curated mix of the same size. Writes demo.json (its numbers), summary.json (the run's,
    with the demo's tables) and report.html.
    """
    from rich.console import Console
    from rich.table import Table

    from ..console import show_progress
    from ..errors import UnmaskError
    from .demo import REPLAYS, run_demo

    if replay not in REPLAYS:
        raise UnmaskError(f"--replay {replay!r}: one of {', '.join(REPLAYS)}")
    console = Console(stderr=True, highlight=False)
    run_dir = out or Path("runs") / time.strftime("demo-%Y%m%d-%H%M%S")
    again = (f"unmask demo -o {run_dir}" + (f" --seed {seed}" if seed else "") + (" --sweep" if sweep else "")
             + (f" --replay {replay}" if replay != REPLAYS[0] else ""))
    resume_hint(f"finished stages are kept; `{again}` resumes")
    show_progress(progress)
    summary = run_demo(run_dir, seed=seed, sweep=sweep, log=lambda m: console.print(m, markup=False), replay=replay)
    judge = summary["judge"]
    table = Table(title=f"unmask demo (judge: {judge['name']} v{judge['version']}; 95% CI resampling whole topics)")
    cols = (("asr_text", "ASR text"), ("asr_typo", "ASR typography"), ("refusal_benign_typo", "benign typo refused"),
            ("refusal_benign_text", "benign text refused"))
    for col in ("model", *(label for _, label in cols)):
        table.add_column(col, justify="left" if col == "model" else "right")

    def cell(r: dict) -> str:
        if r["value"] is None:
            return "n/a"
        lo, hi = r.get("ci_topics") or r["ci"] or (r["value"], r["value"])
        return f"{100 * r['value']:.0f}% [{100 * lo:.0f}, {100 * hi:.0f}] (n={r['n_judged']})"

    for model, row in summary["models"].items():
        table.add_row(model, *(cell(row[key]) for key, _ in cols))
    Console().print(table)
    for pair, block in summary.get("differences", {}).items():
        d = block["asr_typo"]
        if d["value"] is not None and d["ci"]:
            console.print(f"ASR typography, {pair}: {100 * d['value']:+.1f} points "
                          f"[{100 * d['ci'][0]:+.1f}, {100 * d['ci'][1]:+.1f}] (paired, topics resampled)")
    console.print(f"numbers: {run_dir / 'demo.json'}   report: {run_dir / 'report.html'}   "
                  f"({summary['seconds']:.0f} s)")
