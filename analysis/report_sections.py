"""What the report says: every table and sentence, built from an Analysis."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from analysis import published as pub
from analysis.branches import is_branch, schedule_of, shared_rows_differ
from analysis.data import MIN_SEEDS_FOR_OWN_VARIANCE, pooled_sd_log
from analysis.per_size import MIN_BUDGETS
from analysis.pipeline import Analysis
from analysis.report import Report
from analysis.report_calibration import calibration_section
from analysis.report_families import architecture_section, families_section
from analysis.result import FitResult
from analysis.targets import target_table

# (quantity, fit key, parameter, published value, source); the published values live in analysis.published
EXPONENT_ROWS = (
    ("α_N", "L(N)", "alpha_N", pub.KAPLAN_ALPHA_N, "Kaplan 2020 eq. 1.1"),
    ("α_N (with L∞)", "L(N)+L_inf", "alpha_N", pub.KAPLAN_ALPHA_N, "Kaplan 2020 eq. 1.1"),
    ("L∞", "L(N)+L_inf", "L_inf", math.nan, ""),
    ("α_D", "L(D)", "alpha_D", pub.KAPLAN_ALPHA_D, "Kaplan 2020 eq. 1.2"),
    ("α_N (eq. 1.5)", "L(N,D) Kaplan", "alpha_N", pub.KAPLAN_ND_ALPHA_N, "Kaplan 2020 Table 2"),
    ("α_D (eq. 1.5)", "L(N,D) Kaplan", "alpha_D", pub.KAPLAN_ND_ALPHA_D, "Kaplan 2020 Table 2"),
    ("E", "Chinchilla", "E", pub.CHINCHILLA_E, "Hoffmann 2022 eq. 10"),
    ("α (Chinchilla)", "Chinchilla", "alpha", pub.CHINCHILLA_ALPHA, "Hoffmann 2022 eq. 10"),
    ("β (Chinchilla)", "Chinchilla", "beta", pub.CHINCHILLA_BETA, "Hoffmann 2022 eq. 10"),
    ("a = β/(α+β)", "Chinchilla", "a_from_fit", pub.CHINCHILLA_PARAMETRIC_A, "Hoffmann 2022 Table 2, approach 3"),
    ("b = α/(α+β)", "Chinchilla", "b_from_fit", pub.CHINCHILLA_PARAMETRIC_B, "Hoffmann 2022 Table 2, approach 3"),
)


def exponent_row(quantity: str, fit: FitResult | None, key: str, published: float, source: str) -> dict:
    """One line of an exponent table: value, 95% interval, bootstrap standard error, published value, R², status,
    notes."""
    if fit is None:
        return {"quantity": quantity, "value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "se": math.nan,
                "published": published, "source": source, "r2_log": math.nan, "converged": False,
                "notes": "no data for this fit"}
    low, high = fit.interval(key)
    se = fit.std_error(key)
    r2 = fit.extra.get("r2_log_of", {}).get(key, fit.r2_log)  # a parameter from its own regression has its own R²
    return {"quantity": quantity, "value": fit.params.get(key, math.nan), "ci_low": low, "ci_high": high, "se": se,
            "published": published, "source": source, "r2_log": r2, "converged": fit.converged,
            "notes": fit.notes()}


def exponent_table(analysis: Analysis) -> pd.DataFrame:
    """The headline exponents beside Kaplan's and Chinchilla's published values."""
    rows = [exponent_row(q, analysis.fits.get(f), k, p, s) for q, f, k, p, s in EXPONENT_ROWS]
    conv = analysis.options.compute
    rows.append(exponent_row(f"α_C ({conv})", analysis.frontiers.get(conv), "alpha_C", pub.KAPLAN_ALPHA_C_MIN,
                             "Kaplan 2020 eq. 1.3"))
    rows.append(exponent_row(f"N_opt ∝ C^a, frontier: envelope of curves ({conv})", analysis.frontiers.get(conv),
                             "a_Nopt", pub.KAPLAN_N_OPT_EXPONENT, "Kaplan 2020 eq. 1.7"))
    final = analysis.final_frontiers.get(conv)
    rows.append(exponent_row(f"α_C, frontier: final points ({conv})", final, "alpha_C", pub.KAPLAN_ALPHA_C_MIN,
                             "Kaplan 2020 eq. 1.3"))
    rows.append(exponent_row(f"N_opt ∝ C^a, frontier: final points ({conv})", final, "a_Nopt",
                             pub.CHINCHILLA_ISOFLOP_A, "Hoffmann 2022 Table 2; Porian 2024"))
    rows.append(exponent_row("a (IsoFLOP)", analysis.isoflops.get("6n"), "a", pub.CHINCHILLA_ISOFLOP_A,
                             "Hoffmann 2022 Table 2, approach 2"))
    rows.append(exponent_row("b (IsoFLOP)", analysis.isoflops.get("6n"), "b", pub.CHINCHILLA_ISOFLOP_B,
                             "Hoffmann 2022 Table 2, approach 2"))
    return pd.DataFrame(rows)


def convention_table(analysis: Analysis) -> pd.DataFrame:
    """α_C (envelope of curves), a from the envelope, from final points and from IsoFLOP under every compute
    convention."""
    rows = []
    nothing = FitResult.failed("", "", [])
    for conv in analysis.final_frontiers:
        frontier, iso = analysis.frontiers.get(conv, nothing), analysis.isoflops.get(conv, nothing)
        final = analysis.final_frontiers[conv]
        rows.append({"convention": conv, "alpha_C": frontier.params.get("alpha_C", math.nan),
                     "alpha_C_ci": frontier.interval("alpha_C"), "a_frontier": frontier.params.get("a_Nopt", math.nan),
                     "a_frontier_ci": frontier.interval("a_Nopt"),
                     "a_final": final.params["a_Nopt"], "a_final_ci": final.interval("a_Nopt"),
                     "a_isoflop": iso.params.get("a", math.nan), "a_isoflop_ci": iso.interval("a"),
                     "notes": "; ".join(f"{label}: {fit.notes()}" for label, fit in
                                        (("envelope", frontier), ("final points", final), ("IsoFLOP", iso))
                                        if fit is not nothing)})
    table = pd.DataFrame(rows)
    for column in [c for c in table.columns if c.endswith("_ci")]:
        table[column] = table[column].map(lambda ci: f"[{ci[0]:.4g}, {ci[1]:.4g}]")
    return table


def truth_rows(analysis: Analysis) -> list[str]:
    """Fitted irreducible losses against the corpus's known entropy rate, when it is known."""
    rates = analysis.runs.get("corpus_entropy_rate_nats", pd.Series(dtype=float)).astype(float)
    rates = rates[np.isfinite(rates)]
    if rates.empty:
        return []
    truth = float(rates.median())
    lines = [f"known entropy rate of the synthetic corpus: {truth:.4f} nats/token"]
    for label, fit, key in (("L∞ of L(N)+L∞", analysis.fits["L(N)+L_inf"], "L_inf"),
                            ("E of Chinchilla", analysis.fits["Chinchilla"], "E")):
        value = fit.params.get(key, math.nan)
        verdict = f"{value:.4f} ({100 * (value / truth - 1):+.2f}% vs truth)" if fit.ok else f"no fit: {fit.message}"
        lines.append(f"{label}: {verdict}")
    lines.append("L∞ of L(N) is fitted at the n_grid's finite D, so it also holds the data term B/D^β; "
                 "E of the joint fit is the estimate comparable with the entropy rate.")
    return lines


def comparison_verdict(table: pd.DataFrame) -> str:
    """Which joint form predicts held-out runs better under each scheme."""
    lines = []
    for scheme, rows in table.groupby("scheme", sort=False):
        rows = rows.dropna(subset=["rmse_log"])
        if len(rows) < 2:
            lines.append(f"{scheme}: not enough successful fits to compare")
            continue
        best = rows.loc[rows["rmse_log"].idxmin()]
        lines.append(f"{scheme}: {best['model']} predicts held-out runs better (RMSE of log loss "
                     f"{best['rmse_log']:.4g} vs {rows['rmse_log'].max():.4g})")
    return "; ".join(lines)


def noise_text(noise: pd.DataFrame) -> str:
    """Run-to-run noise from seed replicates in one sentence."""
    if noise is None or noise.empty:
        return "no seed replicates (runs sharing a grid point): run-to-run noise unknown; fits are unweighted."
    pooled = pooled_sd_log(noise["n_seeds"].to_numpy(), noise["sd_log"].to_numpy())
    return (f"{len(noise)} grid points have seed replicates; pooled run-to-run sd of log loss "
            f"{pooled:.4g} (≈{100 * math.expm1(pooled):.3g}% of the loss). L(N), L(D) and the IsoFLOP parabolas "
            "weight each point's seed mean by its inverse variance when every point of that fit has "
            f"≥ {MIN_SEEDS_FOR_OWN_VARIANCE} seeds, otherwise by its number of seeds; the joint fits (every run) and the "
            "frontier (its envelope points) are unweighted.")


def _all_fits(analysis: Analysis) -> dict[str, FitResult]:
    return {**analysis.fits, **{f"L(C_min) [{c}]": f for c, f in analysis.frontiers.items()},
            **{f"L(C_min) final points [{c}]": f for c, f in analysis.final_frontiers.items()},
            **{f"IsoFLOP [{c}]": f for c, f in analysis.isoflops.items()}}


def bootstrap_text(analysis: Analysis) -> str:
    """How many bootstrap refits each fit's intervals come from (the joint fits use fewer)."""
    by_count: dict[int, list[str]] = {}
    for name, fit in _all_fits(analysis).items():
        if "n_boot" in fit.extra:
            by_count.setdefault(fit.extra["n_boot"], []).append(name)
    if not by_count:
        return "no bootstrap intervals"
    return "; ".join(f"{count} bootstrap refits over runs for {', '.join(names)}"
                     for count, names in sorted(by_count.items(), reverse=True))


def _diagnostics(analysis: Analysis) -> list[str]:
    return [f"{name}: {'converged' if fit.converged else 'NOT CONVERGED'}; n_points={fit.n_points}; {fit.notes()}"
            for name, fit in _all_fits(analysis).items()]


def _isoflop_section(report: Report, analysis: Analysis) -> None:
    fit = analysis.isoflops.get("6n")
    if fit is None or fit.extra.get("minima") is None:
        return report.text("No IsoFLOP runs (grid 'isoflop' or 'isoflop_<part>'): IsoFLOP profiles skipped.")
    minima = fit.extra["minima"].drop(columns=["coeffs"], errors="ignore")
    report.table(minima, "isoflop_minima")


COUNTING_TEXT = (
    "Every exponent under each count of N (non_embedding: Kaplan 2020; with_embeddings: plus the token embedding "
    "and output head; total: every parameter), each FLOP convention, and final points (each run's last loss; "
    "frontier from final points) versus mid-run points (each curve's lowest loss for α_N and α_D, every curve "
    "point for Chinchilla, the envelope of learning curves for the frontier). Point estimates, no intervals. "
    "Pearce & Song 2024 (arXiv:2406.12907): counting embeddings at small N moves a from near Kaplan's 0.73 "
    "towards Chinchilla's 0.5; Porian et al. 2024 (arXiv:2406.19146) add the FLOP count and the decay of the "
    "learning rate. NaN: the columns do not allow that fit (its headline row says why).")


def schedule_text(analysis: Analysis) -> str:
    """Runs per learning-rate schedule, trunks of branched runs, and trunks whose branches disagree."""
    counts = schedule_of(analysis.runs).value_counts()
    text = "Schedules: " + ", ".join(f"{n} {name}" for name, n in counts.items()) + " runs"
    branches = analysis.runs[is_branch(analysis.runs)]
    if not branches.empty:
        text += (f"; {len(branches)} are cooldown branches of {branches['trunk_id'].nunique()} trunks (curve "
                 "analyses and figures use each trunk's shared rows once, each branch from its fork on)")
        differ = shared_rows_differ(analysis.curves)
        if differ:
            text += f"; WARNING: branches of trunks {differ} differ before their forks (kept: the first branch's rows)"
    return text + "."


def _optimum_section(report: Report, analysis: Analysis) -> None:
    """Compute-optimal size by each method, and which one is the headline."""
    conv = analysis.options.compute
    final, envelope = analysis.final_frontiers.get(conv), analysis.frontiers.get(conv)
    report.heading("Compute-optimal size N_opt ∝ C^a")
    lines = []
    for label, fit, key in (("final points, interpolated across sizes", final, "a_Nopt"),
                            ("envelope of learning curves (Kaplan), interpolated across sizes", envelope, "a_Nopt"),
                            ("IsoFLOP local parabolas", analysis.isoflops.get("6n"), "a")):
        if fit is None:
            lines.append(f"{label}: not available for these runs")
        elif fit.ok and math.isfinite(fit.params[key]):
            low, high = fit.interval(key)
            lines.append(f"{label}: a = {fit.params[key]:.4g} [{low:.4g}, {high:.4g}]")
        else:
            lines.append(f"{label}: no estimate ({fit.notes()})")
    headline = "final points" if final is not None and final.ok else "the envelope of learning curves"
    report.text(f"Headline ({conv}): {headline}. Final (fully decayed) points at several budgets per model size "
                "are preferred to mid-run points of cosine curves, whose learning rate has not decayed there.")
    report.bullets(lines)


def build_report(analysis: Analysis, figures: list, skipped: list) -> Report:
    """The whole report, in reading order."""
    report, opts = Report(), analysis.options
    report.heading("scalinglab analysis", 1)
    if analysis.source:
        report.text(analysis.source)
    report.text(f"{len(analysis.runs)} completed runs used, {len(analysis.excluded)} excluded; headline compute "
                f"convention {opts.compute}; {bootstrap_text(analysis)} (seed {opts.seed}), 95% percentile intervals.")
    report.text(schedule_text(analysis))
    report.heading("Excluded runs")
    if analysis.excluded.empty:
        report.text("None: every run completed with a finite loss.")
    else:
        report.table(analysis.excluded, "excluded_runs")
    if analysis.unreadable:
        report.text(f"{len(analysis.unreadable)} unreadable run files left out (--skip-unreadable):")
        report.bullets(analysis.unreadable)
    report.heading("Fitted exponents vs published values")
    report.table(exponent_table(analysis), "exponents")
    report.bullets(truth_rows(analysis))
    report.heading("Targets of a clean reproduction")
    report.text("The default sweep's quality targets (docs/analysis.md): each with the measured figure.")
    report.table(target_table(analysis), "targets")
    report.heading("L(D) per model size")
    if analysis.l_of_d_per_size is not None and not analysis.l_of_d_per_size.empty:
        report.text("Each size with several fully decayed budgets, fitted on its own (Kaplan 2020 eq. 1.2 at fixed "
                    "N; 95% interval from least squares): L(D) holds where D/N is small and bends towards L(N) as "
                    "the model converges.")
        report.table(analysis.l_of_d_per_size, "l_of_d_per_size")
    else:
        report.text(f"No model size has {MIN_BUDGETS} or more budgets.")
    report.heading("Compute conventions")
    report.text("How the frontier exponent α_C and the optimal-size exponent a move with the FLOP convention.")
    report.table(convention_table(analysis), "compute_conventions")
    _optimum_section(report, analysis)
    report.heading("Counting conventions")
    report.text(COUNTING_TEXT)
    report.table(analysis.conventions, "counting_conventions")
    report.heading("Extrapolation (fit without the largest model or budget, predict it)")
    report.table(analysis.extrapolation, "extrapolation")
    report.heading("Model comparison: Kaplan L(N, D) vs Chinchilla")
    report.table(analysis.comparison, "model_comparison")
    report.text(comparison_verdict(analysis.comparison))
    architecture_section(report, analysis)
    families_section(report, analysis)
    if analysis.calibration is not None:
        calibration_section(report, analysis.calibration)
    report.heading("IsoFLOP profiles")
    _isoflop_section(report, analysis)
    report.heading("Run-to-run noise")
    report.text(noise_text(analysis.noise))
    if analysis.noise is not None and not analysis.noise.empty:
        report.table(analysis.noise, "replicate_noise")
    report.heading("Figures")
    for png, caption in figures:
        report.figure(png, caption)
    report.bullets([f"skipped {name}: {reason}" for name, reason in skipped])
    report.heading("Diagnostics")
    report.bullets(_diagnostics(analysis))
    return report
