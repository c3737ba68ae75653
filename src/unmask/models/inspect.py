"""``unmask inspect-batch``: see exactly which tokens a record trains on.

Trained tokens are shown inside ``[[...]]`` (green on a terminal); everything else gets no loss. An
image's run of feature tokens is collapsed to ``<image x N>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnmaskError, where
from .batching import IGNORE_INDEX, Encoded

__all__ = ["marked_segments", "show_batch"]


def marked_segments(item: Encoded, tokenizer: Any, image_token_id: int) -> list[tuple[str, str]]:
    """(kind, text) runs of one encoded sample; kind is "trained", "masked" or "image"."""
    ids = item.input_ids.tolist()
    labels = item.labels.tolist() if item.labels is not None else [IGNORE_INDEX] * len(ids)
    runs: list[tuple[str, list[int]]] = []
    for tid, lab in zip(ids, labels, strict=True):
        kind = "image" if tid == image_token_id else ("trained" if lab != IGNORE_INDEX else "masked")
        if runs and runs[-1][0] == kind:
            runs[-1][1].append(tid)
        else:
            runs.append((kind, [tid]))
    out = []
    for kind, toks in runs:
        if kind == "image":
            out.append((kind, f"<image x {len(toks)}>"))
        else:
            out.append((kind, tokenizer.decode(toks, skip_special_tokens=False)))
    return out


def show_batch(
    data: Path,
    model: str,
    *,
    n: int = 3,
    family: str | None = None,
    processor: str | None = None,
    data_format: str | None = None,
    image_root: Path | None = None,
    no_eos_on_refusal: bool = False,
    trust_remote_code: bool = False,
) -> None:
    from rich.console import Console
    from rich.text import Text

    from ..data.formats import iter_records
    from .batching import Encoder
    from .loading import load_model

    loaded = load_model(
        model, family=family, processor=processor, trust_remote_code=trust_remote_code, check=False
    )
    root = image_root or (data if data.is_dir() else data.parent)
    enc = Encoder(loaded.family, loaded.processor, image_root=root, no_eos_on_refusal=no_eos_on_refusal)
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"family {loaded.family.name}, encoding {enc.reference.name if enc.reference else 'chat template'}; "
        "[[trained]] tokens get loss, the rest none",
        style="bold",
        markup=False,
    )
    shown = 0
    for index, conv in enumerate(iter_records(data, fmt=data_format, image_root=image_root)):
        if shown >= n:
            break
        try:
            item = enc.encode_conversation(conv)
        except (UnmaskError, ValueError) as exc:
            raise UnmaskError(f"{where(data, index, conv.id)}: {exc}") from None
        console.print(
            f"--- record {index} (id {conv.id!r}): {len(item)} tokens, {item.n_trained} trained, "
            f"{item.n_image_tokens} image tokens" + (", refusal" if conv.is_refusal else "")
            + (", end-of-turn untrained" if item.eot_masked else "")
            + (f", {item.warning}" if item.warning else ""),
            style="cyan",
            markup=False,
        )
        text = Text()
        for kind, piece in marked_segments(item, enc.tokenizer, enc.image_token_id):
            if kind == "trained":
                text.append("[[" + piece + "]]", style="bold green")
            elif kind == "image":
                text.append(piece, style="magenta")
            else:
                text.append(piece, style="dim")
        console.print(text)
        shown += 1
    if shown == 0:
        raise UnmaskError(f"{data}: no records")
