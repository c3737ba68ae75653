"""Records and format converters: lossless both ways, clear errors naming file and record."""

from __future__ import annotations

import json

import orjson
import pytest

from unmask.data.formats import (
    detect_format,
    read_records,
    resolve_image,
    to_llava,
    to_messages,
    write_records,
)
from unmask.errors import UnmaskError

LLAVA = [
    {"id": "000001", "image": "coco/1.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A cat."},
        {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Black."}]},
    {"id": 7, "image": ["a.jpg", "b.jpg"], "model": "x", "conversations": [
        {"from": "system", "value": "Be brief."},
        {"from": "human", "value": "<image> and <image>: same?"}, {"from": "gpt", "value": "No."}]},
    {"id": "text-only", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello!"}]},
]

MESSAGES = [
    {"messages": [{"role": "user", "content": "<image>What is it?"}, {"role": "assistant", "content": "A dog."}],
     "images": ["d.png"]},
    {"id": "p", "messages": [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]},
                             {"role": "assistant", "content": "Grass."}], "images": ["g.png"], "tag": 3},
]


def _write(path, rows, jsonl=False):
    if jsonl:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return path


@pytest.mark.parametrize("fmt,suffix,rows", [("llava", ".json", LLAVA), ("llava-jsonl", ".jsonl", LLAVA),
                                             ("messages-jsonl", ".jsonl", MESSAGES), ("messages", ".json", MESSAGES)])
def test_lossless_round_trip(tmp_path, fmt, suffix, rows):
    src = _write(tmp_path / f"in{suffix}", rows, jsonl=suffix == ".jsonl")
    assert detect_format(src) == fmt
    records = read_records(src)
    out = tmp_path / f"out{suffix}"
    assert write_records(records, out, fmt) == fmt
    back = orjson.loads(out.read_bytes()) if suffix == ".json" else [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert back == rows
    conv = to_llava if fmt.startswith("llava") else to_messages
    assert [conv(r) for r in read_records(out)] == rows


def test_records_are_normalised(tmp_path):
    recs = read_records(_write(tmp_path / "d.json", LLAVA))
    assert [t.role for t in recs[0].turns] == ["user", "assistant", "user", "assistant"]
    assert recs[1].id == "7" and recs[1].images == ["a.jpg", "b.jpg"] and recs[1].turns[0].role == "system"
    assert recs[2].images == []
    msgs = read_records(_write(tmp_path / "m.jsonl", MESSAGES, jsonl=True))
    assert msgs[1].turns[0].text == "<image>Describe."


def test_hf_dataset_round_trip(tmp_path):
    src = _write(tmp_path / "in.json", LLAVA[:1] + LLAVA[2:])
    records = read_records(src)
    write_records(records, tmp_path / "ds", "hf")
    assert detect_format(tmp_path / "ds") == "hf"
    back = read_records(tmp_path / "ds")
    assert [to_llava(r) for r in back] == [to_llava(r) for r in records]


@pytest.mark.parametrize("content,expect", [
    (b'[{"id": "a", "conversations": [{"from": "human", "value": "x"}]}]', "record 0 (id 'a'): no assistant reply"),
    (b'[{"id": "a", "conversations": [{"from": "robot", "value": "x"}]}]', "unknown role 'robot'"),
    (b'[{"id": "a", "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]}, {"id": "b", ',
     "truncated JSON"),
    (b'[{"id": "a", "image": "i.jpg", "conversations": [{"from": "human", "value": "<image><image>"}, '
     b'{"from": "gpt", "value": "y"}]}]', "2 '<image>' marker(s) in the text but 1 image(s)"),
    (b'[{"id": "\xff\xfe", "conversations": []}]', "not valid UTF-8"),
    (b'[{"id": "a", "image": "../../etc/passwd", "conversations": [{"from": "human", "value": "q"}, '
     b'{"from": "gpt", "value": "y"}]}]', "escapes the image root"),
])
def test_bad_input_names_file_and_record(tmp_path, content, expect):
    src = tmp_path / "bad.json"
    src.write_bytes(content)
    with pytest.raises(UnmaskError) as err:
        read_records(src)
    msg = str(err.value)
    assert str(src) in msg and expect in msg and "\n" not in msg


def test_jsonl_error_names_line(tmp_path):
    src = tmp_path / "bad.jsonl"
    src.write_text(json.dumps(LLAVA[0]) + "\n" + '{"id": "z", "conversations": [}\n')
    with pytest.raises(UnmaskError, match=r"bad.jsonl: line 2"):
        read_records(src)


def test_symlink_out_of_root_is_refused(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    (root / "link.jpg").symlink_to(outside)
    with pytest.raises(ValueError, match="escapes"):
        resolve_image("link.jpg", root)
    assert resolve_image("sub/ok.jpg", root) == (root / "sub/ok.jpg").resolve()


def test_missing_image_with_check_images(tmp_path):
    src = _write(tmp_path / "d.json", LLAVA[:1])
    read_records(src)  # paths are not checked for existence by default
    with pytest.raises(UnmaskError, match=r"record 0 \(id '000001'\): image 'coco/1.jpg' not found"):
        read_records(src, check_images=True)
