"""VLGuard's JSON format: a list of {id, image, safe, harmful_category, harmful_subcategory, instr-resp[]}.

Safe images carry ``safe_instruction`` and ``unsafe_instruction`` pairs; unsafe images one
``instruction``. Used by ``unmask mix --curated`` (train set -> records) and by the attack loaders
(test set -> its subsets safe_safes / safe_unsafes / unsafes).

``--curated`` reads two layouts, told apart by the file's records (:func:`curated_records`):

- VLGuard's own LLaVA-format train file (what its ``convert_to_llava_format.py`` writes, and what the paper
  trained its curated baseline on): 2,000 records, one per image, read as they are; a safe image's safe and
  unsafe requests are one two-turn conversation. The records carry no ``metadata.refusal``: the paper's
  no-EOS rule looks for its own refusal sentence, which VLGuard's replies do not contain.
- the raw ``train.json`` (``instr-resp``): unmask's own layout, one record per instruction-response pair
  (2,977 for the released file), ids ``<id>-<pair>``, ``metadata.refusal`` on the harmful requests.

The released train file has one duplicated id (``Ads_303871``, two entries of one safe image): the second
and later entries with an id get ``<id>#2``, ``#3``..., in file order, with a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

from ..data.records import IMAGE, Conversation, Turn
from ..data.store import read_json
from ..errors import UnmaskError, where

__all__ = ["CuratedLayout", "VLGuardPair", "curated_records", "iter_vlguard", "vlguard_conversations", "vlguard_llava_format"]

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


def _load_list(path: Path) -> list[Any]:
    return read_json(path, list, "a JSON list of VLGuard entries")


def iter_vlguard(path: str | Path, data: list[Any] | None = None) -> Iterator[VLGuardPair]:
    path = Path(path)
    data = _load_list(path) if data is None else data
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


def _unique_ids(path: Path, data: list[Any], warnings: list[str]) -> list[str]:
    """Each entry's id, the second and later uses of one id made unique (``<id>#2``...), with a warning."""
    seen: dict[str, int] = {}
    first: dict[str, int] = {}
    ids = []
    for i, entry in enumerate(data):
        raw = entry.get("id") if isinstance(entry, dict) else None
        rid = str(raw) if raw is not None else str(i)
        n = seen.get(rid, 0) + 1
        seen[rid] = n
        if n == 1:
            first[rid] = i
            ids.append(rid)
            continue
        new = f"{rid}#{n}"
        while new in seen:
            n += 1
            new = f"{rid}#{n}"
        seen[new] = 1
        ids.append(new)
        warnings.append(f"warning: {where(path, i, raw)}: id also used by record {first[rid]}; "
                        f"this one is renamed {new!r}")
    return ids


def vlguard_conversations(path: str | Path, data: list[Any] | None = None,
                          warnings: list[str] | None = None) -> list[Conversation]:
    """Each instruction-response pair of a raw VLGuard train file becomes one record (unmask's layout)."""
    path = Path(path)
    data = _load_list(path) if data is None else data
    ids = _unique_ids(path, data, warnings if warnings is not None else [])
    out = []
    for p in iter_vlguard(path, data):
        if not p.response.strip():
            raise UnmaskError(f"{where(path, p.index, p.entry.get('id'))}: instr-resp {p.pair}: empty response")
        out.append(Conversation(
            id=f"{ids[p.index]}-{p.pair}",
            images=[p.entry["image"]],
            turns=[Turn(role="user", text=f"{IMAGE}\n{p.instruction}"), Turn(role="assistant", text=p.response)],
            source="vlguard",
            metadata={"curated": True, "subset": p.subset, "refusal": p.harmful, "vlguard_kind": p.kind,
                      "harmful_category": p.entry.get("harmful_category"),
                      "harmful_subcategory": p.entry.get("harmful_subcategory")},
        ))
    return out


def _llava_records(path: Path, data: list[Any], warnings: list[str]) -> list[Conversation]:
    from ..data.formats import conversation_from_row

    ids = _unique_ids(path, data, warnings)
    out = []
    for i, row in enumerate(data):
        try:
            conv = conversation_from_row(row, i, "vlguard", "llava")
        except ValueError as exc:
            raise UnmaskError(f"{where(path, i, row.get('id') if isinstance(row, dict) else None)}: {exc}") from None
        extra = {k: v for k, v in conv.extra.items() if k not in ("_int_id", "_no_id")}
        out.append(conv.model_copy(update={"id": ids[i], "extra": extra,
                                           "metadata": {**conv.metadata, "curated": True}}))
    return out


def vlguard_llava_format(path: str | Path, data: list[Any] | None = None) -> list[dict[str, Any]]:
    """A raw VLGuard train file converted as VLGuard's own ``convert_to_llava_format.py`` does, row for row:
    ``random.seed(0)``; an entry with several pairs has them shuffled (in file order, one shared stream)
    and the first two become one two-turn conversation; ``<image>`` is prepended to the first request
    with no newline; ``instr-resp`` is dropped and every other field kept."""
    import copy
    import random

    path = Path(path)
    data = copy.deepcopy(_load_list(path) if data is None else data)
    list(iter_vlguard(path, data))  # validates every entry first (errors name the file and the record)
    rng = random.Random(0)
    out = []
    for entry in data:
        pairs = entry.pop("instr-resp")
        if len(pairs) > 1:
            rng.shuffle(pairs)
            chosen = [(next(iter(pairs[0])), pairs[0]), (next(iter(pairs[1])), pairs[1])]
        else:
            chosen = [("instruction", pairs[0])]
        conv = []
        for k, (key, pr) in enumerate(chosen):
            if key not in pr:
                raise UnmaskError(f"{where(path, len(out), entry.get('id'))}: no {key!r} (VLGuard's conversion "
                                  f"reads the first key of each pair)")
            conv += [{"from": "human", "value": f"{IMAGE}{pr[key]}" if k == 0 else pr[key]},
                     {"from": "gpt", "value": pr["response"]}]
        out.append({**entry, "conversations": conv})
    return out


CuratedLayout = Literal["auto", "llava", "pairs"]  # --curated-layout, a recipe's data.curated_layout


def curated_records(path: str | Path, layout: str = "auto") -> tuple[list[Conversation], str, list[str]]:
    """Read a curated set: VLGuard's LLaVA-format train file (records as they are) or its raw train.json,
    either one record per instruction-response pair (``pairs``, the default for a raw file) or converted
    as VLGuard's ``convert_to_llava_format.py`` does (``llava``: the paper's 2,000 records). Returns
    (records, layout 'llava' | 'pairs', warnings)."""
    path = Path(path)
    if layout not in get_args(CuratedLayout):
        raise UnmaskError(f"curated layout must be auto, llava or pairs, not {layout!r}")
    data = _load_list(path)
    if not data:
        raise UnmaskError(f"{path}: no records")
    flags = [("conversations" in e) if isinstance(e, dict) else None for e in data]
    warnings: list[str] = []
    if set(flags) == {True}:
        if layout == "pairs":
            raise UnmaskError(f"{path}: a LLaVA-format file has no instruction-response pairs to split")
        return _llava_records(path, data, warnings), "llava", warnings
    if set(flags) == {False}:
        if layout == "llava":
            return _llava_records(path, vlguard_llava_format(path, data), warnings), "llava", warnings
        return vlguard_conversations(path, data, warnings), "pairs", warnings
    bad = 0 if flags[0] is None else next(i for i, f in enumerate(flags) if f != flags[0])
    raise UnmaskError(f"{where(path, bad)}: mixes layouts: expected every record with 'conversations' (VLGuard's "
                      f"LLaVA-format file) or every record with 'instr-resp' (VLGuard's train.json)")
