"""Utility metrics: VQA (VizWiz-style) accuracy and multiple-choice option extraction."""

from __future__ import annotations

import orjson
import pytest

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.metrics import extract_choice, mc_accuracy, normalize_answer, utility_metrics, vqa_accuracy


def test_vqa_normalisation():
    assert normalize_answer("The Dog.") == "dog"
    assert normalize_answer("Two") == "2"
    assert normalize_answer("dont know") == "don't know"
    assert normalize_answer("yes!") == "yes"
    assert normalize_answer("1,000") == "1000"


def test_vqa_accuracy_min_matches_over_3():
    answers = ["dog", "dog", "a dog", "cat", "puppy"] + ["unanswerable"] * 5
    assert vqa_accuracy("Dog", answers) == 1.0  # 3 matches after normalisation
    assert vqa_accuracy("cat", answers) == pytest.approx(1 / 3)
    assert vqa_accuracy("horse", answers) == 0.0
    assert vqa_accuracy("unanswerable", answers) == 1.0


@pytest.mark.parametrize("text,options,want", [
    ("The answer is B.", None, "B"),
    ("B", None, "B"),
    ("(C) because it is a mammal", None, "C"),
    ("A. Paris", ["Paris", "Rome"], "A"),
    ("I think it is option b", ["x", "y"], "B"),
    ("It is rome, clearly.", ["Paris", "Rome"], "B"),
    ("A cat sits on a mat.", ["dog", "horse"], None),   # 'A' as an article is not an option
    ("paris or rome", ["Paris", "Rome"], None),          # two option texts: ambiguous
    ("The answer is E", ["a", "b"], None),              # out of range
])
def test_extract_choice(text, options, want):
    assert extract_choice(text, options) == want


def test_mc_accuracy_letters_and_indices():
    assert mc_accuracy("The answer is B.", "B") == 1.0
    assert mc_accuracy("The answer is B.", 1) == 1.0
    assert mc_accuracy("The answer is B.", "a") == 0.0


def test_utility_metrics_and_cli(tmp_path):
    rows = [{"id": "1", "response": "The answer is A.", "answer": "A", "options": ["x", "y"]},
            {"id": "2", "response": "no idea", "answer": 1, "options": ["x", "y"]}]
    m = utility_metrics(rows, "mc", bootstrap=50)
    assert m["accuracy"] == 0.5 and m["n_unparsed"] == 1 and m["n"] == 2
    with pytest.raises(UnmaskError, match="record 1 .*'answers'"):
        utility_metrics([{"id": "1", "response": "x"}], "vqa")
    gen = tmp_path / "g.jsonl"
    gen.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in [
        {"id": "1", "response": "dog", "answers": ["dog"] * 3}, {"id": "2", "response": "cat", "answers": ["dog"]}]))
    out = tmp_path / "u.json"
    main(["metrics", str(gen), "--utility", "vqa", "-o", str(out), "--label", "bench=vizwiz"])
    doc = orjson.loads(out.read_bytes())
    assert doc["utility"]["accuracy"] == 0.5 and doc["labels"] == {"bench": "vizwiz"}
