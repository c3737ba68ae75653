"""Where a written mix points: image paths rebased onto the output's image folder, and LLaMA-Factory's
``dataset_info.json`` entry beside it.

Trainers join a record's image path to a folder they are told separately: LLaVA's ``--image_folder``,
LLaMA-Factory's ``media_dir`` (default: its ``dataset_dir``, the folder holding ``dataset_info.json``),
unmask's ``--image-root`` (default: the data file's folder). A mix written beside its source keeps its
paths as they are; written elsewhere, its paths are rewritten to be relative to the output's image
folder (``--out-image-root``, default: the output's folder), so that the file works where it lies.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson

from ..data.formats import is_synthetic
from ..data.records import Conversation
from ..errors import UnmaskError

__all__ = ["Rebase", "auto_out_image_root", "dataset_info_entry", "write_dataset_info"]


def _real(p: str | Path) -> str:
    return os.path.realpath(p)


def _holds(folder: str, inner: str) -> bool:
    return inner == folder or inner.startswith(folder.rstrip(os.sep) + os.sep)


def auto_out_image_root(out: Path, image_root: Path, fmt: str = "llava") -> tuple[Path | None, str | None]:
    """The default image folder of a mix written to ``out``: the output's folder (an ``hf`` output is a
    folder, its own image root) when it holds the image root (paths gain the folders between them), else
    none (paths stay relative to the image root, LLaVA's convention) and a note for stderr saying which
    folder the trainer must be given."""
    folder = out if fmt == "hf" else out.parent
    if _holds(_real(folder), _real(image_root)):
        return folder, None
    return None, (f"note: {out}'s image paths stay relative to {image_root} (the output's folder does not hold "
                  f"it): pass it as the image folder (unmask --image-root, LLaVA --image_folder, LLaMA-Factory "
                  f"media_dir), or write the mix under it, or give --out-image-root")


class Rebase:
    """Rewrite image paths from one folder (where they resolve now) to another (the output's image
    folder). Synthetic ``unmask://`` references are kept. A path that would leave the target folder
    is an error: unmask's readers refuse a path escaping the image root."""

    def __init__(self, target: str | Path):
        self.target = Path(target)
        self._target = _real(target)
        self._prefix: dict[str, str] = {}  # base -> the base relative to the target (string work per image)

    def identity(self, base: str | Path) -> bool:
        return _real(base) == self._target

    def path(self, image: str, base: str | Path) -> str:
        if is_synthetic(image):
            return image
        if os.path.isabs(image):
            rel = os.path.relpath(os.path.normpath(image), self._target)
        else:
            prefix = self._prefix.get(str(base))
            if prefix is None:
                prefix = self._prefix[str(base)] = os.path.relpath(_real(base), self._target)
            if prefix == os.pardir or prefix.startswith(os.pardir + os.sep):  # the target lies inside the base
                rel = os.path.relpath(os.path.normpath(os.path.join(_real(base), image)), self._target)
            else:
                rel = os.path.normpath(os.path.join(prefix, image))
        if rel == os.pardir or rel.startswith(os.pardir + os.sep) or os.path.isabs(rel):
            raise ValueError(f"image {image!r} lies outside the output's image folder {str(self.target)!r} "
                             f"(--out-image-root)")
        return rel.replace(os.sep, "/")

    def conv(self, conv: Conversation, base: str | Path) -> Conversation:
        if not conv.images or self.identity(base):
            return conv
        return conv.model_copy(update={"images": [self.path(i, base) for i in conv.images]})


# ------------------------------------------------------------------------------ LLaMA-Factory
_LLAVA_TAGS = {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
               "system_tag": "system"}
_MESSAGES_TAGS = {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
                  "system_tag": "system"}


def dataset_info_entry(file_name: str, fmt: str) -> dict:
    """LLaMA-Factory's dataset description of a file unmask wrote in format ``fmt`` (its ``sharegpt``
    formatting with the columns and tags of the shape; as its ``data/README.md`` and the ``mllm_demo``
    entry of its ``data/dataset_info.json``)."""
    if fmt in ("llava", "llava-jsonl"):
        columns, tags = {"messages": "conversations", "images": "image"}, _LLAVA_TAGS
    elif fmt in ("messages", "messages-jsonl"):
        columns, tags = {"messages": "messages", "images": "images"}, _MESSAGES_TAGS
    else:
        raise UnmaskError(f"{file_name}: LLaMA-Factory reads JSON or JSONL files; write the mix as .json or .jsonl "
                          f"(format {fmt!r} has no dataset_info.json entry)")
    return {"file_name": file_name, "formatting": "sharegpt", "columns": columns, "tags": dict(tags)}


def write_dataset_info(out: Path, name: str, fmt: str) -> Path:
    """Add (or replace) the entry ``name`` for ``out`` in ``dataset_info.json`` beside it, keeping every
    other entry and their order; written atomically. Returns the file's path."""
    from ..data.store import atomic_write_bytes

    if not name or not name.strip():
        raise UnmaskError("mix: --llamafactory needs a dataset name")
    info = out.parent / "dataset_info.json"
    doc: dict = {}
    if info.exists():
        try:
            doc = json.loads(info.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise UnmaskError(f"{info}: not valid JSON ({type(exc).__name__}); fix or remove it") from None
        if not isinstance(doc, dict):
            raise UnmaskError(f"{info}: expected an object of dataset descriptions, got {type(doc).__name__}")
    doc[name] = dataset_info_entry(out.name, fmt)
    atomic_write_bytes(info, orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n")
    return info
