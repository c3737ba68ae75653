"""``unmask bias``: the data distribution-bias analysis behind the method.

For each dataset: share of refusal replies (exact template-bank matches and a refusal detector), reply
length distribution, most common reply openings, share of records with images, turns per record.
Multimodal instruction sets (LLaVA-665k) hold almost no refusals; VLGuard is about half refusals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from ..data.records import Conversation
from ..data.store import atomic_path, atomic_write_bytes
from .refusals import DEFAULT_REFUSAL, looks_like_refusal

__all__ = ["dataset_stats", "plot_bias", "run_bias"]

_OPENING_WORDS = 3


def _quantiles(values: Sequence[int], qs: Sequence[float] = (0.1, 0.5, 0.9)) -> dict[str, float]:
    if not values:
        return {f"p{int(q * 100)}": 0.0 for q in qs}
    ordered = sorted(values)
    return {f"p{int(q * 100)}": float(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) for q in qs}


def dataset_stats(records: Iterable[Conversation], name: str, bank: Sequence[str] = (DEFAULT_REFUSAL,),
                  top: int = 10) -> dict[str, Any]:
    """Distribution statistics of one dataset (streams the records once)."""
    bank_set = set(bank)
    n = with_images = replies = template_hits = detected = refusal_records = 0
    turns: Counter = Counter()
    lengths: list[int] = []
    openings: Counter = Counter()
    for conv in records:
        n += 1
        with_images += bool(conv.images)
        turns[sum(1 for t in conv.turns if t.role == "assistant")] += 1
        any_refusal = False
        for t in conv.turns:
            if t.role != "assistant":
                continue
            replies += 1
            text = t.text.strip()
            lengths.append(len(text.split()))
            openings[" ".join(text.lower().split()[:_OPENING_WORDS])] += 1
            hit = text in bank_set
            template_hits += hit
            if hit or looks_like_refusal(text):
                detected += 1
                any_refusal = True
        refusal_records += any_refusal
    return {
        "name": name,
        "records": n,
        "replies": replies,
        "image_share": with_images / n if n else 0.0,
        "refusal_share": detected / replies if replies else 0.0,
        "refusal_template_share": template_hits / replies if replies else 0.0,
        "refusal_record_share": refusal_records / n if n else 0.0,
        "reply_words": {"mean": sum(lengths) / len(lengths) if lengths else 0.0, **_quantiles(lengths)},
        "turns_per_record": {str(k): v for k, v in sorted(turns.items())},
        "top_openings": [[o, c / replies] for o, c in openings.most_common(top)] if replies else [],
        "_lengths": lengths,
    }


def plot_bias(stats: Sequence[dict[str, Any]], out_dir: Path) -> list[Path]:
    """Write the comparison plots (PNG) into ``out_dir``; returns their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [s["name"] for s in stats]
    paths = []

    def _save(fig: Any, name: str) -> None:
        path = out_dir / name
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(max(4, 1.4 * len(names) + 2), 3.4))
    shares = [100 * s["refusal_share"] for s in stats]
    bars = ax.bar(names, shares, color="#c0392b")
    ax.bar_label(bars, labels=[f"{v:.2f}%" for v in shares], fontsize=8)
    ax.set_ylabel("refusal replies (%)")
    ax.set_title("Share of refusal replies")
    _save(fig, "bias_refusal_share.png")

    fig, ax = plt.subplots(figsize=(6, 3.4))
    for s in stats:
        lengths = s["_lengths"] or [0]
        ax.hist(lengths, bins=40, histtype="step", density=True, label=s["name"], linewidth=1.5)
    ax.set_xlabel("reply length (words)")
    ax.set_ylabel("density")
    ax.set_title("Reply length distribution")
    ax.legend(fontsize=8)
    _save(fig, "bias_reply_length.png")

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.2))
    axes[0].bar(names, [100 * s["image_share"] for s in stats], color="#2e86c1")
    axes[0].set_ylabel("records with images (%)")
    keys = sorted({int(k) for s in stats for k in s["turns_per_record"]})
    width = 0.8 / max(1, len(stats))
    for j, s in enumerate(stats):
        total = max(1, s["records"])
        axes[1].bar([k + j * width for k in keys], [100 * s["turns_per_record"].get(str(k), 0) / total for k in keys],
                    width=width, label=s["name"])
    axes[1].set_xlabel("replies per record")
    axes[1].set_ylabel("records (%)")
    axes[1].legend(fontsize=8)
    fig.suptitle("Images and turns")
    _save(fig, "bias_images_turns.png")
    return paths


def run_bias(datasets: Sequence[tuple[str, Iterable[Conversation]]], out_dir: str | Path | None,
             bank: Sequence[str] = (DEFAULT_REFUSAL,)) -> list[dict[str, Any]]:
    """Compute the statistics of each (name, records) pair; write ``bias.json`` and plots to ``out_dir``."""
    stats = [dataset_stats(records, name, bank) for name, records in datasets]
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        plot_bias(stats, out_dir)
        public = [{k: v for k, v in s.items() if not k.startswith("_")} for s in stats]
        atomic_write_bytes(out_dir / "bias.json", orjson.dumps(public, option=orjson.OPT_INDENT_2) + b"\n")
    return stats
