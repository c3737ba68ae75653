"""Saved HF datasets whose images are embedded (`List(Image())`, as TRL's own datasets): `unmask convert`
writes them to files beside its output; other readers say so in one line."""

from __future__ import annotations

import orjson
import pytest
from PIL import Image


@pytest.fixture
def ds_path(tmp_path):
    import datasets

    imgs = [Image.new("RGB", (12, 12), (i * 60, 0, 0)) for i in range(3)]
    rows = {
        "messages": [
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What colour?"}]},
             {"role": "assistant", "content": [{"type": "text", "text": "Red."}]}],
            [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "And this?"},
                                          {"type": "image"}]},
             {"role": "assistant", "content": [{"type": "text", "text": "Darker."}]}],
        ],
        "images": [[imgs[1]], [imgs[2], imgs[1]]],
    }
    ds = datasets.Dataset.from_dict(rows)
    assert "Image" in repr(ds.features["images"])  # embedded, as TRL's datasets
    path = tmp_path / "trl_ds"
    ds.save_to_disk(str(path))
    return path


def test_convert_extracts_embedded_images_beside_the_output(run_cli, ds_path, tmp_path):
    out = tmp_path / "out" / "conv.json"
    out.parent.mkdir()
    code, _, err = run_cli("convert", ds_path, "-o", out)
    assert code == 0 and "wrote 2 embedded images" in err, err
    rows = orjson.loads(out.read_bytes())
    assert rows[0]["image"].startswith("conv_images/") and len(rows[1]["image"]) == 2
    assert rows[1]["image"][1] == rows[0]["image"]  # the same picture, one file (content-addressed)
    assert rows[1]["conversations"][0]["value"] == "<image>And this?<image>"
    code, _, err = run_cli("convert", out, "-o", tmp_path / "out" / "back.jsonl", "--check-images")
    assert code == 0, err
    code, _, err = run_cli("convert", ds_path, "-o", tmp_path / "out" / "t.jsonl", "--to", "trl")
    assert code == 0, err
    trl = [orjson.loads(line) for line in (tmp_path / "out" / "t.jsonl").read_bytes().splitlines()]
    assert [p["type"] for p in trl[1]["messages"][0]["content"]] == ["image", "text", "image"]
    assert all(p.endswith(".png") for r in trl for p in r["images"])


def test_other_readers_name_the_fix(run_cli, ds_path, tmp_path):
    code, _, err = run_cli("mix", ds_path, "-o", tmp_path / "m.json", "--fraction", "0.5")
    assert code == 2 and "embedded images" in err and "unmask convert" in err
    assert not (tmp_path / "m.json").exists()


def test_content_parts_keep_their_keys(run_cli, tmp_path):
    rows = [{"id": "a", "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}, "index": 0},
                                     {"type": "text", "text": "What?", "index": None}]},
        {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]}], "images": ["x.png"]},
        {"id": "b", "messages": [  # Arrow's layout: every part has every key
            {"role": "user", "content": [{"type": "image", "text": None}, {"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}], "images": ["x.png"]}]
    Image.new("RGB", (4, 4)).save(tmp_path / "x.png")
    src = tmp_path / "in.jsonl"
    src.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    code, _, err = run_cli("convert", src, "-o", tmp_path / "out.jsonl", "--to", "messages-jsonl")
    assert code == 0, err
    assert [orjson.loads(x) for x in (tmp_path / "out.jsonl").read_bytes().splitlines()] == rows
