"""Each family loads through the registry, trains one LoRA step on the LM only, and generates."""

from __future__ import annotations

import pytest
import torch

from unmask.data.records import Conversation, Turn
from unmask.models import detect_family, get_family
from unmask.models.adapt import apply_lora, module_group
from unmask.models.batching import Encoder, collate
from unmask.models.loading import load_model
from unmask.models.testing import TINY_CHECKPOINTS


def _records() -> list[Conversation]:
    return [
        Conversation(
            id="img",
            images=["unmask://noise?seed=3&size=48"],
            turns=[
                Turn(role="user", text="<image>\nwhat is shown?"),
                Turn(role="assistant", text="a red square on white"),
            ],
        ),
        Conversation(
            id="txt",
            turns=[Turn(role="user", text="describe a cake"), Turn(role="assistant", text="a cake is sweet")],
        ),
    ]


def _one_lora_step(loaded) -> None:
    fam = loaded.family
    base = loaded.model
    vision_before = {
        n: p.detach().clone() for n, p in base.named_parameters() if module_group(fam, n) == "vision"
    }
    lm_before = {
        n: p.detach().clone() for n, p in base.named_parameters() if module_group(fam, n) == "language"
    }
    model = apply_lora(base, fam, r=4, alpha=8, dropout=0.0)
    lora_names = [n for n, _ in model.named_parameters() if "lora_" in n]
    assert lora_names, "no LoRA parameters were created"
    assert all(module_group(fam, n) == "language" for n in lora_names), (
        "LoRA landed outside the language model"
    )
    assert not any(p.requires_grad for n, p in model.named_parameters() if module_group(fam, n) == "vision")
    lora_before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    enc = Encoder(fam, loaded.processor)
    batch = collate([enc.encode_conversation(c) for c in _records()], loaded.tokenizer.pad_token_id)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    loss = model(**batch).loss
    assert torch.isfinite(loss)
    loss.backward()
    opt.step()
    changed = [
        n for n, p in model.named_parameters() if n in lora_before and not torch.equal(p, lora_before[n])
    ]
    assert any("lora_B" in n for n in changed), "the LoRA step changed no LoRA weight"
    for n, p in model.base_model.model.named_parameters():
        if n in vision_before:
            assert torch.equal(p, vision_before[n]), f"vision tower parameter {n} changed"
        if n in lm_before:
            assert torch.equal(p, lm_before[n]), f"frozen base weight {n} changed under LoRA"


def _generate(loaded) -> list[str]:
    enc = Encoder(loaded.family, loaded.processor)
    items = [
        enc.encode_prompt("a", "what is shown?", ["unmask://blank?size=40"]),
        enc.encode_prompt("b", "hello there", []),
    ]
    batch = collate(items, loaded.tokenizer.pad_token_id, "left")
    with torch.no_grad():
        out = loaded.model.generate(
            **batch,
            max_new_tokens=5,
            min_new_tokens=5,
            do_sample=False,
            pad_token_id=loaded.tokenizer.pad_token_id,
        )
    new = out[:, batch["input_ids"].shape[1] :]
    assert new.shape == (2, 5)
    return loaded.tokenizer.batch_decode(new)


@pytest.mark.parametrize("checkpoint", TINY_CHECKPOINTS)
def test_family_loads_trains_one_lora_step_and_generates(checkpoint, tiny_ckpt):
    family = {"qwen2_5_vl": "qwen2_vl"}.get(checkpoint, checkpoint)
    path = tiny_ckpt(checkpoint)
    assert detect_family(str(path)).name == family  # autodetected from config.json model_type
    loaded = load_model(str(path))
    assert loaded.family.name == family
    assert any(c.__name__ in get_family(family).processor_classes for c in type(loaded.processor).__mro__)
    assert len(loaded.fingerprint) == 16
    assert all(isinstance(t, str) for t in _generate(loaded))
    _one_lora_step(loaded)


def test_tiny_family_loads_trains_and_generates():
    try:
        from unmask.world.model import load_tiny  # noqa: F401
    except ImportError:
        pytest.skip("unmask.world.model.load_tiny is not available yet (the tiny-world issue)")
    loaded = load_model("tiny")
    assert loaded.family.name == "tiny"
    _generate(loaded)
    _one_lora_step(loaded)


def test_qwen_template_maps_image_marker_to_vision_tokens(tiny_ckpt):
    loaded = load_model(str(tiny_ckpt("qwen2_vl")))
    enc = Encoder(loaded.family, loaded.processor)
    text = enc.render(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "hi"}]}], True
    )
    assert "<|vision_start|><|image_pad|><|vision_end|>" in text and "<image>" not in text
    item = enc.encode_prompt("q", "<image>\nhi", ["unmask://blank?size=56"])
    assert item.n_image_tokens == int(item.extra["image_grid_thw"].prod()) // 4  # merge 2x2 patches
    assert "mm_token_type_ids" in item.seq  # Qwen's M-RoPE needs it; collate pads it


def test_unknown_family_and_model_type_are_clear_errors(tmp_path):
    from unmask.errors import UnmaskError

    with pytest.raises(UnmaskError, match="unknown model family 'gpt9'"):
        get_family("gpt9")
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(UnmaskError, match="'bert' is not a supported family"):
        detect_family(str(tmp_path))
