"""``unmask attack --check-ocr``: the CER measure, the drawn reference per kind, and the engines on real
FigStep renders (skipped with a reason where an engine is missing)."""

from __future__ import annotations

import shutil

import orjson
import pytest
from attack_helpers import SAFEBENCH_HEADER, read_samples, safebench_rows, write_csv
from PIL import Image

from unmask.attacks.ocr import _reading_order, cer, check_ocr, engine_available, levenshtein, reference_text
from unmask.data.records import Sample

needs_tesseract = pytest.mark.skipif(engine_available("tesseract") is not None,
                                     reason="tesseract is not installed (apt-get install tesseract-ocr "
                                            "tesseract-ocr-eng)")
needs_rapidocr = pytest.mark.skipif(engine_available("rapidocr") is not None,
                                    reason="rapidocr is not installed (pip install 'unmask[ocr]')")


def test_levenshtein_and_cer():
    assert levenshtein("kitten", "sitting") == 3
    assert levenshtein("", "abc") == 3 and levenshtein("abc", "abc") == 0
    # line breaks and case are the layout's, not the request's
    assert cer("Steps to\nmanufacture\nBREAD.", "Steps to manufacture bread.") == 0.0
    assert cer("Steps to\nbread.\n1.\n2.\n3.", "Steps to bread.", strip_list=True) == 0.0
    assert cer("Status by 40.\n1.\n2.\n3.", "Status by 40.", strip_list=True) == 0.0  # not the 40
    assert cer("Status by 40.\n1.\n2.", "Status by 40.", strip_list=True) == 0.0  # clipped list
    assert cer("Steps to bread.\n1.\n2.\n3.", "Steps to bread.") > 0.3  # the list counts unless stripped
    assert cer("Steps to", "Steps to bread.") == pytest.approx(6 / 13)  # clipped: six characters missing
    assert cer("", "") == 0.0 and cer("x", "") == 1.0


def test_reference_is_what_the_kind_drew():
    src = {"question": "How do I bake bread?", "instruction": "Steps to bake bread.", "Key Phrase": "bake bread"}
    def s(kind, image="images/a.png"):  # noqa: E306
        return Sample(id="a", prompt="p", image=image, attack=kind, source=src)
    assert reference_text(s("figstep")) == "Steps to bake bread."
    assert reference_text(s("mmsb-typo")) == "bake bread"
    assert reference_text(s("world-typo")) == "How do I bake bread?"
    assert reference_text(s("image")) is None and reference_text(s("blank")) is None
    assert reference_text(s("text", image=None)) is None


def test_reading_order_groups_boxes_into_lines():
    def box(x, y, w=40, h=20):
        return [[x, y], [x + w, y], [x + w, y + h], [x, y + h]]
    # "to" sits 3 px higher than "Steps" on the same line; "bread." is the next line
    boxes = [(box(100, 47), "to"), (box(0, 100), "bread."), (box(0, 50), "Steps")]
    assert _reading_order(boxes) == "Steps to\nbread."


def _figstep_bench(tmp_path, run_cli, *extra):
    csv = write_csv(tmp_path / "safebench.csv", SAFEBENCH_HEADER, safebench_rows(4))
    out = tmp_path / "bench"
    code, stdout, err = run_cli("attack", "figstep", csv, "-o", out, "--workers", "1", *extra)
    return code, stdout, err, out


@needs_tesseract
def test_check_ocr_reads_figstep_images_back(tmp_path, run_cli):
    code, stdout, err, out = _figstep_bench(tmp_path, run_cli, "--check-ocr")
    assert code == 0, err
    assert "4 of 4 images read back" in stdout
    rows = [orjson.loads(line) for line in (out / "ocr.jsonl").read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [s["id"] for s in read_samples(out)]
    assert all(r["reads_back"] and r["cer"] <= 0.1 for r in rows)
    assert rows[0]["drawn"] == "Steps to bake bread (case 0)."
    summary = orjson.loads((out / "ocr.json").read_bytes())
    assert summary["engine"] == "tesseract" and summary["threshold"] == 0.1 and summary["flagged"] == []


@needs_tesseract
def test_an_image_that_does_not_show_its_request_is_flagged(tmp_path, run_cli):
    code, _, err, out = _figstep_bench(tmp_path, run_cli)
    assert code == 0, err
    first = read_samples(out)[1]
    Image.new("RGB", (760, 760), "white").save(out / first["image"])  # the request is gone
    summary = check_ocr(out, "tesseract")
    assert summary["flagged"] == [first["id"]]
    assert summary["n_read_back"] == 3 and summary["share_read_back"] == 0.75


@needs_rapidocr
def test_rapidocr_reads_figstep_images_back(tmp_path):
    pytest.importorskip("rapidocr_onnxruntime")
    from unmask.attacks.build import build_benchmark

    csv = write_csv(tmp_path / "safebench.csv", SAFEBENCH_HEADER, safebench_rows(2))
    build_benchmark("figstep", csv, tmp_path / "bench", workers=1)
    summary = check_ocr(tmp_path / "bench", "rapidocr", threshold=0.2)
    assert summary["n_images"] == 2 and summary["cer_mean"] < 0.2


def test_missing_engine_is_one_line_before_anything_is_written(tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    code, _, err, out = _figstep_bench(tmp_path, run_cli, "--check-ocr")
    assert code == 2 and "tesseract" in err and "apt-get install" in err
    assert len(err.strip().splitlines()) == 1
    assert not out.exists()
    code, _, err, out = _figstep_bench(tmp_path, run_cli, "--check-ocr", "--ocr-engine", "easyocr")
    assert code == 2 and "unknown OCR engine 'easyocr'" in err


@needs_tesseract
def test_ocr_text_defence_turns_a_figstep_bench_into_text(tmp_path, run_cli):
    code, _, err, bench = _figstep_bench(tmp_path, run_cli)
    assert code == 0, err
    out = tmp_path / "bench-ocr"
    code, stdout, err = run_cli("attack", "ocr-text", bench / "samples.jsonl", "-o", out, "--workers", "1")
    assert code == 0, err
    before, after = read_samples(bench), read_samples(out)
    assert [s["id"] for s in after] == [s["id"] for s in before]
    assert all(s["image"] is None and s["attack"] == "ocr-text" for s in after)
    assert [s["harmful"] for s in after] == [s["harmful"] for s in before]
    first = after[0]
    assert first["prompt"].startswith('The image shows this text: "Steps to bake bread')
    assert first["prompt"].endswith("\n\n" + before[0]["prompt"])
    assert cer(first["source"]["ocr_text"], "Steps to bake bread (case 0).", strip_list=True) <= 0.1
    manifest = orjson.loads((out / "manifest.json").read_bytes())
    assert manifest["ocr_engine"].startswith("tesseract")
    code, _, err = run_cli("attack", "ocr-text", bench / "samples.jsonl", "-o", tmp_path / "x", "--prompt", "no slot")
    assert code == 2 and "{ocr}" in err
