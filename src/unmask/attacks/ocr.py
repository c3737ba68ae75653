"""OCR legibility check of a benchmark folder: does each typographic image show its request?

Each image is read back by an OCR engine and compared with the text the attack drew (FigStep: the
instruction; MM-SafetyBench typography: the key phrase; the world's glyph grid: the request). The
measure is the character error rate, ``CER = Levenshtein(read, drawn) / len(drawn)``, after lower-casing
and removing all whitespace (line breaks are the layout's, not the request's); for FigStep the empty list
"1. 2. 3." the layout appends is dropped from the end of what was read. An image *reads back* when its
CER is at most the threshold (default 0.10: at most one character in ten wrong, missing or extra).
Clipped, mis-drawn (missing glyphs) or illegible images fail it and are listed.

Engines (both install offline, both optional; ``pip install 'unmask[ocr]'`` brings rapidocr):

- ``tesseract``: Tesseract 5 through its command-line binary (Debian ``tesseract-ocr tesseract-ocr-eng``),
  page segmentation ``--psm 6`` (one uniform block of text: FigStep's layout);
- ``rapidocr``: ``rapidocr-onnxruntime`` (PP-OCR detection + recognition models shipped in the wheel);
  lines are joined top to bottom.

Writes ``ocr.jsonl`` (one row per image) and ``ocr.json`` (the summary) into the benchmark folder.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import UnmaskError

__all__ = ["DEFAULT_THRESHOLD", "ENGINES", "cer", "check_ocr", "engine_available", "get_engine", "normalise",
           "reference_text"]

DEFAULT_THRESHOLD = 0.10
ENGINES = ("tesseract", "rapidocr")
_LIST_END = re.compile(r"1[.,:;]?(?:2[.,:;]?(?:3[.,:;]?)?)?$")
_TEXT_KEYS = ("prompt", "question", "text", "goal", "behavior", "instruction")


def normalise(text: str) -> str:
    """Lower-case, all whitespace removed."""
    return re.sub(r"\s+", "", text.lower())


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions cost 1)."""
    if len(a) < len(b):
        a, b = b, a
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(read: str, drawn: str, strip_list: bool = False) -> float:
    """Character error rate of ``read`` against ``drawn`` (see the module docstring)."""
    hyp, ref = normalise(read), normalise(drawn)
    if strip_list:  # the empty list "1. 2. 3." (only those numbers: "by 40." stays)
        hyp = _LIST_END.sub("", hyp)
    if not ref:
        return 0.0 if not hyp else 1.0
    return levenshtein(hyp, ref) / len(ref)


def reference_text(sample: Any) -> str | None:
    """The text the sample's attack drew into its image, from the row it was built from; None for kinds
    that draw no request (pictures, blank images, text only)."""
    src = sample.source or {}
    kind = sample.attack
    if kind in ("image", "blank", "text") or not sample.image:
        return None
    if kind == "figstep":
        return src.get("instruction") or _first_text(src)
    if kind in ("mmsb-typo", "mmsb-sd-typo"):
        return src.get("Key Phrase") or src.get("key_phrase") or _first_text(src)
    return _first_text(src)


def _first_text(src: dict[str, Any]) -> str | None:
    return next((str(src[k]) for k in _TEXT_KEYS if isinstance(src.get(k), str) and src[k].strip()), None)


def engine_available(name: str) -> str | None:
    """None when the engine can run here, else why not (one line, with the install command)."""
    if name == "tesseract":
        if shutil.which("tesseract") is None:
            return "the tesseract binary is not installed (Debian/Ubuntu: apt-get install tesseract-ocr " \
                   "tesseract-ocr-eng)"
        return None
    if name == "rapidocr":
        try:
            import rapidocr_onnxruntime  # noqa: F401
        except ImportError:
            return "rapidocr is not installed (pip install 'unmask[ocr]', or pip install rapidocr-onnxruntime)"
        return None
    return f"unknown OCR engine {name!r} (choose from {', '.join(ENGINES)})"


def get_engine(name: str) -> tuple[Callable[[Path], str], str]:
    """(read(image path) -> text, engine version string); an UnmaskError naming the install if missing."""
    problem = engine_available(name)
    if problem:
        raise UnmaskError(f"--check-ocr: {problem}")
    if name == "tesseract":
        version = subprocess.run(["tesseract", "--version"], capture_output=True, text=True).stdout.split("\n")[0]

        def read_tesseract(path: Path) -> str:
            res = subprocess.run(["tesseract", str(path), "stdout", "-l", "eng", "--psm", "6"], capture_output=True,
                                 text=True, timeout=120)
            if res.returncode != 0:
                raise UnmaskError(f"{path}: tesseract failed ({res.stderr.strip().splitlines()[-1:]})")
            return res.stdout

        return read_tesseract, version.strip()
    from importlib.metadata import version as dist_version

    from rapidocr_onnxruntime import RapidOCR

    engine = RapidOCR()

    def read_rapid(path: Path) -> str:
        result, _ = engine(str(path))
        return _reading_order([(r[0], r[1]) for r in result or []])

    return read_rapid, f"rapidocr-onnxruntime {dist_version('rapidocr-onnxruntime')}"


def _reading_order(boxes: list[tuple[Any, str]]) -> str:
    """Detected text boxes (4 corner points, text) joined line by line, top to bottom, left to right: a
    box joins the current line when its vertical centre lies within half a line height of the line's."""
    items = []
    for pts, text in boxes:
        ys = [p[1] for p in pts]
        items.append(((min(ys) + max(ys)) / 2, max(ys) - min(ys), min(p[0] for p in pts), text))
    items.sort()
    lines: list[list[tuple[float, float, float, str]]] = []
    for it in items:
        if lines and abs(it[0] - lines[-1][0][0]) <= 0.5 * max(it[1], lines[-1][0][1]):
            lines[-1].append(it)
        else:
            lines.append([it])
    return "\n".join(" ".join(t for *_, t in sorted(line, key=lambda x: x[2])) for line in lines)


def check_ocr(bench: str | Path, engine: str = "tesseract", threshold: float = DEFAULT_THRESHOLD,
              limit: int | None = None) -> dict[str, Any]:
    """Read back every typographic image of the benchmark folder ``bench``; write ``ocr.jsonl`` and
    ``ocr.json`` there and return the summary."""
    import orjson

    from ..data.bench import read_bench
    from ..data.store import atomic_write_bytes, write_jsonl

    if not 0 <= threshold <= 1:
        raise UnmaskError(f"--ocr-threshold must be between 0 and 1, not {threshold}")
    bench = Path(bench)
    read, version = get_engine(engine)
    rows, skipped = [], 0
    t0 = time.perf_counter()
    done: dict[str, tuple[str, float]] = {}  # images shared by several samples are read once
    for s in read_bench(bench)[:limit]:
        ref = reference_text(s)
        if ref is None:
            skipped += 1
            continue
        if s.image not in done:
            text = read(bench / s.image)
            done[s.image] = (text, cer(text, ref, strip_list=s.attack == "figstep"))
        text, value = done[s.image]
        rows.append({"id": s.id, "image": s.image, "drawn": ref, "read": text.strip(), "cer": round(value, 4),
                     "reads_back": value <= threshold})
    seconds = time.perf_counter() - t0
    n = len(rows)
    cers = sorted(r["cer"] for r in rows)
    flagged = [r["id"] for r in rows if not r["reads_back"]]
    summary = {
        "engine": engine, "engine_version": version, "threshold": threshold,
        "measure": "CER = edit distance / drawn length, lower-cased, whitespace removed (FigStep: trailing "
                   "list numbers dropped from what was read)",
        "n_images": n, "n_skipped": skipped, "n_read_back": n - len(flagged),
        "share_read_back": (n - len(flagged)) / n if n else None,
        "cer_mean": sum(cers) / n if n else None, "cer_median": cers[n // 2] if n else None,
        "flagged": flagged, "seconds": round(seconds, 2), "seconds_per_image": round(seconds / max(1, len(done)), 3),
    }
    write_jsonl(bench / "ocr.jsonl", rows)
    atomic_write_bytes(bench / "ocr.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    return summary
