"""VLGuard's JSON format: a list of {id, image, safe, harmful_category, harmful_subcategory, instr-resp[]}.

Safe images carry ``safe_instruction`` and ``unsafe_instruction`` pairs; unsafe images one
``instruction``. Used by ``unmask mix --curated`` (train set -> records) and by the attack loaders
(test set -> its subsets safe_safes / safe_unsafes / unsafes).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson

from .errors import UnmaskError, where
from .records import IMAGE, Conversation, Turn

__all__ = ["VLGuardPair", "iter_vlguard", "vlguard_conversations"]

_KINDS = ("safe_instruction", "unsafe_instruction", "instruction")
SUBSET_OF = {("safe", "safe_instruction"): "safe_safes", ("safe", "unsafe_instruction"): "safe_unsafes",
             ("unsafe", "instruction"): "unsafes"}


class VLGuardPair(NamedTuple):
    entry: dict[str, Any]
    index: int          # entry index in the file
    pair: int           # index inside instr-resp
    kind: str           # safe_instruction | unsafe_instruction | instruction
    instruction: str
    response: str
    subset: str         # safe_safes | safe_unsafes | unsafes
    harmful: bool       # is the *request* harmful (unsafe instruction or unsafe image)


def iter_vlguard(path: str | Path) -> Iterator[VLGuardPair]:
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except orjson.JSONDecodeError as exc:
        raise UnmaskError(f"{path}: byte {getattr(exc, 'pos', '?')}: invalid JSON") from None
    if not isinstance(data, list):
        raise UnmaskError(f"{path}: expected a JSON list of VLGuard entries")
    for i, entry in enumerate(data):
        rid = entry.get("id") if isinstance(entry, dict) else None
        loc = where(path, i, rid)
        if not isinstance(entry, dict) or "instr-resp" not in entry or "image" not in entry:
            raise UnmaskError(f"{loc}: a VLGuard entry needs 'id', 'image', 'safe' and 'instr-resp'")
        safe = entry.get("safe")
        if not isinstance(safe, bool):
            raise UnmaskError(f"{loc}: 'safe' must be true or false")
        pairs = entry["instr-resp"]
        if not isinstance(pairs, list) or not pairs:
            raise UnmaskError(f"{loc}: 'instr-resp' must be a non-empty list")
        for j, pr in enumerate(pairs):
            kind = next((k for k in _KINDS if isinstance(pr, dict) and k in pr), None)
            if kind is None or not isinstance(pr.get(kind), str) or not pr[kind].strip():
                raise UnmaskError(f"{loc}: instr-resp {j}: needs one of {', '.join(_KINDS)} (non-empty)")
            subset = SUBSET_OF.get(("safe" if safe else "unsafe", kind))
            if subset is None:
                raise UnmaskError(f"{loc}: instr-resp {j}: {kind!r} does not fit an image with safe={safe}")
            response = pr.get("response", "")
            if not isinstance(response, str):
                raise UnmaskError(f"{loc}: instr-resp {j}: 'response' must be a string")
            yield VLGuardPair(entry, i, j, kind, pr[kind], response, subset, subset != "safe_safes")


def vlguard_conversations(path: str | Path) -> list[Conversation]:
    """Each instruction-response pair of a VLGuard train file becomes one record."""
    out = []
    for p in iter_vlguard(path):
        if not p.response.strip():
            raise UnmaskError(f"{where(path, p.index, p.entry.get('id'))}: instr-resp {p.pair}: empty response")
        out.append(Conversation(
            id=f"{p.entry.get('id')}-{p.pair}",
            images=[p.entry["image"]],
            turns=[Turn(role="user", text=f"{IMAGE}\n{p.instruction}"), Turn(role="assistant", text=p.response)],
            source="vlguard",
            metadata={"curated": True, "subset": p.subset, "refusal": p.harmful, "vlguard_kind": p.kind,
                      "harmful_category": p.entry.get("harmful_category"),
                      "harmful_subcategory": p.entry.get("harmful_subcategory")},
        ))
    return out
