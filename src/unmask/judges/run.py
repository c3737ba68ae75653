"""Run a judge over a generations file, resumably: ``unmask judge`` is a thin wrapper around :func:`run_judge`.

Input: JSONL (or one JSON list) whose rows carry at least ``id`` and ``response`` (what ``unmask generate``
writes, or the output of any other tool). ``category``, ``attack``, ``harmful``, ``model``, ``adapter``
and ``settings`` are copied into each verdict when present, so metrics can be computed from verdicts
alone. A judge that needs the request reads it from the row's ``prompt`` or, by id, from a
``samples.jsonl`` (``--samples``, else the one named in the manifest ``unmask generate`` wrote beside
the generations).

The paper's own generation files (its ``evaluate_*.py`` scripts: a JSON list, or JSONL before their
final rewrite, of ``{"prompt", "continuation"}`` rows, sometimes with ``ground_truth`` / ``score``) are
read too, told by the first row: the reply is ``continuation``, the request ``prompt`` (the whole
conversation prompt the script built) and the id the row's position from 0. The manifest records
which input format was read.

Each verdict is journaled (:class:`unmask.data.store.Journal`) as soon as it is made: killed and started
again, the run judges only what is missing, and the output has every input row exactly once, in
input order.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson

from ..console import progress_on, ticker
from ..data.formats_detect import is_array
from ..data.records import Verdict
from ..data.store import Journal, content_key, iter_jsonl, read_jsonl, write_manifest
from ..errors import UnmaskError, short
from . import Judge

__all__ = ["COPIED_FIELDS", "PAPER_ROWS", "UNMASK_ROWS", "read_generations", "run_judge"]

COPIED_FIELDS = ("category", "attack", "harmful", "model", "adapter", "settings")


#: the input formats :func:`read_generations` tells apart (first row decides), for the manifest
UNMASK_ROWS = "unmask {id, response} rows"
PAPER_ROWS = "paper {prompt, continuation} rows"
_EXPECTED = "expected unmask's generations {id, response, ...} or the paper's {prompt, continuation}"


def _loc(path: Path, pos: str, rec_id: Any = None) -> str:
    return f"{path}: {pos}" + (f" (id {short(rec_id)})" if rec_id is not None else "")


def _iter_rows(path: Path) -> tuple[bool, Iterator[tuple[str, Any]]]:
    """(is a JSON list, iterator of (position for errors, decoded row)): a JSON list or JSONL."""
    if not path.is_file():
        raise UnmaskError(f"{path}: no such file")
    if path.suffix.lower() == ".jsonl" or not is_array(path):  # a .jsonl file reads as it always did
        return False, ((f"line {n}", row) for n, row in iter_jsonl(path))
    try:
        rows = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UnmaskError(f"{path}: byte {getattr(exc, 'pos', '?')}: invalid JSON ({str(exc).split(':')[0]})") from None
    if not isinstance(rows, list):
        raise UnmaskError(f"{path}: expected a JSON list of rows or JSONL, got {type(rows).__name__}")
    return True, ((f"record {i}", row) for i, row in enumerate(rows))


def _as_unmask_row(row: dict[str, Any], index: int, paper: bool) -> dict[str, Any]:
    """A paper row in unmask's terms: the reply under ``response``, the position as its id."""
    if not paper:
        return row
    return {"id": index, "response": row.get("continuation"), "prompt": row.get("prompt")}


def read_generations(path: str | Path, samples: str | Path | None = None,
                     need_prompt: bool = False) -> list[dict[str, Any]]:
    """Read and check generation rows; every problem is one error naming the file and the row."""
    return _read_generations(Path(path), samples, need_prompt)[0]


def _read_generations(path: Path, samples: str | Path | None,
                      need_prompt: bool) -> tuple[list[dict[str, Any]], str]:
    prompts: dict[str, str] = {}
    images: dict[str, str] = {}  # id -> the sample's image (absolute), for judges that look at it
    if samples is not None:
        for i, s in enumerate(read_jsonl(samples), 1):
            if not isinstance(s, dict) or "id" not in s or not isinstance(s.get("prompt"), str):
                raise UnmaskError(f"{samples}: record {i}: a sample needs 'id' and a text 'prompt'")
            prompts[str(s["id"])] = s["prompt"]
            if isinstance(s.get("image"), str) and s["image"]:
                images[str(s["id"])] = str(Path(samples).parent / s["image"])
    array, source = _iter_rows(path)
    rows: list[dict[str, Any]] = []
    first_pos: dict[str, str] = {}
    paper: bool | None = None
    for index, (pos, raw) in enumerate(source):
        if not isinstance(raw, dict):
            raise UnmaskError(f"{_loc(path, pos)}: expected a JSON object, got {type(raw).__name__}")
        if paper is None:  # the first row tells the format
            paper = "continuation" in raw and "response" not in raw
        if paper and not isinstance(raw.get("continuation"), str):
            raise UnmaskError(f"{_loc(path, pos)}: 'continuation' must be text (the paper's rows: "
                              "{prompt, continuation})")
        row = _as_unmask_row(raw, index, paper)
        if index == 0 and "response" not in row:  # neither format: say which were expected
            raise UnmaskError(f"{_loc(path, pos, row.get('id'))}: missing field 'response' ({_EXPECTED})")
        for field in ("id", "response"):
            if field not in row:
                raise UnmaskError(f"{_loc(path, pos, row.get('id'))}: missing field {field!r}")
        if not isinstance(row["id"], (str, int)) or isinstance(row["id"], bool):
            raise UnmaskError(f"{_loc(path, pos)}: 'id' must be a string or an integer")
        rid = str(row["id"])
        if not isinstance(row["response"], str):
            raise UnmaskError(f"{_loc(path, pos, rid)}: 'response' must be text, "
                              f"got {type(row['response']).__name__}")
        if rid in first_pos:
            raise UnmaskError(f"{_loc(path, pos, rid)}: duplicate id (first on {first_pos[rid]}); "
                              "each answer must be judged once")
        first_pos[rid] = pos
        prompt = row.get("prompt") if isinstance(row.get("prompt"), str) else prompts.get(rid)
        if need_prompt and not prompt:
            hint = "" if samples else " (pass --samples SAMPLES.jsonl to take prompts from the benchmark)"
            raise UnmaskError(f"{_loc(path, pos, rid)}: no 'prompt' for this judge, which needs the request{hint}")
        harmful = row.get("harmful")
        if harmful is not None and not isinstance(harmful, bool):
            raise UnmaskError(f"{_loc(path, pos, rid)}: 'harmful' must be true, false or null")
        item = {k: row[k] for k in COPIED_FIELDS if k in row and row[k] is not None}
        item.update(id=rid, response=row["response"], prompt=prompt or "",
                    category=str(row.get("category") or ""))
        if rid in images:
            item["image"] = images[rid]
        rows.append(item)
    if not rows:
        raise UnmaskError(f"{path}: no generations (empty file)")
    fmt = (PAPER_ROWS if paper else UNMASK_ROWS) + (", JSON list" if array else ", JSONL")
    return rows, fmt


def _key(item: dict[str, Any], j: Judge) -> str:
    return content_key({"id": item["id"], "response": item["response"], "prompt": item["prompt"],
                        "category": item["category"], "judge": j.name, "version": j.version})


def _progress(total: int, done: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    if progress_on() or not sys.stderr.isatty():  # `unmask run` / `demo`: the stage's own line (or nothing)
        tick = ticker("judge row", total, done)
        return tick.advance, tick.close
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
    items, fmt = _read_generations(Path(generations), samples, j.needs_prompt)
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
    # unmask's own JSONL keeps the manifest it always had; any other input says what was read
    extra = None if fmt == f"{UNMASK_ROWS}, JSONL" else {"input_format": fmt}
    write_manifest(out, "judge", inputs=inputs, params=j.describe(),
                   counts={"rows": n, **{v: counts.get(v, 0) for v in ("refused", "complied", "unjudged")}},
                   extra=extra)
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
