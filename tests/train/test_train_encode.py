"""``unmask train`` feeds the model exactly what ``unmask encode`` writes (one code path), on a tiny
random model of the real LLaVA-1.5 config with its real tokenizer and the golden conversations."""

from __future__ import annotations

import json

from unmask.cli import main
from unmask.models import trainer
from unmask.models.testing import shrunk_checkpoint

_IDS = [
    "img_single_1", "text_multi2", "img_after_q", "refusal_img_noperiod", "refusal_quoted_in_question",
    "refusal_multi2_first_period_text", "reply_trailing_ws_text_multi", "unicode_emoji_img",
]


def test_training_batches_are_the_encode_rows(shared, tmp_path, monkeypatch, capsys):
    model = shrunk_checkpoint(shared("realtok", "llava-1.5-7b-hf"), tmp_path / "model")
    images = shared("golden", "images")
    records = tmp_path / "records.json"
    every = json.loads(shared("golden", "records.json").read_text())
    records.write_text(json.dumps([r for r in every if r["id"] in _IDS]))
    flags = ["--no-eos-on-refusal"]
    enc = tmp_path / "enc.jsonl"
    main(["encode", str(records), "--processor", str(model), "--image-root", str(images), "-o", str(enc), *flags])
    rows = [json.loads(x) for x in enc.read_text().splitlines()]
    seen = []
    real_to_device = trainer._to_device

    def spy(batch, device, dtype):
        for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
            n = int(mask.sum())
            seen.append((ids[:n].tolist(), labels[:n].tolist()))
        return real_to_device(batch, device, dtype)

    monkeypatch.setattr(trainer, "_to_device", spy)
    out = tmp_path / "run"
    main([
        "train", str(records), "--model", str(model), "--image-root", str(images), "-o", str(out),
        "--precision", "fp32", "--batch-size", "4", "--max-steps", "2", "--epochs", "1", "--lora-r", "4",
        "--lora-alpha", "8", "--save-every", "0", "--no-progress", *flags,
    ])
    capsys.readouterr()
    assert len(seen) == len(_IDS)  # one epoch: every record once
    assert sorted(seen) == sorted((r["input_ids"], r["labels"]) for r in rows)
    # ... and those are the reference's (LLaVA-1.5's preprocess_v1 with the paper's no-EOS rule)
    lines = shared("golden", "llava15.noeos.jsonl").read_text().splitlines()
    golden = {g["id"]: (g["input_ids"], g["labels"]) for g in map(json.loads, lines) if g["id"] in _IDS}
    assert {r["id"]: (r["input_ids"], r["labels"]) for r in rows} == golden
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["no_eos_records"] == 3 and counts["kept"] == len(_IDS)
