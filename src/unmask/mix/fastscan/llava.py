"""LLaVA record checks for ``unmask.mix.fastscan.scan``, vectorised over every record of a window.

The vectorised pass reads keys and roles by their raw bytes, so it only *suspects* a record (a key or
role written with escapes such as ``"gp\\u0074"`` looks wrong to it). Each suspect record is then
parsed with orjson and checked by the one row check, :func:`unmask.data.rows.llava_row`; the first one
that really fails is the error. Given a path checker, every record's image paths are checked too (a
record's own faults before its paths, the first faulty record in the file first), as the slow path does.
Clean files never take the slow path.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import orjson

from ...data.rows import llava_row
from .chars import BACKSLASH, COLON, COMMA, LBRACE, LBRACK
from .window import Bad, Window

__all__ = ["check_llava", "check_llava_row"]

PathCheck = Callable[[str], None]  # raises ValueError for an image path outside the image root


def _word(lit: bytes) -> tuple[np.uint64, np.uint64]:
    """(value, mask) comparing the first len(lit) <= 8 bytes of a little-endian word with ``lit``."""
    return (np.uint64(int.from_bytes(lit, "little")), np.uint64((1 << (8 * len(lit))) - 1))


# a quoted string with its quotes: the closing quote is real (no backslash before it), so it also fixes
# the length
FROM, VALUE, CONV_HEAD, CONV_TAIL = _word(b'"from"'), _word(b'"value"'), _word(b'"convers'), _word(b"rsations")
ID, IMAGE, SOURCE, META_HEAD = _word(b'"id"'), _word(b'"image"'), _word(b'"source"'), _word(b'"metadat')
ROLE_WORDS = {"human": _word(b'"human"'), "gpt": _word(b'"gpt"'), "system": _word(b'"system"')}
MARKER = _word(b"<image>")
# \u00XX escapes that could spell a marker's character (the raw-byte count would miss the marker)
_MARKER_ESCAPES = np.zeros(1 << 16, dtype=bool)  # indexed by the two hex digits' bytes (little-endian)
for _c in set(b"<image>"):
    for _hi in {f"{_c:02x}"[0], f"{_c:02X}"[0]}:
        for _lo in {f"{_c:02x}"[1], f"{_c:02X}"[1]}:
            _MARKER_ESCAPES[ord(_hi) | ord(_lo) << 8] = True


def _is(sig: np.ndarray, word: tuple[np.uint64, np.uint64]) -> np.ndarray:
    return (sig & word[1]) == word[0]


def check_llava_row(data: bytes, check_path: PathCheck | None = None) -> tuple[str | None, int]:
    """Exact check of one record (the one row check, then its image paths): (the problem or None,
    number of assistant turns)."""
    try:
        row = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return f"invalid JSON ({str(exc).split(':')[0]})", 0
    try:
        checked = llava_row(row, 0)
        if check_path is not None:
            for image in checked.images:
                check_path(image)
    except ValueError as exc:
        return str(exc), 0
    return None, sum(role == "assistant" for role, _ in checked.turns)


def check_llava(w: np.ndarray, win: Window, check_path: PathCheck | None = None) -> np.ndarray:
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

    # the record's own keys: id (string), image (one string path), metadata (an object), source (string);
    # any other spelling, a repeated key or an escaped key name is for the exact check
    qc = ex["qc"][:ns]
    bbuf = ex["bbuf"][:n]  # the scan's scratch mask (at least the window): no fresh 4 MB per pass
    # backslashes and '<' (0x5C, 0x3C; also '|', 0x7C) in one pass, in place: b | 0x60 == 0x7C
    np.bitwise_or(w, 0x60, out=bbuf.view(np.uint8))
    np.equal(bbuf.view(np.uint8), 0x7C, out=bbuf)
    hits = np.flatnonzero(bbuf)
    hits = hits[w[hits] != 0x7C]
    is_bs = w[hits] == BACKSLASH
    bs, lt = hits[is_bs], hits[~is_bs]
    has_bs = _has_backslash(bs, qo, qc)
    top = keys[sdep_ext[nsb[keys]] == 2]
    trec = rcum[nsb[top] - 1] - 1
    suspect[trec[has_bs[top]]] = True
    tsig, is_str = sig[sdep_ext[nsb[keys]] == 2], g.ntok[g.row[top + 1]] == 1
    meta = (_is(tsig, META_HEAD) & (w[np.minimum(qo[top] + 8, n - 1)] == 0x61)
            & (w[np.minimum(qo[top] + 9, n - 1)] == 0x22))
    image = _is(tsig, IMAGE)
    for hit, ok in ((_is(tsig, ID), is_str), (image, is_str), (_is(tsig, SOURCE), is_str),
                    (meta, g.second[g.row[top + 1]] == LBRACE)):
        suspect[trec[hit & ~ok]] = True
        suspect |= np.bincount(trec[hit], minlength=nrec) > 1
    img_rec, img_str = trec[image & is_str], top[image & is_str] + 1
    suspect[img_rec[has_bs[img_str]]] = True
    n_images = np.bincount(img_rec, minlength=nrec)

    # '<image>' markers in the turns' values: none, or one with the record's one image
    is_val = np.zeros(ns, dtype=bool)
    is_val[np.minimum(v[g.ntok[g.row[v + 1]] == 1] + 1, max(ns - 1, 0))] = True
    lt = lt[lt < w64.size]
    lt = lt[_is(w64[lt], MARKER)]
    ls = np.searchsorted(qo, lt, side="right") - 1
    ls = ls[(ls >= 0) & (ls < ns)]
    ls = ls[is_val[ls]]
    n_markers = np.bincount(rcum[nsb[ls] - 1] - 1, minlength=nrec)
    suspect |= (n_markers > 0) & ((n_images != 1) | (n_markers != 1))
    esc = _escaped_marker_strings(w, bs, qo, qc)
    esc = esc[is_val[esc]]
    suspect[rcum[nsb[esc] - 1] - 1] = True
    del w64

    first_path = _first_bad_path(w, img_rec, img_str, qo, qc, suspect, check_path)
    for r in np.flatnonzero(suspect):  # the exact check decides (escaped keys pass, real faults fail)
        if first_path is not None and r > first_path[0]:
            break
        problem, count = check_llava_row(w[starts[r]:ends[r]].tobytes(), check_path)
        if problem is not None:
            raise Bad(starts[r], problem, show_byte=False)
        n_gpt[r] = count
    if first_path is not None:
        raise Bad(starts[first_path[0]], first_path[1], show_byte=False)
    return n_gpt


def _has_backslash(bs: np.ndarray, qo: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Per string: does it hold an escape (``bs``: the window's backslashes)."""
    out = np.zeros(qc.size, dtype=bool)
    if bs.size and qc.size:
        si = np.searchsorted(qo[:qc.size], bs, side="right") - 1
        ok = si >= 0
        si = si[ok]
        out[si[bs[ok] < qc[si]]] = True
    return out


def _escaped_marker_strings(w: np.ndarray, bs: np.ndarray, qo: np.ndarray, qc: np.ndarray) -> np.ndarray:
    """Strings holding a ``\\u00XX`` escape of one of the characters of ``<image>``."""
    bs = bs[bs < len(w) - 5]
    bs = bs[w[bs + 1] == 0x75]
    bs = bs[(w[bs + 2] == 0x30) & (w[bs + 3] == 0x30)]
    bs = bs[_MARKER_ESCAPES[w[bs + 4].astype(np.int64) | w[bs + 5].astype(np.int64) << 8]]
    si = np.searchsorted(qo[:qc.size], bs, side="right") - 1
    si = si[si >= 0]
    return np.unique(si)


def _first_bad_path(w: np.ndarray, img_rec: np.ndarray, img_str: np.ndarray, qo: np.ndarray, qc: np.ndarray,
                    suspect: np.ndarray, check_path: PathCheck | None) -> tuple[int, str] | None:
    """(record, problem) of the first unsuspected record whose one image path leaves the image root.

    The checker is asked once per folder (the bytes before the path's last '/'), about the folder's first
    path; when it then knows the folder as a plain one (inside the root, no symlinks in it:
    ``PathChecker.plain``), the folder's other paths are inside the root unless their name is '..'.
    Those and every other path are asked one by one, in record order."""
    if check_path is None:
        return None
    ok = ~suspect[img_rec]
    recs, a, b = img_rec[ok], qo[img_str[ok]] + 1, qc[img_str[ok]]
    if not recs.size:
        return None
    mv = memoryview(w)
    known = np.zeros(recs.size, dtype=bool)  # inside the root without asking
    plain = getattr(check_path, "plain", None)
    length = b - a
    width = int(length.max())
    if plain is not None and width < 255 and recs.size > 1:  # each path as a row of bytes
        cols = np.arange(width)
        rows = np.where(cols < length[:, None], w[np.minimum(a[:, None] + cols, w.size - 1)], 0).astype(np.uint8)
        slash = rows == 0x2F
        cut = np.where(slash.any(axis=1), width - 1 - np.argmax(slash[:, ::-1], axis=1), -1)  # the last '/'
        rows[cols >= cut[:, None]] = 0  # the folder's bytes only, then where the name begins
        pad = -(width + 1) % 8
        folder = np.concatenate([rows, (cut + 1).astype(np.uint8)[:, None], np.zeros((rows.shape[0], pad), np.uint8)],
                                axis=1)
        words = folder.view("<u8")  # a hash of each folder (exact equality checked below)
        h = words[:, 0].copy()
        for j in range(1, words.shape[1]):
            h *= np.uint64(0x100000001B3)
            h ^= words[:, j]
        _, first, group = np.unique(h, return_index=True, return_inverse=True)
        group = group.reshape(-1)
        same = (folder == folder[first[group]]).all(axis=1)
        clear = np.zeros(first.size, dtype=bool)
        for g, i in enumerate(first.tolist()):
            image = str(mv[int(a[i]):int(b[i])], "utf-8")
            try:
                check_path(image)
            except ValueError:
                continue  # asked again in its turn below
            clear[g] = plain(os.path.split(image)[0])
        dots = (length - cut == 3) & (w[np.minimum(a + cut + 1, w.size - 1)] == 0x2E) \
            & (w[np.minimum(a + cut + 2, w.size - 1)] == 0x2E)
        known = clear[group] & same & ~dots
    ask = np.flatnonzero(~known)
    for r, x, y in zip(recs[ask].tolist(), a[ask].tolist(), b[ask].tolist(), strict=True):
        try:
            check_path(str(mv[x:y], "utf-8"))
        except ValueError as exc:
            return r, str(exc)
    return None
