"""`unmask bias`: refusal shares, distributions, plots."""

from __future__ import annotations

import json

import orjson
from PIL import Image


def test_bias_shows_the_refusal_gap(run_cli, tmp_path):
    llava = [{"id": str(i), "image": "x.jpg", "conversations": [
        {"from": "human", "value": "<image>\nWhat is it?"}, {"from": "gpt", "value": f"It is object number {i}."}]}
        for i in range(40)]
    guard = [{"id": str(i), "image": "x.jpg", "conversations": [
        {"from": "human", "value": "<image>\nq"},
        {"from": "gpt", "value": "I'm sorry, but I cannot assist with your request" if i % 2 else "Sure, here."}]}
        for i in range(40)]
    a, b = tmp_path / "llava.json", tmp_path / "guard.json"
    a.write_text(json.dumps(llava))
    b.write_text(json.dumps(guard))
    out = tmp_path / "bias"
    code, stdout, err = run_cli("bias", a, b, "--out", out)
    assert code == 0, err
    assert "llava" in stdout and "50.00%" in stdout and "0.00%" in stdout
    stats = orjson.loads((out / "bias.json").read_bytes())
    assert [s["refusal_share"] for s in stats] == [0.0, 0.5]
    assert stats[1]["refusal_template_share"] == 0.5 and stats[0]["image_share"] == 1.0
    assert stats[0]["top_openings"][0][0] == "it is object"
    for png in ("bias_refusal_share.png", "bias_reply_length.png", "bias_images_turns.png"):
        with Image.open(out / png) as im:
            assert im.size[0] > 200 and im.getextrema() != ((255, 255),) * len(im.getbands())
