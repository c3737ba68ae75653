"""The report's tables: summaries, the overview (one row per metrics file) and the per-category / per-attack
grids (one row per (bench, group), one column per model).

A cell is text, or a :class:`Cell` whose ``href`` opens the sample browser on the samples behind it
(``#samples?file=I&set=attack&category=...``: ``file`` is the metrics file's index in the report).
Every rate shows the interval stored as ``ci`` in ``metrics.json`` (Wilson's): the same group shows the
same interval in every table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .collect import Entry, Runs

__all__ = ["Cell", "Table", "fmt_rate", "sample_link", "tables"]


@dataclass(frozen=True)
class Cell:
    text: str
    href: str | None = None

    def __str__(self) -> str:
        return self.text


Table = tuple[str, list[str], list[list[Any]]]  # (title, header, rows of str | Cell)


def fmt_rate(block: dict[str, Any] | None, key: str) -> str:
    """``0.452 [0.381, 0.523]`` or ``n/a`` (no judged sample: never a silent 0)."""
    if not block or block.get(key) is None:
        return "n/a"
    ci = block.get("ci")
    return f"{block[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def sample_link(file: int, **filters: str) -> str:
    """The fragment that opens the sample browser on metrics file ``file`` with ``filters`` set."""
    return "#samples?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in {"file": file, **filters}.items())


def _counts(block: dict[str, Any] | None) -> tuple[str, str]:
    if not block:
        return "0/0", "0"
    return f"{block.get('n_judged', 0)}/{block.get('n', 0)}", str(block.get("n_unjudged", 0))


class _Links:
    """Links only for the metrics files whose samples were found."""

    def __init__(self, linked: set[int]):
        self.linked = linked

    def cell(self, text: str, file: int, **filters: str) -> str | Cell:
        return Cell(text, sample_link(file, **filters)) if file in self.linked else text


def tables(runs: Runs, linked: set[int] | None = None,
           cross: list[tuple[str, dict[str, Any]]] | None = None) -> list[Table]:
    """``cross``: agreement of judges stored in separate metrics files (:mod:`unmask.report.agreement`)."""
    links = _Links(linked or set())
    out: list[Table] = []
    for name, doc in runs.summaries:
        out += _summary_tables(name, doc, runs.entries, links)
    out.append(_overview(runs, links))
    agree = _agreement(runs, cross or [])
    if agree[2]:
        out.append(agree)
    cost = _defence_costs(runs)
    if cost[2]:
        out.append(cost)
    for field, title in (("category", "By category"), ("attack", "By attack")):
        out += _grids(runs.entries, field, title, links)
    return out


def _overview(runs: Runs, links: _Links) -> Table:
    lead = runs.label_keys()
    # The run path only where the labels and the judge do not tell the files apart.
    keys = [(tuple(str(e.labels.get(k, "")) for k in lead), e.judge) for e in runs.entries]
    with_run = not lead or len(set(keys)) < len(keys)
    head = ["run", *lead, "judge", "ASR [95% CI]", "judged/n", "unjudged",
            "over-refusal [95% CI]", "benign judged/n", "benign unjudged"]
    rows = []
    for i, e in enumerate(runs.entries):
        ov, bn = e.doc["overall"], e.doc.get("benign") or {}
        j, u = _counts(ov)
        asr = links.cell(fmt_rate(ov, "asr"), i, set="attack") if ov.get("n") else "-"  # "-": no harmful rows
        unj = links.cell(u, i, set="attack", verdict="unjudged") if ov.get("n_unjudged") else u
        if bn.get("n"):
            bj, bu = _counts(bn)
            over = links.cell(fmt_rate(bn, "over_refusal"), i, set="benign")
            bu = links.cell(bu, i, set="benign", verdict="unjudged") if bn.get("n_unjudged") else bu
        else:
            bj, bu, over = "-", "-", "-"
        rows.append([e.name, *[str(e.labels.get(k, "")) for k in lead], e.judge, asr, j, unj, over, bj, bu])
    if not with_run:
        head, rows = head[1:], [r[1:] for r in rows]
    return "Overview (one row per metrics.json)", head, rows


def _defence_costs(runs: Runs) -> Table:
    """What each inference-time defence cost (``metrics.json``'s ``defence_cost``, from its generations): extra
    generate calls and generated tokens per sample, tokens added to the prompt, seconds per sample, and how often
    ECSO's harm check said unsafe / OCR read any text."""
    head = ["model", "bench", "defence", "n", "extra calls", "extra tokens", "prompt tokens", "seconds",
            "check: unsafe/checked", "OCR: read/images"]
    rows = []
    for e in runs.entries:
        c = e.doc.get("defence_cost")
        if not isinstance(c, dict):
            continue
        rows.append([str(e.labels.get("model", e.name)), str(e.labels.get("bench", "")), str(c.get("defence", "")),
                     str(c.get("n", 0)), f"{c.get('calls', 0):.2f}", f"{c.get('tokens', 0):.1f}",
                     f"{c.get('prompt_tokens', 0):.1f}", f"{c.get('seconds', 0):.4f}",
                     f"{c.get('unsafe', 0)}/{c.get('checked', 0)}" if c.get("checked") else "-",
                     f"{c.get('ocr_read_some', 0)}/{c.get('ocr_images', 0)}" if c.get("ocr_images") else "-"])
    return "Defence cost (per sample, mean over the bench)", head, rows


def _agreement(runs: Runs, cross: list[tuple[str, dict[str, Any]]]) -> Table:
    """Judges side by side on the same answers (``metrics.json``'s ``agreement``, written when ``unmask metrics``
    is given the verdicts of several judges, and ``cross``: two metrics files whose judges judged the same
    generations, as ``unmask run`` writes one per judge): how often they agree, Cohen's kappa, and the two
    ways they disagree, so no number of one judge is read without the other's."""
    head = ["metrics", "judges", "both judged", "agreement", "kappa", "A refused / B complied",
            "A complied / B refused", "unjudged by either"]
    rows = []
    docs = [(e.name, a) for e in runs.entries for a in e.doc.get("agreement") or []] + list(cross)
    for name, a in docs:
        judges = " vs ".join(map(str, a.get("judges", [])))
        if a.get("error"):
            rows.append([name, judges, "-", f"not compared: {a['error']}", "-", "-", "-", "-"])
            continue
        conf = a.get("confusion") or {}
        unj = sum(v for x, row in conf.items() for y, v in row.items() if "unjudged" in (x, y))
        pa, k = a.get("percent_agreement"), a.get("kappa")
        rows.append([name, judges, str(a.get("n_both_judged", 0)),
                     "n/a" if pa is None else f"{pa:.3f}", "n/a" if k is None else f"{k:.3f}",
                     str(conf.get("refused", {}).get("complied", 0)),
                     str(conf.get("complied", {}).get("refused", 0)), str(unj)])
    return "Judge agreement (the same answers, two judges)", head, rows


def _grid_cell(block: dict[str, Any], key: str) -> str:
    hits = block.get("n_complied" if key == "asr" else "n_refused", 0)
    u = block.get("n_unjudged", 0)
    return f"{fmt_rate(block, key)} ({hits}/{block.get('n_judged', 0)}" + (f", {u} unjudged)" if u else ")")


def _columns(entries: list[tuple[int, Entry]]) -> dict[int, str]:
    """Column name per entry: its model label, or its run path where two entries of one bench share a model."""
    def model(e: Entry) -> str:
        return str(e.labels.get("model", e.name))

    clash = Counter((str(e.labels.get("bench", "")), model(e)) for _, e in entries)
    return {i: model(e) if clash[(str(e.labels.get("bench", "")), model(e))] == 1 else e.name for i, e in entries}


def _grids(entries: list[Entry], field: str, title: str, links: _Links) -> list[Table]:
    """One grid per (measure, judge): rows (bench, group), columns models, cells linked to their samples."""
    out = []
    judges = list(dict.fromkeys(e.judge for e in entries))
    for measure, key, what in (("attack", "asr", "ASR (complied / judged)"),
                               ("benign", "over_refusal", "over-refusal on benign prompts (refused / judged)")):
        for judge in judges:
            mine = [(i, e) for i, e in enumerate(entries) if e.judge == judge]
            blocks = {i: (e.doc if measure == "attack" else e.doc.get("benign") or {}).get(f"by_{field}") or {}
                      for i, e in mine}
            mine = [(i, e) for i, e in mine if blocks[i]]
            if not mine:
                continue
            cols = _columns(mine)
            col_names = list(dict.fromkeys(cols.values()))
            cells: dict[tuple[str, str], dict[str, Any]] = {}
            for i, e in mine:
                bench = str(e.labels.get("bench", ""))
                for group, block in blocks[i].items():
                    cells.setdefault((bench, group), {})[cols[i]] = links.cell(
                        _grid_cell(block, key), i, set=measure, **{field: group})
            with_bench = any(b for b, _ in cells)
            head = (["bench"] if with_bench else []) + [field, *col_names]
            rows = [([b] if with_bench else []) + [g, *[row.get(c, "-") for c in col_names]]
                    for (b, g), row in cells.items()]
            suffix = f", judge {judge}" if len(judges) > 1 else ""
            out.append((f"{title}: {what}{suffix}", head, rows))
    return out


# ------------------------------------------------------------------------------------------ summaries
def _cell(v: Any) -> str:
    """Any JSON value as one short text (numbers to 3 places; a rate with its interval and counts)."""
    if isinstance(v, dict):
        for key in ("value", "asr", "rate", "over_refusal", "refusal_rate", "mean", "accuracy"):
            if isinstance(v.get(key), (int, float)) and not isinstance(v.get(key), bool):
                s = f"{v[key]:.3f}"
                ci = v.get("ci")
                if isinstance(ci, list) and len(ci) == 2 and all(isinstance(c, (int, float)) for c in ci):
                    s += f" [{ci[0]:.3f}, {ci[1]:.3f}]"
                if "n" in v:
                    s += f" (n={v['n']}"
                    s += f", unjudged {v['n_unjudged']})" if "n_unjudged" in v else ")"
                return s
        if "name" in v:  # a judge
            return " ".join(str(v.get(k, "")) for k in ("name", "version")).strip()
        return ", ".join(f"{k}={_cell(x)}" for k, x in v.items())[:120]
    if isinstance(v, list):
        return ", ".join(_cell(x) for x in v)[:120]
    if isinstance(v, float):
        return f"{v:.3f}"
    return "" if v is None else str(v)[:120]


def _generic(title: str, doc: dict[str, Any]) -> Table:
    """An object of objects as rows x columns; any other object as key / value."""
    if all(isinstance(v, dict) for v in doc.values()):
        cols: list[str] = []
        for v in doc.values():
            cols += [k for k in v if k not in cols]
        return title, ["", *cols], [[str(m), *[_cell(v[c]) if c in v else "-" for c in cols]] for m, v in doc.items()]
    return title, ["key", "value"], [[str(k), _cell(v)] for k, v in doc.items()]


def _is_run_summary(doc: Any) -> bool:
    """``unmask run``'s summary.json: {model: {bench: {judge: {asr, ci, ..., over_refusal, ...}}}}."""
    return isinstance(doc, dict) and bool(doc) and all(
        isinstance(b, dict) and b and all(isinstance(j, dict) and j and all(
            isinstance(x, dict) and "asr" in x and "over_refusal" in x for x in j.values()) for j in b.values())
        for b in doc.values())


def _run_summary(title: str, doc: dict[str, Any], entries: list[Entry], links: _Links) -> Table:
    """One row per model, one column per bench (and judge, if several): ASR on a harmful bench, over-refusal
    on a benign one, each linked to its samples."""
    judges = {j for b in doc.values() for js in b.values() for j in js}
    cols = list(dict.fromkeys((bench, j) for b in doc.values() for bench, js in b.items() for j in js))
    index = {(str(e.labels.get("model")), str(e.labels.get("bench")), str(e.doc.get("judge", {}).get("name"))): i
             for i, e in enumerate(entries) if isinstance(e.doc.get("judge"), dict)}
    rows = []
    for model, benches in doc.items():
        row: list[Any] = [str(model)]
        for bench, judge in cols:
            x = (benches.get(bench) or {}).get(judge)
            if not x:
                row.append("-")
                continue
            i = index.get((str(model), str(bench), str(judge)))
            parts = []
            for what, key, ci, n, s in (("ASR", "asr", "ci", "n", "attack"),
                                        ("over-refusal", "over_refusal", "over_refusal_ci", "n_benign", "benign")):
                if x.get(n):
                    text = f"{what} {fmt_rate({key: x.get(key), 'ci': x.get(ci)}, key)}"
                    parts.append(text if i is None else links.cell(text, i, set=s))
            row.append(parts[0] if len(parts) == 1 else " / ".join(map(str, parts)) or "-")
        rows.append(row)
    head = ["model", *[b if len(judges) == 1 else f"{b} ({j})" for b, j in cols]]
    return title, head, rows


def _extra_tables(title: str, extra: list[dict[str, Any]]) -> list[Table]:
    """A summary's ``extra`` tables ({title, columns, rows}; checked when read), as they are."""
    return [(f"{title}: {t['title']}", [str(c) for c in t["columns"]], [[_cell(c) for c in row] for row in t["rows"]])
            for t in extra]


def _summary_tables(name: str, doc: Any, entries: list[Entry], links: _Links) -> list[Table]:
    title = f"Summary ({name})"
    if isinstance(doc, dict) and isinstance(doc.get("extra"), list):
        rest = {k: v for k, v in doc.items() if k != "extra"}
        return (_summary_tables(name, rest, entries, links) if rest else []) + _extra_tables(title, doc["extra"])
    if _is_run_summary(doc):
        return [_run_summary(title, doc, entries, links)]
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):
        t, head, rows = _generic(title, doc)
        return [(t, ["model", *head[1:]], rows)]
    if isinstance(doc, dict):
        return [_generic(title, doc)]
    return [(title, ["value"], [[_cell(doc)]])]
