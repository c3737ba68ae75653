"""`unmask mix` output for other trainers: image paths that resolve where the output lies, and
LLaMA-Factory's dataset_info.json entry."""

from __future__ import annotations

import json
import os

import orjson
import pytest
from PIL import Image

from unmask.data.formats import read_records

N = 12


@pytest.fixture
def data(tmp_path):
    """tmp/data/llava.json with images under tmp/data/img/ (real JPEGs), LLaVA's layout."""
    d = tmp_path / "data"
    (d / "img").mkdir(parents=True)
    rows = []
    for i in range(N):
        Image.new("RGB", (8, 8), (i * 20, 0, 0)).save(d / "img" / f"{i}.jpg", format="JPEG")
        rows.append({"id": f"r{i}", "image": f"img/{i}.jpg",
                     "conversations": [{"from": "human", "value": f"<image>\nq{i}?"}, {"from": "gpt", "value": f"a{i}"}]})
    (d / "llava.json").write_text(json.dumps(rows))
    return d


def _images(path):
    return [r["image"] for r in orjson.loads(path.read_bytes()) if "image" in r]


def test_beside_the_source_byte_identical_to_explicit_root(run_cli, data):
    a, b = data / "a.json", data / "b.json"
    assert run_cli("mix", data / "llava.json", "-o", a, "--fraction", "0.5")[0] == 0
    assert run_cli("mix", data / "llava.json", "-o", b, "--fraction", "0.5", "--image-root", data)[0] == 0
    assert a.read_bytes() == b.read_bytes()
    assert _images(a) == [f"img/{i}.jpg" for i in range(N)]


@pytest.mark.parametrize("extra", [[], ["--refusal-image", "blank"], ["--out-format", "messages"]])
def test_output_above_the_source_resolves_from_its_own_folder(run_cli, data, tmp_path, extra):
    out = tmp_path / "mix.json"
    code, _, err = run_cli("mix", data / "llava.json", "-o", out, "--fraction", "0.5", *extra)
    assert code == 0, err
    recs = read_records(out, check_images=True)  # default root: the output's folder
    paths = [p for r in recs for p in r.images]
    assert all(p.startswith("data/img/") or p.startswith("unmask://") for p in paths) and len(paths) == N
    code, _, err = run_cli("convert", out, "-o", tmp_path / "back.jsonl", "--check-images")
    assert code == 0, err
    assert json.loads((tmp_path / "mix.json.manifest.json").read_text())["params"]["out_image_root"] == str(tmp_path)


def test_output_beside_the_image_folder_gets_a_note_and_unchanged_paths(run_cli, data, tmp_path):
    (tmp_path / "runs").mkdir()
    out = tmp_path / "runs" / "mix.json"
    code, _, err = run_cli("mix", data / "llava.json", "-o", out, "--fraction", "0.5")
    assert code == 0 and "stay relative to" in err and "--out-image-root" in err
    assert _images(out) == [f"img/{i}.jpg" for i in range(N)]
    read_records(out, image_root=data, check_images=True)  # the folder the note names


def test_explicit_out_image_root(run_cli, data, tmp_path):
    out = tmp_path / "mix.json"
    code, _, err = run_cli("mix", data / "llava.json", "-o", out, "--fraction", "0.5", "--out-image-root", data / "img")
    assert code == 0, err
    assert _images(out) == [f"{i}.jpg" for i in range(N)]
    read_records(out, image_root=data / "img", check_images=True)
    # a folder that does not hold the images: one line naming the record, no output
    bad = tmp_path / "bad.json"
    code, _, err = run_cli("mix", data / "llava.json", "-o", bad, "--fraction", "0.5", "--out-image-root", tmp_path / "x")
    assert code == 2 and "'r0'" in err and "outside the output's image folder" in err
    assert not bad.exists()


def test_jsonl_source_rebased_like_the_fast_path(run_cli, data, tmp_path):
    rows = orjson.loads((data / "llava.json").read_bytes())
    (data / "llava.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in rows))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert run_cli("mix", data / "llava.json", "-o", a, "--fraction", "0.3", "--seed", "4")[0] == 0
    assert run_cli("mix", data / "llava.jsonl", "-o", b, "--fraction", "0.3", "--seed", "4")[0] == 0
    assert a.read_bytes() == b.read_bytes()


# ------------------------------------------------------------------------------------ LLaMA-Factory
def _lf_resolve(dataset_dir, image):
    """LLaMA-Factory's DatasetConverter._find_medias: join to media_dir (default dataset_dir) if a file."""
    p = os.path.join(dataset_dir, image)
    return p if os.path.isfile(p) else image


@pytest.mark.parametrize("to,columns,tags", [
    ("llava", {"messages": "conversations", "images": "image"}, ("from", "value", "human", "gpt")),
    ("messages", {"messages": "messages", "images": "images"}, ("role", "content", "user", "assistant")),
])
def test_llamafactory_dataset_info_entry_merged(run_cli, data, tmp_path, to, columns, tags):
    info = tmp_path / "dataset_info.json"
    info.write_text(json.dumps({"mllm_demo": {"file_name": "mllm_demo.json"}, "mix": {"file_name": "old.json"}}))
    out = tmp_path / f"mix-{to}.json"
    code, _, err = run_cli("mix", data / "llava.json", "-o", out, "--fraction", "0.5", "--out-format", to,
                           "--llamafactory", "mix")
    assert code == 0, err
    doc = json.loads(info.read_text())
    assert list(doc) == ["mllm_demo", "mix"] and doc["mllm_demo"] == {"file_name": "mllm_demo.json"}
    entry = doc["mix"]
    assert entry["file_name"] == out.name and entry["formatting"] == "sharegpt" and entry["columns"] == columns
    t = entry["tags"]
    assert (t["role_tag"], t["content_tag"], t["user_tag"], t["assistant_tag"]) == tags
    rows = orjson.loads(out.read_bytes())
    for row in rows:  # what LLaMA-Factory reads through the entry: messages and images resolving under dataset_dir
        msgs = row[columns["messages"]]
        assert msgs[0][t["role_tag"]] == t["user_tag"] and msgs[-1][t["role_tag"]] == t["assistant_tag"]
        imgs = row[columns["images"]]
        for img in [imgs] if isinstance(imgs, str) else imgs:
            assert os.path.isfile(_lf_resolve(str(tmp_path), img))


def test_llamafactory_rejects_hf_output_and_bad_info(run_cli, data, tmp_path):
    code, _, err = run_cli("mix", data / "llava.json", "-o", tmp_path / "hfout", "--fraction", "0.5",
                           "--llamafactory", "mix")
    assert code == 2 and "JSON or JSONL" in err and not (tmp_path / "hfout").exists()
    (tmp_path / "dataset_info.json").write_text("[1, 2")
    code, _, err = run_cli("mix", data / "llava.json", "-o", tmp_path / "m.json", "--fraction", "0.5",
                           "--llamafactory", "mix")
    assert code == 2 and "dataset_info.json: not valid JSON" in err
    assert (tmp_path / "dataset_info.json").read_text() == "[1, 2"


def test_mix_straight_to_trl(run_cli, data, tmp_path):
    out = tmp_path / "mix.trl.jsonl"
    code, _, err = run_cli("mix", data / "llava.json", "-o", out, "--fraction", "0.5", "--out-format", "trl")
    assert code == 0, err
    rows = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(rows) == N and sum(1 for r in rows if r.get("metadata", {}).get("refusal")) == N // 2
    for r in rows:
        assert len(r["images"]) == 1 and os.path.isabs(r["images"][0]) and os.path.isfile(r["images"][0])
        assert [p["type"] for p in r["messages"][0]["content"]] == ["image", "text"]


def test_convert_out_image_root(run_cli, data, tmp_path):
    out = tmp_path / "lf" / "m.json"
    out.parent.mkdir()
    code, _, err = run_cli("convert", data / "llava.json", "-o", out, "--to", "messages", "--out-image-root", tmp_path)
    assert code == 0, err
    assert [r["images"] for r in orjson.loads(out.read_bytes())][:2] == [["data/img/0.jpg"], ["data/img/1.jpg"]]
    read_records(out, image_root=tmp_path, check_images=True)
    code, _, err = run_cli("convert", data / "llava.json", "-o", tmp_path / "x.json", "--out-image-root", out.parent)
    assert code == 2 and "outside the output's image folder" in err and not (tmp_path / "x.json").exists()


def test_rebase_paths(tmp_path):
    from unmask.mix.output import Rebase

    (tmp_path / "a" / "b").mkdir(parents=True)
    up = Rebase(tmp_path)
    assert up.path("x/1.jpg", tmp_path / "a") == "a/x/1.jpg"
    assert up.path("../c/1.jpg", tmp_path / "a") == "c/1.jpg"  # still inside the target
    assert up.path(str(tmp_path / "a" / "2.jpg"), tmp_path / "a") == "a/2.jpg"
    assert up.path("unmask://blank?size=8", tmp_path / "a") == "unmask://blank?size=8"
    with pytest.raises(ValueError, match="outside"):
        up.path("../../etc/passwd", tmp_path / "a")
    down = Rebase(tmp_path / "a" / "b")
    assert down.path("b/3.jpg", tmp_path / "a") == "3.jpg"
    with pytest.raises(ValueError, match="outside"):
        down.path("3.jpg", tmp_path / "a")
