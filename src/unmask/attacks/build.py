"""Build a benchmark folder: question set -> ``samples.jsonl`` + ``images/`` + ``manifest.json``.

All checks that need no drawing (columns, empty questions, over-long text, missing pictures, fonts)
run before anything is written. The folder is built in a temporary sibling and renamed at the end;
any error removes it, so ``DIR`` is either complete or absent (or, with ``--force``, the old one).

Speed: the font is loaded once per process; identical images (same drawn text) are rendered once and
shared by their samples; pictures the set ships are copied byte for byte (no re-encoding); rendering
runs in a process pool; PNGs are written by :mod:`unmask.attacks.png` (pixel-exact, cached rows).
"""

from __future__ import annotations

import hashlib
import inspect
import multiprocessing
import os
import re
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from ..data.records import Sample
from ..data.store import atomic_path, write_jsonl, write_manifest
from ..errors import UnmaskError
from .fonts import font_info
from .png import encode_png, encoder_name
from .registry import Attack, Question, detect_loader, get_attack, get_loader

__all__ = ["build_benchmark", "load_questions"]

_IN_PROCESS_BELOW = 32  # fewer images than this: a pool costs more than it saves
_worker: dict[str, Any] = {}


def load_questions(path: str | Path, loader: str | None = None, **options: Any) -> tuple[str, list[Question]]:
    """Read a question set with the named (or detected) loader -> (loader name, questions)."""
    path = Path(path)
    if not path.exists():
        raise UnmaskError(f"{path}: no such file or folder")
    name = loader or detect_loader(path)
    fn = get_loader(name)
    given = {k: v for k, v in options.items() if v is not None}
    accepted = inspect.signature(fn).parameters
    for k in given:
        if k not in accepted and not any(p.kind is p.VAR_KEYWORD for p in accepted.values()):
            raise UnmaskError(f"loader {name!r} takes no option {k!r}")
    questions = fn(path, **given)
    for i, q in enumerate(questions):
        if not isinstance(q, Question):
            raise UnmaskError(f"loader {name!r} returned a {type(q).__name__}, not a Question (item {i})")
        if not q.where:  # a plugin loader may leave it out; errors must still name file and row
            q.where = f"{path}: record {i} (id {q.id!r})"
    return name, questions


def _image_name(qid: str, ext: str, used: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]+", "_", qid).strip("._")[:100] or "image"
    name = base + ext
    if name.lower() in used:  # "a/b" and "a_b", or names equal but for case
        name = f"{base}-{hashlib.sha1(qid.encode()).hexdigest()[:10]}{ext}"
        n = 2
        while name.lower() in used:
            name = f"{base}-{n}{ext}"
            n += 1
    used.add(name.lower())
    return name


def _init_worker(attack: Attack, images_dir: str) -> None:
    _worker["attack"] = attack
    _worker["dir"] = images_dir


def _write(path: str, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)


def _run_chunk(jobs: list[tuple[str, Question, str, str | None]]) -> list[str]:
    """Render or copy images into the images folder; returns per job the PNG writer used (or 'copy').

    Files are written by a helper thread, so a slow file system (creating a file can take a
    millisecond or more) overlaps with drawing the next image instead of adding to it."""
    from concurrent.futures import ThreadPoolExecutor

    out, pending = [], []
    with ThreadPoolExecutor(max_workers=1) as writer:
        for what, q, name, src in jobs:
            dest = os.path.join(_worker["dir"], name)
            if what == "copy":
                from .kinds import open_picture

                open_picture(src, q.where)  # a truncated or unreadable picture fails here, naming the row
                pending.append(writer.submit(shutil.copyfile, src, dest))
                out.append("copy")
                continue
            data = encode_png(_worker["attack"].render(q))
            pending.append(writer.submit(_write, dest, data))
            out.append(encoder_name())
        for f in pending:
            f.result()  # re-raise a failed write here, in order
    return out


def _picklable(obj: object) -> bool:
    # Without fork, the attack travels to the workers pickled; a class defined inside a function
    # cannot, so such a kind renders in this process instead.
    import pickle

    try:
        pickle.dumps(obj)
        return True
    except Exception:
        return False


def _run_jobs(attack: Attack, jobs: list, images_dir: Path, workers: int) -> list[str]:
    method = "fork" if sys.platform.startswith("linux") else "spawn"
    if workers <= 1 or len(jobs) < _IN_PROCESS_BELOW or (method == "spawn" and not _picklable(attack)):
        _init_worker(attack, str(images_dir))
        return _run_chunk(jobs)
    ctx = multiprocessing.get_context(method)
    size = max(1, min(32, len(jobs) // (workers * 4)))
    chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_init_worker,
                             initargs=(attack, str(images_dir)))
    try:
        out = [name for part in ex.map(_run_chunk, chunks) for name in part]
    except BaseException:
        ex.shutdown(wait=True, cancel_futures=True)
        raise
    ex.shutdown(wait=True)
    return out


def _plan(attack: Attack, questions: list[Question]) -> tuple[list[Sample], list[tuple], int]:
    """Decide per question: no image, copy the set's picture, render, or share an earlier render."""
    samples, jobs, shared = [], [], 0
    used: set[str] = set()
    by_key: dict[Any, str] = {}
    by_src: dict[str, str] = {}
    seen_ids: dict[str, str] = {}
    for q in questions:
        if q.id in seen_ids:
            raise UnmaskError(f"{q.where}: id {q.id!r} also used by {seen_ids[q.id]}")
        seen_ids[q.id] = q.where
        prompt = attack.prompt_for(q)
        if not prompt.strip():
            raise UnmaskError(f"{q.where}: empty prompt")
        rel = None
        if attack.makes_images:
            src = attack.existing_image(q)
            if src is not None:
                if not Path(src).is_file():
                    raise UnmaskError(f"{q.where}: picture {src} not found")
                if str(src) in by_src:  # VLGuard: one picture, a safe and an unsafe request
                    name = by_src[str(src)]
                    shared += 1
                else:
                    name = _image_name(q.id, Path(src).suffix.lower() or ".img", used)
                    jobs.append(("copy", q, name, str(src)))
                    by_src[str(src)] = name
            else:
                attack.check(q)
                key = attack.render_key(q)
                if key is not None and key in by_key:
                    name = by_key[key]
                    shared += 1
                else:
                    name = _image_name(q.id, ".png", used)
                    jobs.append(("render", q, name, None))
                    if key is not None:
                        by_key[key] = name
            rel = f"images/{name}"
        samples.append(Sample(id=q.id, prompt=prompt, image=rel, category=q.category, harmful=q.harmful,
                              attack=attack.name, source=q.source))
    return samples, jobs, shared


def _input_files(path: Path, loader: str) -> list[Path]:
    if loader == "mmsb" and path.is_dir():
        from .loaders_json import mmsb_files

        return mmsb_files(path)[0]
    return [path]


def build_benchmark(kind: str, path: str | Path, out: str | Path, *, loader: str | None = None,
                    limit: int | None = None, workers: int | None = None, force: bool = False,
                    images: str | Path | None = None, subset: str | None = None, label: str | None = None,
                    **attack_options: Any) -> dict[str, Any]:
    """Turn a question set into a benchmark folder; returns the counts and where things went."""
    t0 = time.perf_counter()
    path, out = Path(path), Path(out)
    atk = get_attack(kind, **attack_options)
    fonts = [font_info(f) for f in atk.fonts()]  # a missing font fails here, before anything is written
    # label: harmful | benign for rows that carry no label of their own (the jsonl loader)
    loader_name, questions = load_questions(path, loader, images=images, subset=subset, label=label)
    if limit is not None:
        if limit < 1:
            raise UnmaskError(f"--limit must be at least 1, not {limit}")
        questions = questions[:limit]
    if not questions:
        raise UnmaskError(f"{path}: no questions")
    if out.exists() and not out.is_dir():
        raise UnmaskError(f"{out}: exists and is not a folder")
    if out.exists() and not force and any(out.iterdir()):
        raise UnmaskError(f"{out}: already exists; pass --force to replace it")
    samples, jobs, shared = _plan(atk, questions)
    n_workers = max(1, workers if workers is not None else min(4, os.cpu_count() or 1))
    with atomic_path(out) as tmp:
        images_dir = tmp / "images"
        images_dir.mkdir(parents=True)
        used = _run_jobs(atk, jobs, images_dir, n_workers)
        write_jsonl(tmp / "samples.jsonl", samples)
        counts = {
            "samples": len(samples),
            "images": len(jobs),
            "rendered": sum(1 for j in jobs if j[0] == "render"),
            "copied": sum(1 for j in jobs if j[0] == "copy"),
            "shared": shared,
            "text_only": sum(1 for s in samples if s.image is None),
            "harmful": sum(1 for s in samples if s.harmful),
            "benign": sum(1 for s in samples if not s.harmful),
            "by_category": _by_category(samples),
            **atk.extra_counts(),
        }
        params = {"kind": kind, "loader": loader_name, "limit": limit, "subset": subset, "label": label,
                  "images": str(images) if images else None, "attack": atk.params()}
        write_manifest(tmp, "attack", inputs=_input_files(path, loader_name), params=params, counts=counts,
                       extra={"fonts": fonts, "png_writer": sorted(set(used) - {"copy"}),
                              "samples_file": "samples.jsonl", "images_dir": "images", **atk.manifest_extra()})
    return {"out": str(out), "loader": loader_name, "counts": counts, "fonts": fonts,
            "notes": atk.notes(len(samples)),
            "seconds": round(time.perf_counter() - t0, 3), "workers": n_workers}


def _by_category(samples: list[Sample]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in samples:
        out[s.category] = out.get(s.category, 0) + 1
    return dict(sorted(out.items()))
