"""The experiment's ``defences:`` axis: each model x defence is one generate stage (and its judge and metrics),
keyed by the defence's settings; the undefended stages keep their keys."""

from __future__ import annotations

import pytest

from unmask.errors import UnmaskError
from unmask.pipeline.config import load_experiment
from unmask.pipeline.graph import FileHasher
from unmask.pipeline.stages import build_plan

BASE = """
name: t
data: {sources: [a.json]}
benches: [{label: b, kind: text, input: q.csv}]
branches: [{label: mix, mix: {fraction: 0.1}}]
"""


def _plan(tmp_path, text):
    p = tmp_path / "exp.yaml"
    p.write_text(text)
    planned = build_plan(load_experiment(p))
    planned.plan.compute_keys(FileHasher(None, allow_missing=True))
    return planned


def _gens(planned):
    return {s.label: s for s in planned.plan.stages if s.kind == "generate"}


def test_axis_crosses_models_and_defences(tmp_path):
    planned = _plan(tmp_path, BASE + "defences: [prompt, caption+prompt]\n")
    gens = _gens(planned)
    assert sorted(gens) == sorted([
        "generate/base/b", "generate/base+prompt/b", "generate/base+prompt+caption/b",
        "generate/mix/b", "generate/mix+prompt/b", "generate/mix+prompt+caption/b"])
    assert gens["generate/mix+prompt/b"].deps["adapter"] == "train/mix"
    assert "adapter" not in gens["generate/base+prompt/b"].deps
    assert gens["generate/base+prompt+caption/b"].params["generate"]["defences"] == ["prompt", "caption"]
    assert "defences" not in gens["generate/base/b"].params["generate"]
    assert len({s.key for s in gens.values()}) == 6
    metrics = {s.label: s for s in planned.plan.stages if s.kind == "metrics"}
    labels = metrics["metrics/base+prompt/b/keyword"].params["labels"]
    assert labels["model"] == "base+prompt" and labels["defence"] == "prompt" and labels["method"] == "base"
    assert "defence" not in metrics["metrics/base/b/keyword"].params["labels"]
    assert planned.metrics.count("metrics/mix+prompt+caption/b/keyword") == 1


def test_undefended_keys_do_not_change_and_defence_settings_do(tmp_path):
    plain = _gens(_plan(tmp_path, BASE))
    with_axis = _gens(_plan(tmp_path, BASE + "defences: [prompt]\n"))
    assert plain["generate/base/b"].key == with_axis["generate/base/b"].key
    other_text = _gens(_plan(tmp_path, BASE + "defences: [prompt]\ngenerate: {defence_text: Look twice.}\n"))
    assert other_text["generate/base+prompt/b"].key != with_axis["generate/base+prompt/b"].key
    assert other_text["generate/base/b"].key == plain["generate/base/b"].key


def test_bad_defences_fail_at_plan_time(tmp_path, run_cli):
    with pytest.raises(UnmaskError, match="unknown defence 'shield'"):
        _plan(tmp_path, BASE + "defences: [shield]\n")
    with pytest.raises(UnmaskError, match="each defence once"):
        _plan(tmp_path, BASE + "defences: [prompt, prompt]\n")
    with pytest.raises(UnmaskError, match="two models at once"):
        _plan(tmp_path, BASE + "defences: [prompt]\nbranches: [{label: base+prompt, mix: {fraction: 0.1}}]\n")
    with pytest.raises(UnmaskError, match="generate.defences: list defences at the top level"):
        _plan(tmp_path, BASE + "generate: {defences: [prompt]}\n")
    p = tmp_path / "dry.yaml"
    p.write_text(BASE + "defences: [caption]\n")
    code, _, err = run_cli("run", p, "--dry-run", "-o", tmp_path / "run")
    assert code == 0, err
    assert "generate/base+caption/b" in err and "metrics/mix+caption/b/keyword" in err


def test_metrics_stage_of_a_defended_row_stores_its_cost(tmp_path):
    import json

    import orjson

    from unmask.pipeline.graph import Stage
    from unmask.pipeline.stages import _metrics

    run = tmp_path / "run" / ".stages"
    gen, ver, bench = run / "g", run / "v", run / "a" / "bench"
    for d in (gen, ver, bench):
        d.mkdir(parents=True)
    (bench / "samples.jsonl").write_text(json.dumps({"id": "a", "prompt": "p", "harmful": True}) + "\n")
    (ver / "verdicts.jsonl").write_text(json.dumps({"id": "a", "verdict": "refused", "judge": "keyword",
                                                    "harmful": True}) + "\n")
    (gen / "generations.jsonl").write_text(json.dumps({
        "id": "a", "response": "no", "defence": "caption", "defence_unsafe": True,
        "defence_cost": {"calls": 3, "tokens": 12, "prompt_tokens": 0, "seconds": 0.25}}) + "\n")
    deps = {"verdicts": ver, "generations": gen, "bench": run / "a"}
    for defence in (None, "caption"):
        labels = {"model": "base" if defence is None else "base+caption", "bench": "b",
                  **({"defence": defence} if defence else {})}
        out = run / f"m-{defence}"
        out.mkdir()
        _metrics(Stage("metrics", "metrics/x", {"labels": labels, "bootstrap": 0, "seed": 0}), out, deps, None)
        doc = orjson.loads((out / "metrics.json").read_bytes())
        if defence is None:
            assert "defence_cost" not in doc
        else:
            assert doc["defence_cost"]["calls"] == 3 and doc["defence_cost"]["unsafe"] == 1
