"""Evaluation commands: ``unmask judge``, ``unmask metrics``, ``unmask report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from ..errors import UnmaskError
from .root import app

__all__: list[str] = []


@app.command("judge")
def judge_cmd(
    generations: Path = typer.Argument(..., help="JSONL of model answers: each line needs 'id' and 'response' "
                                       "(category / attack / harmful / model / settings are carried over)."),
    out: Path = typer.Option(..., "-o", "--out", help="Verdicts JSONL to write (resumes if a run was killed)."),
    judge_name: str = typer.Option("keyword", "--judge", "-j",
                                   help="Judge: keyword, keyword-short, keyword-xs, paper (the paper's own), llm, "
                                        "hf-classifier, or a guard: llama-guard-3, llama-guard-3-vision, "
                                        "llama-guard-4, md-judge, harmbench-cls."),
    samples: Optional[Path] = typer.Option(None, "--samples", help="samples.jsonl of the benchmark: prompts by id, "
                                           "for judges that read the request (llm harmbench, hf-classifier)."),
    keywords: Optional[Path] = typer.Option(None, "--keywords", help="keyword judges: phrase file, one per line."),
    base_url: Optional[str] = typer.Option(None, "--base-url", help="llm: OpenAI-compatible endpoint, e.g. "
                                           "http://localhost:8000/v1."),
    judge_model: Optional[str] = typer.Option(None, "--judge-model", help="llm: model name served by the endpoint."),
    template: Optional[str] = typer.Option(None, "--template", help="llm: harmbench (harmful yes/no, needs "
                                           "prompts), mmsb (per-scenario safe/unsafe) or refusal. Default harmbench."),
    api_key_env: Optional[str] = typer.Option(None, "--api-key-env", help="llm: environment variable holding "
                                              "the API key (default OPENAI_API_KEY); the key is never written."),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", help="llm: parallel requests (default 8)."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="llm: seconds per request (default 60)."),
    retries: Optional[int] = typer.Option(None, "--retries", help="llm: retries per request (default 4)."),
    backoff: Optional[float] = typer.Option(None, "--backoff", help="llm: first retry wait in seconds, doubled "
                                            "each time (default 1; Retry-After wins if longer)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="llm: response cache folder "
                                             "(default ~/.cache/unmask/llm-judge)."),
    no_cache: bool = typer.Option(False, "--no-cache", help="llm: do not read or write the response cache."),
    model_path: Optional[Path] = typer.Option(None, "--model-path", help="hf-classifier: local guard model folder "
                                              "(safetensors)."),
    device: Optional[str] = typer.Option(None, "--device", help="hf-classifier: cuda, cpu or auto (default)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="hf-classifier: answers per batch (default 8)."),
    max_new_tokens: Optional[int] = typer.Option(None, "--max-new-tokens",
                                                 help="llm / hf-classifier: tokens the judge may generate."),
    trust_remote_code: bool = typer.Option(False, "--trust-remote-code",
                                           help="hf-classifier: allow the model folder's own Python code."),
) -> None:
    """Judge model answers: refused, complied, or unjudged (with the reason). Resumable."""
    from ..data.outputs import check_output
    from ..judges import get_judge
    from ..judges.run import run_judge

    check_output(out, [generations, samples, keywords])
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise UnmaskError(f"--cache-dir {cache_dir}: exists and is not a folder")
    given: dict[str, Any] = {
        "keywords": keywords, "base_url": base_url, "judge_model": judge_model, "template": template,
        "api_key_env": api_key_env, "concurrency": concurrency, "timeout": timeout, "retries": retries,
        "backoff": backoff, "cache_dir": cache_dir, "model_path": model_path, "device": device,
        "batch_size": batch_size, "max_new_tokens": max_new_tokens,
        "cache": False if no_cache else None, "trust_remote_code": True if trust_remote_code else None,
    }
    j = get_judge(judge_name, **{k: v for k, v in given.items() if v is not None})
    counts = run_judge(generations, j, out, samples=samples)
    typer.echo(f"{sum(counts.values())} verdicts by {j.name} {j.version}: refused {counts.get('refused', 0)}, "
               f"complied {counts.get('complied', 0)}, unjudged {counts.get('unjudged', 0)} -> {out}")


def _parse_labels(items: list[str]) -> dict[str, Any]:
    import orjson

    labels: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UnmaskError(f"--label {item!r}: expected key=value")
        try:
            parsed = orjson.loads(value)
            labels[key.strip()] = parsed if isinstance(parsed, (int, float, bool)) or parsed is None else value
        except orjson.JSONDecodeError:
            labels[key.strip()] = value
    return labels


def _print_metrics(doc: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    from ..metrics import judge_label
    from ..report.render import fmt_rate

    t = Table(title=f"judge: {judge_label(doc['judge'])}")
    for col in ("set", "rate", "value [95% CI]", "judged/n", "unjudged"):
        t.add_column(col)
    rows = [("all non-benign", "ASR", doc["overall"], "asr"), ("harmful", "ASR", doc["harmful"], "asr"),
            ("benign", "over-refusal", doc["benign"], "over_refusal")]
    rows += [(f"attack {a}", "ASR", b, "asr") for a, b in doc["by_attack"].items()]
    for name, what, block, key in rows:
        if block.get("n"):
            t.add_row(name, what, fmt_rate(block, key), f"{block['n_judged']}/{block['n']}", str(block["n_unjudged"]))
    Console(stderr=True).print(t)
    if doc.get("agreement"):  # several judges: their disagreement is part of the result
        from ..metrics.compare import format_agreement

        Console(stderr=True).print("\n\n".join(format_agreement(a) for a in doc["agreement"]), markup=False,
                                   highlight=False, soft_wrap=True)


@app.command("metrics")
def metrics_cmd(
    verdicts: list[Path] = typer.Argument(..., help="Verdict JSONL file(s). Files of one judge are pooled; with "
                                          "several judges the first is reported and agreement is added."),
    out: Path = typer.Option(..., "-o", "--out", help="metrics.json to write."),
    label: list[str] = typer.Option([], "--label", "-l", help="key=value stored under 'labels' (repeatable), "
                                    "e.g. model=llava fraction=0.1 method=mix bench=figstep."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="bootstrap resamples for the intervals "
                                  "(0: Wilson intervals only)."),
    seed: int = typer.Option(0, "--seed", help="seed of the bootstrap (same seed, same intervals)."),
    utility: Optional[str] = typer.Option(None, "--utility", help="vqa, mc or sqa: score generation rows with gold "
                                          "answers ('answers' list, or 'answer' + 'options') instead of verdicts; "
                                          "sqa = ScienceQA as LLaVA's eval_science_qa.py scores it."),
    gold: Optional[Path] = typer.Option(None, "--gold", help="--utility sqa: ScienceQA's problems.json; the gold "
                                        "answer, choices and image flag are joined by id."),
) -> None:
    """ASR (complied / judged, unjudged counted beside it), over-refusal, per category / attack, CIs."""
    import orjson

    from ..data.outputs import check_output
    from ..data.store import atomic_write_bytes, iter_jsonl, write_manifest
    from ..metrics import FORMAT_VERSION, compare_judges, read_verdicts, utility_metrics

    check_output(out, verdicts)
    labels = _parse_labels(label)
    if bootstrap < 0:
        raise UnmaskError("--bootstrap must be >= 0")
    if utility:
        located = [(f"{p}: line {n}", r) for p in verdicts for n, r in iter_jsonl(p)]
        if gold is not None:
            from ..metrics.utility import attach_scienceqa_gold

            located = list(zip([w for w, _ in located],
                               attach_scienceqa_gold([r for _, r in located], gold), strict=True))
        doc: dict[str, Any] = {"format_version": FORMAT_VERSION, "kind": "utility", "labels": labels,
                               "utility": utility_metrics([r for _, r in located], utility, bootstrap=bootstrap,
                                                          seed=seed, source=", ".join(map(str, verdicts)),
                                                          where=[w for w, _ in located])}
    else:
        from ..metrics.sources import metric_sources

        doc = compare_judges(read_verdicts(verdicts), labels=labels, bootstrap=bootstrap, seed=seed)
        doc["sources"] = metric_sources(verdicts, out.parent)  # the report's samples behind the numbers
    atomic_write_bytes(out, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    write_manifest(out, "metrics", inputs=verdicts, params={"labels": labels, "bootstrap": bootstrap,
                                                            "utility": utility}, seed=seed)
    if utility:
        u = doc["utility"]
        typer.echo(f"{utility} accuracy {u['accuracy']:.3f} (n={u['n']}) -> {out}")
    else:
        _print_metrics(doc)
        typer.echo(f"metrics -> {out}")


@app.command("report")
def report_cmd(
    run_dirs: list[Path] = typer.Argument(..., help="Run folders, searched for metrics.json, bias/*.png and summary.json."),
    out: Path = typer.Option(..., "-o", "--out", help="HTML file to write; report.md and report_assets/ go beside it."),
    title: str = typer.Option("unmask report", "--title", help="Page title."),
    image_budget_mb: float = typer.Option(10.0, "--image-budget-mb", help="MB of sample-image thumbnails "
                                          "embedded in the page; past it samples show the image's path (0: none)."),
    samples: bool = typer.Option(True, "--samples/--no-samples", help="Embed the sample browser (every "
                                 "verdict with its prompt, image, answer and the judge's reason)."),
) -> None:
    """One self-contained HTML report (plots inline, samples behind every number, opens offline) plus a
    markdown twin."""
    from ..data.outputs import check_output
    from ..report import build_report

    if image_budget_mb < 0:
        raise UnmaskError("--image-budget-mb must be >= 0")
    check_output(out, run_dirs)
    check_output(out.with_suffix(".md"), run_dirs)
    check_output(out.with_name(out.stem + "_assets"), run_dirs, kind="folder")
    res = build_report(run_dirs, out, title=title, image_budget=int(image_budget_mb * 1e6), samples=samples)
    typer.echo(f"report: {res['n_metrics']} metrics file(s), {res['n_plots']} plot(s), {res['n_samples']} "
               f"sample(s) ({res['n_images']} image(s) embedded) -> {res['html']} (+ {res['markdown']})")
