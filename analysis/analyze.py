"""`analyze(results_dir)`: load a results folder, fit everything, write figures, tables and the report."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analysis.figures import make_figures
from analysis.pipeline import AnalysisOptions, run_analysis
from analysis.report import write_report
from analysis.report_sections import build_report
from harness.store import load_curves, load_runs


class NoRunsError(RuntimeError):
    """The results folder holds no run files."""


@dataclass
class AnalysisOutputs:
    """Where `analyze` wrote things."""

    report_md: Path
    report_html: Path
    figures: list[Path]
    tables: list[Path]
    skipped: list[tuple[str, str]]


def analyze(results_dir: str | os.PathLike, options: AnalysisOptions | None = None) -> AnalysisOutputs:
    """Regenerate RESULTS_DIR/analysis/ (report.md, report.html, PNG+PDF figures, CSV tables) from parquet."""
    results_dir = Path(results_dir)
    runs = load_runs(results_dir)
    if runs.empty:
        raise NoRunsError(f"results_dir={str(results_dir)!r}: no run files under {results_dir / 'runs'}; "
                          "expected runs/<run_id>.parquet written by harness.store.write_run")
    out_dir = results_dir / "analysis"
    analysis = run_analysis(runs, load_curves(results_dir), options)
    figures, skipped = make_figures(analysis, out_dir)
    report = build_report(analysis, figures, skipped)
    md, page, tables = write_report(report, out_dir, f"scalinglab analysis of {results_dir}")
    return AnalysisOutputs(md, page, [png for png, _ in figures], tables, skipped)
