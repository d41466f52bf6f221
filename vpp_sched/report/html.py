"""The HTML shell shared by the self-contained reports (plan, what-if and hosting studies).

One page: a style sheet inline, a heading, a navigation line, one ``<section>`` per part and a
footer. No script, no external style sheet, font or image: the page opens offline and can be
mailed as one file. Helpers format tables, folded tables, figures (inline SVG) and numbers the
same way in every report.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from importlib.metadata import PackageNotFoundError, version as _dist_version

import numpy as np
import pandas as pd

CSS = """
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;margin:0;
background:#f4f5f7;font-size:14px;line-height:1.45}
main{max-width:1180px;margin:0 auto;padding:18px 24px 40px;background:#fff}
h1{font-size:22px;margin:4px 0 2px}h2{font-size:18px;border-bottom:2px solid #1f5fa8;padding-bottom:3px;
margin-top:34px}p.sub{color:#555;margin:2px 0}nav{margin:10px 0;font-size:13px}nav a{margin-right:14px;
color:#1f5fa8;text-decoration:none}table{border-collapse:collapse;margin:8px 0;font-size:13px}
th,td{padding:3px 10px;border-bottom:1px solid #e2e2e2;text-align:left;vertical-align:top}
th{background:#eef2f8}td{white-space:nowrap}td:last-child{white-space:normal}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
tr.hl td{background:#fff6f6}.good{color:#1a7f37}.bad{color:#c62828;font-weight:bold}
.chip{display:inline-block;padding:1px 9px;border-radius:10px;font-size:12px;font-weight:bold;margin-right:6px}
.chip.ok{background:#dff3e4;color:#1a7f37}.chip.warn{background:#fde8e8;color:#c62828}
.warnings{background:#fff8e1;border-left:4px solid #f0a500;padding:6px 12px;margin:10px 0}
.warnings li{margin:2px 0}figure.plot{margin:12px 0}figure.plot svg{width:100%;height:auto}
figcaption{color:#555;font-size:12.5px;margin-top:2px}.note{color:#555;font-size:13px}
.grid2{display:flex;gap:28px;flex-wrap:wrap}details summary{cursor:pointer;color:#1f5fa8}
footer{color:#777;font-size:12px;margin-top:36px}
.headline{background:#eef2f8;border-left:4px solid #1f5fa8;padding:8px 12px;font-size:14.5px}
"""

#: A section of a page: (id, title, inner HTML).
Section = tuple[str, str, str]


def page(title: str, heading: str, intro: str, sections: Sequence[Section], footer: str, css: str = "") -> str:
    """A whole report page; ``title`` and ``heading`` are text, ``intro`` and ``footer`` are HTML."""
    nav = "".join(f'<a href="#{sid}">{escape(name)}</a>' for sid, name, _ in sections)
    body = "\n".join(f'<section id="{sid}">\n<h2>{escape(name)}</h2>\n{html}\n</section>'
                     for sid, name, html in sections)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>{CSS}{css}</style>
</head>
<body>
<main>
<h1>{escape(heading)}</h1>
{intro}
<nav>{nav}</nav>
{body}
<footer>{footer}</footer>
</main>
</body>
</html>
"""


def chip(text: str, ok: bool) -> str:
    """A green (``ok``) or red badge."""
    return f'<span class="chip {"ok" if ok else "warn"}">{text}</span>'


def warnings_box(warnings: Sequence[str]) -> str:
    """The run's warnings in a yellow box, or a note that there are none."""
    if not warnings:
        return '<p class=note>No warnings.</p>'
    items = "".join(f"<li>{escape(w)}</li>" for w in warnings)
    return f"<div class=warnings><b>Warnings</b><ul>{items}</ul></div>"


def info_table(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column table of (label, HTML value)."""
    return "<table>" + "".join(f"<tr><th>{a}</th><td>{b}</td></tr>" for a, b in rows) + "</table>"


def table(head, rows, text=(), marked=()) -> str:
    """An HTML table; columns in ``text`` are left-aligned, the others are numbers; rows in ``marked`` stand out."""
    def row(i, r) -> str:
        tds = "".join(f"<td{'' if j in text else ' class=n'}>{x}</td>" for j, x in enumerate(r))
        return f"<tr{' class=hl' if i in marked else ''}>{tds}</tr>\n"
    cells = "".join(row(i, r) for i, r in enumerate(rows))
    return "<table>\n<tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr>\n" + cells + "</table>"


def details(summary: str, content: str, n: int, open_below: int = 30) -> str:
    """A long table folded away (open when short)."""
    return f"<details{' open' if n <= open_below else ''}><summary>{escape(summary)}</summary>\n{content}\n</details>"


def figure(key: str, svg: str, caption: str) -> str:
    return f'<figure class="plot" id="{key}">\n{svg}\n<figcaption>{caption}</figcaption>\n</figure>'


def num(x, digits: int = 1, sign: bool = False) -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "–"
    if not np.isfinite(x):
        return "–"
    if abs(x) < 0.5 * 10 ** -digits:
        return f"{0.0:.{digits}f}"
    return f"{x:{'+' if sign else ''},.{digits}f}"


def pct(x) -> str:
    try:
        return f"{float(x):.3%}" if np.isfinite(float(x)) else "–"
    except (TypeError, ValueError):
        return "–"


def timing(seconds, digits: int = 1) -> str:
    """A run time [s], marked so that tests can tell it from the reproducible numbers."""
    return f'<span class="timing">{num(seconds, digits)}</span> s'


def local(t, tz: str) -> str:
    return pd.Timestamp(t).tz_convert(tz).strftime("%Y-%m-%d %H:%M")


def package_version() -> str:
    try:
        return _dist_version("vpp-sched")
    except PackageNotFoundError:
        return "(not installed)"
