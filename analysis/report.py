"""The report as a list of blocks, rendered to Markdown and to self-contained HTML with the same content."""
from __future__ import annotations

import base64
import html
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

SIGNIFICANT_DIGITS = 4


@dataclass
class Report:
    """Ordered report content: headings, paragraphs, bullet lists, tables (also saved as CSV), figures."""

    blocks: list[tuple] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", level, text))

    def text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def bullets(self, items: list[str]) -> None:
        if items:
            self.blocks.append(("bullets", list(items)))

    def table(self, frame: pd.DataFrame, csv_name: str | None = None) -> None:
        self.blocks.append(("table", frame.reset_index(drop=True), csv_name))

    def figure(self, png: Path, caption: str) -> None:
        self.blocks.append(("figure", Path(png), caption))


def fmt(value) -> str:
    """A table cell: numbers to 4 significant digits, NaN as an em dash, intervals as [lo, hi]."""
    if isinstance(value, tuple):
        return f"[{fmt(value[0])}, {fmt(value[1])}]" if not any(map(_is_nan, value)) else "—"
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, (int, float)) or hasattr(value, "dtype"):
        return "—" if _is_nan(value) else f"{value:.{SIGNIFICANT_DIGITS}g}"
    return str(value)


def _is_nan(value) -> bool:
    try:
        return math.isnan(float(value))
    except (TypeError, ValueError):
        return False


def _markdown_table(frame: pd.DataFrame) -> str:
    cells = [[fmt(v).replace("|", "\\|").replace("\n", " ") for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])


def to_markdown(report: Report, relative_to: Path) -> str:
    """Markdown text; figures linked relative to the report's folder."""
    parts = []
    for block in report.blocks:
        kind = block[0]
        if kind == "heading":
            parts.append("#" * block[1] + " " + block[2])
        elif kind == "text":
            parts.append(block[1])
        elif kind == "bullets":
            parts.append("\n".join(f"- {item}" for item in block[1]))
        elif kind == "table":
            parts.append(_markdown_table(block[1]) if len(block[1]) else "_(empty)_")
        elif kind == "figure":
            parts.append(f"![{block[2]}]({block[1].relative_to(relative_to).as_posix()})\n\n*{block[2]}*")
    return "\n\n".join(parts) + "\n"


def _html_table(frame: pd.DataFrame) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(v))}</td>" for v in row) + "</tr>"
                   for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def to_html(report: Report, title: str) -> str:
    """Self-contained HTML: the same blocks, figures embedded as base64 PNG."""
    parts = []
    for block in report.blocks:
        kind = block[0]
        if kind == "heading":
            parts.append(f"<h{block[1]}>{html.escape(block[2])}</h{block[1]}>")
        elif kind == "text":
            parts.append(f"<p>{html.escape(block[1])}</p>")
        elif kind == "bullets":
            parts.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in block[1]) + "</ul>")
        elif kind == "table":
            parts.append(_html_table(block[1]) if len(block[1]) else "<p><em>(empty)</em></p>")
        elif kind == "figure":
            data = base64.b64encode(block[1].read_bytes()).decode()
            parts.append(f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(block[2])}">'
                         f"<figcaption>{html.escape(block[2])}</figcaption></figure>")
    style = ("body{font-family:sans-serif;max-width:1200px;margin:auto}table{border-collapse:collapse;"
             "font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px}img{max-width:100%}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")


def write_report(report: Report, out_dir: Path, title: str) -> tuple[Path, Path, list[Path]]:
    """report.md, report.html and one CSV per named table under out_dir."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csvs = []
    for block in report.blocks:
        if block[0] == "table" and block[2]:
            csvs.append(out_dir / f"{block[2]}.csv")
            block[1].to_csv(csvs[-1], index=False)
    md, page = out_dir / "report.md", out_dir / "report.html"
    md.write_text(to_markdown(report, out_dir))
    page.write_text(to_html(report, title))
    return md, page, csvs
