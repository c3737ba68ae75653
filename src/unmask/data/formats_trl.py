"""TRL's conversational vision layout (``unmask convert IN -o OUT --to trl``).

What TRL's ``SFTTrainer`` reads as is (``DataCollatorForVisionLanguageModeling`` ->
``trl.data_utils.prepare_multimodal_messages`` -> the processor's chat template):

- ``messages``: every ``content`` a list of parts, ``{"type": "text", "text": ...}`` and ``{"type": "image"}``
  where the record's ``<image>`` marker was, and no ``<image>`` left in the text
  (``prepare_multimodal_messages`` adds placeholders only to string contents, so a literal marker would
  be a second one); the newline beside a marker (LLaVA's ``<image>\\n``) is dropped, the processor's chat
  template writes its own; a record with images but no marker gets its image parts at the start of the
  first user turn (LLaVA's convention);
- ``images``: always a list (``[]`` without images: an Arrow column has one type), of absolute paths (the
  collator's processor opens them from wherever the training runs);
- ``id`` and ``metadata`` (``metadata.refusal``: the records a no-EOS collator would treat) are kept.

Synthetic ``unmask://`` images (blank / noise ablations) are an error: TRL cannot open them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .formats_rows import to_messages
from .paths import is_synthetic, resolve_image
from .records import IMAGE, Conversation

__all__ = ["to_trl"]


def _parts(text: str, lead_images: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"type": "image"} for _ in range(lead_images)]
    pieces = text.split(IMAGE)
    for k, piece in enumerate(pieces):
        if k:
            out.append({"type": "image"})
            piece = piece.removeprefix("\n")  # LLaVA's "<image>\n": the chat template writes its own separator
        if k < len(pieces) - 1:
            piece = piece.removesuffix("\n")
        if piece:
            out.append({"type": "text", "text": piece})
    if not any(p["type"] == "text" for p in out):
        out.append({"type": "text", "text": ""})  # keeps the parts' Arrow type the same in every message
    return out


def to_trl(conv: Conversation, image_root: str | Path) -> dict[str, Any]:
    """One record in TRL's layout; image paths resolved under ``image_root`` (ValueError if one cannot be)."""
    images = []
    for img in conv.images:
        if is_synthetic(img):
            raise ValueError(f"synthetic image {img!r}: TRL cannot open it (mix with --refusal-image keep or remove)")
        images.append(str(resolve_image(img, Path(image_root))))
    lead = len(conv.images) if conv.images and conv.n_image_markers == 0 else 0
    first_user = next((j for j, t in enumerate(conv.turns) if t.role == "user"), None)
    out = to_messages(conv)
    out["messages"] = [{"role": t.role, "content": _parts(t.text, lead if j == first_user else 0)}
                       for j, t in enumerate(conv.turns)]
    out["images"] = images
    return out
