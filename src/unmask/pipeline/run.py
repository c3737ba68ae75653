"""``unmask run EXPERIMENT.yaml``: plan, run what is not done, gather results, write the report.

Run folder layout::

    RUN/.stages/<kind>-<key>/     every stage's output, keyed by the hash of its inputs and settings
    RUN/results/<model>/<bench>/<judge>/metrics.json (+ verdicts.jsonl)   the current plan's results
    RUN/summary.json              {model: {bench: {judge: {asr, ci, n_judged, n_unjudged, over_refusal}}}}
    RUN/report.html, report.md    the report over RUN (results/, summary.json, the samples in .stages)
    RUN/experiment.yaml           the resolved experiment (after overrides)
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import yaml

from ..data.store import atomic_path, atomic_write_bytes
from .config import Experiment
from .graph import FileHasher, run_plan, stage_dirs
from .stages import PlannedRun, build_plan

__all__ = ["RunResult", "run_experiment"]

STAGES_DIR = ".stages"


class RunResult(dict):
    """{'run_dir', 'status' {label: cached|ran|todo}, 'summary'}"""


def _summary_entry(doc: dict[str, Any]) -> dict[str, Any]:
    overall, benign = doc.get("overall", {}), doc.get("benign", {})
    return {"asr": overall.get("asr"), "ci": overall.get("ci"), "n": overall.get("n"),
            "n_judged": overall.get("n_judged"), "n_unjudged": overall.get("n_unjudged"),
            "over_refusal": benign.get("over_refusal"), "over_refusal_ci": benign.get("ci"),
            "n_benign": benign.get("n"), "judge": doc.get("judge")}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _gather(planned: PlannedRun, run_dir: Path, dirs: dict[str, Path]) -> dict[str, Any]:
    """Write RUN/results for the current plan (stale branches disappear) and return the summary."""
    summary: dict[str, Any] = {}
    by_label = planned.plan.by_label()
    with atomic_path(run_dir / "results") as tmp:
        for label in planned.metrics:
            _, model, bench, judge = label.split("/", 3)
            dest = tmp / model / bench / judge
            dest.mkdir(parents=True, exist_ok=True)
            metrics = dirs[label] / "metrics.json"
            _link_or_copy(metrics, dest / "metrics.json")
            verdicts_dir = dirs[by_label[label].deps["verdicts"]]
            _link_or_copy(verdicts_dir / "verdicts.jsonl", dest / "verdicts.jsonl")
            doc = orjson.loads(metrics.read_bytes())
            summary.setdefault(model, {}).setdefault(bench, {})[judge] = _summary_entry(doc)
    return summary


def run_experiment(exp: Experiment, run_dir: str | Path | None = None, *, dry_run: bool = False,
                   jobs: int | None = None, log: Callable[[str], None] = print) -> RunResult:
    run_dir = Path(run_dir or exp.out or Path("runs") / exp.name)
    planned = build_plan(exp)
    hasher = FileHasher(None if dry_run else run_dir / ".hashes.json", allow_missing=dry_run)
    planned.plan.compute_keys(hasher)
    for path in dict.fromkeys(hasher.missing):
        log(f"  missing input: {path} (a real run stops here)")
    if not dry_run:
        run_dir.mkdir(parents=True, exist_ok=True)
        hasher.save()
        atomic_write_bytes(run_dir / "experiment.yaml",
                           yaml.safe_dump(exp.model_dump(mode="json"), sort_keys=False).encode())
    log(f"experiment {exp.name}: {len(planned.branches)} model(s) x {len(exp.benches)} bench(es) "
        f"x {len(exp.judges)} judge(s) = {len(planned.plan.stages)} stages -> {run_dir}")
    stage_root = run_dir / STAGES_DIR
    status = run_plan(planned.plan, stage_root, None, dry_run=dry_run, jobs=jobs or exp.jobs, log=log)
    result = RunResult(run_dir=str(run_dir), status=status, summary=None)
    if dry_run:
        return result
    dirs = stage_dirs(planned.plan, stage_root)
    summary = _gather(planned, run_dir, dirs)
    atomic_write_bytes(run_dir / "summary.json", orjson.dumps(summary, option=orjson.OPT_INDENT_2) + b"\n")
    result["summary"] = summary
    if exp.report:
        from ..report import build_report

        # the whole run folder: the samples behind each number live in RUN/.stages
        build_report([run_dir], run_dir / "report.html", title=f"unmask: {exp.name}")
        log(f"report: {run_dir / 'report.html'}")
    return result
