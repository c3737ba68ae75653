"""The probe's numpy side: a planted direction is found, AUROC is the Mann-Whitney statistic, the
cluster bootstrap resamples whole clusters."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from unmask.probe.linear import (
    auroc,
    cluster_bootstrap_auroc,
    fit_direction,
    grouped_folds,
    out_of_fold_scores,
)
from unmask.probe.run import probe_layers, summarise_model
from unmask.probe.states import Request, States


def _brute_auroc(s, y):
    pos = [a for a, t in zip(s, y, strict=True) if t]
    neg = [a for a, t in zip(s, y, strict=True) if not t]
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in itertools.product(pos, neg)) / (len(pos) * len(neg))


def test_auroc_is_mann_whitney_with_ties():
    rng = np.random.default_rng(1)
    s = rng.integers(0, 5, size=40).astype(float)  # many ties
    y = rng.random(40) < 0.4
    assert auroc(s, y) == pytest.approx(_brute_auroc(s, y))
    assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
    assert auroc([1, 1, 1], [0, 1, 1]) == 0.5
    assert auroc([1, 2], [1, 1]) is None


def test_weighted_auroc_equals_duplicating_items():
    s = np.array([0.1, 0.5, 0.3, 0.9, 0.2, 0.7])
    y = np.array([0, 1, 0, 1, 1, 0], dtype=bool)
    w = np.array([2, 1, 0, 3, 1, 1], dtype=float)
    dup_s = np.repeat(s, w.astype(int))
    dup_y = np.repeat(y, w.astype(int))
    assert auroc(s, y, weights=w) == pytest.approx(_brute_auroc(dup_s, dup_y))


def _planted(n=120, d=32, seed=0, scale=4.0):
    """Hidden states of three layers; only layer 1 carries the class along one planted direction."""
    rng = np.random.default_rng(seed)
    topics = [f"t{i // 6}" for i in range(n)]  # 6 wordings per topic, one class per topic
    y = np.array([int(t[1:]) % 2 == 0 for t in topics])
    direction = rng.normal(size=d)
    direction /= np.linalg.norm(direction)
    hidden = rng.normal(size=(n, 3, d))
    hidden[:, 1, :] += np.outer(np.where(y, scale, -scale) / 2, direction)
    return hidden, y, topics, direction


@pytest.mark.parametrize("method", ["diffmean", "logistic"])
def test_planted_direction_is_found(method):
    hidden, y, topics, direction = _planted()
    w = fit_direction(hidden[:, 1, :], y, method)
    assert abs(float(w @ direction)) > 0.8  # the fit points along the planted direction
    assert float(w @ direction) > 0  # and harmful scores high
    assert auroc(hidden[:, 1, :] @ w, y) > 0.99
    oof = out_of_fold_scores(hidden[:, 0, :], y, topics, method)  # the random layer: nothing to find
    assert 0.3 < auroc(oof, y) < 0.7


def test_planted_direction_transfers_to_the_other_route():
    """Text states carry the direction at layer 1; 'typography' states carry it weaker and shifted (the
    image route's offset): AUROC ~1 at layer 1, ~0.5 at the random layers, interval around it."""
    hidden, y, topics, direction = _planted(seed=0)
    typo = np.random.default_rng(9).normal(size=hidden.shape)  # other requests' noise on the random layers
    typo[:, 1, :] = np.random.default_rng(5).normal(size=typo[:, 1, :].shape) + 3.0 * direction[None, :] \
        + np.outer(np.where(y, 1.5, -1.5), direction)
    reqs = [Request(str(i), "p", bool(t), topics[i]) for i, t in enumerate(y)]
    rows = probe_layers(States(hidden, np.zeros(len(y))), reqs, States(typo, np.zeros(len(y))), reqs, n_boot=200)
    assert [r["layer"] for r in rows] == [0, 1, 2]
    assert rows[1]["text_auroc"]["value"] > 0.99 and rows[1]["typo_auroc"]["value"] > 0.95
    lo, hi = rows[1]["typo_auroc"]["ci"]
    assert lo <= rows[1]["typo_auroc"]["value"] <= hi
    for layer in (0, 2):
        assert 0.3 < rows[layer]["typo_auroc"]["value"] < 0.7
        assert 0.3 < rows[layer]["text_auroc"]["value"] < 0.7
    # an inverted route is read as inverted (AUROC near 0), not silently flipped
    flipped = typo.copy()
    flipped[:, 1, :] = -typo[:, 1, :]
    rows = probe_layers(States(hidden, np.zeros(len(y))), reqs, States(flipped, np.zeros(len(y))), reqs, n_boot=0)
    assert rows[1]["typo_auroc"]["value"] < 0.05 and rows[1]["typo_auroc"]["ci"] is None


def test_summary_carries_the_refusal_logodds_per_route_and_class():
    hidden, y, topics, _ = _planted()
    lo_text = np.where(y, 3.0, -3.0)
    lo_typo = np.where(y, -1.0, -2.0) + np.random.default_rng(2).normal(scale=0.1, size=len(y))
    reqs = [Request(str(i), "p", bool(t), topics[i]) for i, t in enumerate(y)]
    block = summarise_model("m", States(hidden, lo_text), reqs, States(hidden, lo_typo), reqs, n_boot=100)
    assert block["best_text_layer"] == 1
    text, typo = block["logodds"]["text"], block["logodds"]["typo"]
    assert text["harmful_mean"]["value"] == pytest.approx(3.0) and text["harmful_refusal_first"] == 1.0
    assert typo["harmful_refusal_first"] == 0.0  # complies at the first token ...
    assert typo["auroc"]["value"] > 0.99  # ... yet the log-odds still order harmful above benign


def test_cluster_bootstrap_resamples_whole_clusters():
    s = np.array([0.9, 0.8, 0.1, 0.2])
    y = np.array([1, 1, 0, 0], dtype=bool)
    # two clusters, each holding one class: a resample that drops a class is skipped, the rest are 1.0
    assert cluster_bootstrap_auroc(s, y, ["a", "a", "b", "b"], n_boot=200) == [1.0, 1.0]
    rng = np.random.default_rng(0)
    s = rng.normal(size=60) + np.repeat([0, 1], 30)
    y = np.repeat([False, True], 30)
    clusters = [f"c{i // 3}" for i in range(60)]
    a = cluster_bootstrap_auroc(s, y, clusters, n_boot=300, seed=1, tag="x")
    assert a == cluster_bootstrap_auroc(s, y, clusters, n_boot=300, seed=1, tag="x")
    assert a != cluster_bootstrap_auroc(s, y, clusters, n_boot=300, seed=1, tag="y")
    assert a[0] < auroc(s, y) < a[1]
    per_item = cluster_bootstrap_auroc(s, y, list(range(60)), n_boot=300, seed=1, tag="x")
    assert per_item[1] - per_item[0] > 0.05


def test_grouped_folds_keep_clusters_together():
    clusters = ["a", "b", "a", "c", "b", "d", "e", "f"]
    folds = grouped_folds(clusters, k=3)
    for c in set(clusters):
        assert len({f for f, x in zip(folds, clusters, strict=True) if x == c}) == 1
    assert set(folds) == {0, 1, 2}


def test_fit_direction_refuses_one_class():
    with pytest.raises(ValueError, match="both classes"):
        fit_direction(np.zeros((3, 2)), np.array([1, 1, 1], dtype=bool))
    with pytest.raises(ValueError, match="unknown fitter"):
        fit_direction(np.zeros((2, 2)), np.array([1, 0], dtype=bool), "svm")
