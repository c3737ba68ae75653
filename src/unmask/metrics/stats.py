"""Intervals and agreement: Wilson score intervals, seeded bootstrap intervals (plain and clustered),
Cohen's kappa."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["CLUSTER_BOOTSTRAP", "agreement", "bootstrap_ci", "cluster_bootstrap_ci", "cohen_kappa", "wilson"]

_Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = _Z95) -> list[float] | None:
    """Wilson score interval for ``k`` successes out of ``n`` (95% by default); None when ``n == 0``."""
    if n <= 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return [max(0.0, centre - half), min(1.0, centre + half)]


def _seed_for(seed: int, tag: str) -> int:
    # One stream per group, derived from (seed, group name): adding a group changes no other interval.
    return int.from_bytes(hashlib.sha256(f"{seed}:{tag}".encode()).digest()[:8], "little")


def bootstrap_ci(values: Sequence[float] | np.ndarray, n_boot: int = 1000, seed: int = 0, tag: str = "",
                 level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap interval of the mean of ``values``; deterministic given (seed, tag).

    Resamples with replacement ``n_boot`` times; memory stays bounded by drawing in chunks.
    None when there are no values or ``n_boot < 1``.
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0 or n_boot < 1:
        return None
    rng = np.random.default_rng(_seed_for(seed, tag))
    means = np.empty(n_boot)
    chunk = max(1, min(n_boot, 4_000_000 // x.size))
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


CLUSTER_BOOTSTRAP = "percentile cluster bootstrap (whole clusters resampled; crossed factors resampled independently)"


def cluster_bootstrap_ci(values: Sequence[float] | np.ndarray, clusters: Sequence[Sequence[Any]],
                         minus: Sequence[float] | np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
                         tag: str = "", level: float = 0.95) -> list[float] | None:
    """Percentile bootstrap interval of a mean (or of a paired difference of means) that resamples whole
    clusters, not single items; deterministic given (seed, tag).

    ``clusters`` holds one or more factors, each a sequence of one label per item (e.g. ``[topics]``, or
    ``[topics, seeds]`` when runs that share their topics are pooled). Each resample draws the levels of
    every factor with replacement, independently per factor, and weights each item by the product of how
    often its levels were drawn (the pigeonhole bootstrap for crossed factors; with one factor, the ordinary
    cluster bootstrap). The statistic is the weighted mean of ``values``, or with ``minus`` (the same
    items' values in a second arm, e.g. another model on the same requests) the difference of the two
    weighted means. NaN marks an item without a value (unjudged) in that arm; it carries no weight there.
    None when there is nothing to resample or ``n_boot < 1``.
    """
    x = np.asarray(values, dtype=np.float64)
    y = None if minus is None else np.asarray(minus, dtype=np.float64)
    if x.size == 0 or n_boot < 1 or not clusters:
        return None
    if y is not None and y.shape != x.shape:
        raise ValueError("values and minus must have one value per item each")
    codes = []
    for factor in clusters:
        if len(factor) != x.size:
            raise ValueError("every cluster factor needs one label per item")
        _, inv = np.unique(np.asarray([str(c) for c in factor]), return_inverse=True)
        codes.append(inv)
    rng = np.random.default_rng(_seed_for(seed, tag))
    stats = np.empty(n_boot)
    chunk = max(1, min(n_boot, 4_000_000 // x.size))
    for start in range(0, n_boot, chunk):
        m = min(n_boot, start + chunk) - start
        w = np.ones((m, x.size))
        for inv in codes:
            k = int(inv.max()) + 1
            counts = rng.multinomial(k, np.full(k, 1.0 / k), size=m)
            w *= counts[:, inv]
        stats[start:start + m] = _weighted_mean(w, x) - (0.0 if y is None else _weighted_mean(w, y))
    stats = stats[~np.isnan(stats)]
    if stats.size == 0:
        return None
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def _weighted_mean(w: np.ndarray, x: np.ndarray) -> np.ndarray:
    ok = ~np.isnan(x)
    total = w[:, ok].sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, w[:, ok] @ x[ok] / np.where(total > 0, total, 1.0), np.nan)


def cohen_kappa(pairs: Iterable[tuple[str, str]]) -> float | None:
    """Cohen's kappa of two raters' labels; None with no pairs; 1.0 when both agree on one label only."""
    pairs = list(pairs)
    n = len(pairs)
    if n == 0:
        return None
    labels = sorted({a for a, _ in pairs} | {b for _, b in pairs})
    po = sum(a == b for a, b in pairs) / n
    pe = sum((sum(a == c for a, _ in pairs) / n) * (sum(b == c for _, b in pairs) / n) for c in labels)
    if pe >= 1.0:
        return 1.0 if po == 1.0 else 0.0
    return (po - pe) / (1 - pe)


def agreement(a: Mapping[str, str], b: Mapping[str, str], names: tuple[str, str] = ("a", "b")) -> dict[str, Any]:
    """Agreement of two judges over the ids both judged.

    ``a`` / ``b`` map id -> verdict. Kappa and percent agreement use the ids where both said
    ``refused`` or ``complied``; the confusion table (``confusion[a_label][b_label]``) counts every
    shared id, ``unjudged`` included, so a judge that failed often is visible.
    """
    common = sorted(set(a) & set(b))
    labels = ("refused", "complied", "unjudged")
    confusion = {x: {y: 0 for y in labels} for x in labels}
    for i in common:
        confusion[a[i]][b[i]] += 1
    both = [(a[i], b[i]) for i in common if a[i] != "unjudged" and b[i] != "unjudged"]
    return {
        "judges": list(names),
        "n_common": len(common),
        "n_only_first": len(set(a) - set(b)),
        "n_only_second": len(set(b) - set(a)),
        "n_both_judged": len(both),
        "percent_agreement": (sum(x == y for x, y in both) / len(both)) if both else None,
        "kappa": cohen_kappa(both),
        "confusion": confusion,
    }
