"""The report's sections on architecture families and on the equivalence verdict for shapes and families."""
from __future__ import annotations

from analysis.families import BASELINE_FAMILY
from analysis.pipeline import Analysis
from analysis.report import Report


def shape_verdict_section(report: Report, analysis: Analysis) -> None:
    """Per fixed-N group of arch_shape: the worst shape's excess over the best and the equivalence verdict."""
    table = analysis.shape_verdicts
    if table is None or table.empty:
        return
    report.text(f"Equivalence of shapes at fixed N within ±{100 * analysis.options.equivalence_tolerance:g}% "
                "(95% intervals from seed replicates, or from the held-out windows' standard error of a single run):")
    report.table(table, "architecture_shape_verdict")


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
