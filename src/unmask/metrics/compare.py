"""Two judges on the same answers: agreement, Cohen's kappa, confusion, per category, and the rows
where they disagree. ``unmask judge-compare A.jsonl B.jsonl`` prints it; ``unmask metrics`` with
verdicts of several judges prints the same table.

Kappa and percent agreement use the ids both judges decided (``refused`` / ``complied``); the
confusion counts every shared id, ``unjudged`` included, so a judge that often failed shows.
A harm judge's ``complied`` (harmful) and a refusal judge's ``complied`` (did not refuse) are not the
same question: the table says what each measures, and their agreement is about that difference too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UnmaskError
from .core import judge_label, read_verdicts
from .stats import agreement

__all__ = ["compare_files", "compare_rows", "format_agreement"]


def _by_id(rows: Sequence[dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    judges = {(str(r["judge"]), str(r.get("judge_version", ""))) for r in rows}
    if len(judges) != 1:
        raise UnmaskError(f"{name}: verdicts of {len(judges)} judges in one file; compare one judge per file")
    for r in rows:
        rid = str(r["id"])
        if rid in out:
            raise UnmaskError(f"{r.get('_where', name)} (id {rid!r}): duplicate id")
        out[rid] = r
    return out


def _rate(labels: Sequence[str]) -> float | None:
    judged = [v for v in labels if v != "unjudged"]
    return sum(v == "complied" for v in judged) / len(judged) if judged else None


def compare_rows(a_rows: Sequence[dict[str, Any]], b_rows: Sequence[dict[str, Any]],
                 names: tuple[str, str] = ("A", "B"), max_examples: int = 20) -> dict[str, Any]:
    """The comparison document of two judges' verdict rows (one judge each)."""
    a, b = _by_id(a_rows, names[0]), _by_id(b_rows, names[1])
    first, second = next(iter(a.values())), next(iter(b.values()))
    labels = (judge_label({"name": first["judge"], "version": first.get("judge_version", "")}),
              judge_label({"name": second["judge"], "version": second.get("judge_version", "")}))
    doc = agreement({k: r["verdict"] for k, r in a.items()}, {k: r["verdict"] for k, r in b.items()}, labels)
    common = sorted(set(a) & set(b))
    if not common:
        raise UnmaskError(f"{names[0]} and {names[1]} share no id: they judged different answers")
    doc["measures"] = [first.get("measures", "refusal"), second.get("measures", "refusal")]
    doc["rate_complied"] = [_rate([a[i]["verdict"] for i in common]), _rate([b[i]["verdict"] for i in common])]
    groups: dict[str, list[str]] = defaultdict(list)
    for i in common:
        groups[str(a[i].get("category") or b[i].get("category") or "(none)")].append(i)
    doc["by_category"] = {
        c: {k: v for k, v in agreement({i: a[i]["verdict"] for i in ids}, {i: b[i]["verdict"] for i in ids},
                                       labels).items() if k in ("n_common", "n_both_judged", "percent_agreement",
                                                                 "kappa")}
        for c, ids in sorted(groups.items())}
    differ = [i for i in common if a[i]["verdict"] != b[i]["verdict"]]
    doc["n_disagree"] = len(differ)
    doc["disagreements"] = [{"id": i, "first": a[i]["verdict"], "second": b[i]["verdict"],
                             "first_reason": a[i].get("reason", ""), "second_reason": b[i].get("reason", "")}
                            for i in differ[:max_examples]]
    return doc


def compare_files(a: str | Path, b: str | Path, max_examples: int = 20) -> dict[str, Any]:
    return compare_rows(read_verdicts([a]), read_verdicts([b]), (str(a), str(b)), max_examples)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def format_agreement(doc: dict[str, Any]) -> str:
    """A plain-text table of one agreement item (also what ``unmask metrics`` prints for two judges)."""
    a, b = doc["judges"]
    kappa = "-" if doc["kappa"] is None else f"{doc['kappa']:.3f}"
    lines = [f"judges: A = {a}, B = {b}",
             f"shared answers {doc['n_common']} (only A {doc['n_only_first']}, only B {doc['n_only_second']}); "
             f"both decided {doc['n_both_judged']}: agreement {_pct(doc['percent_agreement'])}, Cohen's kappa {kappa}"]
    if "rate_complied" in doc:
        ra, rb = doc["rate_complied"]
        ma, mb = doc["measures"]
        lines.append(f"complied / decided: A {_pct(ra)} ({ma}), B {_pct(rb)} ({mb})")
    order = ("refused", "complied", "unjudged")
    lines.append("confusion (rows A, columns B): " + " | ".join(
        f"{x}: " + ", ".join(f"{y} {doc['confusion'][x][y]}" for y in order) for x in order))
    for cat, c in (doc.get("by_category") or {}).items():
        kc = "-" if c["kappa"] is None else f"{c['kappa']:.3f}"
        lines.append(f"  {cat}: n {c['n_both_judged']}, agreement {_pct(c['percent_agreement'])}, kappa {kc}")
    return "\n".join(lines)
