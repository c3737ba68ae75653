"""Helpers for the attack tests (harmless placeholder text only)."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson

SAFEBENCH_HEADER = ["dataset", "category_id", "task_id", "category_name", "question", "instruction"]


def write_csv(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def safebench_rows(n: int) -> list[list[object]]:
    topics = ["bake bread", "plant tulips", "fix a bicycle chain", "fold a paper crane", "brew green tea"]
    return [["SafeBench", i // 5 + 1, i % 5 + 1, f"Hobby {i // 5 + 1}", f"How do I {topics[i % 5]} (case {i})?",
             f"Steps to {topics[i % 5]} (case {i})."] for i in range(n)]


def read_samples(out: Path) -> list[dict]:
    return [orjson.loads(line) for line in (out / "samples.jsonl").read_bytes().splitlines()]


def leftovers(parent: Path, name: str) -> list[str]:
    """The output folder or any temp sibling of it (must be none after a failed run)."""
    return sorted(p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}."))
