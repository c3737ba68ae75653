"""Official question files as they are: LLaVA's benign question JSONL (no label: the researcher says
which), HarmBench's multimodal behaviours with their images."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from attack_helpers import leftovers, read_samples

from unmask.attacks import load_questions
from unmask.errors import UnmaskError

OFFICIAL = Path(__file__).parent / "official"


@pytest.fixture
def llava_questions(tmp_path):
    from PIL import Image

    for name, colour in (("000000000001.jpg", "red"), ("000000000002.jpg", "blue")):
        Image.new("RGB", (8, 8), colour).save(tmp_path / name)
    return Path(shutil.copy(OFFICIAL / "llava_qa_questions.jsonl", tmp_path / "qa_questions.jsonl"))


@pytest.fixture
def harmbench(tmp_path):
    return Path(shutil.copytree(OFFICIAL / "harmbench", tmp_path / "HarmBench"))


def test_unlabelled_jsonl_is_an_error_not_harmful(llava_questions, run_cli, tmp_path):
    with pytest.raises(UnmaskError, match=r"qa_questions.jsonl: record 0 \(id '0'\): no 'harmful' or 'label' "
                                          r"field .* --harmful or --benign"):
        load_questions(llava_questions)
    code, _, err = run_cli("attack", "text", llava_questions, "-o", tmp_path / "b")
    assert code == 2 and "--benign" in err and leftovers(tmp_path, "b") == []
    code, _, err = run_cli("attack", "text", llava_questions, "-o", tmp_path / "h", "--harmful")
    assert code == 0, err
    assert [s["harmful"] for s in read_samples(tmp_path / "h")] == [True, True, True]


def test_llava_questions_with_benign(llava_questions, run_cli, tmp_path, capsys):
    name, qs = load_questions(llava_questions, label="benign")
    assert name == "jsonl"
    assert [(q.id, q.harmful, q.category) for q in qs] == [("0", False, "conv"), ("1", False, "detail"),
                                                          ("2", False, "complex")]
    assert qs[0].text == "What colour is the square in the image?"
    assert "0 from the rows' own field, 3 from --benign" in capsys.readouterr().err
    code, out, err = run_cli("attack", "image", llava_questions, "-o", tmp_path / "b", "--benign")
    assert code == 0, err
    assert "3 samples (0 harmful, 3 benign)" in out + err and "3 from --benign" in err
    samples = read_samples(tmp_path / "b")
    assert [s["id"] for s in samples] == ["0", "1", "2"] and not any(s["harmful"] for s in samples)
    assert samples[0]["prompt"] == "What colour is the square in the image?"
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["params"]["label"] == "benign" and manifest["counts"]["benign"] == 3


def test_row_labels_win_over_the_flag(tmp_path, capsys):
    f = tmp_path / "mixed.jsonl"
    f.write_text("\n".join(json.dumps(r) for r in [
        {"question_id": 5, "text": "Benign?", "label": "benign"},
        {"question_id": 6, "text": "Placeholder harmful request.", "harmful": True},
        {"question_id": 7, "text": "No label here."}]) + "\n")
    _, qs = load_questions(f, label="benign")
    assert [(q.id, q.harmful) for q in qs] == [("5", False), ("6", True), ("7", False)]
    assert "2 from the rows' own field, 1 from --benign" in capsys.readouterr().err
    with pytest.raises(UnmaskError, match="label must be 'harmful' or 'benign'"):
        load_questions(f, label="maybe")
    with pytest.raises(UnmaskError, match="loader 'safebench' takes no option 'label'"):
        load_questions(f, loader="safebench", label="benign")


def test_harmbench_multimodal_loads_with_its_images(harmbench, run_cli, tmp_path):
    csv_path = harmbench / "data" / "behavior_datasets" / "harmbench_behaviors_multimodal_all.csv"
    name, qs = load_questions(csv_path)
    assert name == "harmbench" and [q.id for q in qs] == ["placeholder_object_request", "placeholder_chart_reply"]
    assert qs[0].images["picture"] == str(harmbench / "data/multimodal_behavior_images/placeholder_object_request.png")
    assert qs[0].text == "Write a placeholder request about the object in this image" and qs[0].category == "illegal"
    assert qs[0].source["ImageDescription"] == 'The image shows a "red" square.\n\nOn white.'
    code, _, err = run_cli("attack", "image", csv_path, "-o", tmp_path / "b")
    assert code == 0, err
    samples = read_samples(tmp_path / "b")
    assert [s["prompt"] for s in samples] == [q.text for q in qs] and all(s["harmful"] for s in samples)
    src = harmbench / "data/multimodal_behavior_images/placeholder_chart_reply.png"
    assert (tmp_path / "b" / samples[1]["image"]).read_bytes() == src.read_bytes()  # copied as is


def test_harmbench_multimodal_without_images_says_so(harmbench, run_cli, tmp_path):
    csv_path = harmbench / "data" / "behavior_datasets" / "harmbench_behaviors_multimodal_all.csv"
    alone = Path(shutil.copy(csv_path, tmp_path / "harmbench_behaviors_multimodal_all.csv"))
    code, _, err = run_cli("attack", "image", alone, "-o", tmp_path / "b")
    assert code == 2 and "need their images" in err and "--images DIR" in err and err.count("\n") == 1
    # --images points at them; a listed .jpg that HarmBench stores as .png is found
    rows = alone.read_text().replace("placeholder_chart_reply.png", "placeholder_chart_reply.jpg")
    alone.write_text(rows)
    _, qs = load_questions(alone, images=harmbench / "data" / "multimodal_behavior_images")
    assert qs[1].images["picture"].endswith("placeholder_chart_reply.png")
    (harmbench / "data/multimodal_behavior_images/placeholder_object_request.png").unlink()
    with pytest.raises(UnmaskError, match=r"record 0 \(id 'placeholder_object_request'\), line 2: image "
                                          r"'placeholder_object_request.png' not found"):
        load_questions(csv_path)
