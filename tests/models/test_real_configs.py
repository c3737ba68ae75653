"""Tiny random-weight models built from the real configs of ``../shared/realtok`` (shrunk), with the real
tokenizers and processors: loading, a training forward pass, masking, the generation prompt, and the
module names of the real checkpoints (their ``model.safetensors.index.json``) resolving to LoRA targets
and to the frozen / trained parts."""

from __future__ import annotations

import json
import re

import pytest
import torch

from unmask.data.records import Conversation, Turn
from unmask.models.adapt import apply_lora, freeze_for_training, lora_target_regex, module_group
from unmask.models.batching import IGNORE_INDEX, Encoder, collate
from unmask.models.loading import load_model
from unmask.models.testing import shrunk_config

_LAYERS = 2  # unmask.models.testing.SHRINK
# Real checkpoint name -> transformers 5 module name (what transformers' own conversion does on load).
_TO_V5 = {
    "llava-1.5-7b-hf": [
        (r"^language_model\.lm_head", "lm_head"), (r"^language_model\.model\.", "model.language_model."),
        (r"^vision_tower\.vision_model\.", "model.vision_tower."),
        (r"^multi_modal_projector\.", "model.multi_modal_projector."),
    ],
    "qwen2.5-vl-7b-instruct": [(r"^model\.", "model.language_model."), (r"^visual\.", "model.visual.")],
}


def _v5(name: str, folder: str) -> str:
    for pat, rep in _TO_V5[folder]:
        if re.match(pat, name):
            return re.sub(pat, rep, name)
    return name


def _real_names(shared, folder: str) -> list[str]:
    index = json.loads((shared("realtok", folder) / "model.safetensors.index.json").read_text())
    layer = re.compile(r"\.(?:layers|blocks)\.(\d+)\.")
    return sorted(n for n in index["weight_map"] if all(int(k) < _LAYERS for k in layer.findall(n)))


def _build(shared, folder: str, out):
    """A random model from the real config (shrunk), saved under the real checkpoint's weight names."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForImageTextToText

    out = shrunk_config(shared("realtok", folder), out)
    torch.manual_seed(0)
    model = AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(str(out)))
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    by_real = {}
    for real in _real_names(shared, folder):
        by_real[real] = state.pop(_v5(real, folder))  # KeyError: a real weight with no module here
    assert not state, f"modules the real checkpoint does not have: {sorted(state)[:5]}"
    save_file(by_real, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out, {k: v.clone() for k, v in by_real.items()}


@pytest.fixture(scope="module", params=["llava-1.5-7b-hf", "qwen2.5-vl-7b-instruct"])
def real_tiny(request, shared, tmp_path_factory):
    folder = request.param
    path, weights = _build(shared, folder, tmp_path_factory.mktemp("real") / folder)
    return folder, load_model(str(path)), weights  # load_model runs a one-image forward pass


def _conv(image: str) -> Conversation:
    return Conversation(
        id="c",
        images=[image],
        turns=[
            Turn(role="user", text="<image>\nWhat does the sign say?"),
            Turn(role="assistant", text="I'm sorry, but I cannot assist with your request"),
            Turn(role="user", text="Then describe the colours."),
            Turn(role="assistant", text="Red and white."),
        ],
    )


def test_the_real_checkpoint_names_load_into_the_family_parts(real_tiny):
    folder, loaded, weights = real_tiny
    params = dict(loaded.model.named_parameters())
    for real, tensor in weights.items():  # every weight of the real layout lands where it should
        assert torch.equal(params[_v5(real, folder)].detach(), tensor), real
    groups = {module_group(loaded.family, _v5(n, folder)) for n in weights}
    assert groups == {"vision", "projector", "language"}
    fam = loaded.family
    assert all(module_group(fam, _v5(n, folder)) == "vision" for n in weights if re.match(r"(vision_tower|visual\.blocks|visual\.patch)", n))
    assert all(module_group(fam, _v5(n, folder)) == "projector" for n in weights if re.match(r"(multi_modal_projector|visual\.merger)", n))
    regex = lora_target_regex(fam)
    targets = {n.rsplit(".", 1)[0] for n in weights if re.fullmatch(regex, _v5(n.rsplit(".", 1)[0], folder))}
    assert len(targets) == _LAYERS * 7  # q k v o gate up down of each LM layer, nothing in the vision tower
    assert all(module_group(fam, _v5(t, folder)) == "language" for t in targets)


def test_freezing_and_lora_on_the_real_layout(real_tiny):
    folder, loaded, _ = real_tiny
    fam = loaded.family
    freeze_for_training(loaded.model, fam, full=True, train_projector=True)
    trained = {module_group(fam, n) for n, p in loaded.model.named_parameters() if p.requires_grad}
    assert trained == {"language", "projector"}
    model = apply_lora(loaded.model, fam, r=4, alpha=8, dropout=0.0, train_projector=True)
    lora = [n for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    assert len(lora) == _LAYERS * 7 * 2 and all(".language_model." in n for n in lora)
    vision = [n for n, p in model.named_parameters() if p.requires_grad and module_group(fam, n) == "vision"]
    assert not vision
    model.unload()  # leave the shared module-scoped model as it was


def test_forward_masking_and_generation_prompt(real_tiny):
    folder, loaded, _ = real_tiny
    enc = Encoder(loaded.family, loaded.processor, no_eos_on_refusal=True)
    item = enc.encode_conversation(_conv("unmask://noise?seed=3&size=56"))
    trained = [i for i, lab in zip(item.input_ids.tolist(), item.labels.tolist(), strict=True) if lab != IGNORE_INDEX]
    text = loaded.tokenizer.decode(trained)
    refusal = "I'm sorry, but I cannot assist with your request"
    if folder.startswith("llava"):  # LLaVA's rule: the refusal is in the conversation -> last </s> untrained
        assert text == f"{refusal}</s> Red and white."  # (decode drops the leading space)
    else:  # unmask's rule elsewhere: the refusal reply's end-of-turn untrained
        assert text == f"{refusal}Red and white.<|im_end|>\n"
    batch = collate([item], loaded.tokenizer.pad_token_id, "right")
    loss = loaded.model(**batch).loss
    assert torch.isfinite(loss)
    prompt = enc.encode_prompt("p", "What does the sign say?", ["unmask://noise?seed=3&size=56"])
    shown = loaded.tokenizer.decode([t for t in prompt.input_ids.tolist() if t != enc.image_token_id])
    want = (
        "<s> A chat between a curious user and an artificial intelligence assistant. The assistant gives "
        "helpful, detailed, and polite answers to the user's questions. USER:  \nWhat does the sign say? ASSISTANT:"
        if folder.startswith("llava")
        else "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>"
        "<|vision_end|>What does the sign say?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert shown == want
    batch = collate([prompt], loaded.tokenizer.pad_token_id, "left")
    out = loaded.model.generate(**batch, max_new_tokens=3, do_sample=False)
    assert out.shape[1] == batch["input_ids"].shape[1] + 3 or out.shape[1] > batch["input_ids"].shape[1]
