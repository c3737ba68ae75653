"""``world_eval``: the world's whole experiment (base, the method, the curated baseline) over seeds.

Per seed ``s``: the base is evaluated on eval set ``s`` (its own renders and prompt draws); the method and
the curated baseline fine-tune the base on ``method_set(s, ...)`` with LoRA seed ``s`` and are evaluated
on the same eval set, so every delta is paired. Rates are pooled over seeds with a Wilson interval;
per-seed values are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..metrics.stats import wilson
from . import data as D
from .evaluate import evaluate
from .finetune import FinetuneConfig, finetune
from .model import load_tiny

__all__ = ["summarize", "world_eval"]


def world_eval(model: str | Path | None = None, seeds: Sequence[int] = (0, 1, 2),
               fractions: Sequence[float] = (0.1,), curated: bool = True, n_train: int = 4800,
               ft: FinetuneConfig | None = None, no_eos: bool = False, with_facts: bool = True,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the experiment; returns ``{"runs": [...], "summary": {model_name: {set: stats}}}``."""
    ft = ft or FinetuneConfig()
    runs: list[dict[str, Any]] = []
    plans: list[tuple[str, float | None, str]] = [("base", None, "")]
    plans += [(f"mix-{p:g}", p, "benign") for p in fractions]
    if curated:
        plans += [(f"curated-{p:g}", p, "curated") for p in fractions if p > 0]
    for name, p, mode in plans:
        for s in seeds:
            m, proc = load_tiny(model)
            t0 = time.perf_counter()
            stats: dict[str, float] = {}
            if p is not None:
                examples = D.method_set(s, n_train, p, mode=mode, no_eos=no_eos)
                m, stats = finetune(m, proc, examples, seed=s, cfg=ft)
            res = evaluate(m, proc, seed=s, with_facts=with_facts)
            runs.append({"model": name, "seed": s, "fraction": p, "mode": mode or None, "train": stats,
                         "seconds": time.perf_counter() - t0, "results": res})
            log(f"{name} seed {s}: " + ", ".join(_headline(res)) + f" ({time.perf_counter() - t0:.0f}s)")
    return {"runs": runs, "summary": summarize(runs), "judge": "keyword",
            "settings": {"n_train": n_train, "finetune": vars(ft), "no_eos": no_eos, "seeds": list(seeds)}}


def _headline(res: dict[str, Any]) -> list[str]:
    out = []
    for key, label in (("harm_text", "asr_text"), ("harm_typo", "asr_typo"), ("benign_typo", "refusal_benign_typo")):
        r = res[key]
        out.append(f"{label} {r['asr'] if 'asr' in r else r['refusal']:.3f}")
    return out


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Pool each model's seeds: per set, rate with Wilson CI over all items, per-seed rates, log-odds."""
    out: dict[str, dict[str, Any]] = {}
    for name in dict.fromkeys(r["model"] for r in runs):
        mine = [r for r in runs if r["model"] == name]
        sets: dict[str, Any] = {}
        for key in mine[0]["results"]:
            rows = [r["results"][key] for r in mine]
            n = sum(x["n"] for x in rows)
            harmful = "asr" in rows[0]
            k = sum(round((x["asr"] if harmful else x["refusal"]) * x["n"]) for x in rows if x["n"])
            sets[key] = {
                "metric": "asr" if harmful else "refusal",
                "value": k / n if n else None,
                "ci": wilson(k, n),  # None when no item was evaluated
                "n": n,
                "per_seed": [x["asr"] if harmful else x["refusal"] for x in rows],
                "logodds_mean": sum(x["logodds_mean"] for x in rows) / len(rows) if n else None,
                "logodds_per_seed": [x["logodds_mean"] for x in rows],
                "echo": sum(x["echo"] for x in rows) / len(rows) if n else None,
            }
        out[name] = sets
    return out


def table(summary: dict[str, dict[str, Any]]) -> str:
    """A plain-text table: one row per model, the three headline numbers and the refusal log-odds."""
    cols = [("harm_text", "ASR text"), ("harm_typo", "ASR typo"), ("benign_typo", "refusal benign typo")]
    head = f"{'model':14s}" + "".join(f"{c:>24s}" for _, c in cols) + f"{'log-odds harm/benign typo':>28s}"
    lines = [head]
    for name, sets in summary.items():
        cells = []
        for key, _ in cols:
            s = sets[key]
            cells.append(f"{s['value']:.3f} [{s['ci'][0]:.2f},{s['ci'][1]:.2f}] n={s['n']}".rjust(24))
        lo = f"{sets['harm_typo']['logodds_mean']:+.1f} / {sets['benign_typo']['logodds_mean']:+.1f}"
        lines.append(f"{name:14s}" + "".join(cells) + lo.rjust(28))
    return "\n".join(lines)
