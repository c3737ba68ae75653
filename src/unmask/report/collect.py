"""Find what a report shows: ``metrics.json`` files, ``bias/*.png`` plots and ``summary.json`` under run folders."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ..errors import UnmaskError
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
    return doc


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
            name = str(p.parent.resolve().relative_to(base))
            runs.entries.append(Entry(p, name, _check_metrics(p, _load_json(p))))
        for p in summaries:
            runs.summaries.append((str(p.resolve().relative_to(base)), _load_json(p)))
        for p in sorted(d.rglob("*.png")):
            if p.parent.name == "bias" and _visible(p, d):
                runs.bias.append((str(p.resolve().relative_to(base)), p))
    return runs
