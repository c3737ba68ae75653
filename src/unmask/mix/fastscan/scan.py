"""Find every record of a huge JSON array without parsing the records.

``scan_json_array(path)`` memory-maps the file and works window by window (4 MB each, cut at record
boundaries, so temporaries stay small): numpy finds the real quotes (a quote after an odd run of
backslashes is escaped); everything outside strings lies in the short gaps between them, whose
braces and brackets give the depth (a cumulative sum) and so the byte span of every record. No
record becomes a Python object. On the way it checks the JSON syntax around every string and
bracket, bracket matching, UTF-8 and raw control bytes, and with ``llava=True`` the LLaVA shape of
every record (``llava``). Each problem is one ``UnmaskError`` line naming the file and the
record (index and id) or, between records, the line and byte.

``unmask mix`` uses it to copy untouched records byte for byte and parse only the ones it changes.
Not checked without parsing: the digits of numbers (only their characters), duplicate keys, and a
key or value in the wrong kind of container after a ',' (``[1, "a": 2]``).
"""

from __future__ import annotations

import io
import mmap
import os
import re
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

from ...errors import UnmaskError, where
from .chars import WS
from .llava import PathCheck, check_llava
from .window import Bad, scan_window

__all__ = ["ScanResult", "scan_json_array", "scan_llava"]

WINDOW = 4 << 20  # bytes per window: small enough that its temporaries stay in cache
_COPY = getattr(os, "copy_file_range", None)
_ID_RE = re.compile(rb'\A\{\s*"id"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+)')


class ScanResult:
    """Spans of the elements of a JSON array over a memory-mapped file. Use as a context manager (or
    call ``close``) to unmap it."""

    def __init__(self, path: Path, fh: BinaryIO, mm: mmap.mmap | None, spans: np.ndarray,
                 assistant_turns: np.ndarray | None) -> None:
        self.path = path
        self.spans = spans  #: int64 (N, 2): [start, end) of each element, ``{`` to one past ``}``
        self.assistant_turns = assistant_turns  #: int32 per record (``llava=True``), else None
        self._fh, self._mm = fh, mm
        self._mv = memoryview(mm) if mm is not None else memoryview(b"")
        self._starts: list[int] | None = None
        self._ends: list[int] | None = None

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def size(self) -> int:
        return len(self._mv)

    def element(self, i: int) -> bytes:
        """The bytes of element ``i`` (feed them to ``orjson.loads``)."""
        if self._starts is None:  # plain ints: indexing numpy per call would cost more than the copy
            self._starts, self._ends = self.spans[:, 0].tolist(), self.spans[:, 1].tolist()
        return self._mv[self._starts[i]:self._ends[i]].tobytes()

    def read(self, i: int) -> bytes:
        """Element ``i`` read with ``pread``, not through the mapping: scattered reads through the
        mapping fault whole runs of pages in and grow the resident set towards the file's size."""
        if self._starts is None:
            self._starts, self._ends = self.spans[:, 0].tolist(), self.spans[:, 1].tolist()
        a, b = self._starts[i], self._ends[i]
        return os.pread(self._fh.fileno(), b - a, a)

    def view(self, start: int, end: int) -> memoryview:
        """A zero-copy view of bytes [start, end) of the file."""
        return self._mv[start:end]

    def record_id(self, i: int) -> object:
        """Element ``i``'s ``id`` (None when it has none or cannot be read)."""
        a, b = self.spans[i]
        return _record_id(self._mv, int(a), int(b))

    def write_range(self, out: BinaryIO, start: int, end: int, block: int = 16 << 20) -> None:
        """Copy bytes [start, end) of the file to ``out``: inside the kernel (``copy_file_range``) when
        ``out`` is a real file, else in blocks, dropping the mapped pages behind so that copying the
        whole file does not grow this process's resident memory."""
        start, end = int(start), int(end)
        if start < end and _COPY is not None:
            try:
                fd = out.fileno()
            except (AttributeError, OSError, io.UnsupportedOperation):
                fd = None
            if fd is not None:
                out.flush()
                try:
                    while start < end:
                        done = _COPY(self._fh.fileno(), fd, end - start, start)
                        if done <= 0:
                            break
                        start += done
                except OSError:  # not supported between these files: copy by hand
                    pass
        while start < end:
            stop = min(end, start + block)
            out.write(self._mv[start:stop])
            _release(self._mm, start, stop)
            start = stop

    def close(self) -> None:
        self._mv.release()
        if self._mm is not None:
            try:
                self._mm.close()
            except BufferError:  # a caller still holds a view(); the map goes with the last one
                pass
        self._fh.close()

    def __enter__(self) -> ScanResult:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def scan_llava(path: str | Path, *, window: int = WINDOW, check_path: PathCheck | None = None) -> ScanResult:
    """``scan_json_array(path, llava=True)``; ``check_path`` (e.g. ``unmask.data.paths.PathChecker``)
    checks every record's image paths too."""
    return scan_json_array(path, llava=True, window=window, check_path=check_path)


def scan_json_array(path: str | Path, *, llava: bool = False, window: int = WINDOW,
                    check_path: PathCheck | None = None) -> ScanResult:
    """Scan a JSON array of objects: spans of every element, syntax and UTF-8 checked, and with
    ``llava=True`` every record checked as a LLaVA row (``unmask.data.rows.llava_row``: the vectorised
    pass suspects, the row check decides), with its image paths when ``check_path`` is given."""
    path = Path(path)
    try:
        fh = open(path, "rb")
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnmaskError(f"{path}: a folder, not a JSON file") from None
    try:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            raise UnmaskError(f"{path}: empty file")
        mm = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    except BaseException:
        fh.close()
        raise
    try:
        spans, turns = _scan(path, mm, size, llava, window, check_path)
    except BaseException:
        try:
            mm.close()
        except BufferError:  # the traceback still holds a view of the map; it closes with it
            pass
        fh.close()
        raise
    return ScanResult(path, fh, mm, spans, turns)


def _scan(path: Path, mm: mmap.mmap, size: int, llava: bool, window: int, check_path: PathCheck | None):
    arr = np.frombuffer(mm, dtype=np.uint8)
    try:
        s = _head(path, arr)
        bbuf = np.empty(window, dtype=bool)
        starts, ends, turns = [], [], []
        n_before, first, w_len, released = 0, True, window, 0
        while True:
            e = min(size, s + w_len)
            if e - s > len(bbuf):
                bbuf = np.empty(e - s, dtype=bool)
            w = arr[s:e]
            try:
                win = scan_window(w, first=first, final=e == size, bbuf=bbuf)
                if win.need_more:
                    w_len *= 2  # a record longer than the window
                    continue
                if llava:
                    try:
                        turns.append(check_llava(w, win, check_path))
                    except Bad as bad:
                        bad.starts, bad.ends = win.starts, win.ends
                        raise
            except Bad as bad:
                raise _error(path, arr, s, n_before, bad) from None
            starts.append(win.starts + s)
            ends.append(win.ends + s)
            n_before += win.starts.size
            first = first and not win.starts.size
            if win.closed:
                _tail(path, arr, s + win.cut)
                break
            s += win.cut
            if s - released >= 64 << 20:
                _release(mm, released, s)
                released = s
            w_len = window
        spans = np.empty((n_before, 2), dtype=np.int64)
        spans[:, 0] = np.concatenate(starts)
        spans[:, 1] = np.concatenate(ends)
        return spans, (np.concatenate(turns) if llava else None)
    finally:
        del arr  # it holds a buffer export: the map cannot close while it lives


def _release(mm: mmap.mmap | None, start: int, stop: int) -> None:
    """Drop mapped pages in [start, stop) from this process (they stay in the page cache)."""
    page = mmap.PAGESIZE
    a = -(-start // page) * page if start else 0
    b = stop // page * page
    if mm is not None and b > a and hasattr(mm, "madvise"):
        mm.madvise(mmap.MADV_DONTNEED, a, b - a)


def _head(path: Path, arr: np.ndarray) -> int:
    """Position just after the opening '[' (leading whitespace and a UTF-8 BOM allowed)."""
    i = 3 if arr[:3].tobytes() == b"\xef\xbb\xbf" else 0
    probe = arr[i:i + (1 << 16)]
    nonws = np.flatnonzero(~WS[probe])
    while not nonws.size and i + len(probe) < len(arr):
        i += len(probe)
        probe = arr[i:i + (1 << 20)]
        nonws = np.flatnonzero(~WS[probe])
    if not nonws.size:
        raise UnmaskError(f"{path}: empty file (only whitespace)")
    p = i + int(nonws[0])
    if arr[p] != 0x5B:
        got = "an object" if arr[p] == 0x7B else repr(chr(arr[p])) if 32 <= arr[p] < 127 else f"byte 0x{arr[p]:02x}"
        hint = " (JSONL? pass --format llava-jsonl)" if arr[p] == 0x7B else ""
        raise UnmaskError(f"{where(path, byte=p)}: not a JSON array: it starts with {got}{hint}")
    return p + 1


def _tail(path: Path, arr: np.ndarray, p: int) -> None:
    """After the closing ']' only whitespace may follow."""
    for a in range(p, len(arr), 1 << 22):
        seg = arr[a:a + (1 << 22)]
        bad = np.flatnonzero(~WS[seg])
        if bad.size:
            q = a + int(bad[0])
            raise UnmaskError(f"{where(path, line=_line(arr, q), byte=q)}: junk after the JSON array")


def _line(arr: np.ndarray, p: int) -> int:
    return int(np.count_nonzero(arr[:p] == 0x0A)) + 1


def _record_id(buf, a: int, b: int | None) -> object:
    """The record's id: orjson on the record, or a look at its first bytes when it does not parse."""
    if b is not None:
        try:
            row = orjson.loads(bytes(buf[a:b]))
            return row.get("id") if isinstance(row, dict) else None
        except orjson.JSONDecodeError:
            pass
    m = _ID_RE.match(bytes(buf[a:a + 4096]))
    if m:
        try:
            return orjson.loads(m.group(1))
        except orjson.JSONDecodeError:
            return None
    return None


def _error(path: Path, arr: np.ndarray, s: int, n_before: int, bad: Bad) -> UnmaskError:
    """Turn a window-local problem into the one-line error: the record when there is one, else the byte."""
    g = s + bad.pos
    starts = bad.starts if bad.starts is not None else np.zeros(0, dtype=np.int64)
    ends = bad.ends if bad.ends is not None else np.zeros(0, dtype=np.int64)
    byte = f" (byte {g})" if bad.show_byte else ""
    if bad.element:
        index = n_before + int(np.searchsorted(starts, bad.pos))
        return UnmaskError(f"{where(path, index)}: {bad.reason}{byte}")
    i = int(np.searchsorted(starts, bad.pos, side="right")) - 1
    if i >= 0 and (i >= ends.size or bad.pos < ends[i]):
        end = s + int(ends[i]) if i < ends.size else None
        rid = _record_id(arr, s + int(starts[i]), end)
        return UnmaskError(f"{where(path, n_before + i, rid)}: {bad.reason}{byte}")
    return UnmaskError(f"{where(path, line=_line(arr, g), byte=g)}: {bad.reason}")
