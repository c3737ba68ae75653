"""The built-in families: LLaVA-1.5, LLaVA-NeXT, Qwen2-VL / Qwen2.5-VL (plugins add more, e.g. ``tiny``).

Module names are those of transformers 5 (``model.vision_tower``, ``model.multi_modal_projector``,
``model.language_model``; Qwen: ``model.visual`` with its projector ``model.visual.merger``).
"""

from __future__ import annotations

from typing import Any

from ..errors import UnmaskError
from .llava_v1 import LLAVA_V1_TEMPLATE, LLAVA_VICUNA_V1_TEMPLATE  # noqa: F401  (re-exported)
from .registry import Family, family

__all__ = ["LLAVA_V1_TEMPLATE", "LLAVA_VICUNA_V1_TEMPLATE", "QWEN_CHATML_TEMPLATE"]

# The Qwen2-VL ChatML template (images as vision tokens), used when a checkpoint ships none.
QWEN_CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}"
    "{% endfor %}<|im_end|>\n{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@family("llava")
class Llava15(Family):
    """LLaVA-1.5 in the ``llava-hf`` layout (``LlavaForConditionalGeneration``), trained and prompted in
    LLaVA-1.5's own format: ``vicuna_v1`` with its system prompt and ``</s>`` after each reply, tokenized
    as LLaVA's training code does (:mod:`.llava_v1`), images padded to a square (``image_aspect_ratio
    pad``) rather than center-cropped."""

    aliases = ("llava-1.5", "llava_1_5")
    model_classes = {"llava": "LlavaForConditionalGeneration"}
    processor_classes = ("LlavaProcessor",)
    vision_tower = ("model.vision_tower",)
    projector = ("model.multi_modal_projector",)
    chat_template = LLAVA_VICUNA_V1_TEMPLATE
    prefer_own_template = True

    def reference_encoding(self, processor: Any) -> Any | None:
        from .llava_v1 import LlavaV1Reference

        return LlavaV1Reference.for_processor(processor, self.image_token_id(processor))

    def prepare_image(self, image: Any, processor: Any) -> Any:
        from .llava_v1 import expand2square

        return expand2square(image, processor)


@family("llava_next")
class LlavaNext(Family):
    """LLaVA-NeXT / LLaVA-1.6 (``LlavaNextForConditionalGeneration``), in the conversation of its language
    model (:mod:`.conversations`): vicuna_v1 (encoded as LLaVA's training code does, like ``llava``),
    mistral_instruct, llava_llama_3 or chatml_direct."""

    aliases = ("llava-next", "llava-1.6")
    model_classes = {"llava_next": "LlavaNextForConditionalGeneration"}
    processor_classes = ("LlavaNextProcessor",)
    vision_tower = ("model.vision_tower",)
    projector = ("model.multi_modal_projector", "model.image_newline")
    chat_template = LLAVA_VICUNA_V1_TEMPLATE
    prefer_own_template = True
    end_of_turn = ("<|eot_id|>", "<|im_end|>")

    def template_for(self, processor: Any) -> str:
        from .conversations import llava_next_template

        return llava_next_template(processor)

    def reference_encoding(self, processor: Any) -> Any | None:
        from .conversations import llava_next_format
        from .llava_v1 import LlavaV1Reference

        if llava_next_format(processor) != "vicuna_v1":
            return None
        return LlavaV1Reference.for_processor(processor, self.image_token_id(processor))


@family("qwen2_vl")
class Qwen2VL(Family):
    """Qwen2-VL and Qwen2.5-VL: images become ``<|vision_start|><|image_pad|><|vision_end|>``."""

    aliases = ("qwen2-vl", "qwen2_5_vl", "qwen2.5-vl")
    model_classes = {
        "qwen2_vl": "Qwen2VLForConditionalGeneration",
        "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
    }
    processor_classes = ("Qwen2VLProcessor", "Qwen2_5_VLProcessor")
    vision_tower = ("model.visual",)
    projector = ("model.visual.merger",)
    image_token = "<|image_pad|>"
    image_placeholder = "<|vision_start|><|image_pad|><|vision_end|>"
    chat_template = QWEN_CHATML_TEMPLATE
    image_layout = "inline"
    tokenize_turns_apart = True
    end_of_turn = ("<|im_end|>",)

    def load_processor(self, path: str, *, trust_remote_code: bool) -> Any:
        try:
            proc = super().load_processor(path, trust_remote_code=trust_remote_code)
        except Exception as exc:  # e.g. OSError: no video processor (transformers needs torchvision for it)
            proc, first = None, exc
        if proc is not None and type(proc).__name__ in self.processor_classes:
            return proc
        # Without torchvision transformers cannot build the video processor, and AutoProcessor fails or
        # silently returns the bare tokenizer. Images alone need no video processor: build an image-only one.
        from .qwen_image_only import image_only_processor

        try:
            return image_only_processor(path, trust_remote_code=trust_remote_code)
        except UnmaskError:
            if proc is None:
                raise first from None
            raise
