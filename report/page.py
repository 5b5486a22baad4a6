"""The HTML page of a report: one self-contained file (no script, no network), headings per
section with a table of contents, light and dark colour schemes and a print stylesheet."""

from __future__ import annotations

import html
from dataclasses import dataclass

STYLE = """
:root { color-scheme: light dark; --fg: #1b1b1f; --bg: #ffffff; --muted: #5a5a66;
  --rule: #d8d8e0; --panel: #f4f4f8; --ok: #17692e; --bad: #a3141b; }
@media (prefers-color-scheme: dark) {
  :root { --fg: #e6e6ea; --bg: #15161a; --muted: #a4a4b0; --rule: #3a3b44;
    --panel: #1f2026; --ok: #6fd08c; --bad: #ff8a8f; }
  figure img { background: #ffffff; }
}
body { font: 16px/1.5 system-ui, sans-serif; color: var(--fg); background: var(--bg);
  max-width: 62rem; margin: 0 auto; padding: 1rem 1.5rem 4rem; }
h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid var(--rule); padding-top: 1rem; }
nav { background: var(--panel); padding: .5rem 1rem; border-radius: 6px; }
nav ol { margin: .25rem 0; } a { color: inherit; }
math { font-family: "STIX Two Math", "Latin Modern Math", "Cambria Math",
  "DejaVu Math TeX Gyre", math; }  /* fonts with a MATH table: brackets stretch */
math[display="block"] { margin: .4rem 0; overflow-x: auto; overflow-y: hidden; }
.eq { overflow-x: auto; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .9rem; }
th, td { border: 1px solid var(--rule); padding: .2rem .5rem; text-align: left;
  vertical-align: top; }
th { background: var(--panel); }
pre { background: var(--panel); padding: .6rem; overflow-x: auto; font-size: .8rem; }
figure { margin: 1rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: .85rem; }
.ok { color: var(--ok); font-weight: 600; } .bad { color: var(--bad); font-weight: 600; }
.muted { color: var(--muted); }
@media print {
  :root { --fg: #000; --bg: #fff; --panel: #f2f2f2; --rule: #999; }
  body { max-width: none; font-size: 11pt; padding: 0; } nav { display: none; }
  h2 { break-after: avoid; } figure, table, math { break-inside: avoid; }
  a { text-decoration: none; }
}
"""


@dataclass
class Section:
    """One ``<section>``: its anchor, heading and HTML body."""

    anchor: str
    title: str
    body: str


def esc(text) -> str:
    return html.escape(str(text))


def pre(text: str) -> str:
    return f"<pre>{esc(text)}</pre>"


def details(summary: str, body: str) -> str:
    return f"<details><summary>{esc(summary)}</summary>{body}</details>"


def paragraph(text: str) -> str:
    return f"<p>{esc(text)}</p>"


def table(headers, rows, caption: str | None = None) -> str:
    """A table; the cells of ``rows`` are HTML already (escape text with :func:`esc`)."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    title = f"<caption>{esc(caption)}</caption>" if caption else ""
    return f"<table>{title}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def verdict(ok) -> str:
    if ok is None:
        return '<span class="muted">n/a</span>'
    return '<span class="ok">yes</span>' if ok else '<span class="bad">no</span>'


def page(title: str, subtitle: str, sections: list[Section]) -> str:
    """The whole document: a heading, the table of contents and every section."""
    toc = "".join(f'<li><a href="#{s.anchor}">{esc(s.title)}</a></li>' for s in sections)
    body = "".join(f'<section id="{s.anchor}" aria-labelledby="{s.anchor}-h">'
                   f'<h2 id="{s.anchor}-h">{esc(s.title)}</h2>{s.body}</section>'
                   for s in sections)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<meta name="color-scheme" content="light dark">'
            f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
            f"<header><h1>{esc(title)}</h1><p class=\"muted\">{esc(subtitle)}</p></header>"
            f'<nav aria-label="Contents"><strong>Contents</strong><ol>{toc}</ol></nav>'
            f"<main>{body}</main></body></html>\n")
