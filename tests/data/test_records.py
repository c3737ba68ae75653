"""The record models declare every field unmask writes, and still read files written before a field existed."""

import orjson
import pytest
from pydantic import ValidationError

from unmask.data.records import MEASURES, Generation, Verdict


def test_generation_declares_model_fingerprint_in_the_written_order():
    g = Generation(id="a", response="no", model="m", model_fingerprint="ab12", finish_reason="stop")
    assert "model_fingerprint" in Generation.model_fields
    # Declared after `harmful`: the field order (and so the bytes written) is the one before it was declared.
    assert list(g.model_dump())[-2:] == ["model_fingerprint", "finish_reason"]
    assert g.model_dump()["model_fingerprint"] == "ab12"


def test_generation_reads_old_rows_without_a_fingerprint():
    old = orjson.loads(b'{"id": "a", "response": "no", "model": "m"}')
    assert Generation.model_validate(old).model_fingerprint == ""
    with pytest.raises(ValidationError):
        Generation.model_validate({**old, "model_fingerprint": 3})


def test_verdict_declares_measures():
    v = Verdict(id="a", verdict="refused", judge="keyword", measures="refusal", label="x")
    assert list(v.model_dump()) == ["id", "verdict", "judge", "judge_version", "reason", "score", "measures", "label"]
    assert set(MEASURES) == {"refusal", "harm"}
    with pytest.raises(ValidationError):
        Verdict(id="a", verdict="refused", judge="keyword", measures="vibes")


def test_verdict_reads_old_rows_without_measures():
    assert Verdict.model_validate({"id": "a", "verdict": "complied", "judge": "llm"}).measures is None
