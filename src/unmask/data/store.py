"""Crash-safe outputs: atomic files, an append-only JSONL journal keyed by content hash, manifests.

A stage that may be killed (``kill -9``) writes each finished item as one line of a journal
``OUT.journal.jsonl``. Started again, it reads the journal (dropping a torn last line), skips the
keys already there, appends the rest, and finally writes ``OUT`` atomically in input order and
removes the journal. Nothing is lost and nothing is written twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from .. import __version__
from ..errors import UnmaskError

__all__ = [
    "Journal",
    "atomic_path",
    "atomic_write_bytes",
    "content_key",
    "iter_jsonl",
    "manifest_path",
    "read_json",
    "read_jsonl",
    "read_manifest",
    "sha256_file",
    "write_jsonl",
    "write_manifest",
]


def content_key(obj: Any) -> str:
    """sha256 of the canonical JSON of ``obj`` (sorted keys): equal content, equal key."""
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    path = Path(path)
    h = hashlib.sha256()
    if path.is_dir():
        for p in sorted(q for q in path.rglob("*") if q.is_file()):
            h.update(str(p.relative_to(path)).encode())
            h.update(bytes.fromhex(sha256_file(p)))
        return h.hexdigest()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of ``path``; on success rename it over ``path``, on error remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphans(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        if path.is_dir() and tmp.is_dir():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def _remove_orphans(path: Path) -> None:
    """Delete temporaries of ``path`` left by writers that were killed (their process is gone)."""
    for tmp in path.parent.glob(f".{path.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
            os.kill(pid, 0)  # raises when no such process
        except ProcessLookupError:
            if tmp.is_dir():
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                tmp.unlink(missing_ok=True)
        except (ValueError, PermissionError, OSError):
            continue


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_jsonl(path: str | Path, rows: Iterable[Any]) -> int:
    """Write rows (dicts or pydantic models) as JSONL, atomically. Returns the count."""
    n = 0
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        for row in rows:
            if hasattr(row, "model_dump"):
                row = row.model_dump(mode="json")
            fh.write(orjson.dumps(row) + b"\n")
            n += 1
    return n


def iter_jsonl(path: str | Path) -> Iterator[tuple[int, Any]]:
    """Yield (line number, decoded value) of each non-blank line; a bad line is one error naming the
    file and the line."""
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                yield lineno, orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                reason = str(exc).split(":")[0]
                if "utf-8" in reason.lower() or "utf8" in reason.lower():
                    raise UnmaskError(f"{path}: line {lineno}: not valid UTF-8") from None
                raise UnmaskError(f"{path}: line {lineno}: invalid JSON ({reason})") from None


def read_jsonl(path: str | Path) -> list[Any]:
    """Read a JSONL file; a bad line is an error naming the file and the line."""
    return [row for _, row in iter_jsonl(path)]


class Journal:
    """Append-only JSONL of finished items, keyed by ``key``; survives ``kill -9``.

    >>> j = Journal("out.jsonl")          # journal lives at out.jsonl.journal.jsonl
    >>> if not j.done(k): j.add(k, row)   # one line per item, flushed
    >>> j.finalize(keys_in_order)         # out.jsonl written atomically, journal removed
    """

    def __init__(self, out: str | Path, fsync_every: int = 64):
        self.out = Path(out)
        self.path = self.out.with_name(self.out.name + ".journal.jsonl")
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self._rows: dict[str, dict[str, Any]] = {}
        self._fsync_every = fsync_every
        self._since_sync = 0
        self._load()
        self._fh = open(self.path, "ab")

    def _load(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        end = data.rfind(b"\n") + 1  # a torn last line (killed mid-write) is dropped
        if end < len(data):
            with open(self.path, "r+b") as fh:
                fh.truncate(end)
        for line in data[:end].splitlines():
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # torn line in the middle can only come from outside edits; skip it
            self._rows.setdefault(item["key"], item["row"])

    def __len__(self) -> int:
        return len(self._rows)

    def done(self, key: str) -> bool:
        return key in self._rows

    def get(self, key: str) -> dict[str, Any] | None:
        return self._rows.get(key)

    def add(self, key: str, row: Any) -> None:
        if key in self._rows:
            return
        if hasattr(row, "model_dump"):
            row = row.model_dump(mode="json")
        self._fh.write(orjson.dumps({"key": key, "row": row}) + b"\n")
        self._fh.flush()
        self._since_sync += 1
        if self._since_sync >= self._fsync_every:
            os.fsync(self._fh.fileno())
            self._since_sync = 0
        self._rows[key] = row

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()

    def finalize(self, keys: Iterable[str]) -> int:
        """Write ``out`` with the rows of ``keys`` in that order (each once), then drop the journal."""
        self.close()
        missing = [k for k in keys if k not in self._rows]
        if missing:
            raise UnmaskError(f"{self.out}: {len(missing)} item(s) not finished; run the stage again")
        seen: set[str] = set()
        ordered = []
        for k in keys:
            if k not in seen:
                seen.add(k)
                ordered.append(self._rows[k])
        n = write_jsonl(self.out, ordered)
        self.path.unlink(missing_ok=True)
        return n

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



def read_json(path: str | Path, expected: type, what: str) -> Any:
    """One whole JSON file whose top level must be ``expected`` (``dict`` or ``list``); ``what`` names the
    file for the error (``"MM-Vet's mm-vet.json (an object: id -> sample)"``). Errors are one line naming the
    file: missing, a folder, invalid JSON (with the byte), or the wrong top level."""
    path = Path(path)
    try:
        data = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UnmaskError(f"{path}: is a folder, not {what}") from None
    except orjson.JSONDecodeError as exc:
        raise UnmaskError(f"{path}: byte {getattr(exc, 'pos', '?')}: invalid JSON") from None
    if not isinstance(data, expected):
        raise UnmaskError(f"{path}: expected {what}")
    return data

def manifest_path(out: str | Path) -> Path:
    out = Path(out)
    return out / "manifest.json" if out.is_dir() else out.with_name(out.name + ".manifest.json")


def write_manifest(out: str | Path, stage: str, *, inputs: Iterable[str | Path] = (), params: dict | None = None,
                   counts: dict | None = None, seed: int | None = None, extra: dict | None = None,
                   digests: dict[str, str] | None = None) -> Path:
    """Write the manifest beside ``out`` (``OUT.manifest.json``, or ``DIR/manifest.json``).
    ``digests`` maps an input path to its sha256 when the caller computed it already."""
    digests = digests or {}
    import sys

    doc = {
        "format_version": 1,
        "stage": stage,
        "tool": "unmask",
        "tool_version": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "inputs": [{"path": str(p), "sha256": digests.get(str(p)) or sha256_file(p)} for p in inputs],
        "params": params or {},
        "counts": counts or {},
        "seed": seed,
    }
    if extra:
        doc.update(extra)
    path = manifest_path(out)
    try:
        atomic_write_bytes(path, orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    except (OSError, TypeError, ValueError) as exc:  # disk full; a value JSON cannot hold (a seed over 64 bits)
        _discard(Path(out), path)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UnmaskError(f"{path}: cannot write the manifest ({type(exc).__name__}: {reason}); {out} was removed "
                          "too, so that no output stands without its manifest") from None
    return path


def _discard(out: Path, manifest: Path) -> None:
    """Remove a file output whose manifest could not be written, and any older manifest beside it.
    (A folder output holds its manifest and is written as a temporary folder first: it never lands.)"""
    if out.is_file() or out.is_symlink():
        out.unlink(missing_ok=True)
    if out.is_file() or not out.exists():
        manifest.unlink(missing_ok=True)


def read_manifest(out: str | Path) -> dict[str, Any]:
    path = manifest_path(out)
    if not path.exists():
        raise UnmaskError(f"{path}: no manifest")
    return orjson.loads(path.read_bytes())
