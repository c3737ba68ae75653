"""``unmask probe``: is harm still linearly readable when the request comes as typography?

For each model (the base, then each fine-tune adapter on it) and each layer of its language model:

1. hidden states at the last prompt token of every request given as TEXT; a direction separating harmful
   from benign is fitted on them (:func:`unmask.probe.linear.fit_direction`). ``text_auroc`` scores each
   request with a direction fitted without its topic (grouped k-fold), so it is not an in-sample figure;
2. the same direction (fitted on all text requests) scores the same requests given as TYPOGRAPHY:
   ``typo_auroc``, harmful vs benign. High while the model complies = the harm is read but not acted on
   (the paper's "masked, not lost" reading of the text/image gap);
3. behaviour at the same position: the refusal-opening token's log-odds per route and class (means with
   topic-resampled intervals) and their AUROC harmful vs benign (``logodds_auroc``): how well what the
   model is about to say separates the classes.

Intervals resample whole clusters (topics; each request alone where a set has none).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics.stats import CLUSTER_BOOTSTRAP, cluster_bootstrap_ci
from .linear import auroc, cluster_bootstrap_auroc, fit_direction, out_of_fold_scores
from .states import Request, States

__all__ = ["probe_layers", "summarise_model"]


def _block(values: np.ndarray, labels: np.ndarray, clusters: list[str], n_boot: int, seed: int,
           tag: str) -> dict[str, Any]:
    return {"value": auroc(values, labels),
            "ci": cluster_bootstrap_auroc(values, labels, clusters, n_boot=n_boot, seed=seed, tag=tag)}


def probe_layers(text: States, text_reqs: Sequence[Request], typo: States, typo_reqs: Sequence[Request],
                 method: str = "diffmean", folds: int = 5, n_boot: int = 1000, seed: int = 0,
                 tag: str = "") -> list[dict[str, Any]]:
    """One row per layer (0 = embeddings): text AUROC (out of fold), typography AUROC of the text
    direction, the cosine between the text direction and the typography route's own (fitted on typo
    states), each AUROC with its cluster-bootstrap interval."""
    yt = np.array([r.harmful for r in text_reqs])
    yi = np.array([r.harmful for r in typo_reqs])
    ct = [r.cluster for r in text_reqs]
    ci = [r.cluster for r in typo_reqs]
    rows = []
    for layer in range(text.hidden.shape[1]):
        xt, xi = text.hidden[:, layer, :], typo.hidden[:, layer, :]
        w = fit_direction(xt, yt, method)
        w_typo = fit_direction(xi, yi, method)
        rows.append({
            "layer": layer,
            "text_auroc": _block(out_of_fold_scores(xt, yt, ct, method, folds), yt, ct, n_boot, seed,
                                 f"{tag}:text:{layer}"),
            "typo_auroc": _block(xi @ w, yi, ci, n_boot, seed, f"{tag}:typo:{layer}"),
            "typo_own_auroc": _block(out_of_fold_scores(xi, yi, ci, method, folds), yi, ci, n_boot, seed,
                                     f"{tag}:typo_own:{layer}"),
            "cosine_text_typo": float(w @ w_typo),
        })
    return rows


def _logodds(states: States, reqs: Sequence[Request], n_boot: int, seed: int, tag: str) -> dict[str, Any]:
    y = np.array([r.harmful for r in reqs])
    clusters = [r.cluster for r in reqs]
    out: dict[str, Any] = {}
    for name, mask in (("harmful", y), ("benign", ~y)):
        vals = states.logodds[mask]
        out[f"{name}_mean"] = {"value": float(vals.mean()) if vals.size else None,
                               "ci": cluster_bootstrap_ci(vals, [[c for c, m in zip(clusters, mask, strict=True)
                                                                   if m]], n_boot=n_boot, seed=seed,
                                                          tag=f"{tag}:{name}")}
        out[f"{name}_refusal_first"] = float(np.mean(vals > 0)) if vals.size else None
    out["auroc"] = _block(states.logodds, y, clusters, n_boot, seed, f"{tag}:auroc")
    return out


def summarise_model(label: str, text: States, text_reqs: Sequence[Request], typo: States,
                    typo_reqs: Sequence[Request], method: str = "diffmean", folds: int = 5, n_boot: int = 1000,
                    seed: int = 0) -> dict[str, Any]:
    """The probe's block of one model in ``probe.json``."""
    layers = probe_layers(text, text_reqs, typo, typo_reqs, method, folds, n_boot, seed, tag=label)
    best = max(layers, key=lambda r: r["text_auroc"]["value"] or 0.0)
    return {
        "layers": layers,
        "best_text_layer": best["layer"],
        "logodds": {"text": _logodds(text, text_reqs, n_boot, seed, f"{label}:lo:text"),
                    "typo": _logodds(typo, typo_reqs, n_boot, seed, f"{label}:lo:typo")},
    }


INTERVALS = {"auroc": f"{CLUSTER_BOOTSTRAP}: whole topics (each request alone where the set names none)",
             "logodds": f"{CLUSTER_BOOTSTRAP}: whole topics"}


def plot_auroc(doc: dict[str, Any], path: Any) -> None:
    """Per-layer AUROC, one panel per model: text (out of fold) and typography scored by the text
    direction, with their intervals; the refusal log-odds AUROC of each route as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..data.store import atomic_path

    models = list(doc["models"])
    fig, axes = plt.subplots(1, len(models), figsize=(3.6 * len(models) + 0.6, 3.3), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], models, strict=True):
        block = doc["models"][name]
        layers = [r["layer"] for r in block["layers"]]
        for key, colour, text in (("text_auroc", "#2e86c1", "text (out of fold)"),
                                  ("typo_auroc", "#c0392b", "typography, text direction")):
            v = [r[key]["value"] for r in block["layers"]]
            lo = [(r[key]["ci"] or [r[key]["value"]] * 2)[0] for r in block["layers"]]
            hi = [(r[key]["ci"] or [r[key]["value"]] * 2)[1] for r in block["layers"]]
            ax.plot(layers, v, marker="o", color=colour, label=text)
            ax.fill_between(layers, lo, hi, color=colour, alpha=0.18, linewidth=0)
        for route, colour in (("text", "#2e86c1"), ("typo", "#c0392b")):
            value = block["logodds"][route]["auroc"]["value"]
            if value is not None:
                ax.axhline(value, color=colour, linestyle="--", linewidth=1,
                           label=f"refusal log-odds, {route}")
        ax.axhline(0.5, color="grey", linewidth=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("layer (0 = embeddings)")
        ax.set_xticks(layers)
        ax.set_ylim(0.0, 1.02)
    axes[0][0].set_ylabel("AUROC harmful vs benign")
    axes[0][-1].legend(fontsize=7, loc="lower right")
    fig.suptitle("Linear probe: is harm readable in the image route?", fontsize=10)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
