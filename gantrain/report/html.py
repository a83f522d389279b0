"""One self-contained HTML page of a report (``gantrain-report --html``, ``zoo report --html``).

The page holds its tables (sorted by clicking a header: a few lines of inline script), its figures
(embedded as base64 data URIs), and whatever other sections its caller renders (the runs, their
config differences: ``gantrain.report.html_runs``). It loads nothing: its Content-Security-Policy
allows only data: images and the page's own style and script, named by their hashes, so a stray
``<script>`` in a run's name could not run even if it were not escaped (it is: every text goes
through ``html.escape``).
"""
from __future__ import annotations

import base64
import hashlib
import html
import os
from dataclasses import dataclass, field
from pathlib import Path

MIME = {".png": "image/png", ".gif": "image/gif", ".jpg": "image/jpeg", ".jpeg": "image/jpeg"}


@dataclass
class Cell:
    """A table cell: its text, optionally a link (``href``, already relative) and a CSS class."""
    text: str
    href: str = ""
    cls: str = ""


@dataclass
class Table:
    """A sortable table: a title, header names, rows of cells (str or Cell) and notes under it."""
    title: str
    header: list[str]
    rows: list[list[str | Cell]]
    notes: list[str] = field(default_factory=list)


@dataclass
class Figure:
    """An image file of the report and its caption."""
    name: str
    path: Path
    caption: str = ""


def esc(text: object) -> str:
    """Escape for HTML text and attribute values.

    Args:
        text: anything; its ``str``.

    Returns:
        The text with ``& < > " '`` escaped.
    """
    return html.escape(str(text), quote=True)


def cell_html(cell: str | Cell) -> str:
    """One table cell.

    Args:
        cell: plain text, or a Cell (with ``href``: a link; with ``cls``: a CSS class).

    Returns:
        The ``<td>`` element, its text escaped.
    """
    if not isinstance(cell, Cell):
        return f"<td>{esc(cell)}</td>"
    inner = f'<a href="{esc(cell.href)}">{esc(cell.text)}</a>' if cell.href else esc(cell.text)
    cls = f' class="{esc(cell.cls)}"' if cell.cls else ""
    return f"<td{cls}>{inner}</td>"


def table_html(table: Table) -> str:
    """A table as a titled, sortable ``<table>`` with its notes under it.

    Args:
        table: what to show.

    Returns:
        The HTML fragment.
    """
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in table.header)
    body = "\n".join("<tr>" + "".join(cell_html(c) for c in row) + "</tr>" for row in table.rows)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in table.notes if n)
    return (f"<h3>{esc(table.title)}</h3>\n<div class=\"scroll\"><table class=\"sortable\">"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></div>\n{notes}")


def data_uri(path: Path) -> str:
    """A file as a base64 data URI (its type from its suffix).

    Args:
        path: an image file (.png, .gif, .jpg).

    Returns:
        ``data:<type>;base64,...``. OSError when the file cannot be read.
    """
    mime = MIME.get(Path(path).suffix.lower(), "application/octet-stream")
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def figures_html(figures: list[Figure], skipped: dict[str, str]) -> str:
    """Every figure embedded with its caption, then the figures not made and why.

    Args:
        figures: the figures drawn.
        skipped: figure name -> why it was not made.

    Returns:
        The HTML fragment.
    """
    parts = []
    for fig in figures:
        try:
            src = data_uri(fig.path)
        except OSError as e:      # a file gone since it was drawn costs only its own picture
            skipped = {**skipped, fig.name: f"could not be read: {e.strerror or e}"}
            continue
        parts.append(f'<figure id="fig-{esc(fig.name)}"><img src="{src}" alt="{esc(fig.name)}">'
                     f"<figcaption><strong>{esc(fig.name)}</strong>"
                     f"{': ' + esc(fig.caption) if fig.caption else ''}</figcaption></figure>")
    if skipped:
        parts.append("<ul class=\"skipped\">" + "".join(
            f"<li>{esc(name)} not made: {esc(why)}</li>" for name, why in skipped.items()) + "</ul>")
    return "\n".join(parts) or "<p>None apply to these runs.</p>"


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 1400px;
       padding: 0 1em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { border-bottom: 1px solid #ccc; margin-top: 2em; }
nav a { margin-right: 1em; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .5em 0; font-size: 13px; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: left; vertical-align: top; }
thead th { background: #eef1f5; cursor: pointer; user-select: none; position: sticky; top: 0; }
thead th:hover { background: #dde4ee; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
tbody tr:nth-child(even) { background: #f8f9fb; }
td.completed, td.done { color: #17692b; } td.resumed { color: #1f4e9c; }
td.diverged { color: #a05a00; } td.failed, td.refused { color: #b3261e; font-weight: 600; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; border: 1px solid #ddd; }
figcaption { font-size: 13px; color: #444; max-width: 60em; }
.note { font-size: 13px; color: #444; max-width: 70em; } .warning { color: #b3261e; }
"""

# Sorts a table by the clicked column: numbers (a cell's leading number, "0.12 ± 0.01" -> 0.12)
# before text, empty cells and "—" last either way; clicking again reverses. Stable (ties keep
# their order), so sorting by one column then another groups as a user expects.
SCRIPT = """
(function () {
  "use strict";
  var collator = new Intl.Collator(undefined, {numeric: true, sensitivity: "base"});
  function sortKey(cell) {
    var text = cell ? cell.textContent.trim() : "";
    if (text === "" || text === "\\u2014") { return [2, 0, ""]; }
    var bare = text.replace(/^\\u2248/, "");   // "≈2.1 ± 0.3": an estimated number is a number
    var num = parseFloat(bare);
    if (/^[-+]?(\\d|\\.\\d)/.test(bare) && isFinite(num)) { return [0, num, text]; }
    return [1, 0, text];
  }
  function sortTable(table, col, th) {
    var body = table.tBodies[0];
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var keyed = Array.prototype.map.call(body.rows, function (row, i) {
      return {row: row, key: sortKey(row.cells[col]), i: i};
    });
    keyed.sort(function (a, b) {
      if (a.key[0] !== b.key[0]) { return a.key[0] - b.key[0]; }
      var c = a.key[0] === 0 ? a.key[1] - b.key[1] : collator.compare(a.key[2], b.key[2]);
      if (c === 0) { return a.i - b.i; }
      return ascending ? c : -c;
    });
    keyed.forEach(function (k) { body.appendChild(k.row); });
    Array.prototype.forEach.call(th.parentNode.cells, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.title = "sort by this column (again: reverse)";
      th.addEventListener("click", function () { sortTable(table, col, th); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortTable(table, col, th); }
      });
    });
  });
  document.body.setAttribute("data-ready", "1");
})();
"""


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def page(title: str, intro: list[str], sections: list[tuple[str, str, str]]) -> str:
    """The whole page.

    Args:
        title: the page's title and heading (plain text).
        intro: paragraphs under the heading (plain text).
        sections: (anchor id, heading, HTML fragment) in order; each gets a link in the page's nav.

    Returns:
        The HTML document.
    """
    csp = (f"default-src 'none'; img-src data:; style-src {_hash(STYLE)}; "
           f"script-src {_hash(SCRIPT)}; base-uri 'none'; form-action 'none'")
    nav = "".join(f'<a href="#{esc(a)}">{esc(h)}</a>' for a, h, _ in sections)
    body = "\n".join(f'<section id="{esc(a)}"><h2>{esc(h)}</h2>\n{frag}\n</section>'
                     for a, h, frag in sections)
    paras = "".join(f"<p>{esc(p)}</p>" for p in intro)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{csp}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<link rel=\"icon\" href=\"data:,\">\n"
            f"<title>{esc(title)}</title>\n<style>{STYLE}</style></head>\n<body>\n"
            f"<h1>{esc(title)}</h1>\n{paras}\n<nav>{nav}</nav>\n{body}\n"
            f"<p class=\"note\">Written by gantrain-report --html: one file, nothing loaded from "
            f"elsewhere.</p>\n<script>{SCRIPT}</script>\n</body></html>\n")


def write_page(path: Path, text: str) -> Path:
    """Write the page whole or not at all: a temporary file renamed over ``path``, so a failed
    write leaves the previous report as it was.

    Args:
        path: where report.html goes.
        text: the document.

    Returns:
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path
