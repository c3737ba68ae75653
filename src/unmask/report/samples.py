"""The samples behind each metrics file, for the report's sample browser.

For each ``metrics.json`` the verdicts are found through its ``sources`` (see :mod:`unmask.metrics.sources`),
else ``verdicts.jsonl`` beside it (the runner's ``RUN/results`` layout), else its manifest. The answers come
from the generations and the prompt and image from the benchmark's ``samples.jsonl``, named in ``sources`` or
in the verdicts' manifest. Each verdict row of the file's judge becomes one sample, grouped exactly as the
metrics group them (``set`` attack / benign, category and attack, ``(none)`` when empty), so a table cell's
``n`` is the number of samples its link lists.

Only files inside the run folders given to the report are read (after symlinks): a file named elsewhere is
left out and said, as :mod:`unmask.report.collect` does for the metrics files; give the folder that holds
the samples (for ``unmask run``, the run folder, not its ``results/``).

Images are embedded as JPEG thumbnails (longest side ``thumb`` px) until ``image_budget`` bytes of data URL
are spent, taking one image from each benchmark in turn; past the budget a sample shows its image's path
instead. Long texts are cut at ``max_chars`` characters (the cut is said).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Any

from ..data.store import iter_jsonl
from ..data.synthetic import is_synthetic
from ..metrics.sources import follow_manifests, manifest_inputs, resolve_source
from .collect import Entry

__all__ = ["SampleSet", "gather_samples", "group_keys", "thumbnail"]

IMAGE_BUDGET = 10_000_000  # bytes of data URL in the page
THUMB = 256
MAX_CHARS = 2000


@dataclass
class SampleSet:
    files: list[dict[str, Any]] = field(default_factory=list)  # one per metrics entry, in entry order
    rows: list[dict[str, Any]] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # key -> data URL
    notes: list[str] = field(default_factory=list)
    image_budget: int = IMAGE_BUDGET
    n_images: int = 0  # images named by the samples
    n_images_skipped: int = 0  # past the budget or unreadable

    def to_json(self) -> dict[str, Any]:
        return {"files": self.files, "rows": self.rows, "images": self.images,
                "image_budget": self.image_budget, "n_images": self.n_images,
                "n_images_skipped": self.n_images_skipped}


def group_keys(row: dict[str, Any]) -> tuple[str, str, str]:
    """(set, category, attack) of a verdict row, as :func:`unmask.metrics.compute_metrics` groups it."""
    return ("benign" if row.get("harmful") is False else "attack",
            str(row.get("category") or "(none)"), str(row.get("attack") or "(none)"))


class _Roots:
    """The run folders the report may read from; remembers what it refused."""

    def __init__(self, roots: list[Path]):
        self.roots = [r.resolve() for r in roots]
        self.refused: list[Path] = []

    def inside(self, p: Path) -> bool:
        real = p.resolve()
        if any(real == r or r in real.parents for r in self.roots):
            return True
        self.refused.append(p)
        return False

    def keep(self, paths: list[Path]) -> list[Path]:
        return [p for p in paths if self.inside(p)]


def _refused(roots: _Roots, since: int) -> str:
    paths = list(dict.fromkeys(map(str, roots.refused[since:])))
    return "; not read, outside the run folders given: " + ", ".join(paths) if paths else ""


def _find(entry: Entry, role: str, roots: _Roots) -> list[Path]:
    src = entry.doc.get("sources")
    named = src.get(role) if isinstance(src, dict) else None
    if isinstance(named, list) and named:
        return roots.keep([p for p in (resolve_source(str(s), entry.path) for s in named) if p is not None])
    return []


def _verdict_files(entry: Entry, roots: _Roots) -> list[Path]:
    found = _find(entry, "verdicts", roots)
    if found:
        return found
    beside = entry.path.parent / "verdicts.jsonl"
    if beside.is_file():
        return roots.keep([beside])
    return roots.keep(manifest_inputs(entry.path))


def _inputs(entry: Entry, verdicts: list[Path], roots: _Roots) -> tuple[list[Path], list[Path]]:
    gens, samps = follow_manifests(verdicts, _find(entry, "generations", roots), _find(entry, "samples", roots))
    return roots.keep(gens), roots.keep(samps)


def _by_id(paths: list[Path]) -> dict[str, tuple[dict[str, Any], Path]]:
    out: dict[str, tuple[dict[str, Any], Path]] = {}
    for p in paths:
        for _, row in iter_jsonl(p):
            if isinstance(row, dict) and "id" in row:
                out.setdefault(str(row["id"]), (row, p))
    return out


def _image_key(image: str | None, samples: Path | None) -> str | None:
    """Where a sample's image is: a path resolved under its benchmark folder, or the synthetic reference."""
    if not image or samples is None:
        return None
    return image if is_synthetic(image) else str((samples.parent / image).resolve())


def _cut(text: Any, max_chars: int) -> str:
    s = "" if text is None else str(text)
    return s if len(s) <= max_chars else s[:max_chars] + f" [... {len(s) - max_chars} more characters]"


def _judge_of(row: dict[str, Any], judge: Any) -> bool:
    if not isinstance(judge, dict):
        return True
    return str(row.get("judge")) == str(judge.get("name")) and str(row.get("judge_version", "")) == str(
        judge.get("version", ""))


def _entry_rows(entry: Entry, index: int, max_chars: int, roots: _Roots) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    labels = entry.labels
    info = {"name": entry.name, "model": str(labels.get("model", entry.name)), "bench": str(labels.get("bench", "")),
            "judge": entry.judge, "n": 0, "found": False, "note": ""}
    n_refused = len(roots.refused)
    verdicts = _verdict_files(entry, roots)
    if not verdicts:
        info["note"] = "no verdicts found (metrics.json names none that exist in the run folders, and none lies " \
                       "beside it)" + _refused(roots, n_refused)
        return [], info
    gens, samps = _inputs(entry, verdicts, roots)
    by_gen, by_sample = _by_id(gens), _by_id(samps)
    rows = []
    for path in verdicts:
        for _, v in iter_jsonl(path):
            if not isinstance(v, dict) or "id" not in v or not _judge_of(v, entry.doc.get("judge")):
                continue
            rid = str(v["id"])
            gen = by_gen.get(rid, ({}, None))[0]
            sample, spath = by_sample.get(rid, ({}, None))
            s, cat, atk = group_keys(v)
            image = sample.get("image") if isinstance(sample.get("image"), str) else None
            rows.append({
                "f": index, "id": rid, "set": s, "cat": cat, "atk": atk, "v": str(v.get("verdict")),
                "why": _cut(v.get("reason"), max_chars),
                "q": _cut(gen.get("prompt") or sample.get("prompt") or "", max_chars),
                "a": _cut(gen["response"], max_chars) if "response" in gen else None,
                "img": None, "path": image, "_abs": _image_key(image, spath),
            })
    info.update(n=len(rows), found=True)
    missing = [what for what, have in (("generations (answers)", gens), ("benchmark samples (prompts, images)", samps))
               if not have]
    if missing:
        info["note"] = "not found: " + ", ".join(missing)
    if len(roots.refused) > n_refused:
        info["note"] = (info["note"] + "; " if info["note"] else "") + _refused(roots, n_refused).lstrip("; ")
    n_expected = sum(int((entry.doc.get(k) or {}).get("n") or 0) for k in ("overall", "benign"))
    if n_expected and n_expected != len(rows):
        info["note"] = (info["note"] + "; " if info["note"] else "") + (
            f"{len(rows)} verdicts found but the metrics count {n_expected}: the verdicts changed since")
    return rows, info


def thumbnail(path: str | Path, size: int = THUMB) -> bytes | None:
    """A JPEG thumbnail of ``path`` (longest side ``size``; a synthetic ``unmask://`` reference is drawn), or
    None when it cannot be read as a raster image (opened through :func:`unmask.data.images.pil_open` only)."""
    from PIL import Image

    from ..data.images import open_image, pil_open

    try:
        if is_synthetic(str(path)):
            im = open_image(str(path))
        else:
            with pil_open(path) as src:
                src.load()
                im = src.convert("RGBA") if src.mode in ("RGBA", "LA", "P") else src.convert("RGB")
        if im.mode == "RGBA":  # transparent parts on white, as a browser shows them
            bg = Image.new("RGB", im.size, (255, 255, 255))
            bg.paste(im, mask=im.getchannel("A"))
            im = bg
        im.thumbnail((size, size))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=80, optimize=True)
        return buf.getvalue()
    except Exception:  # PIL raises many types for corrupt or foreign files; the sample shows the path instead
        return None


def _round_robin(rows: list[dict[str, Any]]) -> Iterator[str]:
    """Unique image paths, one from each folder of images (benchmark) in turn."""
    by_bench: dict[str, list[str]] = {}
    seen: set[str] = set()
    for r in rows:
        p = r["_abs"]
        if p and p not in seen:
            seen.add(p)
            by_bench.setdefault(str(r["f"]) if is_synthetic(p) else str(Path(p).parent), []).append(p)
    for group in zip_longest(*by_bench.values()):
        yield from (p for p in group if p is not None)


def gather_samples(entries: list[Entry], roots: list[Path], *, image_budget: int = IMAGE_BUDGET, thumb: int = THUMB,
                   max_chars: int = MAX_CHARS) -> SampleSet:
    """Every sample behind ``entries`` found inside the run folders ``roots`` (see the module docstring)."""
    out = SampleSet(image_budget=image_budget)
    allowed = _Roots(roots)
    for i, e in enumerate(entries):
        rows, info = _entry_rows(e, i, max_chars, allowed)
        out.rows += rows
        out.files.append(info)
        if info["note"]:
            out.notes.append(f"Samples of {e.name}: {info['note']}.")
    spent, keys = 0, {}
    for p in _round_robin(out.rows):
        out.n_images += 1
        readable = is_synthetic(p) or allowed.inside(Path(p))
        data = thumbnail(p, thumb) if spent < image_budget and readable else None
        url = "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii") if data else None
        if url is None or spent + len(url) > image_budget:
            out.n_images_skipped += 1
            continue
        key = hashlib.sha256(p.encode()).hexdigest()[:12]
        out.images[key] = url
        keys[p] = key
        spent += len(url)
    for r in out.rows:
        r["img"] = keys.get(r.pop("_abs") or "")
    if out.n_images_skipped:
        out.notes.append(f"{out.n_images_skipped} of {out.n_images} sample images are not embedded (the page's "
                         f"image budget of {image_budget / 1e6:g} MB is spent, or the file is unreadable or "
                         "outside the run folders); those samples show the image's path.")
    return out
