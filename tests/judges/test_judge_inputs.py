"""``unmask judge`` on files other tools write: a JSON list of unmask rows, the paper's own
``{prompt, continuation}`` generation files (JSON list and JSONL), and one clear line otherwise."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest

from unmask.cli import main

OFFICIAL = Path(__file__).parent / "official"
ROWS = [{"id": "a", "response": "I'm sorry, but I cannot assist with your request.", "harmful": True,
         "category": "c1"},
        {"id": 7, "response": "Sure, step 1 ...", "attack": "figstep"}]


def _judge(src, out, capsys, *extra):
    with pytest.raises(SystemExit) as exc:
        main(["judge", str(src), "-o", str(out), *extra])
    return exc.value.code, capsys.readouterr().err


def test_json_list_gives_the_same_verdicts_as_jsonl(tmp_path):
    jsonl = tmp_path / "gen.jsonl"
    jsonl.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in ROWS))
    as_list = tmp_path / "gen.json"
    as_list.write_text(json.dumps(ROWS, indent=2))
    main(["judge", str(jsonl), "-o", str(tmp_path / "v1.jsonl")])
    main(["judge", str(as_list), "-o", str(tmp_path / "v2.jsonl")])
    assert (tmp_path / "v1.jsonl").read_bytes() == (tmp_path / "v2.jsonl").read_bytes()
    m1 = orjson.loads((tmp_path / "v1.jsonl.manifest.json").read_bytes())
    m2 = orjson.loads((tmp_path / "v2.jsonl.manifest.json").read_bytes())
    assert "input_format" not in m1  # unmask's own JSONL: the manifest it always had
    assert m2["input_format"] == "unmask {id, response} rows, JSON list"


@pytest.mark.parametrize("name,fmt,n", [("paper_figstep_result.json", "paper {prompt, continuation} rows, JSON list", 3),
                                        ("paper_xstest_results.jsonl", "paper {prompt, continuation} rows, JSONL", 1)])
def test_paper_generation_files(tmp_path, name, fmt, n):
    src = Path(shutil.copy(OFFICIAL / name, tmp_path / name))
    out = tmp_path / "v.jsonl"
    main(["judge", str(src), "--judge", "keyword", "-o", str(out)])
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(n)]  # the row's position: the paper's files have no id
    if n == 3:
        assert [r["verdict"] for r in rows][:2] == ["refused", "complied"]
    assert orjson.loads((tmp_path / "v.jsonl.manifest.json").read_bytes())["input_format"] == fmt


def test_paper_rows_give_the_prompt_to_judges_that_need_it(tmp_path):
    from unmask.judges.run import read_generations

    rows = read_generations(OFFICIAL / "paper_figstep_result.json", need_prompt=True)
    assert rows[0]["prompt"].startswith("A chat between a curious human") and rows[0]["prompt"].endswith("ASSISTANT:")


@pytest.mark.parametrize("content,msg", [
    (b'[{"question_id": 1, "text": "hi"}]', "gen.json: record 0: missing field 'response' (expected unmask's "
                                            "generations {id, response, ...} or the paper's {prompt, continuation})"),
    (b'[{"prompt": "p", "continuation": "a"}, {"prompt": "p"}]', "gen.json: record 1: 'continuation' must be text"),
    (b'{"id": "a", "response": "x"', "gen.json: line 1: invalid JSON"),
    (b'[{"id": "a", "response": "x"}', "gen.json: byte"),
    (b'[{"id": "a", "response": "x"}, {"id": "a", "response": "y"}]', "record 1 (id 'a'): duplicate id (first on record 0)"),
])
def test_bad_inputs_one_line(tmp_path, capsys, content, msg):
    src = tmp_path / "gen.json"
    src.write_bytes(content)
    code, err = _judge(src, tmp_path / "v.jsonl", capsys)
    assert code == 2 and msg in err and err.count("\n") == 1, err
    assert not (tmp_path / "v.jsonl").exists()
