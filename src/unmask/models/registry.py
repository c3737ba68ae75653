"""The model-family registry: what unmask needs to know about each kind of VLM.

A family names the module prefixes of the vision tower, the projector and the language model (so that
freezing and LoRA targets are derived, never guessed per run), the image token the processor expands,
the chat template used to turn records into text, and how to load model and processor. Families are
registered by name with :func:`family`::

    @family("llava")
    class Llava15(Family):
        model_types = ("llava",)
        ...

and looked up with :func:`get_family` or picked from a checkpoint's ``config.json`` with
:func:`detect_family`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import UnmaskError
from ..registry import Registry

__all__ = ["FAMILIES", "FAMILY_FILE", "Family", "builtin_family", "detect_family", "families", "family", "get_family"]

# Written beside a model that unmask saves, so a fine-tuned checkpoint reloads with its own family.
FAMILY_FILE = "unmask_family.json"

#: name (and aliases) -> the family, one instance each; the one :class:`~unmask.registry.Registry` type.
FAMILIES: Registry[Family] = Registry("model family")
# The built-in families (unmask.models.builtin), imported the first time one is asked for.
for _name, _aliases in {"llava": ("llava-1.5", "llava_1_5"), "llava_next": ("llava-next", "llava-1.6"),
                        "qwen2_vl": ("qwen2-vl", "qwen2_5_vl", "qwen2.5-vl")}.items():
    FAMILIES.lazy(_name, "unmask.models.builtin", aliases=_aliases)
del _name, _aliases


class Family:
    """Base class of a model family; subclasses set the class attributes and may override loading."""

    name: ClassVar[str] = ""
    aliases: ClassVar[tuple[str, ...]] = ()
    #: ``config.model_type`` values this family handles, mapped to the transformers model class name.
    model_classes: ClassVar[dict[str, str]] = {}
    #: processor class names that fit (a bare tokenizer never does: a VLM needs an image processor).
    processor_classes: ClassVar[tuple[str, ...]] = ()
    #: module-name prefixes relative to the transformers model (not to a peft wrapper).
    vision_tower: ClassVar[tuple[str, ...]] = ()
    projector: ClassVar[tuple[str, ...]] = ()
    language_model: ClassVar[str] = "model.language_model"
    #: linear layers of the language model that LoRA adapts by default.
    lora_modules: ClassVar[tuple[str, ...]] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "up_proj",
        "down_proj",
    )
    #: the token the processor expands into one run of image features per image.
    image_token: ClassVar[str] = "<image>"
    #: text the chat template writes for one image (records always store ``<image>``).
    image_placeholder: ClassVar[str] = "<image>"
    #: unmask's own chat template (jinja), used when the processor has none or when ``prefer_own_template``.
    chat_template: ClassVar[str | None] = None
    prefer_own_template: ClassVar[bool] = False
    #: tokens besides the tokenizer's EOS that close an assistant turn (for ``--no-eos-on-refusal``).
    end_of_turn: ClassVar[tuple[str, ...]] = ()
    #: where a record's images go: "front" of their turn (LLaVA's training code) or "inline", where the
    #: text's ``<image>`` marks them (LLaMA-Factory's, which trained the Qwen runs of the paper).
    image_layout: ClassVar[str] = "front"
    #: tokenize each turn on its own (LLaMA-Factory's encoding) instead of the whole rendered conversation.
    tokenize_turns_apart: ClassVar[bool] = False
    #: model names that mean this family's built-in weights (a plugin's ``tiny``): such a family loads every
    #: model, named or saved, with :meth:`load_builtin` instead of transformers' ``from_pretrained``.
    builtin_names: ClassVar[tuple[str, ...]] = ()

    # ------------------------------------------------------------------ loading (overridable)
    def model_class_for(self, model_type: str) -> str:
        if model_type in self.model_classes:
            return self.model_classes[model_type]
        return next(iter(self.model_classes.values()))

    def load_model(self, path: str, *, dtype: Any, trust_remote_code: bool, model_type: str) -> Any:
        import transformers

        cls = getattr(transformers, self.model_class_for(model_type))
        return cls.from_pretrained(
            path, dtype=dtype, use_safetensors=True, trust_remote_code=trust_remote_code
        )

    def load_processor(self, path: str, *, trust_remote_code: bool) -> Any:
        from transformers import AutoProcessor

        return AutoProcessor.from_pretrained(path, trust_remote_code=trust_remote_code)

    def load_builtin(self, path: str | None) -> tuple[Any, Any]:
        """Families with built-in weights (``builtin_names``) load here, from ``path`` (a saved checkpoint)
        or their shipped weights (None); (model, processor). Others have none."""
        raise UnmaskError(f"family {self.name!r} has no built-in model; pass a model folder or hub id")

    # ------------------------------------------------------------------ encoding (overridable)
    def reference_encoding(self, processor: Any) -> Any | None:
        """An exact re-implementation of the family's reference training code, or None (chat template).

        It has ``encode(conv, no_eos_on_refusal)`` (ids with one image token per image, labels) and
        ``encode_prompt(prompt, n_images, system)`` (ids); see :mod:`unmask.models.llava_v1`.
        """
        return None

    def prepare_image(self, image: Any, processor: Any) -> Any:
        """The image as the processor should get it, in training and in generation alike."""
        return image

    # ------------------------------------------------------------------ derived names
    def image_token_id(self, processor: Any) -> int:
        tok = getattr(processor, "tokenizer", processor)
        tid = getattr(processor, "image_token_id", None)
        if tid is None:
            tid = tok.convert_tokens_to_ids(self.image_token)
        return int(tid)

    def template_for(self, processor: Any) -> str:
        """The chat template to render records with: the processor's, unless the family knows better."""
        own = self.chat_template
        theirs = getattr(processor, "chat_template", None) or getattr(
            getattr(processor, "tokenizer", None), "chat_template", None
        )
        if isinstance(theirs, dict):  # several named templates: take the default one
            theirs = theirs.get("default")
        if own is not None and (self.prefer_own_template or not theirs):
            return own
        if not theirs:
            raise UnmaskError(
                f"family {self.name!r}: the processor has no chat template and the family none either"
            )
        return theirs

    def __repr__(self) -> str:
        return f"<Family {self.name}>"


def family(name: str, *, replace: bool = False) -> Callable[[type[Family]], type[Family]]:
    """Class decorator: register a :class:`Family` subclass under ``name`` (and its ``aliases``); a name taken
    by another family is an error unless ``replace=True``."""

    def deco(cls: type[Family]) -> type[Family]:
        FAMILIES.add(name, cls(), aliases=tuple(cls.aliases), replace=replace)
        cls.name = name
        return cls

    return deco


def builtin_family(model: str) -> Family | None:
    """The family whose built-in weights ``model`` names (one of its ``builtin_names``), else None."""
    return next((f for f in FAMILIES.load_all().values() if model in f.builtin_names), None)


def families() -> dict[str, Family]:
    """Every family (built-in and plugin-provided), by name."""
    return FAMILIES.load_all()


def get_family(name: str) -> Family:
    """The family registered as ``name`` or one of its aliases (plugins are loaded before giving up)."""
    return FAMILIES.get(name)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UnmaskError(f"{path}: cannot read ({type(exc).__name__}: {exc})") from None


def detect_family(model: str, config: Any | None = None) -> Family:
    """Pick the family of ``model``: a built-in model name (:func:`builtin_family`), then a saved
    ``unmask_family.json``, then ``model_type``."""
    builtin = builtin_family(model)
    if builtin is not None:
        return builtin
    path = Path(model)
    if (path / FAMILY_FILE).is_file():
        return get_family(_read_json(path / FAMILY_FILE)["family"])
    model_type = None
    if config is not None:
        model_type = getattr(config, "model_type", None)
    elif (path / "config.json").is_file():
        model_type = _read_json(path / "config.json").get("model_type")
    if model_type is None:
        raise UnmaskError(f"{model}: cannot tell the model family (no config.json model_type); pass --family")
    known = families()
    for fam in known.values():
        if model_type in fam.model_classes:
            return fam
    raise UnmaskError(
        f"{model}: model_type {model_type!r} is not a supported family "
        f"({', '.join(sorted(known))}); pass --family to force one"
    )
