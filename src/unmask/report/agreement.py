"""Judge agreement across metrics files: two judges of one run, each in its own folder.

``unmask run`` with several judges writes ``results/<model>/<bench>/<judge>/metrics.json`` (+ the
verdicts) per judge: the same answers, judged twice, in separate files. Files whose verdicts judged
the same generations (found through ``sources`` or the verdicts' manifests, as the sample browser
finds them, and only inside the run folders given) are paired, and each pair gets the agreement
``unmask judge-compare`` computes: percent agreement and Cohen's kappa over the answers both judges
decided, and the confusion counts. A metrics file that already holds several judges (``agreement``
in its own document) is shown from that document, not here.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from ..metrics.compare import compare_files
from .collect import Entry
from .samples import _inputs, _Roots, _verdict_files

__all__ = ["cross_file_agreement"]


def _answers(entry: Entry, roots: _Roots) -> tuple[tuple[str, ...], Path] | None:
    """(the generation files this entry's one verdicts file judged, that verdicts file) or None."""
    if entry.doc.get("agreement"):  # several judges in one file: its own table row
        return None
    verdicts = _verdict_files(entry, roots)
    if len(verdicts) != 1:
        return None
    gens, _ = _inputs(entry, verdicts, roots)
    if not gens:
        return None
    return tuple(sorted(str(g.resolve()) for g in gens)), verdicts[0]


def cross_file_agreement(entries: list[Entry], run_dirs: list[Path]) -> list[tuple[str, dict[str, Any]]]:
    """``(name, agreement document)`` for each pair of metrics files whose judges judged the same answers
    (in the entries' order). A pair that cannot be compared (e.g. a verdicts file holding two judges)
    gives a document with ``error`` set instead of dropping out of sight."""
    roots = _Roots(run_dirs)
    groups: dict[tuple[str, ...], list[tuple[Entry, Path]]] = defaultdict(list)
    for e in entries:
        found = _answers(e, roots)
        if found:
            groups[found[0]].append((e, found[1]))
    out: list[tuple[str, dict[str, Any]]] = []
    for members in groups.values():
        for (a, va), (b, vb) in combinations(members, 2):
            if va.resolve() == vb.resolve():
                continue  # one verdicts file reached twice (e.g. a results/ link of a stage folder)
            name = f"{a.name} + {b.name}"
            try:
                out.append((name, compare_files(va, vb, max_examples=0)))
            except UnmaskError as exc:
                out.append((name, {"judges": [a.judge, b.judge], "error": str(exc)}))
    return out
