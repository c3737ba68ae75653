"""Find what a report shows: ``metrics.json`` files, ``bias/*.png`` plots and ``summary.json`` under run folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError, short
from ..metrics import judge_label

__all__ = ["Entry", "Runs", "collect"]

# Label keys shown first, in this order; others follow alphabetically.
_LABEL_ORDER = ("model", "method", "fraction", "bench", "seed")


@dataclass
class Entry:
    """One metrics.json."""

    path: Path
    name: str  # path relative to its run folder's parent: tells entries apart when labels do not
    doc: dict[str, Any]

    @property
    def labels(self) -> dict[str, Any]:
        return self.doc.get("labels") or {}

    @property
    def judge(self) -> str:
        return judge_label(self.doc.get("judge"))

    def fraction(self) -> float | None:
        try:
            return float(self.labels["fraction"])
        except (KeyError, TypeError, ValueError):
            return None


@dataclass
class Runs:
    entries: list[Entry] = field(default_factory=list)
    bias: list[tuple[str, Path]] = field(default_factory=list)  # (display name, png)
    summaries: list[tuple[str, Any]] = field(default_factory=list)

    def label_keys(self) -> list[str]:
        keys = {k for e in self.entries for k in e.labels}
        return [k for k in _LABEL_ORDER if k in keys] + sorted(keys - set(_LABEL_ORDER))


def _load_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise UnmaskError(f"{path}: invalid JSON ({str(exc).split(':')[0]})") from None
    except OSError as exc:
        raise UnmaskError(f"{path}: cannot read ({exc.strerror or type(exc).__name__})") from None


def _check_metrics(path: Path, doc: Any) -> dict[str, Any]:
    if not isinstance(doc, dict):
        raise UnmaskError(f"{path}: not an unmask metrics file (expected a JSON object)")
    for key in ("format_version", "judge", "overall"):
        if key not in doc:
            raise UnmaskError(f"{path}: not an unmask metrics file (no {key!r}); write it with `unmask metrics`")
    if not isinstance(doc["overall"], dict) or "n_unjudged" not in doc["overall"]:
        raise UnmaskError(f"{path}: 'overall' lacks the unjudged count; rewrite it with `unmask metrics`")
    if doc.get("labels") is not None and not isinstance(doc["labels"], dict):
        raise UnmaskError(f"{path}: 'labels' must be an object")
    _check_block(path, "overall", doc["overall"], "asr")
    for key, rate in (("harmful", "asr"), ("benign", "over_refusal")):
        if doc.get(key) is not None:
            _check_block(path, key, doc[key], rate)
    for key in ("by_attack", "by_category"):
        groups = doc.get(key)
        if groups is None:
            continue
        if not isinstance(groups, dict):
            raise UnmaskError(f"{path}: {key!r} must be an object")
        for name, block in groups.items():
            _check_block(path, f"{key}.{name}", block, "asr")
    return doc


def _check_summary(path: Path, doc: Any) -> Any:
    """A summary is shown as it is (its cells are printed defensively); its ``extra`` tables, which any
    command may add (``unmask demo`` does), are ``[{title, columns, rows}]`` with one cell per column."""
    extra = doc.get("extra") if isinstance(doc, dict) else None
    if extra is None:
        return doc
    if not isinstance(extra, list):
        raise UnmaskError(f"{path}: extra: must be a list of tables, not {short(extra)}")
    for i, t in enumerate(extra):
        if not (isinstance(t, dict) and isinstance(t.get("title"), str) and isinstance(t.get("columns"), list)
                and isinstance(t.get("rows"), list)):
            raise UnmaskError(f"{path}: extra.{i}: must be an object with title (text), columns and rows (lists)")
        for r, row in enumerate(t["rows"]):
            if not isinstance(row, list) or len(row) != len(t["columns"]):
                raise UnmaskError(f"{path}: extra.{i}.rows.{r}: must be a list of {len(t['columns'])} cells "
                                  f"(one per column), not {short(row)}")
    return doc


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_block(path: Path, where: str, block: Any, rate: str) -> None:
    """A rate block as `unmask metrics` writes it: counts are integers, the rate a number or null, the
    interval null or two numbers; anything else would crash the tables and plots later."""
    if not isinstance(block, dict):
        raise UnmaskError(f"{path}: {where}: must be an object")
    for key in ("n", "n_judged", "n_unjudged"):
        v = block.get(key)
        if v is not None and not (isinstance(v, int) and not isinstance(v, bool) and v >= 0):
            raise UnmaskError(f"{path}: {where}.{key}: must be a count, not {short(v)}")
    if block.get(rate) is not None and not _number(block[rate]):
        raise UnmaskError(f"{path}: {where}.{rate}: must be a number or null, not {short(block[rate])}")
    ci = block.get("ci")
    if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(_number(c) for c in ci)):
        raise UnmaskError(f"{path}: {where}.ci: must be two numbers or null, not {short(ci)}")


def _inside(p: Path, d: Path, base: Path) -> str:
    """``p``'s name relative to ``base``; a file reached through a symlink out of the run folder ``d`` is an error
    (a report shows what the run folder holds, nothing from elsewhere)."""
    real = p.resolve()
    try:
        real.relative_to(d.resolve())
    except ValueError:
        raise UnmaskError(f"{p}: a symlink out of the run folder {d} (to {real}); the report reads only "
                          "files inside it") from None
    return str(real.relative_to(base))


def _visible(p: Path, root: Path) -> bool:
    # Skip temporary and hidden folders (half-written outputs live in ".name.tmp-PID").
    return not any(part.startswith(".") for part in p.relative_to(root).parts)


def collect(run_dirs: list[str | Path]) -> Runs:
    """Walk each folder; a folder with neither metrics.json nor summary.json is an error."""
    if not run_dirs:
        raise UnmaskError("no run folder given")
    runs = Runs()
    for d in map(Path, run_dirs):
        if not d.is_dir():
            raise UnmaskError(f"{d}: no such run folder")
        base = d.resolve().parent
        metrics = sorted(p for p in d.rglob("metrics.json") if _visible(p, d))
        summaries = sorted(p for p in d.rglob("summary.json") if _visible(p, d))
        if not metrics and not summaries:
            raise UnmaskError(f"{d}: no metrics.json or summary.json in this run folder "
                              "(run `unmask metrics VERDICTS.jsonl -o DIR/metrics.json` first)")
        for p in metrics:
            name = str(Path(_inside(p, d, base)).parent)
            runs.entries.append(Entry(p, name, _check_metrics(p, _load_json(p))))
        for p in summaries:
            runs.summaries.append((_inside(p, d, base), _check_summary(p, _load_json(p))))
        for p in sorted(d.rglob("*.png")):
            if (p.parent.name == "bias" or p.name == "probe_auroc.png") and _visible(p, d):  # probe: unmask probe
                runs.bias.append((_inside(p, d, base), p))
    return runs
