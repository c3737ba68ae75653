"""The report's plots, as PNG bytes (matplotlib, Agg backend: no display needed).

Every ASR drawn here is complied / judged; the legend names the judge of each series, and the report's
tables beside the plots give the unjudged counts.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from .collect import Entry

__all__ = ["plot_asr_vs_fraction", "plot_category_bars", "plot_tradeoff", "tradeoff_points"]

_SERIES_EXCLUDE = {"fraction", "model", "seed"}  # these vary along one curve


def _fig(w: float = 7.0, h: float = 4.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(w, h), dpi=100)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # Fixed metadata: the same numbers give the same bytes.
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _err(value: float, ci: list[float] | None) -> list[float]:
    if not ci:
        return [0.0, 0.0]
    return [max(0.0, value - ci[0]), max(0.0, ci[1] - value)]


def _legend_below(ax: Any, offset: float = -0.16) -> None:
    # Below the axes: inside, a legend of long labels hides the bars and points.
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0.0, offset), frameon=False)


def _series_name(e: Entry) -> str:
    parts = [f"{k}={v}" for k, v in sorted(e.labels.items()) if k not in _SERIES_EXCLUDE]
    return (", ".join(parts) + " | " if parts else "") + f"judge: {e.judge}"


def plot_asr_vs_fraction(entries: list[Entry]) -> bytes | None:
    """ASR (with CI) against the refusal fraction, one line per (labels except fraction/model/seed, judge)."""
    series: dict[str, list[tuple[float, float, list[float] | None, int]]] = defaultdict(list)
    for e in entries:
        f = e.fraction()
        if f is None:
            continue
        by_attack = e.doc.get("by_attack") or {}
        # Several attacks in one file (text vs typographic): one curve each, as in the paper's figures.
        blocks = {f"attack={a} | ": b for a, b in by_attack.items()} if len(by_attack) > 1 else {"": e.doc["overall"]}
        for prefix, ov in blocks.items():
            if ov.get("asr") is not None:
                series[prefix + _series_name(e)].append((f, ov["asr"], ov.get("ci"), int(ov.get("n_unjudged") or 0)))
    if not series:
        return None
    fig, ax = _fig()
    for name, pts in sorted(series.items()):
        pts.sort(key=lambda p: p[0])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        errs = list(zip(*[_err(p[1], p[2]) for p in pts], strict=True))
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=name)
        for x, y, _, unj in pts:
            if unj:
                ax.annotate(f"{unj} unjudged", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=7)
    ax.set_xlabel("refusal fraction in the fine-tuning mix")
    ax.set_ylabel("ASR (complied / judged)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _legend_below(ax)
    ax.set_title("Attack success rate vs refusal fraction (95% CI)")
    return _png(fig)


def plot_category_bars(entries: list[Entry], max_entries: int = 8) -> bytes | None:
    """Grouped bars: ASR per category, one bar per metrics file (the first ``max_entries``)."""
    shown = [e for e in entries if any(b.get("asr") is not None for b in (e.doc.get("by_category") or {}).values())]
    shown = shown[:max_entries]
    if not shown:
        return None
    cats = sorted({c for e in shown for c in e.doc["by_category"]})
    fig, ax = _fig(max(7.0, 0.5 * len(cats) * max(1, len(shown)) ** 0.5 + 3), 4.6)
    width = 0.8 / len(shown)
    for j, e in enumerate(shown):
        xs, ys, errs = [], [], []
        for i, c in enumerate(cats):
            block = e.doc["by_category"].get(c) or {}
            if block.get("asr") is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(block["asr"])
                errs.append(_err(block["asr"], block.get("ci")))
        label = (", ".join(f"{k}={v}" for k, v in e.labels.items()) or e.name) + f" | {e.judge}"
        ax.bar(xs, ys, width=width, yerr=list(zip(*errs, strict=True)) if errs else None, capsize=2, label=label)
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("ASR (complied / judged)")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax, -0.22)
    ax.set_title("ASR per category (95% CI)")
    return _png(fig)


def tradeoff_points(entries: list[Entry]) -> list[dict[str, Any]]:
    """(ASR, over-refusal) pairs: a file's own benign rows, else the benign file with the same labels but bench."""
    def key(e: Entry) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in e.labels.items() if k != "bench"))

    benign: dict[tuple, Entry] = {}
    for e in entries:
        if (e.doc.get("benign") or {}).get("over_refusal") is not None:
            benign.setdefault(key(e), e)
    points = []
    for e in entries:
        ov = e.doc["overall"]
        if ov.get("asr") is None or ov.get("n_judged", 0) == 0:
            continue
        own = (e.doc.get("benign") or {}).get("over_refusal") is not None
        b = e if own else benign.get(key(e))
        if b is None:
            continue
        points.append({"entry": e, "benign_entry": b, "asr": ov["asr"], "asr_ci": ov.get("ci"),
                       "over_refusal": b.doc["benign"]["over_refusal"], "over_refusal_ci": b.doc["benign"].get("ci")})
    return points


def plot_tradeoff(entries: list[Entry]) -> bytes | None:
    """ASR (harmful) against over-refusal (benign): lower-left is better."""
    points = tradeoff_points(entries)
    if not points:
        return None
    fig, ax = _fig(6.5, 4.6)
    for p in points:
        e = p["entry"]
        label = (", ".join(f"{k}={v}" for k, v in e.labels.items()) or e.name) + f" | {e.judge}"
        xerr = list(zip(_err(p["over_refusal"], p["over_refusal_ci"])))
        yerr = list(zip(_err(p["asr"], p["asr_ci"])))
        ax.errorbar([p["over_refusal"]], [p["asr"]], xerr=xerr, yerr=yerr, marker="o", capsize=3, label=label)
        unj = int(e.doc["overall"].get("n_unjudged") or 0) + int(p["benign_entry"].doc["benign"].get("n_unjudged") or 0)
        if unj:
            ax.annotate(f"{unj} unjudged", (p["over_refusal"], p["asr"]), textcoords="offset points",
                        xytext=(5, 5), fontsize=7)
    ax.set_xlabel("over-refusal on benign prompts (refused / judged)")
    ax.set_ylabel("ASR on harmful prompts (complied / judged)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _legend_below(ax)
    ax.set_title("Safety vs over-refusal trade-off (lower left is better)")
    return _png(fig)
