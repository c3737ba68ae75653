"""`unmask convert --to trl`: TRL SFTTrainer's vision layout, checked with `datasets` and the real LLaVA-1.5
processor's chat template (TRL itself is not a dependency; scripts/check_trl.py runs TRL's own helper)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

REALTOK = Path("/work/shared/realtok/llava-1.5-7b-hf")


@pytest.fixture
def src(tmp_path):
    (tmp_path / "img").mkdir()
    for i in range(3):
        Image.new("RGB", (16, 16), (0, 80 * i, 0)).save(tmp_path / "img" / f"{i}.png")
    rows = [
        {"id": "a", "image": "img/0.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is this?"}, {"from": "gpt", "value": "A square."},
            {"from": "human", "value": "Colour?"}, {"from": "gpt", "value": "Black."}]},
        {"id": "b", "image": "img/1.png", "conversations": [  # no marker: LLaVA puts the image first
            {"from": "human", "value": "Describe."}, {"from": "gpt", "value": "Green."}],
         "metadata": {"refusal": True}},
        {"id": "c", "conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}]},
        {"id": "d", "image": ["img/1.png", "img/2.png"], "conversations": [
            {"from": "human", "value": "<image>\nand\n<image>\ncompare"}, {"from": "gpt", "value": "Same."}]},
    ]
    path = tmp_path / "llava.json"
    path.write_text(json.dumps(rows))
    return path


def _prepare_like_trl(messages, images):
    """The checks of trl.data_utils.prepare_multimodal_messages (TRL 1.16) on already-structured content:
    unfilled image parts must equal the images; then they are filled in order."""
    n = sum(1 for m in messages for p in m["content"] if p["type"] == "image" and "image" not in p)
    assert n == len(images)
    it = iter(images)
    return [{**m, "content": [{**p, "image": next(it)} if p["type"] == "image" else p for p in m["content"]]}
            for m in messages]


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_trl_layout_loads_with_datasets_and_renders_one_image_run_per_image(run_cli, src, tmp_path, suffix):
    import datasets

    out = tmp_path / f"trl{suffix}"
    code, _, err = run_cli("convert", src, "-o", out, "--to", "trl")
    assert code == 0 and "(trl)" in err, err
    ds = datasets.load_dataset("json", data_files=str(out), split="train")
    assert ds.num_rows == 4 and set(ds.column_names) >= {"id", "messages", "images"}
    rows = ds.to_list()
    for row in rows:
        assert isinstance(row["images"], list)
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in row["images"])
        for m in row["messages"]:
            assert isinstance(m["content"], list)
            assert all("<image>" not in (p["text"] or "") for p in m["content"] if p["type"] == "text")
    by_id = {r["id"]: r for r in rows}
    first = by_id["a"]["messages"][0]["content"]
    assert [p["type"] for p in first] == ["image", "text"] and first[1]["text"] == "What is this?"
    assert [p["type"] for p in by_id["b"]["messages"][0]["content"]] == ["image", "text"]
    assert by_id["b"]["metadata"]["refusal"] is True and by_id["c"]["images"] == []
    assert [p["type"] for p in by_id["d"]["messages"][0]["content"]] == ["image", "text", "image", "text"]

    if not REALTOK.is_dir():
        pytest.skip("no real LLaVA processor files")
    from transformers import AutoProcessor

    proc = AutoProcessor.from_pretrained(str(REALTOK))
    image_id = proc.tokenizer.convert_tokens_to_ids("<image>")
    per_image = (336 // 14) ** 2  # CLIP-L/336: 576 patch tokens (+1 CLS dropped by the default strategy)
    for row in rows:
        images = [Image.open(p) for p in row["images"]]
        # strip the None keys Arrow adds to parts (datasets unifies {"type","text"} and {"type"})
        msgs = [{**m, "content": [{k: v for k, v in p.items() if v is not None} for p in m["content"]]}
                for m in row["messages"]]
        enc = proc.apply_chat_template([_prepare_like_trl(msgs, images)], tokenize=True, return_dict=True)
        ids = enc["input_ids"][0]
        assert sum(1 for t in ids if t == image_id) == per_image * len(images), row["id"]
        text = proc.tokenizer.decode(ids)
        assert "<image>\n\n" not in text and "<image><image>" not in text.replace("<image>" * per_image, "I")


def test_trl_refuses_synthetic_images(run_cli, src, tmp_path):
    out = tmp_path / "mix.json"
    assert run_cli("mix", src, "-o", out, "--fraction", "1", "--refusal-image", "blank")[0] == 0
    code, _, err = run_cli("convert", out, "-o", tmp_path / "trl.jsonl", "--to", "trl")
    assert code == 2 and "synthetic image" in err and "record 'a'" in err
    assert not (tmp_path / "trl.jsonl").exists()
