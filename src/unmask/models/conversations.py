"""LLaVA-NeXT's conversation formats, one per language model, as jinja chat templates.

LLaVA-NeXT (1.6) checkpoints were trained with the conversation of their language model, from LLaVA's
``conversation.py``: ``vicuna_v1`` (llava-v1.6-vicuna), ``mistral_instruct`` (llava-v1.6-mistral:
``[INST] Q [/INST] A </s>``), ``llava_llama_3`` (llama3-llava-next: Llama-3 headers, its system prompt,
``<|eot_id|>``) and ``chatml_direct`` (llava-v1.6-34b). The llava-hf processors carry inference-only
templates (no end-of-turn after replies), so fine-tuning with them would never teach the model to stop:
unmask renders with these, picked by :func:`llava_next_format` from the checkpoint's tokenizer and template.
Images go to the front of their turn (``<image>\\n``), as LLaVA's ``preprocess_multimodal`` puts them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["LLAVA_NEXT_TEMPLATES", "llava_next_format"]

_IMAGES = "{%- for c in m['content'] if c['type'] == 'image' -%}{{ '<image>\n' }}{%- endfor -%}"
_TEXT = "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}"
_TEXT_TRIM = "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] | trim }}{%- endfor -%}"

# conv_mistral_instruct (LLAMA_2 style, sep "", sep2 "</s>", no system prompt by default).
MISTRAL_INSTRUCT_TEMPLATE = (
    "{%- set ns = namespace(sys='') -%}"
    "{%- for m in messages -%}"
    "{%- if m['role'] == 'system' -%}"
    "{%- set ns.sys = '<<SYS>>\n' + (m['content'] | selectattr('type', 'equalto', 'text') | map(attribute='text')"
    " | join('')) + '\n<</SYS>>\n\n' -%}"
    "{%- elif m['role'] == 'user' -%}{{ '[INST] ' + ns.sys }}" + _IMAGES + _TEXT + "{{ ' [/INST]' }}"
    "{%- set ns.sys = '' -%}"
    "{%- else -%}{{ ' ' }}" + _TEXT + "{{ ' ' + eos_token }}"
    "{%- endif -%}"
    "{%- endfor -%}"
)

LLAMA3_SYSTEM = (
    "You are a helpful language and vision assistant. You are able to understand the visual content that "
    "the user provides, and assist the user with a variety of tasks using natural language."
)
# conv_llava_llama_3: Meta-Llama-3-Instruct's chat template with LLaVA's system prompt.
LLAMA3_TEMPLATE = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{ '<|start_header_id|>system<|end_header_id|>\n\n" + LLAMA3_SYSTEM + "<|eot_id|>' }}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{{ '<|start_header_id|>' + m['role'] + '<|end_header_id|>\n\n' }}" + _IMAGES + _TEXT_TRIM
    + "{{ '<|eot_id|>' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif -%}"
)

# conv_chatml_direct (llava-v1.6-34b, Nous-Hermes-2-Yi).
CHATML_DIRECT_TEMPLATE = (
    "{%- if not messages or messages[0]['role'] != 'system' -%}"
    "{{ '<|im_start|>system\nAnswer the questions.<|im_end|>\n' }}"
    "{%- endif -%}"
    "{%- for m in messages -%}"
    "{{ '<|im_start|>' + m['role'] + '\n' }}" + _IMAGES + _TEXT + "{{ '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\n' }}{%- endif -%}"
)


def _templates() -> dict[str, str]:
    from .llava_v1 import LLAVA_VICUNA_V1_TEMPLATE

    return {
        "vicuna_v1": LLAVA_VICUNA_V1_TEMPLATE,
        "mistral_instruct": MISTRAL_INSTRUCT_TEMPLATE,
        "llava_llama_3": LLAMA3_TEMPLATE,
        "chatml_direct": CHATML_DIRECT_TEMPLATE,
    }


LLAVA_NEXT_TEMPLATES = ("vicuna_v1", "mistral_instruct", "llava_llama_3", "chatml_direct")


def llava_next_format(processor: Any) -> str:
    """The conversation a LLaVA-NeXT checkpoint was trained with, told by its tokenizer and template."""
    tok = getattr(processor, "tokenizer", processor)
    theirs = getattr(processor, "chat_template", None) or getattr(tok, "chat_template", None) or ""
    if isinstance(theirs, dict):
        theirs = " ".join(str(v) for v in theirs.values())
    vocab = tok.get_vocab()
    if "<|eot_id|>" in vocab or "<|start_header_id|>" in theirs:
        return "llava_llama_3"
    if "<|im_start|>" in vocab or "<|im_start|>" in theirs:
        return "chatml_direct"
    if "[INST]" in vocab or "[INST]" in theirs:
        return "mistral_instruct"
    return "vicuna_v1"


def llava_next_template(processor: Any) -> str:
    return _templates()[llava_next_format(processor)]
