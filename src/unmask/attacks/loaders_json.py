"""Loaders for the JSON question sets: MM-SafetyBench, VLGuard (test) and generic JSONL records."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from ..data.formats import resolve_image
from ..data.store import read_jsonl
from ..errors import UnmaskError, where
from .loaders_csv import need
from .registry import Question, loader

__all__ = ["MMSB_VARIANTS", "mmsb_files"]

MMSB_FIELDS = ("Question", "Key Phrase", "Rephrased Question")
# imgs/<scenario>/<folder>/<id>.jpg -> the Question.images key it fills
MMSB_VARIANTS = {"SD": "picture", "TYPO": "typo", "SD_TYPO": "sd_typo"}
_TEXT_KEYS = ("prompt", "question", "text", "goal", "behavior", "instruction")


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        raise UnmaskError(f"{path}: no such file") from None
    except orjson.JSONDecodeError as exc:
        raise UnmaskError(f"{path}: byte {getattr(exc, 'pos', '?')}: invalid JSON") from None


def mmsb_files(path: Path) -> tuple[list[Path], Path | None]:
    """The scenario files of an MM-SafetyBench input, and the default image root (``imgs/`` beside
    ``processed_questions/``). Accepts a scenario file, ``processed_questions/`` or the folder above."""
    path = Path(path)
    if path.is_file():
        files, qdir = [path], path.parent
    elif (path / "processed_questions").is_dir():
        qdir = path / "processed_questions"
        files = sorted(qdir.glob("*.json"))
    elif path.is_dir():
        qdir = path
        files = sorted(path.glob("*.json"))
    else:
        raise UnmaskError(f"{path}: no such file or folder")
    if not files:
        raise UnmaskError(f"{path}: no <scenario>.json files (expected MM-SafetyBench processed_questions)")
    imgs = qdir.parent / "imgs"
    return files, (imgs if imgs.is_dir() else None)


def _is_mmsb(path: Path) -> bool:
    if path.is_dir():
        return (path / "processed_questions").is_dir() or path.name == "processed_questions"
    if path.suffix.lower() != ".json" or path.stat().st_size > 50 << 20:
        return False
    data = orjson.loads(path.read_bytes())
    first = next(iter(data.values()), None) if isinstance(data, dict) else None
    return isinstance(first, dict) and "Key Phrase" in first


@loader("mmsb", detect=_is_mmsb)
def load_mmsb(path: Path, images: Path | None = None, subset: str | None = None) -> list[Question]:
    """MM-SafetyBench ``processed_questions/<scenario>.json`` (id -> {Question, Changed Question, Key
    Phrase, Phrase Type, Rephrased Question, Rephrased Question(SD)}).

    ``images`` (default: ``imgs/`` beside ``processed_questions/``) holds the released pictures
    ``<scenario>/{SD,TYPO,SD_TYPO}/<id>.jpg``; those found are used as they are. ``subset`` keeps only
    the named scenarios (comma-separated). Ids are ``<scenario>-<id>``; the category is the scenario."""
    files, default_root = mmsb_files(path)
    root = Path(images) if images else default_root
    if images and not root.is_dir():
        raise UnmaskError(f"{root}: image folder not found")
    keep = {s.strip() for s in subset.split(",")} if subset else None
    out = []
    for f in files:
        scenario = f.stem
        if keep is not None and scenario not in keep:
            continue
        data = _load_json(f)
        if not isinstance(data, dict):
            raise UnmaskError(f"{f}: expected a JSON object mapping id -> question record")
        for i, (qid, rec) in enumerate(data.items()):
            rid = f"{scenario}-{qid}"
            loc = where(f, i, qid)
            if not isinstance(rec, dict):
                raise UnmaskError(f"{loc}: expected an object with {', '.join(MMSB_FIELDS)}")
            missing = [k for k in MMSB_FIELDS if k not in rec]
            if missing:
                raise UnmaskError(f"{loc}: missing field(s) {', '.join(missing)}")
            prompts = {"typo": need(rec, "Rephrased Question", loc)}
            prompts["sd_typo"] = prompts["typo"]
            if isinstance(rec.get("Rephrased Question(SD)"), str) and rec["Rephrased Question(SD)"].strip():
                prompts["picture"] = rec["Rephrased Question(SD)"]
            pics = {}
            if root is not None:
                for folder, key in MMSB_VARIANTS.items():
                    p = root / scenario / folder / f"{qid}.jpg"
                    if p.is_file():
                        pics[key] = str(p)
            out.append(Question(id=rid, text=need(rec, "Question", loc), key_phrase=need(rec, "Key Phrase", loc),
                                category=scenario, harmful=True, prompts=prompts, images=pics,
                                source={"scenario": scenario, "id": qid, **rec}, where=loc))
    if keep is not None and not out:
        raise UnmaskError(f"{path}: no scenario named {', '.join(sorted(keep))}")
    return out


def _is_vlguard(path: Path) -> bool:
    if not path.is_file() or path.suffix.lower() != ".json" or path.stat().st_size > 200 << 20:
        return False
    data = orjson.loads(path.read_bytes())
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and "instr-resp" in data[0]


def _image_root(path: Path, images: Path | None, first: str | None) -> Path:
    if images:
        if not Path(images).is_dir():
            raise UnmaskError(f"{images}: image folder not found")
        return Path(images)
    # VLGuard ships test.json beside test/ (from test.zip); the image paths are relative to test/.
    for cand in (path.parent / path.stem, path.parent):
        if first and (cand / first).is_file():
            return cand
    return path.parent


@loader("vlguard", detect=_is_vlguard)
def load_vlguard(path: Path, images: Path | None = None, subset: str | None = None) -> list[Question]:
    """VLGuard test JSON -> its subsets: ``safe_safes`` (safe image, safe instruction: benign),
    ``safe_unsafes`` (safe image, unsafe instruction) and ``unsafes`` (unsafe image). ``subset`` keeps
    the named ones (comma-separated). Ids are ``<id>-<pair>``; the category is the subset."""
    from ..mix.vlguard import SUBSET_OF, iter_vlguard

    path = Path(path)
    known = set(SUBSET_OF.values())
    keep = {s.strip() for s in subset.split(",")} if subset else known
    if keep - known:
        raise UnmaskError(f"unknown VLGuard subset {sorted(keep - known)[0]!r} (known: {', '.join(sorted(known))})")
    pairs = list(iter_vlguard(path))
    root = _image_root(path, images, pairs[0].entry["image"] if pairs else None)
    out = []
    for p in pairs:
        if p.subset not in keep:
            continue
        entry = p.entry
        rid = f"{entry.get('id')}-{p.pair}"
        loc = where(path, p.index, entry.get("id")) + f", instr-resp {p.pair}"
        try:
            pic = resolve_image(str(entry["image"]), root)
        except ValueError as exc:
            raise UnmaskError(f"{loc}: {exc}") from None
        source = {k: v for k, v in entry.items() if k != "instr-resp"}
        source.update({"subset": p.subset, "instruction": p.instruction, "response": p.response})
        out.append(Question(id=rid, text=p.instruction, category=p.subset, harmful=p.harmful,
                            images={"picture": str(pic)}, source=source, where=loc))
    return out


def _is_jsonl(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() == ".jsonl"


_LABELS = {"unsafe": True, "harmful": True, "safe": False, "benign": False}


def _row_label(row: dict[str, Any], loc: str) -> bool | None:
    """The row's own harmful flag: ``harmful`` (true/false) or ``label`` (safe|unsafe|benign|harmful)."""
    harmful = row.get("harmful")
    if harmful is None and row.get("label") is not None:
        value = row["label"]
        if not isinstance(value, str) or value.strip().lower() not in _LABELS:
            raise UnmaskError(f"{loc}: label must be 'safe' or 'unsafe' (or 'benign' / 'harmful'), not {value!r}")
        harmful = _LABELS[value.strip().lower()]
    if not isinstance(harmful, (bool, type(None))):
        raise UnmaskError(f"{loc}: 'harmful' must be true or false")
    return harmful


@loader("jsonl", detect=_is_jsonl)
def load_jsonl(path: Path, images: Path | None = None, label: str | None = None) -> list[Question]:
    """Generic JSONL, one request per line: the text from the first of prompt / question / text / goal /
    behavior / instruction; the id from id, else question_id (LLaVA's question files), else
    ``<file stem>-<line>``; optional category, key_phrase, image (relative to ``images``, default the
    file's folder). A ``samples.jsonl`` of another benchmark folder reads back this way.

    Harmful or benign: from the row's ``harmful`` (bool) or ``label`` (safe|unsafe|benign|harmful);
    rows without one take ``label`` (``unmask attack --harmful`` / ``--benign``), and with neither the
    row is an error: a question file says nothing about harm (LLaVA's benign question files are plain
    ``{question_id, image, text, category}``), and a wrong guess would count benign answers as attack
    successes or refusals of attacks as over-refusal. One line on stderr says where the labels came from."""
    path = Path(path)
    if label is not None and label not in ("harmful", "benign"):
        raise UnmaskError(f"loader 'jsonl': label must be 'harmful' or 'benign', not {label!r}")
    root = Path(images) if images else path.parent
    out, seen = [], {}
    from_field = 0
    for i, row in enumerate(read_jsonl(path)):
        rid = None
        if isinstance(row, dict):
            given = row.get("id", row.get("question_id"))
            rid = str(given) if given is not None else f"{path.stem}-{i + 1}"
        loc = where(path, i, rid)
        if not isinstance(row, dict):
            raise UnmaskError(f"{loc}: expected a JSON object")
        key = next((k for k in _TEXT_KEYS if k in row), None)
        if key is None:
            raise UnmaskError(f"{loc}: no request text (one of {', '.join(_TEXT_KEYS)})")
        text = need(row, key, loc)
        harmful = _row_label(row, loc)
        if harmful is not None:
            from_field += 1
        elif label is None:
            raise UnmaskError(f"{loc}: no 'harmful' or 'label' field says whether this request is harmful; "
                              "label the rows that have none with --harmful or --benign")
        else:
            harmful = label == "harmful"
        pics = {}
        if isinstance(row.get("image"), str) and row["image"]:
            try:
                pics["picture"] = str(resolve_image(row["image"], root))
            except ValueError as exc:
                raise UnmaskError(f"{loc}: {exc}") from None
        if rid in seen:
            raise UnmaskError(f"{loc}: id {rid!r} also used by record {seen[rid]}")
        seen[rid] = i
        extra_src = row.get("source") if isinstance(row.get("source"), dict) else {}
        out.append(Question(id=rid, text=text, category=str(row.get("category") or ""), harmful=harmful,
                            instruction=row["instruction"] if key != "instruction" and isinstance(
                                row.get("instruction"), str) and row["instruction"].strip() else None,
                            key_phrase=row.get("key_phrase") if isinstance(row.get("key_phrase"), str) else None,
                            images=pics, source={**extra_src, **{k: v for k, v in row.items() if k != "source"}},
                            where=loc))
    by_flag = f", {len(out) - from_field} from --{label}" if label is not None else ""
    print(f"{path}: harmful/benign labels: {from_field} from the rows' own field{by_flag}", file=sys.stderr)
    return out
