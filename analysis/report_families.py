"""The report's sections on architecture: shapes at fixed N (Kaplan 2020 Fig. 5) and model families (Fig. 7)."""
from __future__ import annotations

import pandas as pd

from analysis.architecture import SPREAD_DRAWS, architecture_verdict
from analysis.architecture_series import range_statements
from analysis.families import BASELINE_FAMILY
from analysis.pipeline import Analysis
from analysis.report import Report


def architecture_section(report: Report, analysis: Analysis) -> None:
    """Per fixed-N group of arch_shape: the spread with its interval, each shape over the best, and where the
    spread along each Fig. 5 series stays within the tolerance and where it breaks."""
    report.heading("Architecture independence")
    summary = analysis.architecture
    if summary is None:
        report.text(architecture_verdict(pd.DataFrame(), analysis.options.equivalence_tolerance))
        return
    report.text(architecture_verdict(summary.spread, summary.tolerance))
    report.text(f"Loss divided by the L(N) fit at each run's own N, averaged over seeds per shape; spread = worst "
                f"shape over the best, minus one. 95% intervals: {SPREAD_DRAWS} redraws of the shape means "
                "(docs/analysis.md). Verdict at the tolerance: the interval inside it 'equivalent', wholly above "
                "it 'different', across it 'not resolved by this sweep'.")
    report.table(summary.spread, "architecture_spread")
    report.text("Where the spread stays within the tolerance along each series (the largest contiguous range of "
                "the attribute), and each shape outside it over the group's best shape:")
    report.bullets(range_statements(summary))
    report.table(summary.ranges, "architecture_ranges")
    columns = ["group", "shape", "n_seeds", "final_test_loss", "rel_pct", "rel_95"]
    report.table(summary.shapes[columns], "architecture_shapes")


def families_section(report: Report, analysis: Analysis) -> None:
    """L(N) per family, differences from gpt2 with bootstrap intervals, and the verdict per family."""
    report.heading("Architecture families (Kaplan 2020 Fig. 7)")
    if analysis.families is None:
        report.text("No runs with grid=='families': families not compared (run sweep=families).")
        return
    tol = 100 * analysis.options.equivalence_tolerance
    report.text(f"L(N) = (N_c/N)^α_N per family on the families grid (final test loss, seed means); 95% "
                f"bootstrap intervals over runs ({analysis.options.n_boot} refits).")
    report.table(analysis.families, "family_fits")
    differences = analysis.family_differences
    if differences is None or differences.empty:
        report.text(f"No converged {BASELINE_FAMILY} fit to compare the other families with.")
        return
    report.text(f"Differences from {BASELINE_FAMILY}: exponents, and relative loss L_family(N)/L_gpt2(N) − 1 "
                f"from the two fits at each {BASELINE_FAMILY} size, each family's runs resampled independently. "
                f"Verdict at tolerance ±{tol:g}%: the 95% interval inside the band is 'equivalent', wholly outside "
                "it 'different', across an edge 'not resolved by this sweep'.")
    report.table(differences, "family_differences")
