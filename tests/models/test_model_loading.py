"""Loading refuses what would fail later; synthetic images; ``unmask inspect-batch`` shows the masking."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from unmask.cli import main
from unmask.data.images import open_image
from unmask.errors import UnmaskError
from unmask.models.adapt import lora_target_regex
from unmask.models.loading import load_model


def _run(argv, capsys):
    try:
        main(argv)
        code = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_missing_model_path_is_one_line_exit_2(tmp_path, capsys):
    (tmp_path / "d.json").write_text("[]")
    code, _, err = _run(
        ["inspect-batch", str(tmp_path / "d.json"), "--model", str(tmp_path / "nope")], capsys
    )
    assert code == 2
    assert err.strip().count("\n") == 0 and "no such model folder" in err


def test_pickle_only_checkpoint_is_refused(tiny_ckpt, tmp_path):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_ckpt("llava"), folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(UnmaskError, match="only pickle weights .*safetensors only"):
        load_model(str(folder))


def test_processor_of_another_family_is_refused(tiny_ckpt):
    with pytest.raises(UnmaskError, match="processor LlavaNextProcessor does not match a llava model"):
        load_model(str(tiny_ckpt("llava")), processor=str(tiny_ckpt("llava_next")))


def test_processor_with_wrong_image_size_is_caught_by_the_dry_run(tiny_ckpt, tmp_path):
    folder = tmp_path / "mismatch"
    shutil.copytree(tiny_ckpt("llava"), folder)
    cfg_path = folder / "processor_config.json"
    doc = json.loads(cfg_path.read_text())
    doc["image_processor"]["crop_size"] = {"height": 56, "width": 56}  # 64 image tokens; the tower makes 16
    doc["image_processor"]["size"] = {"shortest_edge": 56}
    cfg_path.write_text(json.dumps(doc))
    with pytest.raises(UnmaskError, match="processor and model do not match"):
        load_model(str(folder))


def test_lora_regex_targets_language_model_only(tiny_ckpt):
    import re

    loaded = load_model(str(tiny_ckpt("llava")), check=False)
    regex = lora_target_regex(loaded.family)
    hits = [n for n, _ in loaded.model.named_modules() if re.fullmatch(regex, n)]
    assert hits and all(n.startswith("model.language_model.") for n in hits)
    # the vision tower has q_proj too: the trap a bare "q_proj" target falls into
    assert any(
        n.startswith("model.vision_tower.") and n.endswith("q_proj") for n, _ in loaded.model.named_modules()
    )


def test_synthetic_images_are_deterministic_and_checked(tmp_path):
    a = np.asarray(open_image("unmask://noise?seed=5&size=16"))
    b = np.asarray(open_image("unmask://noise?seed=5&size=16"))
    c = np.asarray(open_image("unmask://noise?seed=6&size=16"))
    assert a.shape == (16, 16, 3) and (a == b).all() and not (a == c).all()
    assert (np.asarray(open_image("unmask://blank?size=8")) == 255).all()
    with pytest.raises(UnmaskError, match="unknown synthetic image 'fog'"):
        open_image("unmask://fog?size=8")
    with pytest.raises(UnmaskError, match="escapes the image root"):
        open_image("../x.png", tmp_path)


def test_inspect_batch_marks_trained_tokens(tiny_ckpt, tmp_path, capsys):
    from PIL import Image

    Image.new("RGB", (30, 30), "red").save(tmp_path / "a.png")
    rows = [
        {
            "id": "r1",
            "image": "a.png",
            "conversations": [
                {"from": "human", "value": "<image>\nwhat colour is the secret zebra?"},
                {"from": "gpt", "value": "it is red"},
            ],
        }
    ]
    (tmp_path / "d.json").write_text(json.dumps(rows))
    code, out, _ = _run(
        ["inspect-batch", str(tmp_path / "d.json"), "--model", str(tiny_ckpt("llava")), "-n", "1"], capsys
    )
    assert code == 0
    assert "[[ it is red</s>]]" in out
    assert "zebra" in out and "[[" not in out.split("zebra")[0].split("record 0")[1]
    assert "<image x 16>" in out
