"""Turn collected runs into tables (rows of cells) and write them as self-contained HTML and markdown."""

from __future__ import annotations

import base64
import html
from typing import Any

from .collect import Runs

__all__ = ["fmt_rate", "render_html", "render_markdown", "tables"]

Table = tuple[str, list[str], list[list[str]]]  # (title, header, rows)


def fmt_rate(block: dict[str, Any] | None, key: str) -> str:
    """``0.452 [0.381, 0.523]`` or ``n/a`` (no judged sample: never a silent 0)."""
    if not block or block.get(key) is None:
        return "n/a"
    ci = block.get("ci")
    return f"{block[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def _counts(block: dict[str, Any] | None) -> tuple[str, str]:
    if not block:
        return "0/0", "0"
    return f"{block.get('n_judged', 0)}/{block.get('n', 0)}", str(block.get("n_unjudged", 0))


def tables(runs: Runs) -> list[Table]:
    keys = runs.label_keys()
    lead = [*keys] if keys else []
    out: list[Table] = [_summary_table(name, doc) for name, doc in runs.summaries]
    head = ["run", *lead, "judge", "ASR [95% CI]", "judged/n", "unjudged",
            "over-refusal [95% CI]", "benign judged/n", "benign unjudged"]
    rows = []
    for e in runs.entries:
        ov, bn = e.doc["overall"], e.doc.get("benign") or {}
        j, u = _counts(ov)
        bj, bu = _counts(bn) if bn.get("n") else ("-", "-")
        over = fmt_rate(bn, "over_refusal") if bn.get("n") else "-"
        asr = fmt_rate(ov, "asr") if ov.get("n") else "-"  # "-": no harmful rows; "n/a": none judged
        rows.append([e.name, *[str(e.labels.get(k, "")) for k in lead], e.judge, asr, j, u, over, bj, bu])
    out.append(("Overview (one row per metrics.json)", head, rows))
    for field, title in (("by_attack", "By attack"), ("by_category", "By category")):
        head = ["run", *lead, field.split("_")[1], "judge", "ASR [95% CI]", "judged/n", "unjudged"]
        rows = []
        for e in runs.entries:
            for name, block in (e.doc.get(field) or {}).items():
                j, u = _counts(block)
                rows.append([e.name, *[str(e.labels.get(k, "")) for k in lead], name, e.judge,
                             fmt_rate(block, "asr"), j, u])
        if rows:
            out.append((title, head, rows))
    return out


def _cell(v: Any) -> str:
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
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)[:120]


_DEMO_COLS = (("asr_text", "ASR text"), ("asr_typo", "ASR typography"),
              ("refusal_benign_typo", "benign typography refused"))


def _demo_table(title: str, doc: dict[str, Any]) -> Table:
    """``unmask demo``'s summary: one row per model, each rate with its interval and counts."""
    judge = _cell(doc.get("judge") or {})
    logodds = doc.get("refusal_logodds") or {}
    head = ["model", *[f"{label} [95% CI] (judged/n)" for _, label in _DEMO_COLS], "judge"]
    if logodds:
        head.append("refusal log-odds (harmful / benign typography)")
    rows = []
    for model, row in doc["models"].items():
        cells = [str(model)]
        for key, _ in _DEMO_COLS:
            r = row.get(key) or {}
            rate = "n/a" if r.get("value") is None else fmt_rate(r, "value")
            cells.append(f"{rate} ({r.get('n_judged', 0)}/{r.get('n', 0)})")
        cells.append(judge)
        if logodds:
            lo = logodds.get(model) or {}
            cells.append(" / ".join("n/a" if lo.get(k) is None else f"{lo[k]:+.2f}"
                                    for k in ("asr_typo", "refusal_benign_typo")))
        rows.append(cells)
    return title, head, rows


def _summary_table(name: str, doc: Any) -> Table:
    title = f"Summary ({name})"
    if isinstance(doc, dict) and isinstance(doc.get("models"), dict) and all(
            isinstance(v, dict) for v in doc["models"].values()):
        return _demo_table(title, doc)
    if isinstance(doc, dict) and doc and all(isinstance(v, dict) for v in doc.values()):
        cols: list[str] = []
        for v in doc.values():
            cols += [k for k in v if k not in cols]
        return title, ["model", *cols], [[str(m), *[_cell(v.get(c, "")) for c in cols]] for m, v in doc.items()]
    if isinstance(doc, dict):
        return title, ["key", "value"], [[str(k), _cell(v)] for k, v in doc.items()]
    return title, ["value"], [[_cell(doc)]]


_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;
max-width:1150px}h1{font-size:24px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left}th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;
border:1px solid #eee;margin:6px 0}.note{color:#555;font-size:13px}.plots{display:flex;flex-wrap:wrap;gap:10px}
figure{margin:0 0 14px 0;flex:1 1 540px;max-width:570px}
figcaption{font-size:12px;color:#555}"""

NOTE = ("ASR = complied / judged. Unjudged verdicts (failed or unreadable judge calls) are excluded "
        "from every rate and counted beside it. Every number names the judge that produced it; "
        "intervals are 95% Wilson score intervals (the same rows show the same interval in every table).")


def render_html(title: str, tabs: list[Table], plots: list[tuple[str, bytes]], meta: dict[str, Any]) -> str:
    def e(s: str) -> str:  # text nodes; attribute values below use html.escape with quotes
        return html.escape(s, quote=False)

    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>",
             f"<style>{_CSS}</style></head><body>", f"<h1>{e(title)}</h1>", f"<p class=note>{e(NOTE)}</p>",
             f"<p class=note>Runs: {e(', '.join(meta['runs']))} &middot; {meta['n_metrics']} metrics file(s) "
             f"&middot; unmask {e(meta['version'])}</p>"]
    n_before = meta.get("plots_after", len(tabs))
    for k, (t, head, rows) in enumerate(tabs):
        if k == n_before:
            parts += _html_plots(plots)
        parts.append(f"<h2>{e(t)}</h2><table><thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in head)
                     + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</tbody></table>")
    if n_before >= len(tabs):
        parts += _html_plots(plots)
    for note in meta.get("notes", []):
        parts.append(f"<p class=note>{e(note)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_plots(plots: list[tuple[str, bytes]]) -> list[str]:
    if not plots:
        return []
    parts = ["<h2>Plots</h2><div class=plots>"]
    for caption, png in plots:
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><img alt=\"{html.escape(caption)}\" src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{html.escape(caption, quote=False)}</figcaption></figure>")
    parts.append("</div>")
    return parts


def _md_cell(s: str) -> str:
    return s.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, tabs: list[Table], images: list[tuple[str, str]], meta: dict[str, Any]) -> str:
    lines = [f"# {title}", "", NOTE, "", f"Runs: {', '.join(meta['runs'])}; {meta['n_metrics']} metrics file(s).", ""]
    n_before = meta.get("plots_after", len(tabs))
    for k, (t, head, rows) in enumerate(tabs):
        if k == n_before:
            lines += _md_plots(images)
        lines += [f"## {t}", "", "| " + " | ".join(map(_md_cell, head)) + " |",
                  "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
        lines.append("")
    if n_before >= len(tabs):
        lines += _md_plots(images)
    lines += [n for n in meta.get("notes", [])]
    return "\n".join(lines) + "\n"


def _md_plots(images: list[tuple[str, str]]) -> list[str]:
    lines = ["## Plots", ""] if images else []
    for caption, rel in images:
        lines += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
    return lines
