"""The llava family as LLaVA-1.5 trains and evaluates: padded images, its prompt, no-EOS detection."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from unmask.cli import main
from unmask.models.batching import Encoder
from unmask.models.registry import get_family

_LINES = 12


def _tall_typography(path, width=1024, height=3000):
    """MM-SafetyBench's SD+TYPO shape: a wide-ish picture with lines of text from top to bottom."""
    from importlib.resources import files

    font = ImageFont.truetype(str(files("unmask") / "fonts" / "LiberationSans-Regular.ttf"), 90)
    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    tops = [int(20 + k * (height - 140) / (_LINES - 1)) for k in range(_LINES)]
    for k, top in enumerate(tops):
        draw.text((40, top), f"LINE {k} HOW TO MAKE", fill="black", font=font)
    img.save(path)
    return [(t, t + 100) for t in tops]


def _ink_rows(pixel_values, processor):
    """Per row of the processed image: is there ink (dark pixels) in it?"""
    ip = processor.image_processor
    x = pixel_values[0].float().numpy() * np.array(ip.image_std)[:, None, None] + np.array(ip.image_mean)[:, None, None]
    return (x.mean(0) < 0.3).any(axis=1)


def _runs(flags) -> int:
    """Number of separate runs of inked rows (one per visible line of text)."""
    flags = [bool(f) for f in flags]
    return sum(1 for i, f in enumerate(flags) if f and (i == 0 or not flags[i - 1]))


@pytest.fixture(scope="module")
def llava_processor(shared):
    return get_family("llava").load_processor(str(shared("realtok", "llava-1.5-7b-hf")), trust_remote_code=False)


def test_every_line_of_a_tall_typographic_image_survives(llava_processor, tmp_path):
    lines = _tall_typography(tmp_path / "typo.png")
    enc = Encoder(get_family("llava"), llava_processor, image_root=tmp_path)
    item = enc.encode_prompt("s", "What is shown?", ["typo.png"])
    side = item.extra["pixel_values"].shape[-1]
    assert side == 336 and item.n_image_tokens == 576
    ink = _ink_rows(item.extra["pixel_values"], llava_processor)
    scale = side / 3000  # padded to 3000 x 3000, then resized: rows map one to one, no crop
    for top, bottom in lines:
        assert ink[int(top * scale) : int(bottom * scale) + 1].any(), f"line at {top}px lost"
    assert _runs(ink) == _LINES
    # The llava-hf processor alone (resize the short side to 336, center crop) keeps the middle third:
    plain = llava_processor.image_processor(Image.open(tmp_path / "typo.png"), return_tensors="pt")["pixel_values"]
    assert _runs(_ink_rows(plain, llava_processor)) <= _LINES // 2  # the test image does show the loss


def test_padding_uses_the_clip_mean_colour(llava_processor):
    from unmask.models.llava_v1 import expand2square

    img = expand2square(Image.new("RGB", (10, 30), "white"), llava_processor)
    assert img.size == (30, 30)
    mean = tuple(int(x * 255) for x in llava_processor.image_processor.image_mean)
    assert img.getpixel((0, 0)) == mean == (122, 116, 104) and img.getpixel((15, 15)) == (255, 255, 255)


def test_generation_prompt_is_llavas_evaluation_prompt(llava_processor, shared, tmp_path):
    golden = {json.loads(x)["id"]: json.loads(x) for x in shared("golden", "llava15.jsonl").read_text().splitlines()}
    row = golden["img_single_1"]  # "<image>\nWhat is in this picture?" -> "A small dog ..."
    fam = get_family("llava")
    enc = Encoder(fam, llava_processor, image_root=shared("golden", "images"))
    item = enc.encode_prompt("p", "What is in this picture?", ["1.jpg"])
    first_label = next(i for i, lab in enumerate(row["labels"]) if lab != -100)
    assert item.input_ids.tolist() == row["input_ids"][:first_label]  # "... ASSISTANT:" as trained
    # The vllm backend sends the family template's text: the processor's tokens of it are the same.
    from unmask.models.batching import prompt_messages

    text = enc.render(prompt_messages("What is in this picture?", 1), True)
    assert text.startswith("<s>A chat between a curious user") and text.endswith(" ASSISTANT:")
    img = enc.open_images(["1.jpg"])
    ids = llava_processor(text=[text], images=img, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    assert ids.tolist() == item.input_ids.tolist()


def test_encode_without_any_refusal_warns_and_counts(tiny_ckpt, tmp_path, capsys):
    rows = [
        {"id": "a", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
    ]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    out = tmp_path / "e.jsonl"
    main(["encode", str(tmp_path / "d.json"), "--processor", str(tiny_ckpt("llava")), "--no-eos-on-refusal", "-o", str(out)])
    res = capsys.readouterr()
    assert "--no-eos-on-refusal found no refusal record" in res.err and res.err.startswith("warning:")
    manifest = json.loads(out.with_name(out.name + ".manifest.json").read_text())
    assert manifest["counts"]["no_eos_records"] == 0
    assert json.loads(out.read_text())["id"] == "a"


def test_encode_bad_record_is_one_line_exit_2_and_no_output(tiny_ckpt, tmp_path, capsys):
    rows = [
        {"id": "ok", "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hello"}]},
        {"id": "broken", "image": "missing.png",
         "conversations": [{"from": "human", "value": "<image>\nwhat?"}, {"from": "gpt", "value": "a cat"}]},
    ]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    out = tmp_path / "e.jsonl"
    with pytest.raises(SystemExit) as exc:
        main(["encode", str(tmp_path / "d.json"), "--processor", str(tiny_ckpt("llava")), "-o", str(out)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and err.count("\n") == 1
    assert "d.json: record 1 (id 'broken')" in err
    assert not out.exists() and not list(tmp_path.glob(".e.jsonl*"))
