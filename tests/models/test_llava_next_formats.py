"""LLaVA-NeXT: each checkpoint trains and is prompted in its language model's LLaVA conversation.

The formats are those of LLaVA's ``conversation.py`` (vicuna_v1, mistral_instruct, llava_llama_3); which
one is told by the checkpoint's tokenizer and llava-hf chat template. Tiny random LLaVA-NeXT models are
built from the real LLaVA-1.5 config (shrunk; LLaVA-1.6-vicuna has the same vicuna LM and CLIP-336
tower) with llava-v1.6's anyres grid and the real Llama-2 SentencePiece tokenizer (the vicuna one; for
the mistral format it stands in for Mistral's, which is the same kind of tokenizer).
"""

from __future__ import annotations

import json

import pytest
import torch

from unmask.data.records import Conversation, Turn
from unmask.models.batching import IGNORE_INDEX, Encoder, collate
from unmask.models.conversations import llava_next_format
from unmask.models.loading import load_model

# The llava-hf processors' chat templates (inference only: no end-of-turn after replies).
HF_VICUNA = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
HF_MISTRAL = (
    "{% for message in messages %}{% if message['role'] == 'system' %}{{ '<<SYS>>\n' + message['content'][0]['text']"
    " + '\n<</SYS>>\n\n' }}{% elif message['role'] == 'user' %}{{ '[INST] ' }}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'image') %}{{ '<image>\n' }}{% endfor %}{% for content in message['content'] "
    "| selectattr('type', 'equalto', 'text') %}{{ content['text'] }}{% endfor %}{{' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'][0]['text'] + '</s> '}}{% endif %}{% endfor %}"
)
HF_LLAMA3 = (
    "{% for message in messages %}{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'}}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}{{ '<image>' }}{% endfor %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\n' + content['text'] + '<|eot_id|>' }}{% endfor %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def _build_next(shared, out, chat_template: str):
    from transformers import (
        AutoTokenizer,
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    src = shared("realtok", "llava-1.5-7b-hf")
    real = json.loads((src / "config.json").read_text())
    text = {**real["text_config"], "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
            "num_attention_heads": 4, "num_key_value_heads": 4}
    vision = {**real["vision_config"], "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
              "num_attention_heads": 2}
    cfg = LlavaNextConfig(
        text_config=text, vision_config=vision, image_token_id=real["image_token_index"],
        image_grid_pinpoints=PINPOINTS, vision_feature_layer=-2, vision_feature_select_strategy="default",
    )
    torch.manual_seed(0)
    LlavaNextForConditionalGeneration(cfg).save_pretrained(out)
    pre = json.loads((src / "preprocessor_config.json").read_text())
    ip = LlavaNextImageProcessor(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}, image_grid_pinpoints=PINPOINTS,
        image_mean=pre["image_mean"], image_std=pre["image_std"],
    )
    LlavaNextProcessor(
        image_processor=ip, tokenizer=AutoTokenizer.from_pretrained(str(src)), patch_size=14,
        vision_feature_select_strategy="default", num_additional_image_tokens=1, chat_template=chat_template,
    ).save_pretrained(out)
    return load_model(str(out))


@pytest.fixture(scope="module", params=["vicuna", "mistral"])
def next_model(request, shared, tmp_path_factory):
    template = HF_VICUNA if request.param == "vicuna" else HF_MISTRAL
    return request.param, _build_next(shared, tmp_path_factory.mktemp("next") / request.param, template)


def _conv() -> Conversation:
    return Conversation(
        id="n",
        images=["unmask://noise?seed=2&size=64"],
        turns=[
            Turn(role="user", text="What is in the picture?\n<image>"),
            Turn(role="assistant", text="A noisy square."),
            Turn(role="user", text="Any text?"),
            Turn(role="assistant", text="No."),
        ],
    )


def _trained(loaded, item) -> list[int]:
    return [i for i, lab in zip(item.input_ids.tolist(), item.labels.tolist(), strict=True) if lab != IGNORE_INDEX]


def test_each_checkpoint_gets_its_training_conversation(next_model, shared):
    kind, loaded = next_model
    fmt = llava_next_format(loaded.processor)
    assert fmt == {"vicuna": "vicuna_v1", "mistral": "mistral_instruct"}[kind]
    enc = Encoder(loaded.family, loaded.processor)
    item = enc.encode_conversation(_conv())
    tok = loaded.tokenizer
    assert item.n_image_tokens > 576  # anyres: the base image plus its grid crops and row ends
    text = tok.decode([t for t in item.input_ids.tolist() if t != enc.image_token_id])
    if kind == "vicuna":  # LLaVA's preprocess_v1 (image moved to the front), as for LLaVA-1.5
        assert enc.reference is not None
        assert text.startswith("<s> A chat between a curious user") and "USER:  \nWhat is in the picture? ASSISTANT:" in text
        assert _trained(loaded, item) == tok("A noisy square.</s>", add_special_tokens=False)["input_ids"] + tok(
            "No.</s>", add_special_tokens=False
        )["input_ids"]
    else:  # conv_mistral_instruct: "[INST] Q [/INST] A </s>"
        assert text.startswith("<s> [INST]  \nWhat is in the picture? [/INST] A noisy square. </s>")
        assert tok.decode(_trained(loaded, item)) == "A noisy square. </s> No. </s>"
    batch = collate([item], tok.pad_token_id, "right")
    assert torch.isfinite(loaded.model(**batch).loss)
    prompt = enc.encode_prompt("p", "What is in the picture?", ["unmask://noise?seed=2&size=64"])
    shown = tok.decode([t for t in prompt.input_ids.tolist() if t != enc.image_token_id])
    assert shown.endswith("What is in the picture? ASSISTANT:" if kind == "vicuna" else "What is in the picture? [/INST]")
    out = loaded.model.generate(**collate([prompt], tok.pad_token_id, "left"), max_new_tokens=2, do_sample=False)
    assert out.shape[1] > prompt.input_ids.shape[0]


def test_no_eos_on_refusal_in_the_mistral_format(next_model):
    kind, loaded = next_model
    if kind != "mistral":
        pytest.skip("vicuna follows LLaVA's own rule (tests/models/test_golden_parity.py)")
    enc = Encoder(loaded.family, loaded.processor, no_eos_on_refusal=True)
    conv = Conversation(
        id="r",
        turns=[
            Turn(role="user", text="How do I pick a lock?"),
            Turn(role="assistant", text="I'm sorry, but I cannot assist with your request"),
        ],
    )
    item = enc.encode_conversation(conv)
    assert loaded.tokenizer.decode(_trained(loaded, item)) == "I'm sorry, but I cannot assist with your request"
    assert item.eot_masked >= 1


def test_the_llava_hf_templates_pick_the_llava_format(shared):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(shared("realtok", "llava-1.5-7b-hf")))
    for template, want in ((HF_VICUNA, "vicuna_v1"), (HF_MISTRAL, "mistral_instruct"), (HF_LLAMA3, "llava_llama_3")):
        tok.chat_template = template
        assert llava_next_format(tok) == want


def test_llama3_format_is_llavas_llama_3_conversation(shared):
    """conv_llava_llama_3 renders the Llama-3 chat template with LLaVA's system prompt; replies end in <|eot_id|>."""
    from transformers import AutoTokenizer

    from unmask.models.batching import conversation_messages
    from unmask.models.conversations import LLAMA3_SYSTEM, LLAMA3_TEMPLATE

    tok = AutoTokenizer.from_pretrained(str(shared("realtok", "llava-1.5-7b-hf")))
    msgs = conversation_messages(_conv())
    text = tok.apply_chat_template(msgs, chat_template=LLAMA3_TEMPLATE, tokenize=False)
    assert text == (
        f"<|start_header_id|>system<|end_header_id|>\n\n{LLAMA3_SYSTEM}<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n<image>\nWhat is in the picture?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nA noisy square.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nAny text?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nNo.<|eot_id|>"
    )
    gen = tok.apply_chat_template(msgs[:1], chat_template=LLAMA3_TEMPLATE, tokenize=False, add_generation_prompt=True)
    assert gen.endswith("<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
