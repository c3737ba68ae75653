"""The paper's utility sets as scored upstream: ScienceQA-IMG (LLaVA's eval_science_qa.py), VizWiz/VQA
answer normalisation (the VQA evaluation's quirks), MM-Vet's grader prompt and score reading.

Oracles: LLaVA llava/eval/eval_science_qa.py and model_vqa_science.py
(https://github.com/haotian-liu/LLaVA); MM-Vet mm-vet_evaluator.py (https://github.com/yuweihao/MM-Vet).
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import orjson
import pytest

from unmask.attacks import load_questions
from unmask.cli import main
from unmask.metrics import normalize_answer, utility_metrics
from unmask.metrics.mmvet import MMVET_PROMPT, grade_mmvet, mmvet_question, parse_mmvet_score
from unmask.metrics.utility import llava_sqa_choice


@pytest.mark.parametrize("text,n,want", [
    ("B", 3, 1),                        # exactly a letter
    ("B. Because of gravity", 3, 1),    # "X. " at the start
    ("The answer is C.", 3, 2),
    ("The answer is C", 3, -1),         # needs one more character after the letter (". " matches any)
    ("The answer is Cx", 3, 2),         # ... any character, as LLaVA's unescaped "."
    ("The answer is A. The answer is B.", 3, -1),  # more than one match: FAILED
    ("D", 3, -1),                       # not one of the 3 choices
    (" B", 3, -1), ("b", 3, -1), ("(B)", 3, -1), ("B.", 3, -1),  # no stripping, no case folding
])
def test_llava_scienceqa_reading(text, n, want):
    assert llava_sqa_choice(text, n) == want


def test_scienceqa_img_accuracy_and_cli(tmp_path):
    rows = [{"id": "1", "response": "A", "answer": 0, "choices": ["x", "y"], "image": "image.png"},
            {"id": "2", "response": "The answer is B.", "answer": 0, "choices": ["x", "y"], "image": "image.png"},
            {"id": "3", "response": "B", "answer": 1, "choices": ["x", "y"], "image": None}]
    m = utility_metrics(rows, "sqa")
    assert m["accuracy"] == pytest.approx(2 / 3) and m["img_accuracy"] == 0.5 and m["n_img"] == 2
    gen = tmp_path / "gen.jsonl"
    gen.write_bytes(b"".join(orjson.dumps({"id": r["id"], "response": r["response"]}) + b"\n" for r in rows))
    problems = {r["id"]: {"answer": r["answer"], "choices": r["choices"], "image": r["image"]} for r in rows}
    (tmp_path / "problems.json").write_text(json.dumps(problems))
    main(["metrics", str(gen), "--utility", "sqa", "--gold", str(tmp_path / "problems.json"), "-o",
          str(tmp_path / "u.json")])
    doc = orjson.loads((tmp_path / "u.json").read_bytes())["utility"]
    assert doc["img_accuracy"] == 0.5 and doc["n"] == 3


def test_scienceqa_loader_is_llava_prompting(tmp_path):
    from PIL import Image

    (tmp_path / "images" / "test" / "5").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "images" / "test" / "5" / "image.png")
    qs = [{"id": "5", "image": "5/image.png", "conversations": [
              {"from": "human", "value": "<image>\nContext: A placeholder.\nQuestion: Which one?\nOptions: (A) x (B) y"},
              {"from": "gpt", "value": "B"}]},
          {"id": "6", "conversations": [{"from": "human", "value": "Question: Which?\nOptions: (A) x (B) y"},
                                        {"from": "gpt", "value": "A"}]}]
    f = tmp_path / "llava_test_CQM-A.json"
    f.write_text(json.dumps(qs))
    name, got = load_questions(f)
    assert name == "scienceqa" and [q.id for q in got] == ["5"]  # ScienceQA-IMG: questions with an image
    assert got[0].text == ("Context: A placeholder.\nQuestion: Which one?\nOptions: (A) x (B) y\n"
                           "Answer with the option's letter from the given choices directly.")
    assert got[0].harmful is False and got[0].images["picture"].endswith("images/test/5/image.png")
    assert [q.id for q in load_questions(f, subset="all")[1]] == ["5", "6"]


def test_vqa_normalisation_quirks_of_the_official_code():
    assert normalize_answer("3.") == "3"            # the period pattern drops a period not followed by a digit
    assert normalize_answer("1.5") == "1.5"
    # the punctuation test looks at the text as given: "-" touches no space, but "a - b" has " -"
    assert normalize_answer("well-known") == "well known"
    assert normalize_answer("well-known, a - b") == "wellknown, b".replace(",", "")


def test_mmvet_prompt_and_score_reading():
    q = mmvet_question("What is x?", "-1<AND>-5", "x = -1")
    assert q == MMVET_PROMPT + "\nWhat is x? | -1 <AND> -5 | x = -1 | "
    assert MMVET_PROMPT.startswith("Compare the ground truth and prediction from AI models, to give a correctness")
    assert MMVET_PROMPT.endswith("physical characteristics. | 1.0\n") and MMVET_PROMPT.count("\n") == 11
    assert "correctness score.\n\nQuestion | Ground truth | Prediction | Correctness\n--- | --- | --- | ---\n" in MMVET_PROMPT
    assert parse_mmvet_score("0.5") == 0.5 and parse_mmvet_score("1.0 because") == 1.0
    assert parse_mmvet_score("1.5") is None and parse_mmvet_score("half") is None


class _Grader(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    answers = {"good": "1.0", "half": "0.5 ", "bad": "maybe", "fixme": "no"}

    def log_message(self, *a):
        pass

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        text = body["messages"][-1]["content"]
        key = text.rsplit(" | ", 2)[-2]  # the prediction column
        reply = self.answers.get(key, "0.0")
        if key == "fixme" and text.endswith("(digit): "):
            reply = "0.3"
        data = json.dumps({"choices": [{"message": {"content": reply}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_mmvet_grading_over_a_server(tmp_path):
    from unmask.judges.http import ChatClient

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Grader)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        client = ChatClient(f"http://127.0.0.1:{srv.server_address[1]}/v1", "grader", max_tokens=3, retries=0)
        meta = {f"v{i}": {"question": "Q?", "answer": "A", "capability": caps, "imagename": f"v{i}.png"}
                for i, caps in enumerate([["ocr"], ["ocr", "math"], ["rec"], ["math"]])}
        rows = [{"id": "v0", "response": "good"}, {"id": "v1", "response": "half"}, {"id": "v2", "response": "bad"},
                {"id": "v3", "response": "fixme"}]
        doc = grade_mmvet(rows, meta, client, concurrency=2)
    finally:
        srv.shutdown()
    assert doc["n_graded"] == 3 and doc["n_ungraded"] == 1
    assert doc["score"] == pytest.approx((1.0 + 0.5 + 0.3) / 3)
    assert doc["score_ungraded_as_zero"] == pytest.approx(1.8 / 4)
    assert doc["by_capability"] == {"math": pytest.approx(0.4), "ocr": pytest.approx(0.75)}
