"""``unmask mmvet-grade``: MM-Vet-style LLM-graded utility with MM-Vet's own grader prompt."""

from __future__ import annotations

from pathlib import Path

import typer

from ..errors import UnmaskError
from .root import app

__all__: list[str] = []


@app.command("mmvet-grade")
def mmvet_grade_cmd(
    generations: Path = typer.Argument(..., help="Generations JSONL (id = MM-Vet sample id, response)."),
    mmvet: Path = typer.Option(..., "--mm-vet", help="MM-Vet's mm-vet.json (question, answer, capability)."),
    out: Path = typer.Option(..., "-o", "--out", help="Grades JSON to write (score overall and per capability)."),
    base_url: str = typer.Option(..., "--base-url", help="OpenAI-compatible endpoint of the grader."),
    judge_model: str = typer.Option(..., "--judge-model", help="Grader model name (MM-Vet used gpt-4-0613)."),
    api_key_env: str = typer.Option("OPENAI_API_KEY", "--api-key-env", help="Variable holding the API key."),
    concurrency: int = typer.Option(8, "--concurrency", help="Parallel requests."),
    no_cache: bool = typer.Option(False, "--no-cache", help="Do not read or write the response cache."),
) -> None:
    """Grade answers to MM-Vet with its GPT grader prompt (0.0-1.0 per sample; mean overall and per capability)."""
    import orjson

    from ..data.store import atomic_write_bytes, read_jsonl, write_manifest
    from ..judges.http import ChatClient
    from ..judges.llm import default_cache_dir
    from ..metrics.mmvet import grade_mmvet, load_mmvet

    if concurrency < 1:
        raise UnmaskError("--concurrency must be >= 1")
    rows = list(read_jsonl(generations))
    client = ChatClient(base_url, judge_model, api_key_env=api_key_env, max_tokens=3,
                        cache_dir=None if no_cache else default_cache_dir())
    doc = grade_mmvet(rows, load_mmvet(mmvet), client, concurrency=concurrency, source=str(generations))
    doc["grader"] = {"base_url": base_url, "judge_model": judge_model, "prompt": "MM-Vet mm-vet_evaluator.py"}
    atomic_write_bytes(out, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    write_manifest(out, "mmvet-grade", inputs=[generations, mmvet], params={"judge_model": judge_model})
    score = "-" if doc["score"] is None else f"{doc['score']:.3f}"
    typer.echo(f"MM-Vet score {score} over {doc['n_graded']} graded ({doc['n_ungraded']} ungraded) -> {out}")
