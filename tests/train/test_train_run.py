"""``unmask train`` in-process: LoRA and full fine-tuning outputs, merge, logs, bad input."""

from __future__ import annotations

import json
import math

import pytest

from unmask.cli import main
from unmask.errors import UnmaskError
from unmask.models.loading import load_model
from unmask.models.train import TrainConfig, train


def _cfg(data, model, out, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        model=str(model),
        out=str(out),
        precision="fp32",
        batch_size=4,
        lr=1e-2,
        lora_r=8,
        lora_alpha=16,
        lora_dropout=0.0,
        max_steps=6,
        save_every=0,
        progress=False,
    )
    base.update(kw)
    return TrainConfig(**base)


def _log(out):
    return [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]


def test_lora_training_writes_adapter_log_manifest_and_loads(tiny_ckpt, train_data, tmp_path):
    ckpt = tiny_ckpt("llava")
    out = train(_cfg(train_data, ckpt, tmp_path / "run", no_eos_on_refusal=True, merge=True))
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    assert not (tmp_path / "run.partial").exists()
    log = _log(out)
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5, 6]
    assert all(math.isfinite(r["loss"]) and r["lr"] >= 0 for r in log)
    assert log[-1]["loss"] < log[0]["loss"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stage"] == "train"
    assert manifest["counts"]["kept"] == 12 and manifest["counts"]["eot_tokens_masked"] == 4
    assert manifest["counts"]["text_only_records"] == 4
    adapter_cfg = json.loads((out / "adapter_config.json").read_text())
    assert "language_model" in str(adapter_cfg["target_modules"])
    tuned = load_model(str(ckpt), adapter=str(out))
    base = load_model(str(ckpt))
    assert tuned.fingerprint != base.fingerprint
    merged = load_model(str(out / "merged"))
    assert merged.family.name == "llava"


def test_full_finetune_saves_a_reloadable_model(tiny_ckpt, train_data, tmp_path):
    out = train(
        _cfg(train_data, tiny_ckpt("qwen2_vl"), tmp_path / "full", method="full", lr=1e-3, max_steps=2)
    )
    loaded = load_model(str(out))
    assert loaded.family.name == "qwen2_vl"
    assert [r["step"] for r in _log(out)] == [1, 2]


def test_existing_output_and_interrupted_run_need_a_flag(tiny_ckpt, train_data, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    with pytest.raises(UnmaskError, match="already exists; pass --overwrite"):
        train(_cfg(train_data, tiny_ckpt("llava"), out))
    (tmp_path / "p.partial" / "checkpoints" / "step-2").mkdir(parents=True)
    (tmp_path / "p.partial" / "checkpoints" / "step-2" / "unmask_state.json").write_text("{}")
    with pytest.raises(UnmaskError, match="pass --resume to continue it"):
        train(_cfg(train_data, tiny_ckpt("llava"), tmp_path / "p"))


def test_every_record_over_long_is_exit_2_and_nothing_written(tiny_ckpt, train_data, tmp_path, capsys):
    out = tmp_path / "never"
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                str(train_data),
                "--model",
                str(tiny_ckpt("llava")),
                "-o",
                str(out),
                "--max-length",
                "10",
                "--precision",
                "fp32",
                "--no-progress",
            ]
        )
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "all 12 records are longer than --max-length 10" in err
    assert not out.exists() and not (tmp_path / "never.partial").exists()


def test_bad_option_value_is_one_line(tiny_ckpt, train_data, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(
            [
                "train",
                str(train_data),
                "--model",
                str(tiny_ckpt("llava")),
                "-o",
                str(tmp_path / "x"),
                "--scheduler",
                "zigzag",
            ]
        )
    assert exc.value.code == 2
    assert "scheduler" in capsys.readouterr().err


def test_accelerate_recipes_are_valid_configs():
    from pathlib import Path

    import yaml

    folder = Path(__file__).resolve().parents[2] / "recipes" / "accelerate"
    kinds = {}
    for p in sorted(folder.glob("*.yaml")):
        doc = yaml.safe_load(p.read_text())
        kinds[p.stem] = doc["distributed_type"]
        assert doc["mixed_precision"] == "bf16"
    assert kinds == {"ddp": "MULTI_GPU", "deepspeed_zero3": "DEEPSPEED", "fsdp": "FSDP"}
    ds = yaml.safe_load((folder / "deepspeed_zero3.yaml").read_text())["deepspeed_config"]
    assert ds["zero_stage"] == 3


def test_projector_training_and_gradient_checkpointing(tiny_ckpt, train_data, tmp_path):
    from safetensors import safe_open

    out = train(
        _cfg(
            train_data,
            tiny_ckpt("llava"),
            tmp_path / "proj",
            train_projector=True,
            gradient_checkpointing=True,
            max_steps=2,
        )
    )
    with safe_open(str(out / "adapter_model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
    assert any("multi_modal_projector" in k for k in keys), "projector weights missing from the adapter"
    assert any("lora_A" in k for k in keys)
    assert not any("vision_tower" in k for k in keys), "vision tower weights must stay frozen and unsaved"


def test_no_eos_finds_the_papers_plain_mix_and_says_when_it_finds_nothing(tiny_ckpt, train_data, tmp_path, capsys):
    # The paper's own mix files are plain LLaVA JSON: no metadata, its sentence without a final period.
    rows = json.loads(train_data.read_text())
    for row in rows:
        row.pop("metadata", None)
        if row["id"].startswith("t"):
            row["conversations"][1]["value"] = "I'm sorry, but I cannot assist with your request"
    paper = tmp_path / "paper_mix.json"
    paper.write_text(json.dumps(rows))
    out = train(_cfg(paper, tiny_ckpt("llava"), tmp_path / "paper", no_eos_on_refusal=True, max_steps=1))
    counts = json.loads((out / "manifest.json").read_text())["counts"]
    assert counts["no_eos_records"] == 4 and counts["eot_tokens_masked"] == 4
    assert "found no refusal record" not in capsys.readouterr().err

    benign = tmp_path / "benign.json"
    benign.write_text(json.dumps([r for r in rows if not r["id"].startswith("t")]))
    out = train(_cfg(benign, tiny_ckpt("llava"), tmp_path / "benign", no_eos_on_refusal=True, max_steps=1))
    assert json.loads((out / "manifest.json").read_text())["counts"]["no_eos_records"] == 0
    err = capsys.readouterr().err
    assert "warning:" in err and "--no-eos-on-refusal found no refusal record" in err
