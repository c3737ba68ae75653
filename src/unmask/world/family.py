"""The ``tiny`` model family: the world's LLaVA with a character-level tokenizer and 72x72 images."""

from __future__ import annotations

from typing import Any, ClassVar

from ..errors import UnmaskError
from ..models.registry import Family, family

__all__ = ["Tiny"]


class _LlavaV1Template:
    """LLaVA-1.5's template, read from :mod:`unmask.models.builtin` on first use (it imports the record
    types: loading the plugin for ``unmask --help`` must stay cheap)."""

    def __get__(self, obj: Any, owner: type | None = None) -> str:
        from ..models.builtin import LLAVA_V1_TEMPLATE

        return LLAVA_V1_TEMPLATE


@family("tiny")
class Tiny(Family):
    """The tiny world model (a LLaVA with a character-level tokenizer, 72x72 images); ``tiny`` names its
    shipped base, and checkpoints saved from it load through :func:`unmask.world.model.load_tiny` too."""

    model_classes: ClassVar[dict[str, str]] = {}  # never auto-detected from model_type: "llava" wins
    processor_classes = ()  # whatever the tiny world ships
    vision_tower = ("model.vision_tower",)
    projector = ("model.multi_modal_projector",)
    chat_template = _LlavaV1Template()  # type: ignore[assignment]
    builtin_names = ("tiny",)

    def load_builtin(self, path: str | None) -> tuple[Any, Any]:
        try:
            from .model import load_tiny
        except ImportError as exc:
            raise UnmaskError(f"the tiny world model is not available in this install ({exc})") from None
        return load_tiny(path)

    def model_class_for(self, model_type: str) -> str:
        return "LlavaForConditionalGeneration"
