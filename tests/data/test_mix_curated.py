"""`unmask mix --curated`: VLGuard's own files as the paper used them (official layout, tiny fixture)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import orjson
import pytest
import yaml

FIX = Path(__file__).with_name("vlguard_official")
RECIPE = Path(__file__).resolve().parents[2] / "recipes" / "llava15-7b-paper.yaml"


@pytest.fixture
def llava_src(tmp_path):
    rows = [{"id": f"r{i}", "image": f"coco/{i}.jpg",
             "conversations": [{"from": "human", "value": f"<image>\nWhat is {i}?"},
                               {"from": "gpt", "value": f"It is {i}."}]} for i in range(6)]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(rows))
    return path


def _curated(rows):
    return [r for r in rows if r.get("metadata", {}).get("curated")]


def test_llava_format_file_is_read_as_it_is_with_unique_ids(run_cli, llava_src, tmp_path):
    out = tmp_path / "mix.json"
    code, _, err = run_cli("mix", llava_src, "-o", out, "--fraction", "0", "--curated",
                           FIX / "train_llava_format.json")
    assert code == 0, err
    official = json.loads((FIX / "train_llava_format.json").read_text())
    cur = _curated(orjson.loads(out.read_bytes()))
    assert len(cur) == len(official) == 5  # one record per image, as VLGuard's conversion writes them
    assert [r["id"] for r in cur] == ["Ads_303871", "HOD_0001", "Ads_303871#2", "privacyAlert_17", "hatefulMemes_42"]
    for got, ref in zip(cur, official, strict=True):
        assert got["conversations"] == ref["conversations"] and got["image"] == ref["image"]
        assert got["safe"] == ref["safe"] and "refusal" not in got["metadata"]
    assert [len(r["conversations"]) for r in cur] == [4, 2, 4, 4, 2]  # safe image: safe + unsafe, one record
    warn = [ln for ln in err.splitlines() if ln.startswith("warning:")]
    assert len(warn) == 1 and "record 2 (id 'Ads_303871')" in warn[0] and "also used by record 0" in warn[0]
    assert "'Ads_303871#2'" in warn[0]
    man = orjson.loads((tmp_path / "mix.json.manifest.json").read_bytes())
    assert man["params"]["curated_layout"] == "llava" and man["counts"]["curated_renamed_ids"] == 1
    assert man["counts"]["curated_records"] == 5


def test_raw_train_json_one_record_per_pair_with_unique_ids(run_cli, llava_src, tmp_path):
    out = tmp_path / "mix.json"
    code, _, err = run_cli("mix", llava_src, "-o", out, "--fraction", "0", "--curated", FIX / "train.json")
    assert code == 0, err
    ids = [r["id"] for r in _curated(orjson.loads(out.read_bytes()))]
    assert ids == ["Ads_303871-0", "Ads_303871-1", "HOD_0001-0", "Ads_303871#2-0", "Ads_303871#2-1",
                   "privacyAlert_17-0", "privacyAlert_17-1", "hatefulMemes_42-0"]
    assert len(set(ids)) == len(ids) and "renamed 'Ads_303871#2'" in err


def test_curated_count_counts_the_files_records(run_cli, llava_src, tmp_path):
    for name, n in (("train_llava_format.json", 5), ("train.json", 8)):
        out = tmp_path / f"{name}.mix.json"
        assert run_cli("mix", llava_src, "-o", out, "--fraction", "0", "--curated", FIX / name,
                       "--curated-count", 3)[0] == 0
        assert len(_curated(orjson.loads(out.read_bytes()))) == 3
        code, _, err = run_cli("mix", llava_src, "-o", tmp_path / "x.json", "--fraction", "0", "--curated",
                               FIX / name, "--curated-count", n + 1)
        assert code == 2 and f"larger than the curated set ({n})" in err


def _paper_layout(tmp_path: Path, llava_src: Path) -> dict:
    """The recipe's data section, laid out under tmp_path with the tiny files."""
    data = yaml.safe_load(RECIPE.read_text())["data"]
    (tmp_path / data["sources"][0]).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(llava_src, tmp_path / data["sources"][0])
    shutil.copy(FIX / "train_llava_format.json", tmp_path / data["curated"])  # data/vlguard/ exists already
    shutil.copytree(FIX / "train", tmp_path / data["curated_images"])
    return data


def test_paper_recipe_image_layout_resolves_and_check_images_checks_curated(run_cli, llava_src, tmp_path,
                                                                             monkeypatch):
    (tmp_path / "data" / "vlguard").mkdir(parents=True)
    data = _paper_layout(tmp_path, llava_src)
    assert data["curated_images"].startswith(data["image_root"] + "/")
    monkeypatch.chdir(tmp_path)
    for i in range(6):  # the main source's images, so that --check-images passes on them
        (tmp_path / data["image_root"] / "coco").mkdir(parents=True, exist_ok=True)
        shutil.copy(FIX / "train" / "HOD" / "0001.png", tmp_path / data["image_root"] / "coco" / f"{i}.jpg")
    args = ["mix", data["sources"][0], "-o", "mix.json", "--fraction", "0", "--image-root", data["image_root"],
            "--curated", data["curated"], "--curated-images", data["curated_images"], "--check-images"]
    code, _, err = run_cli(*args)
    assert code == 0, err
    cur = _curated(orjson.loads((tmp_path / "mix.json").read_bytes()))
    for r in cur:  # paths now relative to the image root, and there
        assert r["image"].startswith("vlguard/") and (tmp_path / data["image_root"] / r["image"]).is_file()
    # --check-images decodes the curated images too: a corrupt one is exit 2 naming the file and the record
    (tmp_path / data["curated_images"] / "HOD" / "0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    code, _, err = run_cli(*args[:3], "mix2.json", *args[4:])
    assert code == 2 and data["curated"] in err and "'HOD_0001'" in err and "cannot be decoded" in err
    assert not (tmp_path / "mix2.json").exists()
    # without --curated-images the same paths would not resolve under the root: the recipe needs it
    code, _, err = run_cli(*args[:3], "mix3.json", *args[4:10], "--check-images")
    assert code == 2 and "not found" in err


def test_curated_images_outside_the_root_is_an_error(run_cli, llava_src, tmp_path):
    code, _, err = run_cli("mix", llava_src, "-o", tmp_path / "m.json", "--fraction", "0", "--image-root",
                           tmp_path / "root", "--curated", FIX / "train.json", "--curated-images", FIX / "train")
    assert code == 2 and "must lie under the image root" in err


def test_raw_train_json_converted_as_vlguards_script_equals_its_output(run_cli, llava_src, tmp_path):
    """``--curated-layout llava`` on train.json gives what VLGuard's convert_to_llava_format.py wrote
    (the fixture's train_llava_format.json came from running that script on the fixture's train.json)."""
    from unmask.mix.vlguard import vlguard_llava_format

    official = json.loads((FIX / "train_llava_format.json").read_text())
    assert vlguard_llava_format(FIX / "train.json") == official
    outs = []
    for args in (["--curated", FIX / "train.json", "--curated-layout", "llava"],
                 ["--curated", FIX / "train_llava_format.json"]):
        out = tmp_path / f"m{len(outs)}.json"
        code, _, err = run_cli("mix", llava_src, "-o", out, "--fraction", "0", *args)
        assert code == 0, err
        outs.append(_curated(orjson.loads(out.read_bytes())))
    assert outs[0] == outs[1]
    code, _, err = run_cli("mix", llava_src, "-o", tmp_path / "x.json", "--fraction", "0", "--curated",
                           FIX / "train_llava_format.json", "--curated-layout", "pairs")
    assert code == 2 and "no instruction-response pairs" in err
