"""The cluster bootstrap: whole clusters resampled, so clustered outcomes give honest (wider) intervals."""

from __future__ import annotations

import numpy as np
import pytest

from unmask.metrics.stats import bootstrap_ci, cluster_bootstrap_ci


def _planted(n_topics: int = 24, per_topic: int = 6, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Outcomes decided by the topic: a topic is answered in all its items or in none (as the world's are)."""
    rng = np.random.default_rng(seed)
    topic_rate = rng.random(n_topics) < 0.3
    values = np.repeat(topic_rate.astype(float), per_topic)
    topics = [f"t{i}" for i in range(n_topics) for _ in range(per_topic)]
    return values, topics


def _width(ci: list[float] | None) -> float:
    assert ci is not None
    return ci[1] - ci[0]


def test_clustered_outcomes_give_a_wider_interval_than_the_pooled_one():
    values, topics = _planted()
    pooled = bootstrap_ci(values, 2000, seed=0, tag="x")
    clustered = cluster_bootstrap_ci(values, [topics], n_boot=2000, seed=0, tag="x")
    assert clustered[0] <= values.mean() <= clustered[1]
    # perfectly clustered items of 6: the effective n is the number of topics, about sqrt(6) = 2.4x wider
    assert _width(clustered) > 1.8 * _width(pooled), (pooled, clustered)


def test_one_item_per_cluster_is_the_ordinary_bootstrap():
    rng = np.random.default_rng(1)
    values = (rng.random(300) < 0.4).astype(float)
    pooled = bootstrap_ci(values, 2000, seed=0, tag="y")
    clustered = cluster_bootstrap_ci(values, [list(range(300))], n_boot=2000, seed=0, tag="y")
    assert abs(_width(clustered) - _width(pooled)) < 0.25 * _width(pooled)


def test_paired_difference_resamples_the_same_clusters_in_both_arms():
    values, topics = _planted()
    # identical arms: every resample gives exactly 0, however clustered the data
    assert cluster_bootstrap_ci(values, [topics], minus=values, n_boot=500) == [0.0, 0.0]
    # an arm that answers one more item in every topic than the other: the difference is tight around 1/6
    other = values.copy()
    other[::6] = 0.0
    values2 = values.copy()
    values2[::6] = 1.0
    lo, hi = cluster_bootstrap_ci(values2, [topics], minus=other, n_boot=1000)
    assert lo == pytest.approx(1 / 6) and hi == pytest.approx(1 / 6)


def test_crossed_factors_widen_the_interval_when_runs_differ():
    values, topics = _planted(n_topics=24)
    # three runs (seeds / bases) that share the topics; run 2 answers everything: a run-level effect
    runs = [0] * len(values) + [1] * len(values) + [2] * len(values)
    pooled_values = np.concatenate([values, values, np.ones_like(values)])
    pooled_topics = topics * 3
    by_topic = cluster_bootstrap_ci(pooled_values, [pooled_topics], n_boot=2000, seed=0)
    by_topic_and_run = cluster_bootstrap_ci(pooled_values, [pooled_topics, runs], n_boot=2000, seed=0)
    assert _width(by_topic_and_run) > 1.3 * _width(by_topic)


def test_unjudged_items_carry_no_weight_and_the_interval_is_deterministic():
    values, topics = _planted()
    with_nan = np.concatenate([values, [np.nan] * 6])
    more_topics = topics + ["unjudged"] * 6
    a = cluster_bootstrap_ci(with_nan, [more_topics], n_boot=500, seed=3, tag="z")
    assert a == cluster_bootstrap_ci(with_nan, [more_topics], n_boot=500, seed=3, tag="z")
    assert a != cluster_bootstrap_ci(with_nan, [more_topics], n_boot=500, seed=4, tag="z")
    assert a[0] <= np.nanmean(with_nan) <= a[1]
    assert cluster_bootstrap_ci([], [[]]) is None
    assert cluster_bootstrap_ci([np.nan, np.nan], [["a", "b"]], n_boot=50) is None
    with pytest.raises(ValueError):
        cluster_bootstrap_ci([1.0, 0.0], [["a"]])
