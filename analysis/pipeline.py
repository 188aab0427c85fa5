"""Run every fit on a results folder's DataFrames; `analyze` writes figures, tables and the report."""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from analysis.architecture import shape_table
from analysis.architecture_series import ArchitectureSummary, summarise_architecture
from analysis.chinchilla import DEFAULT_MAX_STARTS, fit_chinchilla
from analysis.conventions import convention_exponents
from analysis.data import COMPUTE_CONVENTIONS, replicate_noise, split_by_status
from analysis.families import (DEFAULT_EQUIVALENCE_TOLERANCE, compare_families, family_fit_table, family_fits,
                               family_runs, loss_by_position)
from analysis.frontier import fit_compute_frontier
from analysis.frontier_final import fit_final_frontier
from analysis.isoflop import fit_isoflop, isoflop_rows
from analysis.joint import fit_kaplan_nd
from analysis.lr_calibration import Calibration, calibrate
from analysis.per_size import fit_l_of_d_per_size
from analysis.powerlaw import fit_loss_vs_params, fit_loss_vs_tokens
from analysis.result import FitResult
from analysis.validation import (compare_joint_models, extrapolate_frontier, extrapolate_isoflop,
                                 extrapolate_joint, extrapolate_power_law, joint_fitters)


@dataclass
class AnalysisOptions:
    """Knobs of one analysis; the defaults are what `scripts/analyze.py` uses."""

    compute: str = "6n"
    """Compute convention of the headline frontier fit: one of analysis.data.COMPUTE_CONVENTIONS."""
    n_boot: int = 200
    """Bootstrap refits per fit (resampling runs); 0 disables intervals."""
    seed: int = 0
    """Seed of every bootstrap and of the k-fold split."""
    max_starts: int = DEFAULT_MAX_STARTS
    """L-BFGS starts of the Chinchilla fit, taken from the Hoffmann init grid by lowest initial loss."""
    equivalence_tolerance: float = DEFAULT_EQUIVALENCE_TOLERANCE
    """Relative loss difference within which families (or shapes) at matched N count as equivalent."""


@dataclass
class Analysis:
    """Every fit and table the report shows."""

    runs: pd.DataFrame
    curves: pd.DataFrame
    excluded: pd.DataFrame
    options: AnalysisOptions
    fits: dict[str, FitResult] = field(default_factory=dict)
    frontiers: dict[str, FitResult] = field(default_factory=dict)
    isoflops: dict[str, FitResult] = field(default_factory=dict)
    final_frontiers: dict[str, FitResult] = field(default_factory=dict)
    """Frontier from final points (frontier_final), per FLOP convention."""
    conventions: pd.DataFrame | None = None
    """Every exponent under every counting convention (conventions.convention_exponents)."""
    source: str = ""
    """What the runs are and what their N counts, when not a scalinglab results folder (a points table)."""
    noise: pd.DataFrame | None = None
    extrapolation: pd.DataFrame | None = None
    comparison: pd.DataFrame | None = None
    shapes: pd.DataFrame | None = None
    """Per arch_shape run: its fixed-N group, shape and loss relative to the group's best (architecture.shape_table)."""
    architecture: ArchitectureSummary | None = None
    """Shape means, spreads, Fig. 5 series and holding ranges with intervals; None without arch_shape runs."""
    unreadable: list[str] = field(default_factory=list)
    """Run files left out as unreadable (analyze.py --skip-unreadable), with the reason."""
    family_fits: dict[str, FitResult] = field(default_factory=dict)
    """L(N) per model family of the families grid (analysis.families)."""
    families: pd.DataFrame | None = None
    """Per-family fit table, and the differences from gpt2 with their verdicts (compare_families)."""
    family_differences: pd.DataFrame | None = None
    positions: pd.DataFrame | None = None
    """Loss by position in context per family and size (analysis.families.loss_by_position)."""
    l_of_d_per_size: pd.DataFrame | None = None
    """L(D) of each model size with several budgets on its own (analysis.per_size)."""
    calibration: Calibration | None = None
    """The learning-rate scans among the runs, their optima and rule (analysis.lr_calibration), if any."""


def _single_fits(runs: pd.DataFrame, options: AnalysisOptions) -> dict[str, FitResult]:
    boot = dict(n_boot=options.n_boot, seed=options.seed)
    return {"L(N)": fit_loss_vs_params(runs, **boot),
            "L(N)+L_inf": fit_loss_vs_params(runs, irreducible=True, **boot),
            "L(D)": fit_loss_vs_tokens(runs, **boot),
            "L(N,D) Kaplan": fit_kaplan_nd(runs, n_boot=options.n_boot // 2, seed=options.seed),
            "Chinchilla": fit_chinchilla(runs, n_boot=options.n_boot // 2, seed=options.seed,
                                         max_starts=options.max_starts)}


def _has_isoflop(runs: pd.DataFrame) -> bool:
    if "grid" in runs:
        return bool(isoflop_rows(runs["grid"]).any())
    return "compute_budget" in runs and bool(runs["compute_budget"].notna().any())  # a points table's budgets


def _convention_fits(runs, curves, options) -> tuple[dict, dict, dict]:
    """(envelope frontiers, IsoFLOP fits, final-point frontiers) per FLOP convention the columns allow."""
    boot = dict(n_boot=options.n_boot, seed=options.seed)
    available = [c for c in COMPUTE_CONVENTIONS if f"flops_per_token_{c}" in runs]
    curves_ok = not curves.empty and curves.groupby("run_id").size().max() >= 2  # a table's points are no curves
    frontiers = {c: fit_compute_frontier(curves, compute=c, **boot)
                 for c in available if curves_ok and f"compute_{c}" in curves}
    isoflops = {c: fit_isoflop(runs, compute="budget" if c == "6n" else c, **boot)
                for c in available if _has_isoflop(runs)}
    finals = {c: fit_final_frontier(runs, compute=c, **boot) for c in available}
    return frontiers, isoflops, finals


def _checks(analysis: Analysis, fitters: dict) -> pd.DataFrame:
    runs, curves = analysis.runs, analysis.curves
    rows = [extrapolate_power_law(runs, "n_grid", "params_non_embedding", "N", "best_test_loss"),
            extrapolate_power_law(runs, "d_grid", "tokens", "D", "best_test_loss"),
            *([extrapolate_frontier(curves, analysis.options.compute)] if analysis.frontiers else []),
            extrapolate_joint(runs, "L(N,D) Kaplan", fitters["Kaplan L(N,D)"], "final_test_loss"),
            extrapolate_joint(runs, "Chinchilla", fitters["Chinchilla"], "final_test_loss")]
    if analysis.isoflops:
        rows.append(extrapolate_isoflop(runs, "final_test_loss"))
    return pd.DataFrame(rows)


def run_analysis(runs: pd.DataFrame, curves: pd.DataFrame, options: AnalysisOptions | None = None) -> Analysis:
    """Every fit, check and table on `runs` (one row per run) and `curves` (curve rows with metadata)."""
    options = options or AnalysisOptions()
    usable, excluded = split_by_status(runs)
    keep = curves["run_id"].isin(usable["run_id"])
    analysis = Analysis(usable, curves[keep].copy(), excluded, options)
    analysis.fits = _single_fits(usable, options)
    analysis.l_of_d_per_size = fit_l_of_d_per_size(usable)
    analysis.calibration = calibrate(runs, options.seed)
    analysis.frontiers, analysis.isoflops, analysis.final_frontiers = _convention_fits(usable, analysis.curves, options)
    analysis.conventions = convention_exponents(usable, analysis.curves)
    analysis.noise = replicate_noise(usable)
    fitters = joint_fitters(options.max_starts)
    analysis.extrapolation = _checks(analysis, fitters)
    analysis.comparison = compare_joint_models(usable, fitters, seed=options.seed)
    analysis.shapes = shape_table(usable, baseline=analysis.fits["L(N)"])
    if not analysis.shapes.empty:
        tolerance = options.equivalence_tolerance
        analysis.architecture = summarise_architecture(analysis.shapes, tolerance, seed=options.seed)
    _family_analysis(analysis)
    return analysis


def _family_analysis(analysis: Analysis) -> None:
    """Fill the families fields when the runs include the families grid."""
    runs, options = family_runs(analysis.runs), analysis.options
    if runs.empty:
        return
    analysis.family_fits = family_fits(runs, n_boot=options.n_boot, seed=options.seed)
    analysis.families = family_fit_table(analysis.family_fits, runs)
    analysis.family_differences = compare_families(runs, analysis.family_fits, n_boot=options.n_boot,
                                                   seed=options.seed, tolerance=options.equivalence_tolerance)
    analysis.positions = loss_by_position(runs)
