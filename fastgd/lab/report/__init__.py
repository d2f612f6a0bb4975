"""fastgd.lab.report: one self-contained HTML page (plus Markdown and PNG files) of experiments.

:class:`Report` collects sections of text, tables and figures; :meth:`Report.write` puts
``report.html`` (figures embedded as base64 PNG, each linked to its file, so the page
works when moved alone), ``report.md`` (the same numbers as Markdown tables) and one PNG
per figure in a folder. Figures need matplotlib; without it the report holds the numbers
and says how to get the pictures. :func:`fastgd.lab.report.demo.run_demo` fills one with
every diagnostic (``python -m fastgd demo``).
"""
import base64
import html
import os
import re
from dataclasses import dataclass, field

__all__ = ["Report", "Table", "format_table", "fmt", "PLOT_HINT"]

PLOT_HINT = "matplotlib is not installed: no figures. Get them with: pip install fastgd[plot]"


def fmt(v, digits=4):
    """A number for a table: ints as is, floats to ``digits`` significant digits,
    None as '-'."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
            return f"{v:.{max(digits - 1, 1)}e}"
        return f"{v:.{digits}g}"
    return str(v)


@dataclass
class Table:
    headers: list
    rows: list
    caption: str = ""

    def cells(self):
        return [[fmt(v) for v in row] for row in self.rows]


def format_table(headers, rows, indent="  "):
    """Plain-text table with aligned columns (numbers right-aligned)."""
    cells = [[fmt(v) for v in row] for row in rows]
    widths = [max([len(str(h))] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [all(isinstance(row[i], (int, float)) or row[i] is None for row in rows)
               for i in range(len(headers))]

    def line(vals):
        return indent + "  ".join(v.rjust(w) if num else v.ljust(w)
                                  for v, w, num in zip(vals, widths, numeric)).rstrip()
    out = [line([str(h) for h in headers]), indent + "  ".join("-" * w for w in widths)]
    return "\n".join(out + [line(r) for r in cells])


@dataclass
class _Figure:
    name: str          # file name, ends in .png
    png: bytes
    caption: str


@dataclass
class _Section:
    title: str
    items: list = field(default_factory=list)   # str (paragraph), Table or _Figure


class Report:
    """Sections of paragraphs, tables and figures, written as HTML + Markdown + PNGs."""

    def __init__(self, title):
        self.title = title
        self.sections = []

    def section(self, title):
        self.sections.append(_Section(title))
        return self

    def _current(self):
        if not self.sections:
            self.section(self.title)
        return self.sections[-1]

    def paragraph(self, text):
        self._current().items.append(str(text))
        return self

    def table(self, headers, rows, caption=""):
        self._current().items.append(Table(list(headers), [list(r) for r in rows], caption))
        return self

    def figure(self, name, png, caption=""):
        """Add a figure: ``png`` is PNG bytes (see fastgd.lab.diagnostics.plots.png_bytes)."""
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
        name = name if name.endswith(".png") else name + ".png"
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise ValueError(f"figure {name!r}: not PNG data")
        self._current().items.append(_Figure(name, bytes(png), caption))
        return self

    @property
    def figures(self):
        return [it for s in self.sections for it in s.items if isinstance(it, _Figure)]

    def write(self, out_dir):
        """Write report.html, report.md and the PNGs into ``out_dir`` (created if needed);
        returns ``{"html": path, "markdown": path, "figures": [paths]}``."""
        os.makedirs(out_dir, exist_ok=True)
        figs = []
        for f in self.figures:
            path = os.path.join(out_dir, f.name)
            with open(path, "wb") as fh:
                fh.write(f.png)
            figs.append(path)
        html_path = os.path.join(out_dir, "report.html")
        md_path = os.path.join(out_dir, "report.md")
        with open(html_path, "w", encoding="utf-8") as fh:
            fh.write(self.to_html())
        with open(md_path, "w", encoding="utf-8") as fh:
            fh.write(self.to_markdown())
        return {"html": html_path, "markdown": md_path, "figures": figs}

    # ---------------------------------------------------------------- rendering
    def to_html(self):
        e = html.escape
        out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
               f"<title>{e(self.title)}</title>", f"<style>{_CSS}</style></head><body>",
               f"<h1>{e(self.title)}</h1>"]
        for s in self.sections:
            out.append(f"<h2>{e(s.title)}</h2>")
            for it in s.items:
                if isinstance(it, Table):
                    out.append("<table>" + (f"<caption>{e(it.caption)}</caption>"
                                            if it.caption else ""))
                    out.append("<tr>" + "".join(f"<th>{e(str(h))}</th>" for h in it.headers)
                               + "</tr>")
                    for row in it.cells():
                        out.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>")
                    out.append("</table>")
                elif isinstance(it, _Figure):
                    data = base64.b64encode(it.png).decode("ascii")
                    out.append(f'<figure><a href="{e(it.name)}"><img alt="{e(it.caption)}" '
                               f'src="data:image/png;base64,{data}"></a>'
                               f"<figcaption>{e(it.caption)} ({e(it.name)})</figcaption>"
                               "</figure>")
                else:
                    out.append(f"<p>{e(it)}</p>")
        out.append("</body></html>\n")
        return "\n".join(out)

    def to_markdown(self):
        out = [f"# {self.title}", ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            for it in s.items:
                if isinstance(it, Table):
                    if it.caption:
                        out += [f"*{it.caption}*", ""]
                    out.append("| " + " | ".join(str(h).replace("|", "\\|")
                                                 for h in it.headers) + " |")
                    out.append("|" + "|".join("---" for _ in it.headers) + "|")
                    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |"
                            for row in it.cells()]
                    out.append("")
                elif isinstance(it, _Figure):
                    out += [f"![{it.caption}]({it.name})", ""]
                else:
                    out += [it, ""]
        return "\n".join(out)


_CSS = ("body{font-family:system-ui,sans-serif;max-width:1150px;margin:2em auto;"
        "padding:0 1em;color:#222}table{border-collapse:collapse;margin:1em 0}"
        "td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}"
        "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}"
        "caption{caption-side:top;text-align:left;font-style:italic;padding:.3em 0}"
        "img{max-width:100%}figure{margin:1em 0}figcaption{color:#555;font-size:.9em}")
