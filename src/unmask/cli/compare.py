"""``unmask judge-compare A.jsonl B.jsonl``: how often two judges agree on the same answers."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .root import app

__all__: list[str] = []


@app.command("judge-compare")
def judge_compare_cmd(
    first: Path = typer.Argument(..., help="Verdicts JSONL of judge A (what `unmask judge` writes)."),
    second: Path = typer.Argument(..., help="Verdicts JSONL of judge B on the same answers (same ids)."),
    out: Optional[Path] = typer.Option(None, "-o", "--out", help="Also write the comparison as JSON."),
    examples: int = typer.Option(20, "--examples", help="How many disagreeing rows to list (JSON only)."),
) -> None:
    """Agreement, Cohen's kappa and confusion of two judges, overall and per category."""
    import orjson

    from ..data.store import atomic_write_bytes, write_manifest
    from ..metrics.compare import compare_files, format_agreement

    doc = compare_files(first, second, max_examples=examples)
    typer.echo(format_agreement(doc))
    if out is not None:
        atomic_write_bytes(out, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
        write_manifest(out, "judge-compare", inputs=[first, second], params={"examples": examples})
        typer.echo(f"comparison -> {out}")
