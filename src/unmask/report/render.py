"""Write the report's tables, plots and samples as one self-contained HTML page and as markdown."""

from __future__ import annotations

import base64
import html
import struct
from typing import Any

from .browser import BROWSER_CSS, browser_html
from .samples import SampleSet
from .tables import Cell, Table, fmt_rate, tables

__all__ = ["Cell", "fmt_rate", "render_html", "render_markdown", "tables"]

_CSS = """body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;color:#222;
max-width:1150px}h1{font-size:24px}h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}th,td{border:1px solid #ccc;padding:4px 8px;
text-align:left}th{background:#f2f2f2}tr:nth-child(even) td{background:#fafafa}img{max-width:100%;
border:1px solid #eee;margin:6px 0}.note{color:#555;font-size:13px}nav{font-size:14px}nav a{margin-right:12px}
figure{margin:0 0 18px 0}figcaption{font-size:13px;color:#555}.tw{overflow-x:auto}
"""

NOTE = ("ASR = complied / judged. Unjudged verdicts (failed or unreadable judge calls) are excluded "
        "from every rate and counted beside it. Every number names the judge that produced it; "
        "intervals are 95% Wilson score intervals (the same rows show the same interval in every table).")

# A figure is shown at 100 CSS px per inch of its size, whatever its dpi: matplotlib's 11 pt text then reads
# at about 11 pt on the page. The report's plots are drawn at 200 dpi (sharp on high-density screens) and so
# shown at half their pixel width.
_CSS_PX_PER_INCH = 100


def _png_width(png: bytes) -> int | None:
    """The width at which to show ``png``: pixels x 100 / its dpi (PNG pHYs chunk); its pixel width without one."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        return None
    width = struct.unpack(">I", png[16:20])[0]
    pos = 8
    while pos + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[pos:pos + 8])
        if kind == b"pHYs" and length == 9:
            ppm_x, _, unit = struct.unpack(">IIB", png[pos + 8:pos + 17])
            if unit == 1 and ppm_x > 0:  # pixels per metre
                return round(width * _CSS_PX_PER_INCH / (ppm_x * 0.0254))
        if kind in (b"IDAT", b"IEND"):
            break
        pos += 12 + length
    return width


def _anchor(title: str) -> str:
    return "t-" + "".join(c if c.isalnum() else "-" for c in title.lower()).strip("-")[:60]


def _td(c: Any) -> str:
    text = html.escape(str(c), quote=False)
    if isinstance(c, Cell) and c.href:
        return f"<td><a href=\"{html.escape(c.href)}\">{text}</a></td>"
    return f"<td>{text}</td>"


def render_html(title: str, tabs: list[Table], plots: list[tuple[str, bytes]], meta: dict[str, Any],
                samples: SampleSet | None = None) -> str:
    def e(s: str) -> str:  # text nodes; attribute values use html.escape with quotes
        return html.escape(s, quote=False)

    css = _CSS + (BROWSER_CSS if samples is not None else "")
    nav = [(_anchor(t), t.split(":")[0].split(" (")[0]) for t, _, _ in tabs]
    links, seen = [], set()
    for a, label in nav:
        if label not in seen:
            seen.add(label)
            links.append(f"<a href=\"#{a}\">{e(label)}</a>")
    if plots:
        links.append("<a href=\"#plots\">Plots</a>")
    if samples is not None:
        links.append("<a href=\"#samples\">Samples</a>")
    parts = [f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>",
             f"<style>{css}</style></head><body>", f"<h1>{e(title)}</h1>", f"<nav>{' '.join(links)}</nav>",
             f"<p class=note>{e(NOTE)}</p>",
             f"<p class=note>Runs: {e(', '.join(meta['runs']))} &middot; {meta['n_metrics']} metrics file(s) "
             f"&middot; unmask {e(meta['version'])}</p>"]
    n_before = meta.get("plots_after", len(tabs))
    for k, (t, head, rows) in enumerate(tabs):
        if k == n_before:
            parts += _html_plots(plots)
        parts.append(f"<h2 id={_anchor(t)}>{e(t)}</h2><div class=tw><table><thead><tr>"
                     + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr></thead><tbody>")
        parts += ["<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows]
        parts.append("</tbody></table></div>")
    if n_before >= len(tabs):
        parts += _html_plots(plots)
    if samples is not None:
        parts += browser_html(samples)
    for note in meta.get("notes", []):
        parts.append(f"<p class=note>{e(note)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _html_plots(plots: list[tuple[str, bytes]]) -> list[str]:
    if not plots:
        return []
    parts = ["<h2 id=plots>Plots</h2>"]
    for caption, png in plots:
        data = base64.b64encode(png).decode("ascii")
        w = _png_width(png)
        size = f" width={w}" if w else ""
        parts.append(f"<figure><img alt=\"{html.escape(caption)}\"{size} src=\"data:image/png;base64,{data}\">"
                     f"<figcaption>{html.escape(caption, quote=False)}</figcaption></figure>")
    return parts


def _md_cell(s: Any) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


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
