"""An image-only Qwen2-VL processor for machines without torchvision.

transformers builds Qwen2-VL's video processor only with torchvision installed; without it
``AutoProcessor`` quietly returns the bare tokenizer. unmask never feeds videos, so it assembles the real
``Qwen2VLProcessor`` logic (token expansion, ``image_grid_thw``, ``mm_token_type_ids``) from the
checkpoint's image processor, tokenizer and chat template, minus the video part.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UnmaskError

__all__ = ["image_only_processor"]


def _processor_class() -> type:
    from transformers import Qwen2VLProcessor
    from transformers.processing_utils import ProcessorMixin

    class Qwen2VLImageOnlyProcessor(Qwen2VLProcessor):
        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None, chat_template: Any = None, **kwargs: Any
        ) -> None:
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)

    return Qwen2VLImageOnlyProcessor


def _chat_template(path: Path) -> str | None:
    if (path / "chat_template.jinja").is_file():
        return (path / "chat_template.jinja").read_text()
    for name in ("chat_template.json", "processor_config.json"):
        if (path / name).is_file():
            doc = json.loads((path / name).read_text())
            if isinstance(doc.get("chat_template"), str):
                return doc["chat_template"]
    return None


def image_only_processor(path: str, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoImageProcessor, AutoTokenizer

    try:
        image_processor = AutoImageProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
    except Exception as exc:  # transformers raises OSError/ValueError/KeyError for missing or bad files
        raise UnmaskError(
            f"{path}: cannot load the Qwen2-VL image processor ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if type(image_processor).__name__.removesuffix("Pil").removesuffix("Fast") not in (
        "Qwen2VLImageProcessor",
        "Qwen2_5_VLImageProcessor",
    ):
        raise UnmaskError(f"{path}: image processor {type(image_processor).__name__} does not fit Qwen2-VL")
    local = Path(path)
    template = _chat_template(local) if local.is_dir() else None
    return _processor_class()(image_processor=image_processor, tokenizer=tokenizer, chat_template=template)
