"""Run a judge over a generations file, resumably: ``unmask judge`` is a thin wrapper around :func:`run_judge`.

Input: JSONL whose lines carry at least ``id`` and ``response`` (what ``unmask generate`` writes, or the
output of any other tool). ``category``, ``attack``, ``harmful``, ``model``, ``adapter`` and ``settings``
are copied into each verdict when present, so metrics can be computed from verdicts alone. A judge that
needs the request reads it from the row's ``prompt`` or, by id, from a ``samples.jsonl`` (``--samples``,
else the one named in the manifest ``unmask generate`` wrote beside the generations).

Each verdict is journaled (:class:`unmask.store.Journal`) as soon as it is made: killed and started
again, the run judges only what is missing, and the output has every input row exactly once, in
input order.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError, short
from ..records import Verdict
from ..store import Journal, content_key, iter_jsonl, read_jsonl, write_manifest
from . import Judge

__all__ = ["COPIED_FIELDS", "read_generations", "run_judge"]

COPIED_FIELDS = ("category", "attack", "harmful", "model", "adapter", "settings")


def _loc(path: Path, lineno: int, rec_id: Any = None) -> str:
    return f"{path}: line {lineno}" + (f" (id {short(rec_id)})" if rec_id is not None else "")


def read_generations(path: str | Path, samples: str | Path | None = None,
                     need_prompt: bool = False) -> list[dict[str, Any]]:
    """Read and check generation rows; every problem is one error naming the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    prompts: dict[str, str] = {}
    images: dict[str, str] = {}  # id -> the sample's image (absolute), for judges that look at it
    if samples is not None:
        for i, s in enumerate(read_jsonl(samples), 1):
            if not isinstance(s, dict) or "id" not in s or not isinstance(s.get("prompt"), str):
                raise UnmaskError(f"{samples}: record {i}: a sample needs 'id' and a text 'prompt'")
            prompts[str(s["id"])] = s["prompt"]
            if isinstance(s.get("image"), str) and s["image"]:
                images[str(s["id"])] = str(Path(samples).parent / s["image"])
    rows: list[dict[str, Any]] = []
    first_line: dict[str, int] = {}
    for lineno, row in iter_jsonl(path):
        if not isinstance(row, dict):
            raise UnmaskError(f"{_loc(path, lineno)}: expected a JSON object, got {type(row).__name__}")
        for field in ("id", "response"):
            if field not in row:
                raise UnmaskError(f"{_loc(path, lineno, row.get('id'))}: missing field {field!r}")
        if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
            raise UnmaskError(f"{_loc(path, lineno)}: 'id' must be a string or an integer")
        rid = str(row["id"])
        if not isinstance(row["response"], str):
            raise UnmaskError(f"{_loc(path, lineno, rid)}: 'response' must be text, "
                              f"got {type(row['response']).__name__}")
        if rid in first_line:
            raise UnmaskError(f"{_loc(path, lineno, rid)}: duplicate id (first on line {first_line[rid]}); "
                              "each answer must be judged once")
        first_line[rid] = lineno
        prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else prompts.get(rid)
        if need_prompt and not prompt:
            hint = "" if samples else " (pass --samples SAMPLES.jsonl to take prompts from the benchmark)"
            raise UnmaskError(f"{_loc(path, lineno, rid)}: no 'prompt' for this judge, which needs the request{hint}")
        harmful = row.get("harmful")
        if harmful is not None and not isinstance(harmful, bool):
            raise UnmaskError(f"{_loc(path, lineno, rid)}: 'harmful' must be true, false or null")
        item = {k: row[k] for k in COPIED_FIELDS if k in row and row[k] is not None}
        item.update(id=rid, response=row["response"], prompt=prompt or "",
                    category=str(row.get("category") or ""))
        if rid in images:
            item["image"] = images[rid]
        rows.append(item)
    if not rows:
        raise UnmaskError(f"{path}: no generations (empty file)")
    return rows


def _key(item: dict[str, Any], j: Judge) -> str:
    return content_key({"id": item["id"], "response": item["response"], "prompt": item["prompt"],
                        "category": item["category"], "judge": j.name, "version": j.version})


def _progress(total: int, done: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    if not sys.stderr.isatty():
        return (lambda n: None), (lambda: None)
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("judging", total=total, completed=done)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


def run_judge(generations: str | Path, j: Judge, out: str | Path, *, samples: str | Path | None = None) -> Counter:
    """Judge every row of ``generations`` into ``out`` (resuming a killed run); returns verdict counts."""
    if samples is None and j.needs_prompt:
        samples = _samples_from_manifest(generations)
    items = read_generations(generations, samples, need_prompt=j.needs_prompt)
    keys = [_key(it, j) for it in items]
    with Journal(out) as journal:
        todo = [(k, it) for k, it in zip(keys, items, strict=True) if not journal.done(k)]
        advance, stop = _progress(len(items), len(items) - len(todo))
        try:
            for start in range(0, len(todo), j.batch_size):
                chunk = todo[start:start + j.batch_size]
                for idx, verdict in j.judge([it for _, it in chunk]):
                    key, item = chunk[idx]
                    journal.add(key, _with_fields(verdict, item))
                    advance(1)
        finally:
            stop()
            j.close()
        n = journal.finalize(keys)
        counts = Counter(journal.get(k)["verdict"] for k in keys)  # type: ignore[index]
    inputs = [generations] + ([samples] if samples else [])
    write_manifest(out, "judge", inputs=inputs, params=j.describe(),
                   counts={"rows": n, **{v: counts.get(v, 0) for v in ("refused", "complied", "unjudged")}})
    return counts


def _samples_from_manifest(generations: str | Path) -> Path | None:
    """The benchmark's samples.jsonl named in the manifest ``unmask generate`` wrote, if it is still there."""
    man = Path(str(generations) + ".manifest.json")
    try:
        inputs = orjson.loads(man.read_bytes()).get("inputs", [])
    except (OSError, orjson.JSONDecodeError, AttributeError):
        return None
    for inp in inputs:
        p = Path(str(inp.get("path", ""))) if isinstance(inp, dict) else None
        if p is not None and p.name == "samples.jsonl" and p.is_file():
            return p
    return None


def _with_fields(verdict: Verdict, item: dict[str, Any]) -> dict[str, Any]:
    row = verdict.model_dump(mode="json")
    row.update({k: item[k] for k in COPIED_FIELDS if k in item and item[k] != ""})
    return row
