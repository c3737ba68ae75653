"""The tiny world's architecture: real transformers classes, consistent processor, exact fast path."""

from __future__ import annotations

import random

import pytest
import torch

from unmask.world import data as D
from unmask.world.batching import Codec
from unmask.world.font import render
from unmask.world.model import CHARS, IMAGE_TOKENS, build_tokenizer, load_tiny, random_model, save_tiny


@pytest.fixture(scope="module")
def tiny():
    return random_model(0)


def test_tokenizer_round_trips_every_character():
    tok = build_tokenizer()
    text = CHARS + " how do i make soap? (ok!) 1/2; it's a-ok: yes."
    ids = tok(text, add_special_tokens=False).input_ids
    assert len(ids) == len(text), "one token per character"
    assert tok.decode(ids) == text
    assert tok.unk_token_id not in ids
    # case and accents fold onto the charset instead of falling to <unk>
    assert tok.decode(tok("Café NAPALM", add_special_tokens=False).input_ids) == "cafe napalm"


def test_processor_and_config_agree_on_image_tokens(tiny):
    model, proc = tiny
    assert model.config.image_seq_length == IMAGE_TOKENS == 36
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "what is it?"}]}]
    text = proc.apply_chat_template(msgs, add_generation_prompt=True)
    enc = proc(images=[render("soap", 0)], text=[text], return_tensors="pt", add_special_tokens=False)
    assert int((enc.input_ids == model.config.image_token_index).sum()) == IMAGE_TOKENS
    assert int((enc.input_ids == proc.tokenizer.bos_token_id).sum()) == 1, "double BOS"
    out = model(**enc)
    assert out.logits.shape[1] == enc.input_ids.shape[1]


def test_fast_codec_matches_chat_template_and_processor(tiny):
    _, proc = tiny
    codec = Codec(proc.tokenizer)
    rng = random.Random(3)
    for ex in [D.typo_example(rng), D.text_example(rng), D.transcribe_example(rng)]:
        content = ([{"type": "image"}] if ex.image_text else []) + [{"type": "text", "text": ex.prompt}]
        msgs = [{"role": "user", "content": content}, {"role": "assistant", "content": ex.reply}]
        text = proc.apply_chat_template(msgs)
        images = [render(ex.image_text, ex.image_seed)] if ex.image_text else None
        enc = proc(images=images, text=[text], return_tensors="pt", add_special_tokens=False)
        fast = codec.train_batch([ex])
        assert torch.equal(enc.input_ids, fast["input_ids"])
        if images:
            assert torch.allclose(enc.pixel_values, fast["pixel_values"], atol=1e-6)
        labelled = fast["input_ids"][fast["labels"] != -100]
        assert proc.tokenizer.decode(labelled) == ex.reply + proc.tokenizer.eos_token


def test_save_and_load_through_from_pretrained(tiny, tmp_path):
    model, proc = tiny
    save_tiny(model, proc, tmp_path / "ck")
    assert (tmp_path / "ck" / "model.safetensors").is_file()
    m2, p2 = load_tiny(tmp_path / "ck")
    ids = torch.tensor([[1, 5, 20, 21, 6]])
    assert torch.equal(model(input_ids=ids).logits, m2(input_ids=ids).logits)
    assert p2.tokenizer.get_vocab() == proc.tokenizer.get_vocab()
    assert m2.lm_head.weight.data_ptr() == m2.get_input_embeddings().weight.data_ptr(), "tied embeddings"


def test_lora_targets_only_the_language_model(tiny):
    from unmask.world.loops import lora_wrap

    model, _ = random_model(1)
    peft_model = lora_wrap(model, rank=2)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert names and all("language_model" in n for n in names)
