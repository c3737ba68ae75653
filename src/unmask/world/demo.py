"""``unmask demo``: the whole experiment on the built-in tiny world, through the ordinary pipeline.

Starting from the shipped base model (no download, no base training): export the world's data as
files, then one ``unmask run`` experiment — the base model, the method (``unmask mix --fraction 0.1``
of the world's benign multimodal data, LoRA fine-tune) and a curated baseline of the same size
(harmful typographic requests with refusals, VLGuard-style), optionally a sweep over refusal fractions —
each evaluated on held-out harmful requests as text and as typography and on held-out benign requests
as typography and as text, judged by the keyword judge. Then ``demo.json`` (the demo's numbers), the run's
``summary.json`` (the runner's, plus the demo's numbers as generic ``extra`` tables) and the report.

Besides greedy ASR, the summary gives the continuous measure: the mean log-odds of the refusal's
opening token at the first reply position, so selectivity shows even below the greedy threshold; beside
each rate, intervals that resample whole topics and the shares of clean and off-track replies; and paired
differences between models (:mod:`unmask.world.summary`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..data.store import atomic_write_bytes
from ..pipeline.config import Experiment
from ..pipeline.run import run_experiment

__all__ = ["DEMO_FRACTION", "SWEEP_FRACTIONS", "demo_experiment", "report_tables", "run_demo"]

DEMO_FRACTION = 0.1
SWEEP_FRACTIONS = (0.0, 0.02, 0.05, 0.1, 0.2, 0.3)
_TRAIN_RECORDS = 4800  # unmask.world.export.TRAIN_RECORDS

# The world's method fine-tune: a fresh LoRA (r 16) on the language model, 150 steps of 32, fp32 on CPU.
# No loss on the EOS of refusal samples, as in the paper's recipe. lr 1e-4 (the paper's LoRA range): harder
# fine-tunes (1e-3) drive every image request to the mix's own 10% refusal rate and lose most of the
# selectivity (src/unmask/world/NOTES.md, v3).
TRAIN = {"method": "lora", "lora_r": 16, "lora_alpha": 32, "lora_dropout": 0.0, "lr": 1e-4, "scheduler": "cosine",
         "warmup_ratio": 0.03, "max_steps": 150, "epochs": 1, "batch_size": 32, "precision": "fp32",
         "max_length": 256, "save_every": 50, "progress": False, "no_eos_on_refusal": True}
BENCHES = [
    {"label": "harmful-text", "kind": "text", "input": "world:harmful"},
    {"label": "harmful-typo", "kind": "world-typo", "input": "world:harmful"},
    {"label": "benign-typo", "kind": "world-typo", "input": "world:benign"},
    {"label": "benign-text", "kind": "text", "input": "world:benign"},
]
# summary key -> (bench label, metric)
_SUMMARY = {"asr_text": ("harmful-text", "asr"), "asr_typo": ("harmful-typo", "asr"),
            "refusal_benign_typo": ("benign-typo", "over_refusal"),
            "refusal_benign_text": ("benign-text", "over_refusal")}
BOOTSTRAP = 1000
# The only evaluation set there is: held-out topics and wordings, but the world's design (gap, lr, near-miss
# benign words) was chosen on it (src/unmask/world/NOTES.md): not an untouched test split.
SPLIT = "eval"


# The sentence the demo's mixes were made with (unmask's default before it became the paper's exact sentence,
# which has no final period): kept so that the demo's numbers do not move.
DEMO_REFUSAL = "I'm sorry, but I cannot assist with your request."


def _fraction_label(p: float) -> str:
    return f"{p:g}"


REPLAYS = ("harmful", "benign")


def demo_experiment(seed: int = 0, sweep: bool = False, fraction: float = DEMO_FRACTION,
                    train_overrides: dict[str, Any] | None = None, replay: str = "harmful") -> Experiment:
    """The demo as an experiment. ``replay``: the fine-tune data's text replay keeps the world's harmful
    text requests with their refusals (``harmful``, the default) or replaces every record that names a
    harmful topic with a benign one (``benign``: no harmful request anywhere in the fine-tune data)."""
    if replay not in REPLAYS:
        raise ValueError(f"replay must be one of {REPLAYS}, not {replay!r}")
    n_refusal = int(fraction * _TRAIN_RECORDS + 0.5)
    branches = [
        {"label": f"mix-{_fraction_label(fraction)}", "mix": {"fraction": fraction, "refusal": DEMO_REFUSAL}},
        {"label": f"curated-{_fraction_label(fraction)}",
         "mix": {"rejections": 0, "keep": _TRAIN_RECORDS - n_refusal, "curated": True, "curated_count": n_refusal}},
    ]
    doc: dict[str, Any] = {
        "name": "demo",
        "seed": seed,
        "model": {"name": "tiny"},
        "data": {"sources": ["world:train"], "curated": "world:curated"},
        "mix": {"refusal": DEMO_REFUSAL},  # the sweep's branches
        "train": {**TRAIN, **(train_overrides or {})},
        "branches": branches,
        "benches": BENCHES,
        "generate": {"max_new_tokens": 48, "batch_size": 48, "progress": False},
        "judges": [{"name": "keyword"}],
        "bootstrap": BOOTSTRAP,
        "jobs": 2,  # two stages side by side: the two fine-tunes, the generations
    }
    if replay == "benign":
        doc["source_options"] = {"world": {"benign_replay": 1}}
    if sweep:
        doc["sweep"] = {"fraction": [p for p in SWEEP_FRACTIONS if p != fraction]}
    return Experiment(**doc)


def _rate(doc: dict[str, Any], metric: str) -> dict[str, Any]:
    block = doc["overall"] if metric == "asr" else doc["benign"]
    return {"value": block.get(metric), "ci": block.get("ci"), "n": block.get("n"),
            "n_judged": block.get("n_judged"), "n_unjudged": block.get("n_unjudged")}


def _logodds(run_dir: Path, seed: int, models: Sequence[str]) -> dict[str, dict[str, float]]:
    """Mean refusal-opening log-odds per model on the world's held-out sets (same requests and renders
    as the benchmarks)."""
    from ..models.loading import load_model
    from .batching import Codec
    from .data import eval_sets
    from .evaluate import run_sets

    sets = eval_sets(seed, with_facts=False)
    sets = {"asr_text": sets["harm_text"], "asr_typo": sets["harm_typo"], "refusal_benign_typo": sets["benign_typo"],
            "refusal_benign_text": sets["benign_text"]}
    out = {}
    for model in models:
        adapter = None if model == "base" else _adapter_dir(run_dir, model)
        loaded = load_model("tiny", adapter=adapter)
        res = run_sets(loaded.model, Codec(loaded.tokenizer), sets, max_new_tokens=1)
        out[model] = {k: round(v["logodds_mean"], 3) for k, v in res.items()}
    return out


def _adapter_dir(run_dir: Path, model: str) -> str:
    from .summary import stage_dir

    return str(stage_dir(run_dir, f"train/{model}") / "model")


def _add_statistics(summary: dict[str, Any], run_dir: Path, seed: int) -> None:
    """Beside each rate: its topic-resampled interval and the shares of clean and off-track replies; then the
    paired differences between models. Writes every request's outcome to ``world_items.jsonl``."""
    from ..data.store import write_jsonl
    from .summary import INTERVALS, differences, item_outcomes, pairs_for, rate_extras

    models = list(summary["models"])
    items = item_outcomes(run_dir, seed, models, [bench for bench, _ in _SUMMARY.values()])
    for model, row in summary["models"].items():
        for key, (bench, metric) in _SUMMARY.items():
            mine = [r for r in items if r["model"] == model and r["bench"] == bench]
            row[key] |= rate_extras(mine, metric, BOOTSTRAP, seed, tag=f"{model}:{key}")
    summary["differences"] = differences(items, _SUMMARY, pairs_for(models), BOOTSTRAP, seed)
    summary["interval_method"] = INTERVALS
    summary["bootstrap"] = {"n": BOOTSTRAP, "seed": seed, "level": 0.95}
    write_jsonl(run_dir / "world_items.jsonl", items)


_LABELS = {"asr_text": "ASR text", "asr_typo": "ASR typography", "refusal_benign_typo": "benign typography refused",
           "refusal_benign_text": "benign text refused"}


def _rate_text(r: dict[str, Any]) -> str:
    if r.get("value") is None:
        return f"n/a ({r.get('n_judged', 0)}/{r.get('n', 0)})"
    ci = r.get("ci_topics") or r.get("ci")
    return f"{r['value']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "") + f" ({r['n_judged']}/{r['n']})"


def _diff_text(d: dict[str, Any]) -> str:
    if d.get("value") is None:
        return "n/a"
    return f"{d['value']:+.3f}" + (f" [{d['ci'][0]:+.3f}, {d['ci'][1]:+.3f}]" if d.get("ci") else "")


def report_tables(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The demo's numbers as the report's generic ``extra`` tables ({title, columns, rows})."""
    judge = summary.get("judge") or {}
    tables = [{"title": "the tiny world's rates [95% CI resampling whole topics] (judged/n)",
               "columns": ["model", *_LABELS.values(), "judge"],
               "rows": [[m, *(_rate_text(row[k]) if k in row else "-" for k in _LABELS),
                         f"{judge.get('name')} {judge.get('version')}"] for m, row in summary["models"].items()]}]
    if summary.get("refusal_logodds"):
        tables.append({"title": "mean refusal log-odds at the first reply token", "columns": ["model", *_LABELS.values()],
                       "rows": [[m, *(lo.get(k) for k in _LABELS)] for m, lo in summary["refusal_logodds"].items()]})
    if summary.get("differences"):
        tables.append({"title": "paired differences [95% CI resampling whole topics]",
                       "columns": ["models", *_LABELS.values()],
                       "rows": [[pair, *(_diff_text(block[k]) if k in block else "-" for k in _LABELS)]
                                for pair, block in summary["differences"].items()]})
    tables.append({"title": "the demo's settings", "columns": ["key", "value"],
                   "rows": [[k, summary[k]] for k in ("seed", "split", "replay", "seconds") if k in summary]})
    return tables


def run_demo(out: str | Path, seed: int = 0, sweep: bool = False, log: Callable[[str], None] = print,
             continuous: bool = True, train_overrides: dict[str, Any] | None = None,
             replay: str = "harmful") -> dict[str, Any]:
    """Run the demo into ``out``; returns its numbers (written to ``out/demo.json``; ``out/summary.json`` is the
    runner's summary with them as ``extra`` tables)."""
    out = Path(out)
    t0 = time.time()
    exp = demo_experiment(seed, sweep, train_overrides=train_overrides, replay=replay)
    result = run_experiment(exp, out, log=log)
    judge = None
    summary: dict[str, Any] = {"format_version": 1, "seed": seed, "split": SPLIT, "replay": replay, "models": {}}
    for model in result["summary"]:
        row: dict[str, Any] = {}
        for key, (bench, metric) in _SUMMARY.items():
            metrics = orjson.loads((out / "results" / model / bench / "keyword" / "metrics.json").read_bytes())
            row[key] = _rate(metrics, metric)
            judge = metrics["judge"]
        summary["models"][model] = row
    summary["judge"] = judge
    _add_statistics(summary, out, seed)
    if continuous:
        summary["refusal_logodds"] = _logodds(out, seed, list(summary["models"]))
    summary["seconds"] = round(time.time() - t0, 1)
    atomic_write_bytes(out / "demo.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    atomic_write_bytes(out / "summary.json", orjson.dumps({**result["summary"], "extra": report_tables(summary)},
                                                          option=orjson.OPT_INDENT_2) + b"\n")
    if exp.report:  # again, now with the demo's tables
        from ..report import build_report

        build_report([out], out / "report.html", title=f"unmask: {exp.name}")
    return summary
