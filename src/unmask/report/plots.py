"""The report's plots, as PNG bytes (matplotlib, Agg backend: no display needed).

Every ASR drawn here is complied / judged, with the 95% interval the tables show (``ci``: Wilson); the
legend names the judge of each series, and the report's tables give the unjudged counts. Text is 10 to
13 pt at the figure's own size; the page shows each figure at that size (drawn at ``PLOT_DPI``, shown at
100 px per inch), so the text reads at about its point size on a 1280 px wide window.
"""

from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from .collect import Entry

__all__ = ["PLOT_DPI", "plot_asr_vs_fraction", "plot_before_after", "plot_category_bars", "plot_tradeoff",
           "tradeoff_points"]

PLOT_DPI = 200
_SERIES_EXCLUDE = {"fraction", "model", "seed"}  # these vary along one curve
_STYLE = {"font.size": 11, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 11,
          "ytick.labelsize": 11, "legend.fontsize": 11}
_SMALL = 10  # annotations: the smallest text on a plot
_MAX_W = 11.0  # inches: 1100 px on the page, within its 1150 px, so no figure is shrunk (nor its text)


def _fig(w: float = 9.5, h: float = 5.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(w, h), dpi=100)
    return fig, ax


def _png(fig: Any) -> bytes:
    import matplotlib
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    # Fixed metadata: the same numbers give the same bytes.
    with matplotlib.rc_context(_STYLE):
        fig.savefig(buf, format="png", dpi=PLOT_DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _err(value: float, ci: list[float] | None) -> list[float]:
    if not ci:
        return [0.0, 0.0]
    return [max(0.0, value - ci[0]), max(0.0, ci[1] - value)]


def _legend_below(ax: Any, offset: float = -0.16, ncol: int = 1) -> None:
    # Below the axes: inside, a legend of long labels hides the bars and points.
    ax.legend(fontsize=_STYLE["legend.fontsize"], loc="upper left", bbox_to_anchor=(0.0, offset), frameon=False,
              ncol=ncol)


def _style(ax: Any, title: str, xlabel: str | None, ylabel: str) -> None:
    ax.set_title(title, fontsize=_STYLE["axes.titlesize"])
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=_STYLE["axes.labelsize"])
    ax.set_ylabel(ylabel, fontsize=_STYLE["axes.labelsize"])
    ax.tick_params(labelsize=_STYLE["xtick.labelsize"])


def _series_name(e: Entry) -> str:
    parts = [f"{k}={v}" for k, v in sorted(e.labels.items()) if k not in _SERIES_EXCLUDE]
    return (", ".join(parts) + " | " if parts else "") + f"judge: {e.judge}"


def _labeller(entries: list[Entry]) -> Any:
    """Legend text for each of ``entries``: the labels that differ between them (the judge too, if it does);
    what they share goes in the title (see :func:`_shared`)."""
    keys = [k for k in dict.fromkeys(k for e in entries for k in e.labels)
            if len({str(e.labels.get(k)) for e in entries}) > 1]
    judges = len({e.judge for e in entries}) > 1

    def label(e: Entry) -> str:
        text = ", ".join(f"{k}={e.labels[k]}" for k in keys if k in e.labels) or e.name
        return text + (f" | {e.judge}" if judges else "")

    return label


def _shared(entries: list[Entry]) -> str:
    return f" | judge: {entries[0].judge}" if len({e.judge for e in entries}) == 1 else ""


def _sweep_series(entries: list[Entry]) -> dict[str, list[tuple[float, float, list[float] | None, int]]]:
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
    return series


def has_sweep(entries: list[Entry]) -> bool:
    """Some curve of ASR vs refusal fraction has two fractions or more (else it would be lone points)."""
    return any(len({p[0] for p in pts}) > 1 for pts in _sweep_series(entries).values())


def plot_asr_vs_fraction(entries: list[Entry]) -> bytes | None:
    """ASR (with CI) against the refusal fraction, one line per (labels except fraction/model/seed, judge);
    None without a sweep (no curve with two fractions): :func:`plot_before_after` shows that case."""
    series = _sweep_series(entries)
    if not has_sweep(entries):
        return None
    fig, ax = _fig()
    for name, pts in sorted(series.items()):
        pts.sort(key=lambda p: p[0])
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        errs = list(zip(*[_err(p[1], p[2]) for p in pts], strict=True))
        ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=name)
        for x, y, _, unj in pts:
            if unj:
                ax.annotate(f"{unj} unjudged", (x, y), textcoords="offset points", xytext=(5, 5), fontsize=_SMALL)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _style(ax, "Attack success rate vs refusal fraction (95% CI)", "refusal fraction in the fine-tuning mix",
           "ASR (complied / judged)")
    _legend_below(ax, -0.14)
    return _png(fig)


def _is_base(e: Entry) -> bool:
    return e.labels.get("method") == "base" or e.labels.get("model") == "base"


def before_after_bars(entries: list[Entry]) -> tuple[list[str], list[str], dict[tuple[str, str], tuple]]:
    """(groups, models, {(group, model): (rate, ci, entry)}): ASR per harmful bench, over-refusal per benign
    bench, one bar per model, the base model(s) first."""
    judges = {e.judge for e in entries}
    groups: list[str] = []
    models: list[str] = []
    bars: dict[tuple[str, str], tuple] = {}
    for e in sorted(entries, key=lambda e: not _is_base(e)):  # stable: the base first, else file order
        model = str(e.labels.get("model", e.name))
        bench = str(e.labels.get("bench", e.name))
        if len(judges) > 1:
            bench += f" ({e.judge})"
        ov, bn = e.doc["overall"], e.doc.get("benign") or {}
        for what, block, key in (("ASR", ov, "asr"), ("over-refusal", bn, "over_refusal")):
            if block.get("n") and block.get(key) is not None:
                g = f"{bench}\n{what}"
                groups += [g] if g not in groups else []
                models += [model] if model not in models else []
                bars.setdefault((g, model), (block[key], block.get("ci"), e))
    return groups, models, bars


def plot_before_after(entries: list[Entry]) -> bytes | None:
    """Grouped bars: each bench's rate (ASR on harmful benches, over-refusal on benign ones) for the base
    model and each fine-tuned one, with 95% intervals."""
    groups, models, bars = before_after_bars(entries)
    if not bars:
        return None
    fig, ax = _fig(min(_MAX_W, max(9.5, 1.2 + 0.35 * len(groups) * len(models))), 5.0)
    width = 0.8 / len(models)
    for j, model in enumerate(models):
        xs, ys, errs = [], [], []
        tops = []
        for i, g in enumerate(groups):
            if (g, model) in bars:
                v, ci, _ = bars[(g, model)]
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(v)
                errs.append(_err(v, ci))
                tops.append(max(v, ci[1]) if ci else v)  # the value's label goes above its interval
        kw = {"color": "0.55"} if j == 0 and any(_is_base(e) for _, _, e in bars.values()) else {}
        ax.bar(xs, ys, width=width, yerr=list(zip(*errs, strict=True)) if errs else None, capsize=3, label=model, **kw)
        if len(models) <= 4:
            for x, y, top in zip(xs, ys, tops, strict=True):
                ax.annotate(f"{y:.2f}", (x, top), textcoords="offset points", xytext=(0, 3), ha="center",
                            va="bottom", fontsize=_SMALL)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(groups)
    ax.set_ylim(0, 1.12)
    ax.grid(axis="y", alpha=0.3)
    judge = f" | judge: {next(iter(bars.values()))[2].judge}" if len({e.judge for e in entries}) == 1 else ""
    _style(ax, f"Before / after fine-tuning (95% CI){judge}", None, "rate (ASR: complied; over-refusal: refused)")
    _legend_below(ax, -0.16, ncol=min(4, len(models)))
    return _png(fig)


def plot_category_bars(entries: list[Entry], max_entries: int = 8) -> bytes | None:
    """Grouped bars: ASR per category, one bar per metrics file (the first ``max_entries``)."""
    shown = [e for e in entries if any(b.get("asr") is not None for b in (e.doc.get("by_category") or {}).values())]
    shown = shown[:max_entries]
    if not shown:
        return None
    cats = sorted({c for e in shown for c in e.doc["by_category"]})
    fig, ax = _fig(min(_MAX_W, max(9.5, 0.6 * len(cats) * max(1, len(shown)) ** 0.5 + 3)), 5.2)
    width = 0.8 / len(shown)
    label = _labeller(shown)
    for j, e in enumerate(shown):
        xs, ys, errs = [], [], []
        for i, c in enumerate(cats):
            block = e.doc["by_category"].get(c) or {}
            if block.get("asr") is not None:
                xs.append(i - 0.4 + width * (j + 0.5))
                ys.append(block["asr"])
                errs.append(_err(block["asr"], block.get("ci")))
        ax.bar(xs, ys, width=width, yerr=list(zip(*errs, strict=True)) if errs else None, capsize=2, label=label(e))
    ax.set_xticks(range(len(cats)))
    ax.set_xticklabels(cats, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.grid(axis="y", alpha=0.3)
    _style(ax, f"ASR per category (95% CI){_shared(shown)}", None, "ASR (complied / judged)")
    _legend_below(ax, -0.24)
    return _png(fig)


def tradeoff_points(entries: list[Entry]) -> list[dict[str, Any]]:
    """(ASR, over-refusal) pairs: a file's own benign rows, else the benign file with the same labels but bench."""
    def key(e: Entry) -> tuple:
        return tuple(sorted((k, str(v)) for k, v in e.labels.items() if k not in ("bench", "attack")))

    benign: dict[tuple, Entry] = {}
    for e in entries:
        if (e.doc.get("benign") or {}).get("over_refusal") is not None:
            benign.setdefault((key(e), e.judge), e)
    points = []
    for e in entries:
        ov = e.doc["overall"]
        if ov.get("asr") is None or ov.get("n_judged", 0) == 0:
            continue
        own = (e.doc.get("benign") or {}).get("over_refusal") is not None
        b = e if own else benign.get((key(e), e.judge))
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
    fig, ax = _fig(9.5, 5.6)
    label = _labeller([p["entry"] for p in points])
    for p in points:
        e = p["entry"]
        xerr = list(zip(_err(p["over_refusal"], p["over_refusal_ci"])))
        yerr = list(zip(_err(p["asr"], p["asr_ci"])))
        ax.errorbar([p["over_refusal"]], [p["asr"]], xerr=xerr, yerr=yerr, marker="o", capsize=3, label=label(e))
        unj = int(e.doc["overall"].get("n_unjudged") or 0) + int(p["benign_entry"].doc["benign"].get("n_unjudged") or 0)
        if unj:
            ax.annotate(f"{unj} unjudged", (p["over_refusal"], p["asr"]), textcoords="offset points",
                        xytext=(5, 5), fontsize=_SMALL)
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    _style(ax, f"Safety vs over-refusal trade-off (lower left is better){_shared([p['entry'] for p in points])}",
           "over-refusal on benign prompts (refused / judged)", "ASR on harmful prompts (complied / judged)")
    _legend_below(ax, -0.14)
    return _png(fig)
