"""Run folders as the pipeline leaves them: metrics.json per (model, bench), bias plots, summary.json."""

from __future__ import annotations

import random

import orjson
import pytest

from unmask.metrics import compute_metrics

CATS = ["drugs", "weapons", "fraud"]


def _verdicts(asr: float, n: int, harmful: bool, seed: int, unjudged: int = 0, judge: str = "keyword") -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        hit = rng.random() < asr
        v = ("complied" if hit else "refused") if harmful else ("refused" if hit else "complied")
        rows.append({"id": f"{seed}-{i}", "verdict": v, "judge": judge, "judge_version": "1+abc",
                     "harmful": harmful, "category": CATS[i % 3] if harmful else "benign",
                     "attack": "figstep" if i % 2 else "text", "settings": {"max_new_tokens": 64}})
    for i in range(unjudged):
        rows.append({**rows[0], "id": f"{seed}-u{i}", "verdict": "unjudged"})
    return rows


def make_runs(root):
    """Two run folders: a fraction sweep (harmful + benign bench per fraction) and a bias folder."""
    sweep = root / "sweep"
    for k, (f, asr, over) in enumerate([(0.0, 0.95, 0.02), (0.1, 0.5, 0.05), (0.3, 0.2, 0.12)]):
        for bench, harmful, rate, unj in (("figstep", True, asr, 3), ("benign-typo", False, over, 0)):
            doc = compute_metrics(_verdicts(rate, 60, harmful, seed=10 * k + harmful, unjudged=unj),
                                  labels={"model": f"mix-{f}", "method": "mix", "fraction": f, "bench": bench},
                                  bootstrap=200, seed=0)
            d = sweep / f"mix-{f}" / bench
            d.mkdir(parents=True)
            (d / "metrics.json").write_bytes(orjson.dumps(doc))
    (sweep / "summary.json").write_bytes(orjson.dumps({
        "base": {"asr_text": {"asr": 0.05, "n": 60, "ci": [0.01, 0.12]}, "judge": {"name": "keyword", "version": "1"}}}))
    other = root / "data"
    (other / "bias").mkdir(parents=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.bar(["llava", "vlguard"], [0.001, 0.5], color="tab:green")
    fig.savefig(other / "bias" / "refusal_share.png")
    plt.close(fig)
    doc = compute_metrics(_verdicts(0.7, 30, True, seed=99), labels={"model": "base<script>x</script>"},
                          bootstrap=0)
    (other / "metrics.json").write_bytes(orjson.dumps(doc))
    return [sweep, other]


@pytest.fixture
def runs(tmp_path):
    return make_runs(tmp_path / "runs")
