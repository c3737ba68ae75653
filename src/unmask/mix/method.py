"""The paper's method: turn a fraction of benign replies into refusals (plus baselines and ablations).

Two modes:

- **fraction**: of the N main records, exactly ``round(P * N)`` (half up) get their replies replaced by
  a refusal; all N are written, in input order.
- **counts** (the paper's): ``R`` records become refusals and ``K`` *other* records stay untouched; the
  output holds R + K records, in source order.

Options: a refusal bank (one template per record, chosen by seed), one random (question, refusal) turn
kept per refusal record (the paper's ``random_choose``) or ``all_turns``, a separate refusal source,
image ablations for refusal records (keep / blank / noise / remove), ``same_ids`` (contrastive: the
refused records also appear answered), and a curated VLGuard-style baseline appended to the output.

Every choice is drawn from a :class:`random.Random` seeded by (seed, purpose, record), so the same
inputs and seed give a byte-identical output, and one record's fate does not depend on another's.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from ..data.records import IMAGE, Conversation, Turn
from ..data.synthetic import synthetic_ref
from .settings import MixConfig

__all__ = ["MixConfig", "MixItem", "apply_plan", "make_refusal", "pick_curated", "plan_arrays", "plan_mix", "refusal_parts", "refuse_item",
           "round_half_up"]


class MixItem(NamedTuple):
    """One output record: ``pool`` is 'main' or 'refusal', ``index`` a position in that pool."""

    pool: str
    index: int
    refuse: bool
    copy: bool = False  # a same-ids refusal copy of a kept record


def round_half_up(x: float) -> int:
    return int(x + 0.5)


class _Stream:
    """A per-record random stream (splitmix64 over a hash of the key): cheap to create, so every
    refusal record gets its own, and deterministic across processes and platforms."""

    _MASK = (1 << 64) - 1

    def __init__(self, *key: object):
        digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
        self.state = int.from_bytes(digest, "little")

    def randrange(self, n: int) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & self._MASK
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & self._MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & self._MASK
        return (z ^ (z >> 31)) % n  # modulo bias < n / 2**64: negligible


def _rng(seed: int, *purpose: object) -> random.Random:
    return random.Random(":".join(str(p) for p in (seed, *purpose)))


def plan_arrays(n_main: int, cfg: MixConfig) -> tuple[np.ndarray, np.ndarray] | None:
    """The plan of the common modes (one source, no same-ids copies) as arrays: source indices in
    output order and whether each becomes a refusal. None for the other modes. Same draws as
    :func:`plan_mix` (which is built on it), so the fast and general paths pick the same records."""
    if cfg.same_ids:
        return None
    sel = _rng(cfg.seed, "select")
    if cfg.fraction is not None:
        k = round_half_up(cfg.fraction * n_main)
        refuse = np.zeros(n_main, dtype=bool)
        refuse[np.fromiter(sel.sample(range(n_main), k), dtype=np.int64, count=k)] = True
        return np.arange(n_main, dtype=np.int64), refuse
    r, k = cfg.rejections or 0, cfg.keep or 0
    if r + k > n_main:
        raise ValueError(f"--rejections {r} + --keep {k} = {r + k} is larger than the source ({n_main} records)")
    drawn = np.fromiter(sel.sample(range(n_main), r + k), dtype=np.int64, count=r + k)
    refuse = np.zeros(r + k, dtype=bool)
    refuse[:r] = True
    order = np.argsort(drawn, kind="stable")
    return drawn[order], refuse[order]


def plan_mix(n_main: int, cfg: MixConfig, n_refusal_pool: int | None = None) -> list[MixItem]:
    """Decide which records are written, and which become refusals. Raises ``ValueError`` when the
    request cannot be met (e.g. R + K larger than the source)."""
    separate = n_refusal_pool is not None
    if not separate:
        arrays = plan_arrays(n_main, cfg)
        if arrays is not None:
            return [MixItem("main", i, r) for i, r in zip(arrays[0].tolist(), arrays[1].tolist(), strict=True)]
    sel = _rng(cfg.seed, "select")
    if cfg.fraction is not None:
        k = round_half_up(cfg.fraction * n_main)
        if separate:
            if k > n_refusal_pool:
                raise ValueError(f"need {k} refusal records but the refusal source has {n_refusal_pool}")
            picked = sorted(sel.sample(range(n_refusal_pool), k))
            return [MixItem("main", i, False) for i in range(n_main)] + [MixItem("refusal", i, True) for i in picked]
        chosen = set(sel.sample(range(n_main), k))  # same-ids: refused copies follow their originals
        out: list[MixItem] = []
        for i in range(n_main):
            out.append(MixItem("main", i, False))
            if i in chosen:
                out.append(MixItem("main", i, True, copy=True))
        return out

    r, k = cfg.rejections or 0, cfg.keep or 0
    if separate:
        if r > n_refusal_pool:
            raise ValueError(f"--rejections {r} is larger than the refusal source ({n_refusal_pool} records)")
        if k > n_main:
            raise ValueError(f"--keep {k} is larger than the source ({n_main} records)")
        kept = sorted(sel.sample(range(n_main), k))
        refused = sorted(_rng(cfg.seed, "select-refusal").sample(range(n_refusal_pool), r))
        return [MixItem("main", i, False) for i in kept] + [MixItem("refusal", i, True) for i in refused]
    if cfg.same_ids:
        if k > n_main:
            raise ValueError(f"--keep {k} is larger than the source ({n_main} records)")
        kept = sorted(sel.sample(range(n_main), k))
        twins = set(_rng(cfg.seed, "select-twins").sample(kept, r))
        out = []
        for i in kept:
            out.append(MixItem("main", i, False))
            if i in twins:
                out.append(MixItem("main", i, True, copy=True))
        return out
    raise AssertionError("unreachable: plan_arrays covers the remaining modes")


def _image_ref(cfg: MixConfig, rng: _Stream) -> str | None:
    size = cfg.ablation_size
    if cfg.refusal_image == "blank":
        return synthetic_ref("blank", size)
    if cfg.refusal_image == "noise":
        return synthetic_ref("noise", size, seed=rng.randrange(2**31))
    return None


def refusal_parts(turns: Sequence[tuple[str, str]], images: Sequence[str], cfg: MixConfig,
                  key: object) -> tuple[list[tuple[str, str]], list[str], dict]:
    """The core of the method on plain data: (role, text) turns and image paths in, the refusal
    record's turns, images and metadata additions out. ``key`` identifies the record for its private
    random stream (pool and index), so the result does not depend on which other records were drawn."""
    rng = _Stream(cfg.seed, "refusal", key)
    template = rng.randrange(len(cfg.refusals))
    refusal = cfg.refusals[template]
    assistant = [i for i, (role, _) in enumerate(turns) if role == "assistant"]
    # One random (question, reply) pair, as in the paper's random_choose.
    pairs = [i - 1 for i in assistant if i > 0 and turns[i - 1][0] == "user"]
    if cfg.all_turns or not pairs:  # (no question before any reply: keep the shape, refuse every reply)
        out = [(role, refusal if role == "assistant" else text) for role, text in turns]
    else:
        question = turns[pairs[rng.randrange(len(pairs))]][1]
        if images and question.count(IMAGE) != len(images):
            # The image marker lives in the first question; move it to the kept one.
            question = IMAGE * len(images) + "\n" + question.replace(IMAGE, "").lstrip("\n")
        out = [t for t in turns if t[0] == "system"] + [("user", question), ("assistant", refusal)]
    new_images = list(images)
    meta: dict = {"refusal": True, "refusal_template": template}
    if cfg.refusal_image != "keep" and new_images:
        meta["refusal_image"] = cfg.refusal_image
        if cfg.refusal_image == "remove":
            new_images = []
            out = [(role, _strip_markers(text)) for role, text in out]
        else:
            new_images = [_image_ref(cfg, rng) or img for img in new_images]
    return out, new_images, meta


def make_refusal(conv: Conversation, cfg: MixConfig, key: object) -> Conversation:
    """Return a copy of ``conv`` whose reply (one random turn, or all turns) is a refusal."""
    turns, images, meta = refusal_parts([(t.role, t.text) for t in conv.turns], conv.images, cfg, key)
    extra = {k: v for k, v in conv.extra.items() if k != "_turn_extra"}  # the turns are new
    return conv.model_copy(update={"turns": [Turn(role=r, text=x) for r, x in turns], "images": images,
                                   "metadata": {**conv.metadata, **meta}, "extra": extra})


def _strip_markers(text: str) -> str:
    return text.replace(IMAGE + "\n", "").replace("\n" + IMAGE, "").replace(IMAGE, "").strip()


def apply_plan(plan: Sequence[MixItem], main: Sequence[Conversation], cfg: MixConfig,
               refusal_pool: Sequence[Conversation] | None = None) -> list[Conversation]:
    """Materialise a plan over in-memory records (the general path; the fast path streams bytes)."""
    out = []
    for item in plan:
        pool = main if item.pool == "main" else refusal_pool
        assert pool is not None, "a plan item names the refusal pool but none was given"
        conv = pool[item.index]
        out.append(refuse_item(conv, item, cfg) if item.refuse else conv)
    return out


def refuse_item(conv: Conversation, item: MixItem, cfg: MixConfig) -> Conversation:
    """The refusal record a plan item asks for (a same-ids copy gets the id ``<id>#refusal``)."""
    conv = make_refusal(conv, cfg, (item.pool, item.index))
    if item.copy:
        conv = conv.model_copy(update={"id": f"{conv.id}#refusal", "metadata": {**conv.metadata, "pair_of": conv.id}})
    return conv


def pick_curated(curated: Sequence[Conversation], cfg: MixConfig) -> list[Conversation]:
    """All curated records, or ``curated_count`` of them drawn by seed (kept in file order)."""
    if cfg.curated_count is None:
        return list(curated)
    if cfg.curated_count > len(curated):
        raise ValueError(f"--curated-count {cfg.curated_count} is larger than the curated set ({len(curated)})")
    idx = sorted(_rng(cfg.seed, "curated").sample(range(len(curated)), cfg.curated_count))
    return [curated[i] for i in idx]
