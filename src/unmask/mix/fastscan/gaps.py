"""The gaps of a JSON text: the bytes between one string's closing quote and the next one's opening
quote. Everything outside strings (``{ } [ ] , :``, numbers, literals, whitespace) lives in them.

Most gaps are a few bytes out of a handful of kinds (``": "``, ``", "``, ``"}, {"``, ``": [{"``...), so
a gap of up to 7 bytes is read as one 64-bit word and its properties come from a small table learnt on
the fly (each new kind is worked out once, in Python). Longer gaps, and gaps holding numbers or
literals, take the general path: their bytes are gathered and classified one by one.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np

from .chars import CLS, DELTA, FOLLOW, JUNK, NONE, SCALAR

__all__ = ["Gaps", "analyse", "gather"]

MAXLEN = 7  # bytes of a gap read as one word (the 8th byte of the word holds the length)
_MASK = np.array([(1 << (8 * i)) - 1 for i in range(MAXLEN + 1)], dtype=np.uint64)


@dataclass
class Gaps:
    """Gap g's properties are row ``row[g]`` of the arrays first, second and last token class (NONE
    when absent), ntok and nstruct (tokens, braces/brackets); ``bad`` is the first gap whose tokens do
    not follow each other (-1). Then every brace/bracket and scalar character, in position order."""

    row: np.ndarray
    first: np.ndarray
    second: np.ndarray
    last: np.ndarray
    ntok: np.ndarray
    nstruct: np.ndarray
    bad: int
    spos: np.ndarray
    scls: np.ndarray
    scalars: np.ndarray


def _props(data: bytes) -> tuple:
    toks = [(i, int(CLS[b])) for i, b in enumerate(data) if CLS[b] != NONE]
    cls = [c for _, c in toks]
    valid = JUNK not in cls and all(FOLLOW[a, b] for a, b in zip(cls, cls[1:], strict=False))
    struct = [(i, c) for i, c in toks if DELTA[c]]
    usable = SCALAR not in cls  # scalar tokens need their characters checked: general path
    pad = struct + [(0, NONE)] * (MAXLEN - len(struct))
    return (cls[0] if cls else NONE, cls[1] if len(cls) > 1 else NONE, cls[-1] if cls else NONE, len(cls),
            len(struct), valid, usable, [i for i, _ in pad], [c for _, c in pad])


class _Snapshot:
    """One immutable state of the table: sorted-free arrays plus a multiplicative-hash slot array."""

    FIELDS = ("first", "second", "last", "ntok", "nstruct", "valid", "usable", "soff", "scls")
    DTYPES = (np.uint8, np.uint8, np.uint8, np.int64, np.int64, bool, bool, np.int64, np.uint8)

    def __init__(self, rows: dict[int, tuple]) -> None:
        keys = list(rows)
        self.size = len(keys)
        self.keys = np.array(keys + [(1 << 64) - 1], dtype=np.uint64)  # last row: "not in the table"
        cols = list(zip(*(rows[k] for k in keys), strict=True)) if keys else [[] for _ in self.FIELDS]
        for name, col, dt in zip(self.FIELDS, cols, self.DTYPES, strict=True):
            shape = (len(keys), MAXLEN) if name in ("soff", "scls") else (len(keys),)
            setattr(self, name, np.array(col, dtype=dt).reshape(shape))
        self.usable = np.append(self.usable, False)
        self.soff_t, self.scls_t = np.ascontiguousarray(self.soff.T), np.ascontiguousarray(self.scls.T)
        self.bits = max(8, (64 * len(keys)).bit_length())  # a sparse slot array: collisions are rare
        rng = np.random.default_rng(len(keys))
        for _ in range(64):
            self.mult = np.uint64(int(rng.integers(1, 1 << 62)) * 2 + 1)
            slot = self._slot(self.keys[:-1])
            if np.unique(slot).size == slot.size:
                break
        self.slots = np.full(1 << self.bits, len(keys), dtype=np.int64)
        self.slots[slot] = np.arange(len(keys))  # after a (freak) collision the loser takes the slow path

    def _slot(self, sig: np.ndarray) -> np.ndarray:
        return ((sig * self.mult) >> np.uint64(64 - self.bits)).astype(np.int64)

    def lookup(self, sig: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        ti = self.slots[self._slot(sig)]
        return ti, self.keys[ti] == sig


class _Table:
    """Properties of short gaps keyed by their bytes, learnt as new kinds show up (thread-safe: readers
    take the current snapshot, learners build a new one under a lock)."""

    def __init__(self, limit: int = 1024) -> None:
        self.limit = limit
        self.rows: dict[int, tuple] = {}
        self.lock = threading.Lock()
        self.snap = _Snapshot(self.rows)

    def learn(self, sigs: np.ndarray) -> _Snapshot:
        with self.lock:
            new = [s for s in np.unique(sigs).tolist() if s not in self.rows]
            new = new[: max(self.limit - len(self.rows), 0)]  # junk input: the rest takes the general path
            for s in new:
                n = s >> 56
                self.rows[s] = _props((s & ((1 << (8 * n)) - 1)).to_bytes(8, "little")[:n])
            if new:
                self.snap = _Snapshot(dict(self.rows))
            return self.snap


TABLE = _Table()


def gather(gs: np.ndarray, glen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions of all bytes of the given gaps, in order, and each gap's offset among them: a run of
    ones with a jump at each gap's start, summed up (cheaper than np.repeat)."""
    off = np.zeros(glen.size + 1, dtype=np.int64)
    np.cumsum(glen, out=off[1:])
    ne = np.flatnonzero(glen)
    step = np.ones(int(off[-1]), dtype=np.int64)
    if ne.size:
        jump = gs[ne].copy()
        jump[1:] -= gs[ne[:-1]] + glen[ne[:-1]] - 1
        step[off[ne]] = jump
    return np.cumsum(step, out=step), off


def _general(w: np.ndarray, gs: np.ndarray, glen: np.ndarray):
    """Token properties of gaps byte by byte (long gaps, gaps with numbers, unknown kinds)."""
    idx, off = gather(gs, glen)
    cls = CLS[w[idx]]
    nonws = cls != NONE
    keep = np.flatnonzero(nonws)
    tpos, tcls = idx[keep], cls[keep]
    csx = np.zeros(idx.size + 1, dtype=np.int64)
    np.cumsum(nonws, out=csx[1:])
    ft = csx[off]
    nt = np.diff(ft)
    tc = np.append(tcls, np.uint8(NONE))  # a sentinel: indexes past the end read NONE
    has = nt > 0
    first = np.where(has, tc[ft[:-1]], NONE).astype(np.uint8)
    second = np.where(nt > 1, tc[np.minimum(ft[:-1] + 1, tcls.size)], NONE).astype(np.uint8)
    last = np.where(has, tc[np.maximum(ft[1:] - 1, 0)], NONE).astype(np.uint8)
    gstart = np.zeros(tcls.size, dtype=bool)
    gstart[ft[:-1][has]] = True
    prev = np.empty(tcls.size, dtype=np.uint8)
    if tcls.size:
        prev[0], prev[1:] = NONE, tcls[:-1]
    ok = FOLLOW[prev, tcls] | gstart
    ok[1:] |= (tcls[1:] == SCALAR) & (prev[1:] == SCALAR) & (tpos[1:] == tpos[:-1] + 1)
    ok &= tcls != JUNK
    valid = np.ones(glen.size, dtype=bool)
    valid[np.cumsum(gstart)[~ok] - 1] = False
    is_struct = DELTA[tcls] != 0
    cs = np.zeros(tcls.size + 1, dtype=np.int64)
    np.cumsum(is_struct, out=cs[1:])
    nstruct = np.diff(cs[ft])
    return (first, second, last, nt, nstruct, valid, tpos[is_struct], tcls[is_struct],
            tpos[tcls == SCALAR])


def _table_struct(t: _Snapshot, gs: np.ndarray, tab: np.ndarray, ti: np.ndarray):
    """Braces/brackets of table gaps, in order: column j of a gap's offsets lands at its slot j."""
    ns = t.nstruct[ti]
    rows = np.flatnonzero(ns)
    ns, gr, tr = ns[rows], gs[tab[rows]], ti[rows]
    out0 = np.zeros(rows.size + 1, dtype=np.int64)
    np.cumsum(ns, out=out0[1:])
    spos = np.empty(int(out0[-1]), dtype=np.int64)
    scls = np.empty(spos.size, dtype=np.uint8)
    sel = np.arange(rows.size)
    for j in range(MAXLEN):
        if j:
            sel = sel[ns[sel] > j]
        if not sel.size:
            break
        dst = out0[sel] + j
        tj = tr[sel]
        spos[dst] = gr[sel] + t.soff_t[j][tj]
        scls[dst] = t.scls_t[j][tj]
    return spos, scls


def analyse(w: np.ndarray, gs: np.ndarray, glen: np.ndarray) -> Gaps:
    """Properties of every gap of a window (gap g starts at ``gs[g]``, ``glen[g]`` bytes long)."""
    n, m1 = len(w), gs.size
    short_mask = (glen <= MAXLEN) & (gs + 8 <= n)
    everything = bool(short_mask.all())
    short = np.arange(m1) if everything else np.flatnonzero(short_mask)
    w64 = np.ndarray(shape=(max(n - 7, 0),), dtype="<u8", buffer=w, strides=(1,))
    gsh, glh = (gs, glen) if everything else (gs[short], glen[short])
    sig = w64[gsh]
    sig &= _MASK[glh]
    sig |= glh.astype(np.uint64) << np.uint64(56)
    t = TABLE.snap
    ti, hit = t.lookup(sig)
    if not hit.all():
        t = TABLE.learn(sig[~hit])
        ti, hit = t.lookup(sig)
    hit &= t.usable[ti]
    if everything and hit.all():
        row, tab, gen = ti, short, np.zeros(0, dtype=np.int64)
    else:
        row = np.empty(m1, dtype=np.int64)
        tab, ti = short[hit], ti[hit]
        row[tab] = ti
        rest = np.ones(m1, dtype=bool)
        rest[tab] = False
        gen = np.flatnonzero(rest)
        row[gen] = t.size + np.arange(gen.size)
    spos, scls = _table_struct(t, gs, tab, ti)
    cols = [t.first, t.second, t.last, t.ntok, t.nstruct, t.valid]
    scalars = np.zeros(0, dtype=np.int64)
    if gen.size:
        *gcols, gpos, gcls, scalars = _general(w, gs[gen], glen[gen])
        cols = [np.concatenate([c, gc]) for c, gc in zip(cols, gcols, strict=True)]
        if gpos.size:
            spos, scls = np.concatenate([spos, gpos]), np.concatenate([scls, gcls])
            order = np.argsort(spos, kind="stable")
            spos, scls = spos[order], scls[order]
    first, second, last, ntok, nstruct, valid = cols
    bad = -1
    if not valid.all():  # the table also holds bad kinds seen in earlier windows or files
        b = np.flatnonzero(~valid[row])
        bad = int(b[0]) if b.size else -1
    return Gaps(row, first, second, last, ntok, nstruct, bad, spos, scls, scalars)
