"""Linear read-outs of hidden states, numpy only: a direction that separates two classes, and AUROC.

A direction is fitted on one set of states (harmful vs benign requests given as text) and applied to
another (the same requests given as typography). Two fitters:

- ``diffmean`` (default): the difference of the class means, unit length. No hyper-parameter, and the
  direction "refusal / harm" papers read off (Arditi et al. 2024 use it for the refusal direction);
- ``logistic``: L2-regularised logistic regression on standardised states (Newton steps on the
  dual-free primal; d is at most a few thousand), the weight vector mapped back to raw coordinates.

A score is the projection ``states @ w`` (no threshold: AUROC is threshold-free, so a shift of the
image route's states along the direction does not matter, only the ordering of harmful above benign).
Intervals resample whole clusters (topics, or single requests) with the weighting of
:func:`unmask.metrics.stats.cluster_bootstrap_ci`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..metrics.stats import _seed_for

__all__ = ["FITTERS", "auroc", "cluster_bootstrap_auroc", "fit_direction", "grouped_folds", "out_of_fold_scores"]

FITTERS = ("diffmean", "logistic")


def fit_direction(x: np.ndarray, y: np.ndarray, method: str = "diffmean", l2: float = 1.0,
                  steps: int = 25) -> np.ndarray:
    """A unit direction ``w`` (shape ``(d,)``) along which class 1 scores above class 0."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    if x.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError("states must be (n, d) with one label per row")
    if y.all() or not y.any():
        raise ValueError("both classes are needed to fit a direction")
    if method == "diffmean":
        w = x[y].mean(axis=0) - x[~y].mean(axis=0)
    elif method == "logistic":
        w = _logistic(x, y.astype(np.float64), l2, steps)
    else:
        raise ValueError(f"unknown fitter {method!r} (choose from {', '.join(FITTERS)})")
    norm = float(np.linalg.norm(w))
    return w / norm if norm > 0 else w


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, steps: int) -> np.ndarray:
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = (x - mu) / sd
    n, d = z.shape
    zb = np.hstack([z, np.ones((n, 1))])
    beta = np.zeros(d + 1)
    reg = np.full(d + 1, l2)
    reg[-1] = 0.0  # no penalty on the intercept
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(zb @ beta, -30, 30)))
        grad = zb.T @ (p - y) + reg * beta
        if np.max(np.abs(grad)) < 1e-8:
            break
        if d + 1 <= 2048:  # Newton
            h = (zb * (p * (1 - p))[:, None]).T @ zb + np.diag(reg + 1e-9)
            beta -= np.linalg.solve(h, grad)
        else:  # too wide for a Hessian: a damped gradient step
            beta -= grad / (0.25 * n + l2)
    return beta[:-1] / sd


def auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray,
          weights: np.ndarray | None = None) -> float | None:
    """P(score of a class-1 item > score of a class-0 item), ties counting one half (the Mann-Whitney
    statistic); with ``weights``, each pair weighted by the product of its items' weights. None when a
    class is empty."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    w = np.ones_like(s) if weights is None else np.asarray(weights, dtype=np.float64)
    value = float(_weighted_auroc(s, y, w[None, :])[0])
    return None if np.isnan(value) else value


def _weighted_auroc(s: np.ndarray, y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """AUROC per row of weights ``w`` (shape ``(m, n)``); NaN where a class has no weight."""
    order = np.argsort(s, kind="mergesort")
    s, y, w = s[order], y[order], w[:, order]
    # group tied scores: an item beats the negatives strictly below it and half-beats the tied ones
    _, start, counts = np.unique(s, return_index=True, return_counts=True)
    group = np.repeat(np.arange(start.size), counts)
    wn = np.where(~y, w, 0.0)
    wp = np.where(y, w, 0.0)
    neg_in_group = np.zeros((w.shape[0], start.size))
    np.add.at(neg_in_group.T, group, wn.T)
    below = np.cumsum(neg_in_group, axis=1) - neg_in_group
    credit = below + 0.5 * neg_in_group  # per group
    num = (wp * credit[:, group]).sum(axis=1)
    den = wp.sum(axis=1) * wn.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def cluster_bootstrap_auroc(scores: Sequence[float] | np.ndarray, labels: Sequence[bool] | np.ndarray,
                            clusters: Sequence[Any], n_boot: int = 1000, seed: int = 0, tag: str = "",
                            level: float = 0.95) -> list[float] | None:
    """Percentile interval of the AUROC that resamples whole clusters (e.g. topics: every wording of a
    topic goes in or out together), as :func:`unmask.metrics.stats.cluster_bootstrap_ci` does for a mean;
    deterministic given (seed, tag). None with nothing to resample."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    if s.size == 0 or n_boot < 1 or y.all() or not y.any():
        return None
    if len(clusters) != s.size:
        raise ValueError("one cluster label per item")
    _, inv = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)
    k = int(inv.max()) + 1
    rng = np.random.default_rng(_seed_for(seed, tag))
    stats = []
    chunk = max(1, min(n_boot, 2_000_000 // s.size))
    for start in range(0, n_boot, chunk):
        m = min(n_boot, start + chunk) - start
        counts = rng.multinomial(k, np.full(k, 1.0 / k), size=m)
        stats.append(_weighted_auroc(s, y, counts[:, inv].astype(np.float64)))
    out = np.concatenate(stats)
    out = out[~np.isnan(out)]
    if out.size == 0:
        return None
    lo, hi = np.quantile(out, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def grouped_folds(clusters: Sequence[Any], k: int = 5) -> np.ndarray:
    """A fold number per item such that every cluster lies in one fold (clusters dealt round-robin in
    order of first appearance)."""
    first: dict[str, int] = {}
    for c in map(str, clusters):
        first.setdefault(c, len(first))
    return np.array([first[str(c)] % k for c in clusters])


def out_of_fold_scores(x: np.ndarray, y: np.ndarray, clusters: Sequence[Any], method: str = "diffmean",
                       k: int = 5) -> np.ndarray:
    """Each item scored by a direction fitted without its cluster (k folds by cluster): the honest
    in-domain AUROC of the fitter. Folds that lack a class fall back to the full fit."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    folds = grouped_folds(clusters, k)
    out = np.empty(x.shape[0])
    for f in np.unique(folds):
        test = folds == f
        train = ~test
        if y[train].all() or not y[train].any():
            train = np.ones_like(test)
        out[test] = x[test] @ fit_direction(x[train], y[train], method)
    return out
