"""Crash safety: ``kill -9`` mix, judge, generate, train and run at a seeded random moment (once or twice),
start again, and the final outputs equal an uninterrupted run's: same records, verdicts, weights,
metrics; nothing lost, nothing doubled. CI runs one trial per stage; ``-m slow`` (and
``benchmarks/reliability_trials.py``) runs 20 per stage."""

from __future__ import annotations

import pytest
from crashlib import Trial
from crashstages import STAGES

SLOW_TRIALS = 20
_trials: dict[str, Trial] = {}


def _trial(stage: str, root, runner) -> Trial:
    if stage not in _trials:
        _trials[stage] = Trial(stage, root, runner)
    return _trials[stage]


def _explain(res) -> str:
    return f"{res.stage} seed {res.seed}: kills {res.kills}, rc {res.rc}, {res.diffs}\n{res.log[-2500:]}"


@pytest.mark.parametrize("stage", list(STAGES))
def test_kill9_then_rerun_equals_uninterrupted(stage, crash_runner, crash_root):
    res = _trial(stage, crash_root, crash_runner).run(seed=0)
    assert res.equal, _explain(res)


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_kill9_trials(stage, crash_runner, crash_root):
    trial = _trial(stage, crash_root, crash_runner)
    results = [trial.run(seed) for seed in range(1, SLOW_TRIALS + 1)]
    failed = [_explain(r) for r in results if not r.equal]
    assert not failed, "\n\n".join(failed)
    assert sum(r.killed_mid_run for r in results) >= SLOW_TRIALS // 2, "most kills landed after the run ended"
