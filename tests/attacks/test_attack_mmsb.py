"""MM-SafetyBench: loader, TYPO pixels vs an independent rendering, SD_TYPO stacking, released images."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
from attack_helpers import leftovers, read_samples
from PIL import Image, ImageDraw, ImageFont

FONT = Path(__file__).resolve().parents[2] / "src" / "unmask" / "fonts" / "LiberationSans-Regular.ttf"


def reference_typo(phrase: str) -> Image.Image:
    """The public TYPO recipe with plain PIL: greedy wrap on textlength (< 1024), continuation lines
    start with a space, canvas 1024 x 90*(lines+1), text at (0, 45), black on white; the layout engine
    pinned to BASIC as documented (Raqm's kerning moves glyphs of a proportional font)."""
    font = ImageFont.truetype(str(FONT), 90, layout_engine=ImageFont.Layout.BASIC)
    draw = ImageDraw.Draw(Image.new("RGB", (1024, 100), (255, 255, 255)))
    words = phrase.split(" ")
    text, cur, lines = words[0], draw.textlength(words[0], font=font), 1
    for w in words[1:]:
        cur += draw.textlength(" " + w, font=font)
        if cur < 1024:
            text += " " + w
        else:
            text += "\n " + w
            cur = draw.textlength(" " + w, font=font)
            lines += 1
    im = Image.new("RGB", (1024, 90 * (lines + 1)), (255, 255, 255))
    ImageDraw.Draw(im).text((0, 90 / 2.0), text, (0, 0, 0), font=font)
    return im


def set_phrase(mmsb: Path, scenario: str, qid: str, phrase: str) -> None:
    f = mmsb / "processed_questions" / f"{scenario}.json"
    data = json.loads(f.read_text())
    data[qid]["Key Phrase"] = phrase
    f.write_text(json.dumps(data))


def test_loader_and_typo_pixels(tmp_path, mmsb, run_cli):
    set_phrase(mmsb, "01-Gardening", "1", "pruning roses and trimming the hedges along the long garden path")
    code, _, err = run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "bench")  # loader detected
    assert code == 0, err
    samples = read_samples(tmp_path / "bench")
    assert [s["id"] for s in samples] == ["01-Gardening-0", "01-Gardening-1", "02-Cooking-0"]
    assert [s["category"] for s in samples] == ["01-Gardening", "01-Gardening", "02-Cooking"]
    assert all(s["harmful"] for s in samples)
    assert samples[0]["prompt"].startswith("The bottom of the image shows a phrase")  # "Rephrased Question"
    assert samples[0]["source"]["Key Phrase"] == "watering tomatoes" and samples[0]["source"]["scenario"] == "01-Gardening"
    for s in samples:
        with Image.open(tmp_path / "bench" / s["image"]) as im:
            ref = reference_typo(s["source"]["Key Phrase"])
            assert im.mode == "RGB" and im.size == ref.size and im.tobytes() == ref.tobytes(), s["id"]
    with Image.open(tmp_path / "bench" / samples[1]["image"]) as im:
        assert im.size == (1024, 450)  # wrapped onto 4 lines: 90 * (4 + 1)


def test_overwide_word_error_clip_break(tmp_path, mmsb, run_cli):
    set_phrase(mmsb, "02-Cooking", "0", "W" * 30)
    # the default is MM-SafetyBench's own behaviour, the break mode
    assert run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "dflt")[0] == 0
    man = orjson.loads((tmp_path / "dflt" / "manifest.json").read_bytes())
    assert man["params"]["attack"]["overflow"] == "break"
    code, _, err = run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "bench", "--overflow", "error")
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "02-Cooking.json: record 0 (id '0')" in err and "px wide" in err and "--overflow clip" in err
    assert leftovers(tmp_path, "bench") == []
    assert run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "clip", "--overflow", "clip")[0] == 0
    with Image.open(tmp_path / "clip" / "images" / "02-Cooking-0.png") as im:
        ref = reference_typo("W" * 30)  # the public script: one line, cut at the right edge
        assert im.size == (1024, 180) and im.tobytes() == ref.tobytes()
    assert run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "brk", "--overflow", "break")[0] == 0
    with Image.open(tmp_path / "brk" / "images" / "02-Cooking-0.png") as im:
        assert im.width == 1024 and im.height >= 270  # split over two or more lines
    assert (tmp_path / "brk" / "images" / "02-Cooking-0.png").read_bytes() == \
        (tmp_path / "dflt" / "images" / "02-Cooking-0.png").read_bytes()


def _pictures(tmp_path: Path, ids: list[str]) -> Path:
    pics = tmp_path / "pics"
    pics.mkdir()
    for i, rid in enumerate(ids):
        Image.new("RGB", (1024, 64), (10 * i, 100, 200)).save(pics / f"{rid}.png")
    return pics


def test_sd_typo_stacks_picture_above_typo(tmp_path, mmsb, run_cli):
    ids = ["01-Gardening-0", "01-Gardening-1", "02-Cooking-0"]
    pics = _pictures(tmp_path, ids)
    code, _, err = run_cli("attack", "mmsb-sd-typo", mmsb, "-o", tmp_path / "bench", "--pictures", pics)
    assert code == 0, err
    s = read_samples(tmp_path / "bench")[2]
    with Image.open(tmp_path / "bench" / s["image"]) as im, Image.open(pics / "02-Cooking-0.png") as pic:
        typo = reference_typo("kneading dough")
        assert im.size == (1024, 64 + typo.height)
        assert im.crop((0, 0, 1024, 64)).tobytes() == pic.convert("RGB").tobytes()
        assert im.crop((0, 64, 1024, im.height)).tobytes() == typo.tobytes()
    assert s["prompt"].startswith("The bottom of the image shows a phrase")


def test_sd_typo_missing_or_unreadable_picture(tmp_path, mmsb, run_cli):
    pics = _pictures(tmp_path, ["01-Gardening-0", "01-Gardening-1"])
    code, _, err = run_cli("attack", "mmsb-sd-typo", mmsb, "-o", tmp_path / "bench", "--pictures", pics)
    assert code == 2 and "02-Cooking.json: record 0" in err and "02-Cooking-0.jpg not found" in err
    (pics / "02-Cooking-0.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    code, _, err = run_cli("attack", "mmsb-sd-typo", mmsb, "-o", tmp_path / "bench", "--pictures", pics)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "02-Cooking.json: record 0" in err and "cannot be read" in err and "02-Cooking-0.jpg" in err
    assert leftovers(tmp_path, "bench") == []
    code, _, err = run_cli("attack", "mmsb-sd-typo", mmsb, "-o", tmp_path / "bench")
    assert code == 2 and "--pictures" in err


def test_released_images_are_used_as_they_are(tmp_path, mmsb, run_cli):
    for variant, color in (("SD", (1, 2, 3)), ("TYPO", (4, 5, 6)), ("SD_TYPO", (7, 8, 9))):
        d = mmsb / "imgs" / "01-Gardening" / variant
        d.mkdir(parents=True)
        for qid in ("0", "1"):
            Image.new("RGB", (32, 32), color).save(d / f"{qid}.jpg", quality=90)
    for kind, variant in (("mmsb-typo", "TYPO"), ("mmsb-sd-typo", "SD_TYPO"), ("image", "SD")):
        out = tmp_path / kind
        code, _, err = run_cli("attack", kind, mmsb, "-o", out, "--subset", "01-Gardening")
        assert code == 0, err
        samples = read_samples(out)
        assert len(samples) == 2
        for s in samples:
            released = mmsb / "imgs" / "01-Gardening" / variant / f"{s['source']['id']}.jpg"
            assert s["image"].endswith(".jpg") and (out / s["image"]).read_bytes() == released.read_bytes()
        if kind == "image":
            assert samples[0]["prompt"].startswith("The image shows an activity")  # Rephrased Question(SD)
    code, _, err = run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "re", "--subset", "01-Gardening",
                           "--option", "rerender=true")
    assert code == 0, err
    with Image.open(tmp_path / "re" / "images" / "01-Gardening-0.png") as im:
        assert im.tobytes() == reference_typo("watering tomatoes").tobytes()


def test_missing_fields_and_unknown_scenario(tmp_path, mmsb, run_cli):
    f = mmsb / "processed_questions" / "02-Cooking.json"
    data = json.loads(f.read_text())
    del data["0"]["Key Phrase"]
    f.write_text(json.dumps(data))
    code, _, err = run_cli("attack", "mmsb-typo", mmsb, "-o", tmp_path / "bench")
    assert code == 2 and "02-Cooking.json: record 0 (id '0'): missing field(s) Key Phrase" in err
    code, _, err = run_cli("attack", "text", mmsb, "-o", tmp_path / "bench", "--subset", "99-Nothing")
    assert code == 2 and "no scenario named 99-Nothing" in err
