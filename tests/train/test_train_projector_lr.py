"""``projector_lr``: the projector trains at its own rate (LLaVA's ``mm_projector_lr``, the paper's 2e-5)."""

from __future__ import annotations

import json

import pytest

from unmask.models.adapt import apply_lora, module_group
from unmask.models.loading import load_model
from unmask.models.train import TrainConfig, train
from unmask.models.trainer import _param_groups


def _cfg(data, model, out, **kw) -> TrainConfig:
    base = dict(data=str(data), model=str(model), out=str(out), precision="fp32", batch_size=4, lr=1e-2,
                lora_r=8, lora_alpha=16, lora_dropout=0.0, max_steps=2, save_every=0, progress=False)
    return TrainConfig(**{**base, **kw})


def test_projector_in_its_own_group_at_its_own_rate(tiny_ckpt, train_data, tmp_path):
    loaded = load_model(str(tiny_ckpt("llava")))
    model = apply_lora(loaded.model, loaded.family, r=4, alpha=8, dropout=0.0, train_projector=True)
    cfg = _cfg(train_data, "x", tmp_path / "o", train_projector=True, projector_lr=2e-5)
    rest, proj = _param_groups(model, loaded.family, cfg)
    names = {id(p): n for n, p in model.named_parameters()}
    assert proj["lr"] == 2e-5 and "lr" not in rest  # the rest trains at cfg.lr, the optimizer default
    assert proj["params"] and all(module_group(loaded.family, names[id(p)]) == "projector" for p in proj["params"])
    assert rest["params"] and all("lora_" in names[id(p)] for p in rest["params"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    assert len(rest["params"]) + len(proj["params"]) == len(trainable)
    (only,) = _param_groups(model, loaded.family, _cfg(train_data, "x", tmp_path / "o", train_projector=True))
    assert len(only["params"]) == len(trainable)


def test_projector_lr_trains_and_is_recorded(tiny_ckpt, train_data, tmp_path):
    out = train(_cfg(train_data, tiny_ckpt("llava"), tmp_path / "run", train_projector=True, projector_lr=1e-3))
    saved = json.loads((out / "train_config.json").read_text())
    assert saved["projector_lr"] == 1e-3 and saved["train_projector"] is True
    with pytest.raises(ValueError, match="projector_lr needs train_projector"):
        _cfg(train_data, "x", tmp_path / "o", projector_lr=1e-3)
