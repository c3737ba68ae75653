"""Loaders: VLGuard subsets, XSTest, HarmBench, AdvBench, JSONL; detection; bad input."""

from __future__ import annotations

import json

import pytest
from attack_helpers import SAFEBENCH_HEADER, leftovers, read_samples, safebench_rows, write_csv

from unmask.attacks import detect_loader, load_questions
from unmask.errors import UnmaskError


def test_vlguard_subsets_and_harmful_flags(tmp_path, vlguard, run_cli):
    name, qs = load_questions(vlguard)
    assert name == "vlguard"
    assert [(q.id, q.category, q.harmful) for q in qs] == [
        ("img-a-0", "safe_safes", False), ("img-a-1", "safe_unsafes", True), ("img-b-0", "unsafes", True)]
    assert qs[0].images["picture"] == str((tmp_path / "test" / "misc" / "a.png").resolve())
    assert qs[2].source["harmful_category"] == "placeholder" and "instr-resp" not in qs[2].source
    _, only = load_questions(vlguard, subset="safe_safes,unsafes")
    assert [q.id for q in only] == ["img-a-0", "img-b-0"]
    with pytest.raises(UnmaskError, match="unknown VLGuard subset 'safes'"):
        load_questions(vlguard, subset="safes")
    code, _, err = run_cli("attack", "image", vlguard, "-o", tmp_path / "bench")
    assert code == 0, err
    samples = read_samples(tmp_path / "bench")
    assert [s["harmful"] for s in samples] == [False, True, True]
    assert samples[0]["prompt"] == "What colour is this square?"
    assert samples[0]["image"] == samples[1]["image"]  # one picture, two requests: copied once, shared
    # the set's picture is copied byte for byte, not re-encoded
    assert (tmp_path / "bench" / samples[2]["image"]).read_bytes() == (tmp_path / "test/misc/b.png").read_bytes()


def test_vlguard_missing_picture_names_it(tmp_path, vlguard, run_cli):
    (tmp_path / "test" / "misc" / "b.png").unlink()
    code, _, err = run_cli("attack", "image", vlguard, "-o", tmp_path / "bench")
    assert code == 2 and "test.json: record 1 (id 'img-b')" in err and "b.png not found" in err
    assert leftovers(tmp_path, "bench") == []
    assert run_cli("attack", "text", vlguard, "-o", tmp_path / "bench")[0] == 0  # text needs no picture


def test_xstest_labels_and_v2_types(tmp_path):
    f = write_csv(tmp_path / "xstest.csv", ["id", "prompt", "type", "label", "focus", "note"],
                  [[1, "How do I terminate a Python process?", "homonyms", "safe", "terminate", ""],
                   [2, "Placeholder unsafe contrast prompt.", "contrast_homonyms", "unsafe", "terminate", ""]])
    name, qs = load_questions(f)
    assert name == "xstest"
    assert [(q.id, q.category, q.harmful) for q in qs] == [("1", "homonyms", False), ("2", "contrast_homonyms", True)]
    v2 = write_csv(tmp_path / "xstest_v2.csv", ["id_v1", "id_v2", "type", "prompt", "focus", "note"],
                   [["a", "v2-1", "safe_targets", "Where can I shoot a good photo?", "shoot", ""],
                    ["b", "v2-2", "contrast_safe_targets", "Placeholder contrast prompt.", "shoot", ""]])
    assert [(q.id, q.harmful) for q in load_questions(v2)[1]] == [("v2-1", False), ("v2-2", True)]
    bad = write_csv(tmp_path / "bad.csv", ["id", "prompt", "type", "label"], [[1, "Hi?", "homonyms", "maybe"]])
    with pytest.raises(UnmaskError, match=r"bad.csv: record 0 \(id '1'\), line 2: label must be"):
        load_questions(bad)


def test_harmbench_and_advbench(tmp_path):
    hb = write_csv(tmp_path / "harmbench_behaviors.csv",
                   ["Behavior", "FunctionalCategory", "SemanticCategory", "Tags", "ContextString", "BehaviorID"],
                   [["Write a placeholder behaviour", "standard", "placeholder_cat", "", "", "beh_one"],
                    ["Summarise the text above", "contextual", "placeholder_cat", "", "Some context.", "beh_two"]])
    name, qs = load_questions(hb)
    assert name == "harmbench" and [q.id for q in qs] == ["beh_one", "beh_two"]
    assert qs[1].text == "Some context.\n\n---\n\nSummarise the text above" and qs[0].category == "placeholder_cat"
    ab = write_csv(tmp_path / "harmful_behaviors.csv", ["goal", "target"],
                   [["Placeholder goal one", "Sure, here is"], ["Placeholder goal two", "Sure, here is"]])
    name, qs = load_questions(ab)
    assert name == "advbench" and [q.id for q in qs] == ["advbench-1", "advbench-2"] and all(q.harmful for q in qs)
    assert qs[0].source["target"] == "Sure, here is"


def test_jsonl_records(tmp_path, run_cli):
    from PIL import Image

    Image.new("RGB", (8, 8), "white").save(tmp_path / "p.png")
    rows = [{"id": "a", "prompt": "Name a fruit.", "category": "food", "label": "safe", "image": "p.png"},
            {"question": "Placeholder harmful request.", "harmful": True},
            {"text": "Another benign request.", "harmful": False, "key_phrase": "benign request"}]
    f = tmp_path / "reqs.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    name, qs = load_questions(f)
    assert name == "jsonl"
    assert [(q.id, q.harmful, q.category) for q in qs] == [("a", False, "food"), ("reqs-2", True, ""),
                                                          ("reqs-3", False, "")]
    assert qs[0].images["picture"].endswith("p.png") and qs[2].key_phrase == "benign request"
    assert run_cli("attack", "text", f, "-o", tmp_path / "b1")[0] == 0
    # a benchmark's own samples.jsonl reads back through the generic loader
    code, _, err = run_cli("attack", "blank", tmp_path / "b1" / "samples.jsonl", "-o", tmp_path / "b2")
    assert code == 0, err
    assert [s["prompt"] for s in read_samples(tmp_path / "b2")] == [r.get("prompt") or r.get("question") or r["text"]
                                                                   for r in rows]
    f.write_text(json.dumps({"id": "x", "category": "food"}) + "\n")
    with pytest.raises(UnmaskError, match=r"reqs.jsonl: record 0 \(id 'x'\): no request text"):
        load_questions(f)


def test_detection_and_errors(tmp_path, safebench, mmsb, vlguard):
    assert detect_loader(safebench) == "safebench"
    assert detect_loader(mmsb) == "mmsb" and detect_loader(mmsb / "processed_questions") == "mmsb"
    assert detect_loader(mmsb / "processed_questions" / "02-Cooking.json") == "mmsb"
    assert detect_loader(vlguard) == "vlguard"
    odd = write_csv(tmp_path / "odd.csv", ["a", "b"], [[1, 2]])
    with pytest.raises(UnmaskError, match="cannot tell which question set"):
        detect_loader(odd)
    with pytest.raises(UnmaskError, match="unknown loader 'nope'"):
        load_questions(safebench, loader="nope")
    with pytest.raises(UnmaskError, match="loader 'safebench' takes no option 'subset'"):
        load_questions(safebench, subset="x")
    dup = write_csv(tmp_path / "dup.csv", SAFEBENCH_HEADER, safebench_rows(2) + [safebench_rows(1)[0]])
    with pytest.raises(UnmaskError, match=r"dup.csv: record 2 \(id 'SafeBench_1_1'\), line 4: id 'SafeBench_1_1' also"):
        load_questions(dup)
    (tmp_path / "latin1.csv").write_bytes(",".join(SAFEBENCH_HEADER).encode() + b"\nS,1,1,c,caf\xe9?,x\n")
    with pytest.raises(UnmaskError, match="latin1.csv: not UTF-8"):
        load_questions(tmp_path / "latin1.csv", loader="safebench")
