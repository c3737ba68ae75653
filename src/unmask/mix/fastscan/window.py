"""Vectorised analysis of one window of a JSON array (the engine behind ``unmask.mix.fastscan.scan``).

A window always starts where the scanner's state is known: just after the top-level ``[`` or just after
a record's closing ``}``. So it starts outside any string, at depth 1, and no backslash run crosses its
start. One pass finds the quotes (and min/max spot control and non-ASCII bytes); everything outside
strings lives in the gaps between them (``jsonscan_gaps``), which give the braces and brackets (depth,
record spans) and a token-bigram syntax check, without touching the bytes inside strings again.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass, field

import numpy as np

from .chars import (
    AROUND_STRING,
    BACKSLASH,
    CLS,
    COLON,
    COMMA,
    DELTA,
    FOLLOW,
    JUNK,
    LBRACE,
    LBRACK,
    NAMES,
    NONE,
    QUOTE,
    RBRACE,
    RBRACK,
    SCALAR,
    START,
    WS,
)
from .gaps import analyse

__all__ = ["Bad", "Window", "scan_window"]


class Bad(Exception):
    """A problem at a window-local byte position; ``jsonscan`` turns it into an ``UnmaskError``."""

    def __init__(self, pos: int, reason: str, *, show_byte: bool = True, element: bool = False) -> None:
        super().__init__(reason)
        # element: a top-level element that is no record (it is named by the next record index)
        self.pos, self.reason, self.show_byte, self.element = int(pos), reason, show_byte, element
        self.starts: np.ndarray | None = None  # record starts/ends of the window, to name the record
        self.ends: np.ndarray | None = None


@dataclass
class Window:
    """What one window found. Positions are local to the window."""

    starts: np.ndarray  # start of each complete record ('{')
    ends: np.ndarray  # one past its '}'
    cut: int  # where the next window starts (one past the last complete record, or past the ']')
    closed: bool  # the top-level ']' is the window's last byte
    need_more: bool  # no complete record and no ']': grow the window
    extra: dict = field(default_factory=dict)  # strings, gaps and structure, for the LLaVA checks


def _real_quotes(w: np.ndarray, bbuf: np.ndarray) -> np.ndarray:
    np.equal(w, QUOTE, out=bbuf)
    q = np.flatnonzero(bbuf)
    if not q.size:
        return q
    prev = w[q - 1]
    if q[0] == 0:
        prev[0] = 0
    cand = np.flatnonzero(prev == BACKSLASH)
    if not cand.size:
        return q
    # escaped when an odd run of backslashes precedes it: walk back over the (short) runs together
    qp = q[cand]
    run = np.ones(cand.size, dtype=np.int64)
    active = np.arange(cand.size)
    for _ in range(64):
        look = qp[active] - run[active] - 1
        still = (look >= 0) & (w[np.maximum(look, 0)] == BACKSLASH)
        active = active[still]
        if not active.size:
            break
        run[active] += 1
    for k in active:  # pathological runs: measure each in one go
        seg = w[: qp[k] - run[k]][::-1]
        other = np.flatnonzero(seg != BACKSLASH)
        run[k] += int(other[0]) if other.size else seg.size
    return np.delete(q, cand[(run & 1) == 1])


def _first(bad: np.ndarray) -> int:
    idx = np.flatnonzero(bad)
    return int(idx[0]) if idx.size else -1


def _desc(w: np.ndarray, p: int) -> str:
    b = int(w[p])
    return repr(chr(b)) if 32 <= b < 127 else f"byte 0x{b:02x}"


def scan_window(w: np.ndarray, *, first: bool, final: bool, bbuf: np.ndarray) -> Window:
    """Find the records of one window and check its syntax; raise ``Bad`` for the earliest problem."""
    n = len(w)
    q = _real_quotes(w, bbuf[:n])
    odd = q.size & 1
    qo, qc = q[0::2], q[1::2]
    m = qc.size  # complete strings; with ``odd`` one more opens and runs past the window
    # gap g lies before string g: gap 0 from the window start, gap m up to the window end
    gs = np.empty(m + 1, dtype=np.int64)
    gs[0], gs[1:] = 0, qc + 1
    glen = np.empty(m + 1, dtype=np.int64)
    glen[:m], glen[m] = qo[:m], (qo[m] if odd else n)
    glen -= gs
    g = analyse(w, gs, glen)
    spos, scls = g.spos, g.scls
    sdelta = DELTA[scls]
    sdepth = np.cumsum(sdelta, dtype=np.int64)
    sdepth += 1
    if sdepth.size and sdepth.min() <= 0:
        z = int(np.flatnonzero(sdepth == 0)[0])
        if spos[z] + 1 < n:  # the top-level ']' is here: the array only (the driver checks the rest)
            return scan_window(w[: spos[z] + 1], first=first, final=True, bbuf=bbuf)
    closed = bool(sdepth.size) and sdepth[-1] == 0
    sopen = sdelta > 0
    level = np.where(sopen, sdepth, sdepth + 1)
    starts = spos[sopen & (sdepth == 2)]
    ends = spos[~sopen & (sdepth == 1)] + 1
    nrec = ends.size
    nsb = np.cumsum(g.nstruct[g.row])  # braces/brackets up to the end of gap g: those before string g
    sdep_ext = np.empty(sdepth.size + 1, dtype=np.int64)
    sdep_ext[0], sdep_ext[1:] = 1, sdepth
    problems: list[Bad] = []
    try:
        _check_pairs(w, spos, sopen, (scls == LBRACK) | (scls == RBRACK), level, problems)
        _check_gaps(w, gs, glen, g, first, problems)
        before, after = _check_strings(w, qo[:m], qc, g, first, odd, problems)
        _check_elements(w, qo[:m], starts, sdep_ext[nsb[:m]], spos, sdepth, g.scalars, problems)
        if not closed and (final or not nrec):  # an unfinished record: does it swallow the next ones?
            _check_context(w, spos, scls, sopen, level, problems)
        if w.min() < 0x20:
            np.less(w, 0x20, out=bbuf[:n])
            c = np.flatnonzero(bbuf[:n])
            k = _first((np.searchsorted(q, c) & 1) == 1)
            if k >= 0:
                problems.append(Bad(c[k], f"invalid JSON (raw control byte 0x{int(w[c[k]]):02x} in a string)"))
        cut = n if closed else (int(ends[-1]) if nrec else 0)
        if cut and w[:cut].max() >= 0x80:
            try:
                codecs.utf_8_decode(memoryview(w[:cut]), "strict", True)
            except UnicodeDecodeError as exc:
                problems.append(Bad(exc.start, "not valid UTF-8"))
        if problems:
            raise min(problems, key=lambda p: p.pos)
        if final and not closed:
            if starts.size > nrec:
                raise Bad(starts[nrec], "truncated JSON (the file ends mid-record)", show_byte=False)
            raise Bad(n, "truncated JSON (the file ends before the closing ']')")
    except Bad as bad:
        bad.starts, bad.ends = starts, ends
        raise
    extra = dict(qo=qo[:m], qc=qc, spos=spos, before=before, after=after, gaps=g, nsb=nsb, sopen=sopen,
                 sdepth=sdepth, sdep_ext=sdep_ext, bbuf=bbuf)
    return Window(starts=starts[:nrec], ends=ends, cut=cut, closed=closed,
                  need_more=not closed and nrec == 0, extra=extra)


def _check_pairs(w, spos, sopen, bracket, level, problems: list[Bad]) -> None:
    """Each close must match the kind of its open: within one level opens and closes alternate."""
    lv = level.astype(np.int16) if level.size and level.max() < 32000 else level
    order = np.argsort(lv, kind="stable")  # a radix sort for int16
    lv, op, br = lv[order], sopen[order], bracket[order]
    idx = np.flatnonzero(~op[1:] & (lv[1:] == lv[:-1])) + 1
    cands = [int(order[idx[k]])] if (k := _first(br[idx] != br[idx - 1])) >= 0 else []
    top = np.flatnonzero(~sopen & (level == 1))  # closes the top-level '[' (outside the window)
    cands += [int(t) for t in top[~bracket[top]][:1]]
    if cands:
        p = spos[min(cands)]
        problems.append(Bad(p, f"invalid JSON ({chr(w[p])!r} does not match the bracket it closes)"))


def _check_context(w, spos, scls, sopen, level, problems: list[Bad]) -> None:
    """An object or list inside a record must be a value: after ':' in an object, after '[' or ','
    in a list. (A record missing its '}' swallows the next one: caught here, not at the file's end.)"""
    op = np.flatnonzero(sopen & (level >= 3))
    if not op.size:
        return
    p = spos[op] - 1
    for _ in range(64):
        ws = WS[w[p]] & (p > 0)
        if not ws.any():
            break
        p[ws] -= 1
    for i in np.flatnonzero(WS[w[p]] & (p > 0)):  # long runs of whitespace: one look each
        hits = np.flatnonzero(~WS[w[: p[i] + 1][::-1]])
        p[i] = p[i] - hits[0] if hits.size else 0
    prev = CLS[w[p]]
    opens = np.flatnonzero(sopen)
    in_list = np.empty(op.size, dtype=bool)
    for lv in np.unique(level[op]).tolist():
        mine = level[op] == lv
        up = opens[level[opens] == lv - 1]
        in_list[mine] = scls[up[np.searchsorted(spos[up], spos[op[mine]]) - 1]] == LBRACK
    ok = np.where(in_list, (prev == COMMA) | (prev == LBRACK), prev == COLON)
    k = _first(~ok)
    if k >= 0:
        where_ = "a list" if in_list[k] else "an object"
        problems.append(Bad(spos[op[k]], f"invalid JSON ({chr(w[spos[op[k]]])!r} after {NAMES[int(prev[k])]}"
                                         f" in {where_}; a missing '}}' or ']' before it?)"))


def _check_gaps(w, gs, glen, g, first: bool, problems: list[Bad]) -> None:
    """Tokens with no string between them must follow each other (the first one follows the window
    start: the top-level '[' or a record's '}')."""
    virtual = START if first else RBRACE
    bad = [int(g.bad)] if g.bad >= 0 else []
    r0 = g.row[0]
    if g.ntok[r0] and not FOLLOW[virtual, g.first[r0]]:
        bad.append(0)
    if not bad:
        return
    k = min(bad)  # find the offending token in Python: one gap
    prev = virtual if k == 0 else NONE
    for p in range(int(gs[k]), int(gs[k] + glen[k])):
        c = int(CLS[w[p]])
        if c == NONE:
            continue
        adjacent_scalar = c == SCALAR and prev == SCALAR and CLS[w[p - 1]] == SCALAR
        if (prev != NONE and not FOLLOW[prev, c] and not adjacent_scalar) or c == JUNK:
            if prev in (RBRACE, RBRACK, SCALAR) and c in (LBRACE, LBRACK, SCALAR):
                reason = f"a ',' is missing before {_desc(w, p)}"
            elif prev == COMMA and c in (RBRACE, RBRACK):
                reason = f"a trailing ',' before {_desc(w, p)}"
            else:
                reason = f"{_desc(w, p)} after {NAMES[prev]}"
            problems.append(Bad(p, f"invalid JSON ({reason})"))
            return
        prev = c


def _check_strings(w, qo, qc, g, first: bool, odd: int, problems: list[Bad]):
    """Each string between the last token before it and the first after it; returns those classes
    (after is COLON: the string is a key)."""
    m = qc.size
    if not m:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.uint8)
    before = g.last[g.row[:m]]
    if not g.ntok[g.row[0]]:
        before[0] = START if first else RBRACE
    after = g.first[g.row[1:m + 1]]
    end_known = odd or g.ntok[g.row[m]] > 0  # a string right at the window end: what follows is unknown
    ok = AROUND_STRING[before, after]
    ok[:-1] &= after[:-1] != NONE  # two strings with nothing between them
    if end_known and after[-1] == NONE:
        ok[-1] = False
    k = _first(~ok)
    if k >= 0:
        if after[k] == NONE:
            problems.append(Bad(qc[k] + 1, "invalid JSON (two strings with nothing between them)"))
        elif not AROUND_STRING[:, after[k]].any():
            p = int(qc[k]) + 1
            while CLS[w[p]] == NONE:
                p += 1
            problems.append(Bad(p, f"invalid JSON ({_desc(w, p)} after a string)"))
        else:
            problems.append(Bad(qo[k], f"invalid JSON (a string after {NAMES[int(before[k])]}"
                                       f" and before {NAMES[int(after[k])]})"))
    return before, after


def _check_elements(w, qo, starts, str_depth, spos, sdepth, scalars, problems: list[Bad]) -> None:
    """Every top-level element must be an object: no string, list or scalar at depth 1. Scalar
    characters are checked too (true / false / null, numbers)."""
    k = _first(str_depth <= 1)
    if k >= 0:
        problems.append(Bad(qo[k], "a record must be an object, got a string", show_byte=False, element=True))
    lists = np.flatnonzero(w[starts] == 0x5B) if starts.size else starts
    if lists.size:
        problems.append(Bad(starts[lists[0]], "a record must be an object, got a list", show_byte=False,
                            element=True))
    if not scalars.size:
        return
    sdep_ext = np.concatenate([[1], sdepth])
    k = _first(sdep_ext[np.searchsorted(spos, scalars)] <= 1)
    if k >= 0:
        problems.append(Bad(scalars[k], "a record must be an object, got a number or literal", show_byte=False,
                            element=True))
    _check_scalars(w, scalars, problems)


NUMBER = np.zeros(256, dtype=bool)
NUMBER[list(b"0123456789.eE+-")] = True


def _check_scalars(w, p: np.ndarray, problems: list[Bad]) -> None:
    """true / false / null spelled right; numbers made of number characters (rare in LLaVA data)."""
    head = np.ones(p.size, dtype=bool)
    head[1:] = p[1:] != p[:-1] + 1
    run = np.cumsum(head) - 1
    hp = p[head]
    lens = np.bincount(run)
    c0 = w[hp]
    ok = np.zeros(hp.size, dtype=bool)
    for lit in (b"true", b"false", b"null"):
        cand = np.flatnonzero((c0 == lit[0]) & (lens == len(lit)))
        for i, ch in enumerate(lit[1:], 1):
            cand = cand[w[hp[cand] + i] == ch]
        ok[cand] = True
    numeric = np.bincount(run, weights=~NUMBER[w[p]], minlength=hp.size) == 0
    ok |= numeric & ((c0 == 0x2D) | ((c0 >= 0x30) & (c0 <= 0x39)))
    ok |= hp + lens >= len(w)  # runs on past the window: the next window sees it whole
    k = _first(~ok)
    if k >= 0:
        tok = w[hp[k]:hp[k] + min(int(lens[k]), 20)].tobytes().decode("latin-1")
        problems.append(Bad(hp[k], f"invalid JSON (bad value {tok!r})"))
