"""Inference-time defences inside ``unmask generate``: ECSO's extra calls only where its harm check says
unsafe, AdaShield-S appended, OCR text instead of the image, the cost on every row, a journal key per defence."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

import unmask.generate as gen_mod
from unmask.attacks.defence_prompt import ADASHIELD_S
from unmask.data.store import content_key, read_jsonl, read_manifest
from unmask.errors import UnmaskError
from unmask.generate import GenerateConfig, generate
from unmask.generate.defences import (
    CAP_PROMPT,
    LLM_GEN_PROMPT,
    TELL_PROMPT,
    DefenceRunner,
    is_unsafe,
    normalise_defences,
)


class Scripted:
    """A backend that answers by the prompt's kind and records every call (prompt, image) it gets."""

    name = "scripted"
    fingerprint = "scripted-v1"
    tokenizer = None

    def __init__(self, unsafe: set[str]) -> None:
        self.unsafe = unsafe  # sample ids whose harm check answers "Yes."
        self.calls: list[list[tuple[str, str, str | None]]] = []

    def generate(self, samples):
        self.calls.append([(s.id, s.prompt, s.image) for s in samples])
        out = []
        for s in samples:
            if s.prompt.startswith("QUERY:"):
                out.append("Yes." if s.id in self.unsafe else "No")
            elif s.prompt.startswith("REQUEST:"):
                out.append(f"a list titled steps {s.id}")
            elif s.prompt.startswith("You are given some hints"):
                out.append("I cannot help with that.")
            else:
                out.append(f"Sure, here are the steps for {s.id}")
        return out

    def close(self) -> None:
        pass


def test_names_are_checked_and_ordered():
    assert normalise_defences(["caption", "prompt", "caption"]) == ["prompt", "caption"]
    assert normalise_defences("caption+ocr-text") == ["ocr-text", "caption"]
    assert normalise_defences(None) == [] and normalise_defences("none") == []
    with pytest.raises(UnmaskError, match="unknown defence 'shield'"):
        normalise_defences(["shield"])


def test_ecso_yes_test_is_the_official_one():
    # gyhdog99/ECSO: unsafe.lower() in ["yes", 'yes.']
    assert is_unsafe("Yes") and is_unsafe("yes.") and is_unsafe(" YES ")
    assert not is_unsafe("Yes, it is harmful") and not is_unsafe("No") and not is_unsafe("")


def test_caption_calls_again_only_where_the_check_says_unsafe(make_bench, tmp_path):
    from unmask.generate.config import read_bench

    bench = make_bench(tmp_path / "b", n=5, image_every=2)  # images on s0, s2, s4
    samples = read_bench(bench)
    backend = Scripted(unsafe={"s2"})
    out = DefenceRunner(backend, ["caption"], bench).generate(samples)
    first, tell, cap, final = backend.calls
    assert [c[0] for c in first] == ["s0", "s1", "s2", "s3", "s4"]
    assert [c[0] for c in tell] == ["s0", "s2", "s4"]  # no image, nothing to close the eyes on
    s2 = samples[2]
    assert tell[1][1] == TELL_PROMPT.format(s2.prompt, "Sure, here are the steps for s2") and tell[1][2] == s2.image
    assert cap == [("s2", CAP_PROMPT.format(s2.prompt), s2.image)]  # the caption sees the image
    assert final == [("s2", LLM_GEN_PROMPT.format("a list titled steps s2", s2.prompt), None)]  # the answer not
    answers = {s.id: (a, f) for s, (a, f) in zip(samples, out, strict=True)}
    assert answers["s2"][0] == "I cannot help with that."
    assert answers["s2"][1]["first_response"] == "Sure, here are the steps for s2"
    assert answers["s2"][1]["defence_unsafe"] is True
    assert answers["s2"][1]["defence_cost"]["calls"] == 3
    # tokens of the three extra answers ("Yes." + caption + final), in words: the backend has no tokenizer
    assert answers["s2"][1]["defence_cost"]["tokens"] == 1 + 5 + 5
    assert answers["s0"][0] == "Sure, here are the steps for s0"
    assert answers["s0"][1]["defence_unsafe"] is False and answers["s0"][1]["defence_cost"]["calls"] == 1
    assert answers["s1"][1]["defence_cost"] == {"calls": 0, "tokens": 0, "prompt_tokens": 0, "seconds": 0.0}
    assert all(f["defence"] == "caption" for _, f in out)


def test_no_unsafe_verdict_means_no_caption_call(make_bench, tmp_path):
    from unmask.generate.config import read_bench

    bench = make_bench(tmp_path / "b", n=4)
    backend = Scripted(unsafe=set())
    DefenceRunner(backend, ["caption"], bench).generate(read_bench(bench))
    assert len(backend.calls) == 2  # the answer, the harm check; nothing else


def _run(monkeypatch, bench, out, backend, **kw):
    monkeypatch.setattr(gen_mod, "make_backend", lambda cfg: backend)
    return generate(GenerateConfig(model="scripted", bench=str(bench), out=str(out), progress=False, **kw))


def test_generate_records_the_defence_and_keys_differ_per_defence(monkeypatch, make_bench, tmp_path):
    bench = make_bench(tmp_path / "b", n=4)
    out = tmp_path / "g.jsonl"
    backend = Scripted(unsafe={"s0"})
    _run(monkeypatch, bench, out, backend, defences=["prompt"])
    rows = read_jsonl(out)
    assert all(r["defence"] == "prompt" and r["settings"]["defences"] == ["prompt"] for r in rows)
    assert all(r["settings"]["defence_text"] == ADASHIELD_S for r in rows)
    assert [c[1] for c in backend.calls[0]][0].endswith("\n" + ADASHIELD_S)
    assert rows[0]["defence_cost"]["prompt_tokens"] == len(ADASHIELD_S.split())
    assert read_manifest(out)["defence_token_unit"] == "words"

    n = len(backend.calls)
    _run(monkeypatch, bench, out, backend, defences=["prompt"])  # the same defence: all resumed
    assert len(backend.calls) == n
    _run(monkeypatch, bench, out, backend, defences=["caption"])  # another defence: answered again
    assert len(backend.calls) > n
    rows = read_jsonl(out)
    assert all(r["defence"] == "caption" for r in rows) and rows[0]["response"] == "I cannot help with that."

    sample = {"id": "s0"}
    keys = {str(d): content_key({"sample": sample, "model": "m", "settings": GenerateConfig(
        model="m", bench="b", out="o", defences=d).settings()}) for d in ([], ["prompt"], ["caption"],
                                                                        ["prompt", "caption"], ["ocr-text"])}
    assert len(set(keys.values())) == 5
    undefended = GenerateConfig(model="m", bench="b", out="o").settings()
    assert "defences" not in undefended  # the keys of undefended runs are what they were before defences
    text = GenerateConfig(model="m", bench="b", out="o", defences=["prompt"], defence_text="Check first.").settings()
    assert text["defence_text"] == "Check first."


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract not installed (apt tesseract-ocr)")
def test_ocr_text_gives_the_read_text_and_drops_the_image(monkeypatch, tmp_path):
    import json

    from PIL import Image, ImageDraw, ImageFont

    bench = tmp_path / "b"
    (bench / "images").mkdir(parents=True)
    im = Image.new("RGB", (520, 90), "white")
    ImageDraw.Draw(im).text((10, 20), "Steps to bake bread", fill="black", font=ImageFont.load_default(size=40))
    im.save(bench / "images/0.png")
    rows = [{"id": "a", "prompt": "Fill in the list.", "image": "images/0.png"}, {"id": "b", "prompt": "Hi."}]
    (bench / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    backend = Scripted(unsafe=set())
    _run(monkeypatch, bench, tmp_path / "g.jsonl", backend, defences=["ocr-text"])
    (call,) = backend.calls
    assert call[0][2] is None and "bake bread" in call[0][1].lower() and call[0][1].endswith("Fill in the list.")
    assert call[1] == ("b", "Hi.", None)
    got = read_jsonl(tmp_path / "g.jsonl")
    assert "bake bread" in got[0]["ocr_text"].lower() and "ocr_text" not in got[1]
    assert got[0]["defence_cost"]["seconds"] > 0


def test_tiny_model_runs_every_defence_with_real_token_counts(tiny_ckpt, make_bench, tmp_path):
    bench = make_bench(tmp_path / "b", n=4)
    out = tmp_path / "g.jsonl"
    generate(GenerateConfig(model=str(tiny_ckpt("llava")), bench=str(bench), out=str(out), max_new_tokens=4,
                            min_new_tokens=4, progress=False, defences=["prompt", "caption"]))
    rows = read_jsonl(out)
    assert read_manifest(out)["defence_token_unit"] == "tokens"
    for r in rows:
        cost = r["defence_cost"]
        assert r["defence"] == "prompt+caption" and cost["prompt_tokens"] > 10
        # a random model never answers exactly "yes": one harm check (4 tokens) on each image sample
        if r["id"] in ("s0", "s2"):
            assert r["defence_unsafe"] is False and cost["calls"] == 1 and 1 <= cost["tokens"] <= 4
        else:
            assert cost["calls"] == 0


def test_cli_unknown_defence_is_one_line_exit_2(make_bench, tmp_path):
    bench = make_bench(tmp_path / "b", n=2)
    res = subprocess.run([sys.executable, "-m", "unmask", "generate", "--model", "tiny", "--bench", str(bench),
                          "-o", str(tmp_path / "g.jsonl"), "--defence", "shield"], capture_output=True, text=True)
    assert res.returncode == 2 and "unknown defence 'shield'" in res.stderr
    assert not (tmp_path / "g.jsonl").exists()


def test_cost_summary_and_the_report_table(tmp_path):
    from unmask.generate.defences import cost_summary
    from unmask.report.collect import Entry, Runs
    from unmask.report.tables import tables

    rows = [{"id": "a", "defence": "caption", "defence_unsafe": True,
             "defence_cost": {"calls": 3, "tokens": 30, "prompt_tokens": 0, "seconds": 0.5}},
            {"id": "b", "defence": "caption", "defence_unsafe": False,
             "defence_cost": {"calls": 1, "tokens": 2, "prompt_tokens": 0, "seconds": 0.1}},
            {"id": "c", "defence": "caption", "defence_cost": {"calls": 0, "tokens": 0, "prompt_tokens": 0,
                                                               "seconds": 0.0}}]
    c = cost_summary(rows)
    assert c["n"] == 3 and c["calls"] == pytest.approx(4 / 3) and c["tokens"] == pytest.approx(32 / 3)
    assert (c["checked"], c["unsafe"], c["ocr_images"]) == (2, 1, 0)
    assert cost_summary([{"id": "x"}]) is None
    overall = {"n": 3, "n_judged": 3, "n_unjudged": 0, "asr": 0.0, "ci": [0.0, 0.5]}
    doc = {"format_version": 1, "judge": "keyword", "overall": overall, "defence_cost": c,
           "labels": {"model": "base+caption", "bench": "typo", "defence": "caption"}}
    (cost,) = [t for t in tables(Runs(entries=[Entry(tmp_path / "m.json", "m", doc)])) if t[0].startswith("Defence")]
    assert cost[2] == [["base+caption", "typo", "caption", "3", "1.33", "10.7", "0.0", "0.2000", "1/2", "-"]]
