"""The stage graph: content-hash keys, caching, only changed branches rerun."""

from __future__ import annotations

import pytest

from unmask.errors import UnmaskError
from unmask.pipeline.graph import FileHasher, Plan, Stage, run_plan, stage

CALLS: list[str] = []


@stage("test-write")
def _write(st, out, deps, ctx):
    CALLS.append(st.label)
    text = st.params["text"] + "".join((d / "out.txt").read_text() for d in deps.values())
    (out / "out.txt").write_text(text)


def _plan(tmp_path, a="x", b="y"):
    src = tmp_path / "src.txt"
    if not src.exists():
        src.write_text("data")
    return Plan([
        Stage("test-write", "a", {"text": a}, files=[str(src)]),
        Stage("test-write", "b1", {"text": b}, deps={"up": "a"}),
        Stage("test-write", "b2", {"text": "z"}, deps={"up": "a"}),
    ])


def _run(tmp_path, plan):
    CALLS.clear()
    plan.compute_keys(FileHasher(tmp_path / ".hashes.json"))
    return run_plan(plan, tmp_path / "run", None, log=lambda m: None)


def test_rerun_does_only_what_changed(tmp_path):
    assert _run(tmp_path, _plan(tmp_path)) == {"a": "ran", "b1": "ran", "b2": "ran"}
    assert _run(tmp_path, _plan(tmp_path)) == {"a": "cached", "b1": "cached", "b2": "cached"}
    assert CALLS == []
    # change one branch's setting: only that branch reruns
    assert _run(tmp_path, _plan(tmp_path, b="w")) == {"a": "cached", "b1": "ran", "b2": "cached"}
    assert CALLS == ["b1"]
    # change a raw input file: everything downstream reruns
    (tmp_path / "src.txt").write_text("other data")
    assert set(_run(tmp_path, _plan(tmp_path, b="w")).values()) == {"ran"}


def test_equal_settings_share_a_stage(tmp_path):
    p1, p2 = _plan(tmp_path), _plan(tmp_path)
    p1.compute_keys(FileHasher(None))
    p2.compute_keys(FileHasher(None))
    assert [s.key for s in p1.stages] == [s.key for s in p2.stages]
    assert p1.stages[1].key != p1.stages[2].key


def test_interrupted_stage_is_not_marked_done(tmp_path):
    @stage("test-fail")
    def _fail(st, out, deps, ctx):
        (out / "partial").write_text("half")
        raise RuntimeError("killed")

    plan = Plan([Stage("test-fail", "f", {"n": 1})])
    plan.compute_keys(FileHasher(None))
    with pytest.raises(RuntimeError):
        run_plan(plan, tmp_path / "run", None, log=lambda m: None)
    assert run_plan(plan, tmp_path / "run", None, dry_run=True, log=lambda m: None) == {"f": "todo"}


def test_missing_input_file_is_a_clear_error(tmp_path):
    plan = Plan([Stage("test-write", "a", {"text": "x"}, files=[str(tmp_path / "nope.json")])])
    with pytest.raises(UnmaskError, match="nope.json: no such file"):
        plan.compute_keys(FileHasher(None))


def test_parallel_jobs_respect_dependencies(tmp_path):
    plan = _plan(tmp_path)
    plan.compute_keys(FileHasher(None))
    status = run_plan(plan, tmp_path / "run", None, jobs=2, log=lambda m: None)
    assert status == {"a": "ran", "b1": "ran", "b2": "ran"}
    dirs = {s.label: tmp_path / "run" / s.dirname() for s in plan.stages}
    assert (dirs["b1"] / "out.txt").read_text() == "yx" and (dirs["b2"] / "out.txt").read_text() == "zx"
    assert run_plan(plan, tmp_path / "run", None, jobs=2, log=lambda m: None) == {"a": "cached", "b1": "cached",
                                                                                   "b2": "cached"}
