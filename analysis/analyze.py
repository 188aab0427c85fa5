"""`analyze(results_dir)`: load a results folder, fit everything, write figures, tables and the report."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from analysis.figures import make_figures
from analysis.lr_calibration import calibrate
from analysis.lr_optimum import scan_points
from analysis.pipeline import AnalysisOptions, run_analysis
from analysis.report import write_report
from analysis.report_calibration import build_calibration_report
from analysis.report_sections import build_report
from analysis.table import N_COUNTINGS, TableError, load_table
from harness.store import curves_frame, read_runs, runs_frame


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


def analyze(results_dir: str | os.PathLike, options: AnalysisOptions | None = None,
            on_error: str = "raise") -> AnalysisOutputs:
    """Regenerate RESULTS_DIR/analysis/ (report.md, report.html, PNG+PDF figures, CSV tables) from parquet.

    Run files are read once, so a sweep still writing into the folder cannot make the runs and the
    curves disagree; its temp files are never read. on_error='skip' leaves unreadable run files out
    and names them in the report instead of raising ResultsError.
    """
    results_dir = Path(results_dir)
    unreadable: list[str] = []
    read = read_runs(results_dir, on_error, unreadable)
    runs = runs_frame(read)
    if runs.empty:
        raise NoRunsError(f"results_dir={str(results_dir)!r}: no run files under {results_dir / 'runs'}; "
                          "expected runs/<run_id>.parquet written by harness.store.write_run")
    out_dir = results_dir / "analysis"
    if len(scan_points(runs)) == len(runs):  # an lr_sweep folder: its calibration, no scaling laws
        calibration = calibrate(runs, (options or AnalysisOptions()).seed)
        report, pngs = build_calibration_report(calibration, runs, out_dir)
        md, page, tables = write_report(report, out_dir, f"scalinglab calibration of {results_dir}")
        return AnalysisOutputs(md, page, pngs, tables, [])
    analysis = run_analysis(runs, curves_frame(read), options)  # calibrates a mixed folder's rate scans, once
    analysis.unreadable = unreadable
    figures, skipped = make_figures(analysis, out_dir)
    report = build_report(analysis, figures, skipped)
    md, page, tables = write_report(report, out_dir, f"scalinglab analysis of {results_dir}")
    return AnalysisOutputs(md, page, [png for png, _ in figures], tables, skipped)


def analyze_table(table_path: str | os.PathLike, out_dir: str | os.PathLike, n_counting: str = "non_embedding",
                  family: str | None = None, options: AnalysisOptions | None = None) -> AnalysisOutputs:
    """The same report, tables and figures for a points table (analysis.table): every fit its columns allow.

    The table is read and checked before anything is written; a bad table raises TableError naming the
    column and the row. `n_counting` says what the table's N counts (analysis.table.N_COUNTINGS).
    """
    if n_counting not in N_COUNTINGS:
        raise TableError(f"n_counting={n_counting!r}: expected one of {N_COUNTINGS}")
    runs, curves = load_table(table_path, family)
    analysis = run_analysis(runs, curves, options)
    analysis.source = (f"Points table {Path(table_path).name}" + (f", family {family}" if family else "")
                       + f": {len(runs)} points; N counts {n_counting} parameters (as the table says), C = 6·N·D"
                       + (" (6n) and the table's compute column (exact)" if "flops_per_token_exact" in runs
                          else " (6n)")
                       + "; each point is a run's final loss, so there are no learning curves.")
    out_dir = Path(out_dir)
    figures, skipped = make_figures(analysis, out_dir)
    report = build_report(analysis, figures, skipped)
    md, page, tables = write_report(report, out_dir, f"scalinglab analysis of {Path(table_path).name}")
    return AnalysisOutputs(md, page, [png for png, _ in figures], tables, skipped)
