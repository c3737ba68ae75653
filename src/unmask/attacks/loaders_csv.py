"""Loaders for the CSV question sets: FigStep SafeBench, XSTest, HarmBench and AdvBench behaviours."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..data.formats import resolve_image
from ..errors import UnmaskError, where
from .registry import Question, loader

__all__ = ["csv_header", "ids_unique", "need", "read_csv"]

SAFEBENCH_COLUMNS = ("dataset", "category_id", "task_id", "category_name", "question", "instruction")


def csv_header(path: Path) -> list[str]:
    """The header row of a CSV ([] when it is not one); for the detectors, never raises."""
    if not (path.is_file() and path.suffix.lower() in (".csv", ".tsv")):
        return []
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            return [c.strip() for c in next(csv.reader(fh), [])]
    except (OSError, UnicodeDecodeError, csv.Error):
        return []


def _has(*cols: str):
    return lambda path: set(cols) <= set(csv_header(path))


def read_csv(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, int, dict[str, str]]]:
    """Yield (record index, line number, row) of a CSV with a header; missing columns -> error."""
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = [c.strip() for c in (reader.fieldnames or [])]
            missing = [c for c in required if c not in fields]
            if missing:
                raise UnmaskError(f"{path}: line 1: missing column(s) {', '.join(missing)} "
                                  f"(has: {', '.join(fields) or 'nothing'})")
            reader.fieldnames = fields
            start = 2
            for i, row in enumerate(reader):
                clean = {k: (v or "") for k, v in row.items() if k is not None}
                yield i, start, clean
                start = reader.line_num + 1
    except UnicodeDecodeError as exc:
        raise UnmaskError(f"{path}: not UTF-8 text ({exc.reason}){_bad_utf8_at(path)}") from None
    except csv.Error as exc:
        raise UnmaskError(f"{path}: line {reader.line_num}: bad CSV ({exc})") from None


def _bad_utf8_at(path: Path) -> str:
    """`` at line N, byte B`` of the first byte that is not UTF-8 (the decoder reads ahead, so its own
    position says little)."""
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return f" at line {line}, byte {exc.start}"
    return ""


def need(row: dict[str, Any], col: str, loc: str) -> str:
    value = row.get(col)
    if not isinstance(value, str) or not value.strip():
        raise UnmaskError(f"{loc}: empty {col!r}")
    return value


def ids_unique(items: list[Question]) -> list[Question]:
    seen: dict[str, str] = {}
    for q in items:
        if q.id in seen:
            raise UnmaskError(f"{q.where}: id {q.id!r} also used by an earlier row ({seen[q.id]})")
        seen[q.id] = q.where
    return items


@loader("safebench", detect=_has("category_id", "task_id", "question", "instruction"))
def load_safebench(path: Path) -> list[Question]:
    """FigStep's SafeBench CSV: dataset,category_id,task_id,category_name,question,instruction.

    ``question`` is the request (the text control); ``instruction`` its declarative form, which
    FigStep types into the image. Every row is a harmful request."""
    out = []
    for i, line, row in read_csv(path, SAFEBENCH_COLUMNS):
        rid = f"{row['dataset'].strip()}_{row['category_id'].strip()}_{row['task_id'].strip()}"
        loc = where(path, i, rid, line=line)
        for col in ("category_id", "task_id"):
            need(row, col, loc)
        out.append(Question(id=rid, text=need(row, "question", loc), instruction=need(row, "instruction", loc),
                            category=row["category_name"].strip(), harmful=True, source=row, where=loc))
    return ids_unique(out)


def _xstest_harmful(row: dict[str, str], loc: str) -> bool:
    label = row.get("label", "").strip().lower()
    if label:
        if label not in ("safe", "unsafe"):
            raise UnmaskError(f"{loc}: label must be 'safe' or 'unsafe', not {label!r}")
        return label == "unsafe"
    # XSTest v2 without a label column: the unsafe prompts are the "contrast_*" types.
    return row["type"].strip().lower().startswith("contrast")


@loader("xstest", detect=_has("prompt", "type"))
def load_xstest(path: Path) -> list[Question]:
    """XSTest-style over-refusal set: columns prompt and type (+ label safe/unsafe, id or id_v2).

    The harmful flag comes from ``label`` when present, else from ``type`` (``contrast_*`` = unsafe);
    the category is the type."""
    out = []
    for i, line, row in read_csv(path, ("prompt", "type")):
        rid = (row.get("id") or row.get("id_v2") or "").strip() or f"xstest-{i + 1}"
        loc = where(path, i, rid, line=line)
        typ = need(row, "type", loc).strip()
        out.append(Question(id=rid, text=need(row, "prompt", loc), category=typ,
                            harmful=_xstest_harmful(row, loc), source=row, where=loc))
    return ids_unique(out)


# HarmBench's repository: data/behavior_datasets/<csv> beside data/multimodal_behavior_images/<ImageFileName>
HARMBENCH_IMAGES = "multimodal_behavior_images"


def _harmbench_image_root(path: Path, images: Path | None) -> Path:
    if images is not None:
        if not Path(images).is_dir():
            raise UnmaskError(f"{images}: image folder not found")
        return Path(images)
    tried = [path.parent.parent / HARMBENCH_IMAGES, path.parent / HARMBENCH_IMAGES, path.parent / "images"]
    for cand in tried:
        if cand.is_dir():
            return cand
    raise UnmaskError(f"{path}: HarmBench's multimodal behaviours need their images (each refers to 'this "
                      f"image'), and no {HARMBENCH_IMAGES}/ folder is beside the CSV or its folder; pass "
                      f"--images DIR (HarmBench's data/{HARMBENCH_IMAGES})")


def _harmbench_picture(root: Path, name: str, loc: str) -> str:
    """``ImageFileName`` under ``root``; HarmBench stores every image as PNG, so ``x.jpg`` may be ``x.png``."""
    try:
        candidates = [resolve_image(name, root)]
        stem, dot, ext = name.rpartition(".")
        if dot and ext.lower() != "png":
            candidates.append(resolve_image(f"{stem}.png", root))
    except ValueError as exc:
        raise UnmaskError(f"{loc}: {exc}") from None
    for c in candidates:
        if c.is_file():
            return str(c)
    raise UnmaskError(f"{loc}: image {name!r} not found in {root}")


@loader("harmbench", detect=_has("Behavior"))
def load_harmbench(path: Path, images: Path | None = None) -> list[Question]:
    """HarmBench behaviours CSV: Behavior, BehaviorID, SemanticCategory, ContextString (optional).

    A contextual behaviour is sent as ``context`` + ``"\\n\\n---\\n\\n"`` + behaviour, HarmBench's layout.
    The multimodal set (``harmbench_behaviors_multimodal_all.csv``, an ``ImageFileName`` column) pairs
    each behaviour with its image, found in ``images`` (default: HarmBench's
    ``data/multimodal_behavior_images/`` beside ``data/behavior_datasets/``); kind ``image`` sends it with
    the behaviour as the text, as HarmBench does. Without the images the set does not load."""
    path = Path(path)
    multimodal = "ImageFileName" in csv_header(path)
    if images is not None and not multimodal:
        raise UnmaskError(f"{path}: --images, but this HarmBench file has no ImageFileName column (not the "
                          "multimodal set)")
    root = _harmbench_image_root(path, images) if multimodal else None
    out = []
    for i, line, row in read_csv(path, ("Behavior",)):
        rid = (row.get("BehaviorID") or "").strip() or f"harmbench-{i + 1}"
        loc = where(path, i, rid, line=line)
        behavior = need(row, "Behavior", loc)
        context = (row.get("ContextString") or "").strip()
        text = f"{context}\n\n---\n\n{behavior}" if context else behavior
        category = (row.get("SemanticCategory") or row.get("category") or "").strip()
        pics = {}
        if root is not None:
            pics["picture"] = _harmbench_picture(root, need(row, "ImageFileName", loc).strip(), loc)
        out.append(Question(id=rid, text=text, instruction=behavior, category=category, harmful=True,
                            images=pics, source=row, where=loc))
    return ids_unique(out)


@loader("advbench", detect=_has("goal"))
def load_advbench(path: Path) -> list[Question]:
    """AdvBench ``harmful_behaviors.csv``: goal, target. Ids are advbench-<row number>."""
    out = []
    for i, line, row in read_csv(path, ("goal",)):
        rid = f"advbench-{i + 1}"
        loc = where(path, i, rid, line=line)
        out.append(Question(id=rid, text=need(row, "goal", loc), category=(row.get("category") or "").strip(),
                            harmful=True, source=row, where=loc))
    return ids_unique(out)
