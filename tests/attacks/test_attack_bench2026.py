"""VLSBench, JailBreakV-28K, MSSBench and SIUO loaders on small hand-made sets in each official layout
(field names and folders as released; placeholder text only), built into benchmarks with ``image``.

Layouts: VLSBench data/data.json and SIUO data/siuo_gen.json checked against the released files
(github.com/AI45Lab/VLSBench, github.com/sinwang20/SIUO); MSSBench combine.json from its README field
list and inference.py / utils/infer_on_data.py (github.com/eric-ai-lab/MSSBench); JailBreakV-28K
columns from the Hugging Face dataset card and public loaders (the CSV itself was not at hand).
"""

from __future__ import annotations

import json

import pytest
from attack_helpers import leftovers, read_samples, write_csv

from unmask.attacks import load_questions
from unmask.attacks.loaders_bench2026 import MSSBENCH_CHAT_PROMPT, MSSBENCH_EMBODIED_PROMPT
from unmask.errors import UnmaskError


def _png(path, colour="white"):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (6, 6), colour).save(path)


@pytest.fixture
def vlsbench(tmp_path):
    rows = [{"instruction_id": 0, "instruction": "Placeholder question about this tool?", "image_path": "imgs/0.png",
             "category": "Violent", "sub_category": "Weapon-Related Violence", "source": "generation",
             "image_description": "a tool", "safety_reason": "placeholder"},
            {"instruction_id": 1, "instruction": "", "image_path": "imgs/1.png", "category": "Hate",
             "sub_category": "Racial and Ethnic Discrimination", "source": "Ch3Ef"}]
    (tmp_path / "data").mkdir()
    for r in rows:
        _png(tmp_path / "data" / r["image_path"])
    (tmp_path / "data" / "data.json").write_text(json.dumps(rows, indent=2))
    return tmp_path / "data" / "data.json"


def test_vlsbench(vlsbench, tmp_path, run_cli, capsys):
    name, qs = load_questions(vlsbench)
    assert name == "vlsbench"
    assert [(q.id, q.category, q.harmful) for q in qs] == [("vlsbench-0", "Violent", True)]
    assert "record 1 (id 1): empty instruction, left out" in capsys.readouterr().err  # as id 1685 of the release
    assert qs[0].source["sub_category"] == "Weapon-Related Violence"
    assert qs[0].images["picture"] == str((tmp_path / "data" / "imgs" / "0.png").resolve())
    code, _, err = run_cli("attack", "image", vlsbench, "-o", tmp_path / "bench")
    assert code == 0, err
    samples = read_samples(tmp_path / "bench")
    assert [s["prompt"] for s in samples] == ["Placeholder question about this tool?"]
    assert (tmp_path / "bench" / samples[0]["image"]).read_bytes() == (tmp_path / "data/imgs/0.png").read_bytes()


def test_vlsbench_bad_rows(vlsbench, tmp_path, run_cli):
    rows = json.loads(vlsbench.read_text())
    del rows[0]["category"]
    vlsbench.write_text(json.dumps(rows))
    with pytest.raises(UnmaskError, match=r"data.json: record 0 \(id 0\): missing field\(s\) category"):
        load_questions(vlsbench)
    rows[0].update(category="Violent", image_path="../../escape.png")
    vlsbench.write_text(json.dumps(rows))
    with pytest.raises(UnmaskError, match="escapes the image root"):
        load_questions(vlsbench)
    rows[0]["image_path"] = "imgs/missing.png"
    vlsbench.write_text(json.dumps(rows))
    code, _, err = run_cli("attack", "image", vlsbench, "-o", tmp_path / "bench")
    assert code == 2 and "record 0 (id 0)" in err and "missing.png not found" in err
    assert leftovers(tmp_path, "bench") == []


JBV_HEADER = ["id", "jailbreak_query", "redteam_query", "format", "policy", "image_path", "from", "selected_mini",
              "transfer_from_llm"]


def test_jailbreakv_full_and_mini(tmp_path, run_cli):
    root = tmp_path / "JailBreakV_28K"
    for p in ("figstep/query_0.png", "llm_transfer_attack/nature_1.jpeg", "query_related/SD_2.png"):
        _png(root / p)
    csv = write_csv(root / "JailBreakV_28K.csv", JBV_HEADER, [
        [0, "Placeholder figstep query.", "Placeholder request A.", "FigStep", "Malware", "figstep/query_0.png",
         "Handcraft", "True", ""],
        [1, "Placeholder template + request B.", "Placeholder request B.", "Template", "Fraud",
         "llm_transfer_attack/nature_1.jpeg", "GPT Rewrite", "False", "True"],
        [2, "Placeholder query C.", "Placeholder request C.", "Query-relevant", "Fraud", "query_related/SD_2.png",
         "AdvBench", "True", ""]])
    name, qs = load_questions(csv)
    assert name == "jailbreakv" and [q.id for q in qs] == ["jailbreakv-0", "jailbreakv-1", "jailbreakv-2"]
    assert qs[1].text == "Placeholder template + request B." and qs[1].instruction == "Placeholder request B."
    assert [q.category for q in qs] == ["Malware", "Fraud", "Fraud"] and all(q.harmful for q in qs)
    assert [q.id for q in load_questions(csv, subset="mini")[1]] == ["jailbreakv-0", "jailbreakv-2"]
    assert [q.id for q in load_questions(csv, subset="Template")[1]] == ["jailbreakv-1"]
    code, _, err = run_cli("attack", "image", csv, "-o", tmp_path / "bench", "--subset", "mini")
    assert code == 0, err
    assert [s["prompt"] for s in read_samples(tmp_path / "bench")] == ["Placeholder figstep query.",
                                                                       "Placeholder query C."]
    mini = write_csv(root / "mini_JailBreakV_28K.csv", JBV_HEADER[:6], [[5, "q", "", "FigStep", "Fraud", "x.png"]])
    with pytest.raises(UnmaskError, match=r"mini_JailBreakV_28K.csv: record 0 \(id '5'\), line 2: empty 'redteam_query'"):
        load_questions(mini)
    bad = write_csv(root / "b.csv", ["jailbreak_query", "redteam_query", "image_path"], [["q", "r", "x.png"]])
    with pytest.raises(UnmaskError, match="missing column"):
        load_questions(bad)


@pytest.fixture
def mssbench(tmp_path):
    root = tmp_path / "mssbench"
    data = {"chat": [{"safe_image_path": "safe_0.jpg", "unsafe_image_path": "unsafe_0.jpg",
                      "intent": "placeholder intent", "unsafe_image": "placeholder description",
                      "Type": "placeholder_type", "queries": ["Placeholder query one?", "Placeholder query two?"]}],
            "embodied": [{"task": "placeholder task", "category": "property damage", "safe": "s1.png",
                          "unsafe": "u1.png", "safe_instructions": ["Place the cup on the table."],
                          "unsafe_instructions": ["Place the cup on the stove."]}]}
    for p in ("chat/safe_0.jpg", "chat/unsafe_0.jpg", "embodied/s1.png", "embodied/u1.png"):
        _png(root / p)
    (root / "combine.json").write_text(json.dumps(data))
    return root / "combine.json"


def test_mssbench_safe_and_unsafe_halves(mssbench, tmp_path, run_cli):
    name, qs = load_questions(mssbench)
    assert name == "mssbench"
    assert [(q.id, q.harmful) for q in qs] == [
        ("mss-chat-0-0-safe", False), ("mss-chat-0-0-unsafe", True), ("mss-chat-0-1-safe", False),
        ("mss-chat-0-1-unsafe", True), ("mss-embodied-0-0-safe", False), ("mss-embodied-0-0-unsafe", True)]
    assert qs[0].prompts["picture"] == MSSBENCH_CHAT_PROMPT + "Placeholder query one?"
    assert qs[0].images["picture"].endswith("chat/safe_0.jpg") and qs[1].images["picture"].endswith("unsafe_0.jpg")
    assert qs[5].prompts["picture"] == MSSBENCH_EMBODIED_PROMPT + "Place the cup on the stove."
    assert qs[4].category == "property damage" and qs[0].category == "placeholder_type"
    assert [q.id for q in load_questions(mssbench, subset="embodied")[1]] == ["mss-embodied-0-0-safe",
                                                                              "mss-embodied-0-0-unsafe"]
    code, _, err = run_cli("attack", "image", mssbench, "-o", tmp_path / "bench", "--subset", "chat")
    assert code == 0, err
    samples = read_samples(tmp_path / "bench")
    assert [s["harmful"] for s in samples] == [False, True, False, True]  # the safe half: over-refusal
    assert samples[0]["image"] == samples[2]["image"]  # one picture, two queries
    data = json.loads(mssbench.read_text())
    data["embodied"][0]["unsafe_instructions"].append("extra")
    mssbench.write_text(json.dumps(data))
    with pytest.raises(UnmaskError, match="embodied record 0: 1 safe but 2 unsafe instructions"):
        load_questions(mssbench)


def test_siuo(tmp_path, run_cli):
    root = tmp_path / "data"
    _png(root / "images" / "S-01.png")
    rows = [{"question_id": "1001", "image": "S-01.png", "question": "Placeholder benign question?",
             "category": "self-harm", "safety_warning": "placeholder", "reference_answer": "placeholder"}]
    (root / "siuo_gen.json").write_text(json.dumps(rows))
    name, qs = load_questions(root / "siuo_gen.json")
    assert name == "siuo" and [(q.id, q.category, q.harmful) for q in qs] == [("siuo-1001", "self-harm", True)]
    assert qs[0].source["safety_warning"] == "placeholder"
    code, _, err = run_cli("attack", "image", root / "siuo_gen.json", "-o", tmp_path / "bench")
    assert code == 0, err and read_samples(tmp_path / "bench")[0]["prompt"] == "Placeholder benign question?"
    rows.append(dict(rows[0]))
    (root / "siuo_gen.json").write_text(json.dumps(rows))
    with pytest.raises(UnmaskError, match=r"record 1 \(id '1001'\): id 'siuo-1001' also used"):
        load_questions(root / "siuo_gen.json")
