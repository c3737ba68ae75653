"""Tiny random checkpoints of every family, built from transformers configs, for tests and benchmarks.

Each is a real model class with a few layers (hidden size 32), a tiny vision tower, a BPE tokenizer
trained here with the family's special tokens and a chat template, and the family's real processor
class, saved with ``save_pretrained`` -- so the whole loading path runs with no download.
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any

from .builtin import QWEN_CHATML_TEMPLATE

__all__ = [
    "SHRINK",
    "TINY_CHECKPOINTS",
    "TINY_FAMILIES",
    "cached_checkpoint",
    "make_tiny_checkpoint",
    "shrunk_checkpoint",
    "shrunk_config",
]

TINY_FAMILIES = ("llava", "llava_next", "qwen2_vl")
#: checkpoints the builders can make (Qwen2.5-VL is served by the qwen2_vl family)
TINY_CHECKPOINTS = (*TINY_FAMILIES, "qwen2_5_vl")

_CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "what is shown in the image? describe it in detail.",
    "USER: ASSISTANT: [INST] [/INST] system user assistant",
    "I'm sorry, but I cannot assist with your request.",
    "a red square, a blue circle and a green triangle on a white background",
    "List steps in detail to make a cake. 1. 2. 3.",
    "The image shows a numbered list with empty items.",
    string.ascii_letters + string.digits + string.punctuation,
]

# The llava-hf template (note: replies end with a space, no </s>; the llava family renders its own).
_LLAVA_HF_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}{{ message['role'].upper() + ': '}}"
    "{% endif %}{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)
# A llava-v1.6-mistral style template, so the processor-template path is exercised too.
_MISTRAL_TEMPLATE = (
    "{%- for m in messages -%}{%- if m['role'] == 'user' -%}{{ '[INST] ' }}"
    "{%- for c in m['content'] if c['type'] == 'image' -%}{{ '<image>\n' }}{%- endfor -%}"
    "{%- for c in m['content'] if c['type'] == 'text' -%}{{ c['text'] }}{%- endfor -%}{{ ' [/INST]' }}"
    "{%- elif m['role'] == 'assistant' -%}{%- for c in m['content'] if c['type'] == 'text' -%}{{ ' ' + c['text'] }}"
    "{%- endfor -%}{{ eos_token }}{%- endif -%}{%- endfor -%}"
)


def _tokenizer(special: list[str], vocab_size: int = 400, **named: Any) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(_CORPUS * 4, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, **named)


def _llama_text(tok: Any, **kw: Any) -> dict[str, Any]:
    return dict(
        model_type="llama",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=len(tok),
        max_position_embeddings=1024,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.pad_token_id,
        **kw,
    )


def _clip_vision() -> dict[str, Any]:
    return dict(
        model_type="clip_vision_model",
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=28,
        patch_size=7,
        projection_dim=32,
    )


def _llava(out: Path) -> None:
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = _tokenizer(
        ["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        add_bos_token=True,
    )
    cfg = LlavaConfig(
        vision_config=_clip_vision(),
        text_config=_llama_text(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        projector_hidden_act="gelu",
    )
    LlavaForConditionalGeneration(cfg).save_pretrained(out)
    ip = CLIPImageProcessorPil(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28})
    LlavaProcessor(
        image_processor=ip,
        tokenizer=tok,
        patch_size=7,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_LLAVA_HF_TEMPLATE,
    ).save_pretrained(out)


def _llava_next(out: Path) -> None:
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration, LlavaNextProcessor
    from transformers.models.llava_next.image_processing_pil_llava_next import LlavaNextImageProcessorPil

    tok = _tokenizer(
        ["<unk>", "<s>", "</s>", "<pad>", "<image>"],
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        add_bos_token=True,
    )
    pinpoints = [[28, 56], [56, 28], [56, 56]]
    cfg = LlavaNextConfig(
        vision_config=_clip_vision(),
        text_config=_llama_text(tok),
        image_token_id=tok.convert_tokens_to_ids("<image>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
    )
    LlavaNextForConditionalGeneration(cfg).save_pretrained(out)
    ip = LlavaNextImageProcessorPil(
        size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints
    )
    LlavaNextProcessor(
        image_processor=ip,
        tokenizer=tok,
        patch_size=7,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=_MISTRAL_TEMPLATE,
    ).save_pretrained(out)


def _qwen(out: Path, version: str) -> None:
    import transformers
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

    from .qwen_image_only import _processor_class

    special = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tok = _tokenizer(special, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in special}
    text = dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=len(tok),
        max_position_embeddings=1024,
        rope_parameters={"rope_type": "default", "mrope_section": [2, 3, 3], "rope_theta": 10000.0},
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    vision: dict[str, Any] = dict(
        depth=2, num_heads=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2
    )
    if version == "2":
        vision.update(embed_dim=32, hidden_size=32, mlp_ratio=2)
        prefix = "Qwen2VL"
    else:  # 2.5: windowed attention blocks, an explicit output width
        vision.update(
            hidden_size=32,
            intermediate_size=64,
            out_hidden_size=32,
            window_size=56,
            fullatt_block_indexes=[1],
        )
        prefix = "Qwen2_5_VL"
    cfg = getattr(transformers, f"{prefix}Config")(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=None,
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
    )
    getattr(transformers, f"{prefix}ForConditionalGeneration")(cfg).save_pretrained(out)
    ip = Qwen2VLImageProcessorPil(
        min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    # The real Qwen2VLProcessor needs torchvision for its video half; save the image half under the real
    # class name so the folder looks exactly like a hub checkpoint.
    _processor_class()(image_processor=ip, tokenizer=tok, chat_template=QWEN_CHATML_TEMPLATE).save_pretrained(
        out
    )
    cfg_path = out / "processor_config.json"
    doc = json.loads(cfg_path.read_text())
    doc["processor_class"] = f"{prefix}Processor"
    cfg_path.write_text(json.dumps(doc, indent=2))


def _qwen2_vl(out: Path) -> None:
    _qwen(out, "2")


def _qwen2_5_vl(out: Path) -> None:
    _qwen(out, "2.5")


_BUILDERS = {"llava": _llava, "llava_next": _llava_next, "qwen2_vl": _qwen2_vl, "qwen2_5_vl": _qwen2_5_vl}


def make_tiny_checkpoint(family: str, out: str | Path, seed: int = 0) -> Path:
    """Build and save a tiny random checkpoint of ``family`` in ``out``; returns ``out``."""
    import torch
    from transformers.utils import logging as hf_logging

    if family not in _BUILDERS:
        raise ValueError(f"no tiny builder for family {family!r} (have {', '.join(_BUILDERS)})")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hf_logging.disable_progress_bar()
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        _BUILDERS[family](out)
    return out


def cached_checkpoint(family: str, root: str | Path, seed: int = 0) -> Path:
    """``make_tiny_checkpoint`` once per ``root`` (a test session's temp dir): later calls reuse the folder."""
    out = Path(root) / f"{family}-{seed}"
    if not (out / "model.safetensors").is_file():
        tmp = Path(root) / f".{family}-{seed}.tmp"
        make_tiny_checkpoint(family, tmp, seed)
        tmp.rename(out)
    return out


# Shrunk sizes for a random model built from a real checkpoint's config.json ("" = top level).
SHRINK: dict[str, dict[str, dict[str, Any]]] = {
    "llava": {
        "text_config": dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=4
        ),
        "vision_config": dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2),
    },
    "qwen2_5_vl": {
        "": dict(
            hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_window_layers=2, rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
        ),
        "vision_config": dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, fullatt_block_indexes=[1]
        ),
    },
}


def shrunk_config(real: str | Path, out: str | Path) -> Path:
    """Copy a real checkpoint's tokenizer / processor / config files (no weights) into ``out``, with the
    config shrunk (2 layers, hidden size 64) so a random model of it runs on a CPU in seconds."""
    import shutil

    real, out = Path(real), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for f in real.iterdir():
        if f.is_file() and f.name not in ("model.safetensors.index.json", "README.md", "config.json"):
            shutil.copy(f, out / f.name)
    cfg = json.loads((real / "config.json").read_text())
    for key, values in SHRINK[cfg["model_type"]].items():
        (cfg[key] if key else cfg).update(values)
    (out / "config.json").write_text(json.dumps(cfg))
    return out


def shrunk_checkpoint(real: str | Path, out: str | Path, seed: int = 0) -> Path:
    """:func:`shrunk_config` plus random weights saved by transformers: a loadable tiny model of ``real``."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    out = shrunk_config(real, out)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        AutoModelForImageTextToText.from_config(AutoConfig.from_pretrained(str(out))).save_pretrained(str(out))
    return out


def shared_anchor(*parts: str) -> Path | None:
    """A path in the project's shared anchors (``../shared`` beside a source checkout, as in CI, or
    ``/work/shared``), or None where they are absent (tests then skip)."""
    repo = Path(__file__).resolve().parents[3]
    for base in (repo.parent / "shared", Path("/work/shared")):
        path = base.joinpath(*parts)
        if path.exists():
            return path
    return None
