"""A bench's ``check_ocr`` in the experiment YAML: the attack stage reads its images back (as ``unmask attack
--check-ocr`` does); the engine is part of the stage's key and is checked at plan time."""

from __future__ import annotations

import shutil

import pytest

from unmask.errors import UnmaskError
from unmask.pipeline.config import load_experiment
from unmask.pipeline.graph import FileHasher, Stage
from unmask.pipeline.stages import _attack, build_plan

BASE = """
name: t
data: {sources: [a.json]}
benches: [{label: b, kind: figstep, input: q.csv%s}]
branches: [{label: mix, mix: {fraction: 0.1}}]
"""


def _attack_stage(tmp_path, extra=""):
    p = tmp_path / "exp.yaml"
    p.write_text(BASE % extra)
    planned = build_plan(load_experiment(p))
    planned.plan.compute_keys(FileHasher(None, allow_missing=True))
    return next(s for s in planned.plan.stages if s.kind == "attack")


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract is not installed")
def test_check_ocr_is_in_the_key_and_reads_the_images_back(tmp_path):
    plain, checked = _attack_stage(tmp_path), _attack_stage(tmp_path, ", check_ocr: tesseract")
    assert checked.params["check_ocr"] == "tesseract" and "check_ocr" not in plain.params
    assert checked.key != plain.key
    csv = tmp_path / "safebench.csv"
    csv.write_text("dataset,category_id,task_id,category_name,question,instruction\n"
                   "SafeBench,1,1,Hobby,How do I bake bread?,Steps to bake bread.\n"
                   "SafeBench,1,2,Hobby,How do I plant tulips?,Steps to plant tulips.\n")
    st = Stage("attack", "attack/b", {"kind": "figstep", "loader": None, "options": {"workers": 1},
                                      "check_ocr": "tesseract", "input": str(csv)})
    out = tmp_path / "stage"
    out.mkdir()
    _attack(st, out, {}, None)
    import orjson

    doc = orjson.loads((out / "bench" / "ocr.json").read_bytes())
    assert doc["n_images"] == 2 and doc["n_read_back"] == 2


def test_an_unknown_engine_fails_at_plan_time(tmp_path):
    with pytest.raises(UnmaskError, match=r"benches\.b\.check_ocr: unknown OCR engine 'easyocr'"):
        _attack_stage(tmp_path, ", check_ocr: easyocr")
