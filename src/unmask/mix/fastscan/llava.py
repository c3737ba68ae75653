"""LLaVA record checks for ``unmask.mix.fastscan.scan``, vectorised over every record of a window.

The vectorised pass reads keys and roles by their raw bytes, so it only *suspects* a record (a key or
role written with escapes such as ``"gp\\u0074"`` looks wrong to it). Each suspect record is then
parsed with orjson and checked exactly, in the words of ``unmask.data.formats``; the first one that really
fails is the error. Clean files never take the slow path.
"""

from __future__ import annotations

import numpy as np
import orjson

from .chars import COLON, COMMA, LBRACK
from .window import Bad, Window

__all__ = ["check_llava", "check_llava_row"]




def _word(lit: bytes) -> tuple[np.uint64, np.uint64]:
    """(value, mask) comparing the first len(lit) <= 8 bytes of a little-endian word with ``lit``."""
    return (np.uint64(int.from_bytes(lit, "little")), np.uint64((1 << (8 * len(lit))) - 1))


# a quoted string with its quotes: the closing quote is real (no backslash before it), so it also fixes
# the length
FROM, VALUE, CONV_HEAD, CONV_TAIL = _word(b'"from"'), _word(b'"value"'), _word(b'"convers'), _word(b"rsations")
ROLE_WORDS = {"human": _word(b'"human"'), "gpt": _word(b'"gpt"'), "system": _word(b'"system"')}


def _is(sig: np.ndarray, word: tuple[np.uint64, np.uint64]) -> np.ndarray:
    return (sig & word[1]) == word[0]


def check_llava_row(data: bytes) -> tuple[str | None, int]:
    """Exact check of one record: (the problem or None, number of assistant turns)."""
    try:
        row = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON ({str(exc).split(':')[0]})", 0
    if not isinstance(row, dict):
        return f"a record must be an object, got {type(row).__name__}", 0
    conv = row.get("conversations")
    if not isinstance(conv, list) or not conv:
        return "no 'conversations' list (or it is empty)", 0
    n_gpt = 0
    for j, t in enumerate(conv):
        if not isinstance(t, dict) or "from" not in t or "value" not in t:
            return f"turn {j} needs 'from' and 'value'", 0
        if t["from"] not in ("human", "gpt", "system"):
            return f"turn {j}: unknown role {t['from']!r} (expected human, gpt or system)", 0
        if not isinstance(t["value"], str):
            return f"turn {j}: 'value' must be a string", 0
        n_gpt += t["from"] == "gpt"
    if not n_gpt:
        return "no assistant reply", 0
    return None, n_gpt


def check_llava(w: np.ndarray, win: Window) -> np.ndarray:
    """Assistant-turn count per complete record of the window; raise ``Bad`` for the first bad record.
    Keys and roles are compared as 64-bit words; cumulative counts over the window's braces and
    brackets give each key its depth, record and enclosing list or turn without any search."""
    starts, ends = win.starts, win.ends
    nrec = starts.size
    if not nrec:
        return np.zeros(0, dtype=np.int32)
    ex = win.extra
    g = ex["gaps"]
    n = len(w)
    w64 = np.ndarray(shape=(max(n - 7, 0),), dtype="<u8", buffer=w, strides=(1,))
    ns = int(np.searchsorted(ex["qo"], ends[-1]))  # strings of complete records
    qo, after, before, nsb = ex["qo"][:ns], ex["after"][:ns], ex["before"][:ns], ex["nsb"]
    sopen, sdepth, sdep_ext, scls = ex["sopen"], ex["sdepth"], ex["sdep_ext"], g.scls
    rcum = np.cumsum(sopen & (sdepth == 2))  # records begun up to each brace/bracket
    o3 = sopen & (sdepth == 3)
    c3 = np.cumsum(o3)  # a record's lists and objects begun up to each brace/bracket
    o4 = np.flatnonzero(sopen & (sdepth == 4))
    c4 = np.cumsum(sopen & (sdepth == 4))
    suspect = np.zeros(nrec, dtype=bool)

    keys = np.flatnonzero(after == COLON)
    sig = w64[np.minimum(qo[keys], w64.size - 1)]

    # record -> its "conversations" list: a level-3 '[' right after the key's ':'
    conv = keys[_is(sig, CONV_HEAD)]
    conv = conv[_is(w64[np.minimum(qo[conv] + 6, w64.size - 1)], CONV_TAIL) & (w[qo[conv] + 14] == 0x22)]
    conv = conv[(sdep_ext[nsb[conv]] == 2) & (g.second[g.row[conv + 1]] == LBRACK)]
    suspect |= np.bincount(rcum[nsb[conv] - 1] - 1, minlength=nrec) != 1
    n3 = int(c3[-1]) if c3.size else 0
    is_conv = np.zeros(n3 + 1, dtype=bool)  # index n3 stays False: "no list" for parents of -1
    is_conv[c3[nsb[conv]] - 1] = True  # the '[' is the first brace/bracket after the key

    # turns: elements of a conversations list; anything but an object there is suspect
    parent = c3[o4] - 1
    is_turn = is_conv[parent]
    suspect[rcum[o4[is_turn & (scls[o4] == LBRACK)]] - 1] = True
    n_turns = np.bincount(parent[is_turn], minlength=n3 + 1)
    t3 = np.flatnonzero(o3)
    suspect[rcum[t3[(is_conv & (n_turns == 0))[:n3]]] - 1] = True
    elem = np.flatnonzero(((before == LBRACK) | (before == COMMA)) & (after != COLON))  # in lists
    elem = elem[sdep_ext[nsb[elem]] == 3]
    loose = nsb[elem] - 1
    if g.scalars.size:
        sc = np.searchsorted(g.spos, g.scalars) - 1
        loose = np.concatenate([loose, sc[(sc >= 0) & (sdep_ext[sc + 1] == 3)]])
    loose = loose[is_conv[c3[loose] - 1] & (rcum[loose] <= nrec)]
    suspect[rcum[loose] - 1] = True

    # keys directly in a turn: one 'from' with a role string, one 'value' with a string
    turn_no = np.cumsum(is_turn) - 1
    n_t = int(is_turn.sum())

    def in_turn(kk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        p4 = c4[nsb[kk] - 1] - 1
        ok = (sdep_ext[nsb[kk]] == 4) & (p4 >= 0) & is_turn[np.maximum(p4, 0)]
        return kk[ok], turn_no[p4[ok]]

    f, f_turn = in_turn(keys[_is(sig, FROM)])
    v, v_turn = in_turn(keys[_is(sig, VALUE)])
    v_turn = v_turn[g.ntok[g.row[v + 1]] == 1]  # its value is a string
    n_from = np.bincount(f_turn, minlength=n_t)
    n_value = np.bincount(v_turn, minlength=n_t)
    suspect[rcum[o4[is_turn][(n_from != 1) | (n_value != 1)]] - 1] = True

    role = np.minimum(f + 1, max(ns - 1, 0))  # the string after a 'from' key
    rsig = w64[np.minimum(qo[role], w64.size - 1)]
    rsig[g.ntok[g.row[f + 1]] != 1] = 0  # the role is no string
    frec = rcum[nsb[f] - 1] - 1
    gpt = _is(rsig, ROLE_WORDS["gpt"])
    known = gpt | _is(rsig, ROLE_WORDS["human"]) | _is(rsig, ROLE_WORDS["system"])
    suspect[frec[~known]] = True
    n_gpt = np.bincount(frec[gpt], minlength=nrec).astype(np.int32)
    suspect |= n_gpt == 0
    del w64

    for r in np.flatnonzero(suspect):  # the exact check decides (escaped keys pass, real faults fail)
        problem, count = check_llava_row(w[starts[r]:ends[r]].tobytes())
        if problem is not None:
            raise Bad(starts[r], problem, show_byte=False)
        n_gpt[r] = count
    return n_gpt
