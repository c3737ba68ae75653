"""Official files read as they are: LLaMA-Factory's ``messages`` JSON list (``data/mllm_demo.json``),
detected from the file, with ``--format messages`` too, and converted both ways."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest

from unmask.cli import main
from unmask.data.formats import detect_format, read_records, to_messages, write_records
from unmask.errors import UnmaskError

DEMO = Path(__file__).parent / "official" / "llamafactory_mllm_demo.json"


@pytest.fixture
def demo(tmp_path):
    return Path(shutil.copy(DEMO, tmp_path / "mllm_demo.json"))


def test_llamafactory_list_is_detected_and_read(demo):
    assert detect_format(demo) == "messages"
    for fmt in (None, "messages"):
        recs = read_records(demo, fmt)
        assert [r.id for r in recs] == ["0", "1", "2"]
        assert [t.role for t in recs[0].turns] == ["user", "assistant", "user", "assistant"]
        assert recs[0].turns[2].text == "What colour is the background?<image>"
        assert recs[0].images == ["mllm_demo_data/1.jpg", "mllm_demo_data/1.jpg"]
        assert recs[2].images == ["mllm_demo_data/3.jpg"] and recs[2].n_image_markers == 0
    # written back in its own format: the same records (LLaMA-Factory's list, images always a list)
    assert [to_messages(r) for r in read_records(demo)] == json.loads(DEMO.read_text())


def test_messages_jsonl_still_reads_with_format_messages(tmp_path):
    rows = json.loads(DEMO.read_text())
    src = tmp_path / "m.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert detect_format(src) == "messages-jsonl"
    assert [to_messages(r) for r in read_records(src, "messages")] == rows
    # the old meaning of "messages" as an output format for .jsonl paths is kept
    assert write_records(read_records(src), tmp_path / "o.jsonl", "messages") == "messages-jsonl"
    assert [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()] == rows


def test_convert_both_ways(tmp_path, demo, capsys):
    llava = tmp_path / "llava.json"
    main(["convert", str(demo), "-o", str(llava)])
    rows = orjson.loads(llava.read_bytes())
    # LLaVA's own spelling: one image is a string, the marker stays where LLaMA-Factory put it
    assert rows[1] == {"image": "mllm_demo_data/2.jpg", "conversations": [
        {"from": "human", "value": "<image>Describe this image"},
        {"from": "gpt", "value": "A green triangle on a grey table."}]}
    assert rows[0]["image"] == ["mllm_demo_data/1.jpg", "mllm_demo_data/1.jpg"] and "id" not in rows[0]
    back = tmp_path / "back.json"
    main(["convert", str(llava), "-o", str(back), "--to", "messages"])
    assert "(messages)" in capsys.readouterr().err
    assert orjson.loads(back.read_bytes()) == json.loads(DEMO.read_text())
    assert detect_format(back) == "messages"


def test_first_record_decides_even_when_huge(tmp_path):
    big = {"messages": [{"role": "user", "content": "x" * (3 << 20)}, {"role": "assistant", "content": "y"}]}
    src = tmp_path / "big.json"
    src.write_text(json.dumps([big]))
    assert detect_format(src) == "messages"
    src.write_text(json.dumps([{"id": "a", "conversations": [{"from": "human", "value": '"messages": [' * 9}]}]))
    assert detect_format(src) == "llava"


def test_bad_messages_list_names_record(tmp_path):
    rows = json.loads(DEMO.read_text())
    rows[1]["messages"][1]["role"] = "tool"
    src = tmp_path / "bad.json"
    src.write_text(json.dumps(rows, indent=2))
    with pytest.raises(UnmaskError, match=r"bad.json: record 1: message 1: unknown role 'tool'"):
        read_records(src)


def test_hf_folder_keeps_mixed_image_spellings(tmp_path, demo):
    # one image as a string and two as a list in one file: an Arrow column holds only one of the two
    write_records(read_records(demo), tmp_path / "ds", "hf")
    assert [to_messages(r) for r in read_records(tmp_path / "ds")] == json.loads(DEMO.read_text())
    llava = tmp_path / "l.json"
    main(["convert", str(demo), "-o", str(llava)])
    write_records(read_records(llava), tmp_path / "ds2", "hf")
    write_records(read_records(tmp_path / "ds2"), tmp_path / "back.json", "llava")
    assert orjson.loads((tmp_path / "back.json").read_bytes()) == orjson.loads(llava.read_bytes())


def test_llamafactory_data_folder_points_at_a_file(tmp_path, demo):
    info = {"mllm_demo": {"file_name": "mllm_demo.json", "formatting": "sharegpt",
                          "columns": {"messages": "messages", "images": "images"},
                          "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                                   "assistant_tag": "assistant"}}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info, indent=2))
    with pytest.raises(UnmaskError, match=r"a LLaMA-Factory data folder .* pass one dataset's file, e\.g\. .*mllm_demo.json"):
        detect_format(tmp_path)
