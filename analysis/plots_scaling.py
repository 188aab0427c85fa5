"""Kaplan 2020 Figure 1 (loss vs compute, data, parameters) and IsoFLOP figures."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from analysis.frontier import usable_curves
from analysis.isoflop import isoflop_rows
from analysis.optimum import BUDGET_RTOL
from analysis.plotting import fit_line, loglog, mark_empty, new_figure, save_figure
from analysis.result import FitResult


def _panel_compute(ax, fig, curves: pd.DataFrame, frontier: FitResult | None,
                   points: pd.DataFrame | None = None) -> None:
    if frontier is None or curves.empty:
        return mark_empty(ax, "no learning curves with this compute column")
    column = frontier.extra.get("compute", "compute_6n")
    usable = usable_curves(curves, column)
    if usable.empty:
        return mark_empty(ax, "no learning curves")
    norm = LogNorm(usable["params_non_embedding"].min(), usable["params_non_embedding"].max() * 1.0001)
    for _, curve in usable.groupby("run_id"):
        colour = plt.cm.viridis(norm(curve["params_non_embedding"].iloc[0]))
        ax.plot(curve[column], curve["test_loss"], color=colour, alpha=0.6, lw=0.8)
    fitted_on_points = frontier.extra.get("points") is not None
    if points is not None and not points.empty:  # the fully decayed end of every budget
        ax.scatter(points["C"], points["loss"], c=plt.cm.viridis(norm(points["N"])), s=14, edgecolors="black",
                   linewidths=0.4, zorder=3)
    fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=ax, label="non-embedding params N")
    label = f"L = (C_min/{frontier.params['C_c']:.2e})^-{frontier.params['alpha_C']:.4f}" if frontier.ok else ""
    # the fit holds over the compute it was fitted on: the final points' where there are, else the curves'
    low, high = ((points["C"].min(), points["C"].max()) if fitted_on_points and points is not None and not points.empty
                 else (usable[column].min(), usable[column].max()))
    fit_line(ax, frontier, low, high, label)
    loglog(ax, f"compute ({column}, FLOPs)")


def _panel_points(ax, fit: FitResult, symbol: str, xlabel: str) -> None:
    if "x" not in fit.extra:
        return mark_empty(ax, fit.message)
    x, loss = fit.extra["x"], fit.extra["loss"]
    ax.plot(x, loss, "o", color="tab:blue", label="runs (seed mean)")
    alpha = fit.params.get(f"alpha_{symbol}", np.nan)
    fit_line(ax, fit, x.min(), x.max(), f"L = ({symbol}_c/{symbol})^{alpha:.4f}" + (
        f" + {fit.params['L_inf']:.3f}" if "L_inf" in fit.params else ""))
    loglog(ax, xlabel)


def plot_figure1(curves: pd.DataFrame, frontier: FitResult | None, l_of_d: FitResult, l_of_n: FitResult,
                 out_dir: Path, final_points: pd.DataFrame | None = None) -> Path:
    """Three panels: learning curves vs compute with the frontier (and the runs' final points), L(D), L(N)
    (Kaplan 2020 Fig. 1)."""
    fig, (ax_c, ax_d, ax_n) = new_figure(3)
    _panel_compute(ax_c, fig, curves, frontier, final_points)
    _panel_points(ax_d, l_of_d, "D", "dataset size D (tokens)")
    _panel_points(ax_n, l_of_n, "N", "non-embedding parameters N")
    return save_figure(fig, out_dir, "figure1_scaling")


def plot_isoflop(fit: FitResult, runs: pd.DataFrame, out_dir: Path, loss_col: str = "final_test_loss") -> Path:
    """IsoFLOP profiles with their local parabolas and minima, and N_opt against C with the power law."""
    minima = fit.extra["minima"]
    fig, (ax_p, ax_n) = new_figure(2)
    norm = LogNorm(minima["budget"].min(), minima["budget"].max() * 1.0001)
    iso = runs[runs["status"] == "completed"]
    iso = iso[isoflop_rows(iso["grid"])] if "grid" in iso else iso
    for row in minima.itertuples():
        colour = plt.cm.plasma(norm(row.budget))
        group = iso[np.isclose(iso["compute_budget"], row.budget, rtol=BUDGET_RTOL)]
        ax_p.plot(group["params_non_embedding"], group[loss_col], "o", color=colour, ms=4, label=f"C={row.budget:.2g}")
        if row.ok:
            xs = np.linspace(np.log(row.N_local_min), np.log(row.N_local_max))  # the sizes the local parabola fits
            ax_p.plot(np.exp(xs), np.polyval(row.coeffs, xs), "-", color=colour, lw=1)
            ax_p.plot(row.N_opt, row.L_opt, "x" if row.edge else "*", color=colour, ms=11, mec="black")
    ax_p.set_xscale("log")
    ax_p.set_xlabel("non-embedding parameters N")
    ax_p.set_ylabel("final test loss (nats/token)")
    ax_p.legend(fontsize=7)
    good = minima[minima["ok"]]
    ax_n.plot(good.loc[~good["edge"], "C"], good.loc[~good["edge"], "N_opt"], "o", label="bracketed minima")
    if good["edge"].any():
        ax_n.plot(good.loc[good["edge"], "C"], good.loc[good["edge"], "N_opt"], "x", label="at grid edge (not fitted)")
    if fit.ok:
        fit_line(ax_n, fit, good["C"].min(), good["C"].max(), f"N_opt ∝ C^{fit.params['a']:.3f}")
    loglog(ax_n, "compute budget C (FLOPs)", "N_opt")
    return save_figure(fig, out_dir, "isoflop")


def plot_optimal_size(sources: list[tuple[str, FitResult]], out_dir: Path) -> Path:
    """N_opt against C from each method (final points, envelope of curves, IsoFLOP) with its power law."""
    fig, (ax,) = new_figure(1)
    for (label, fit), marker in zip(sources, "os^"):
        table = fit.extra["optima"] if "optima" in fit.extra else fit.extra["minima"]
        if "bracketed" in table:
            points = table[table["bracketed"]].rename(columns={"compute": "C"})
        else:
            points = table[table["ok"] & ~table["edge"]]
        line = ax.plot(points["C"], points["N_opt"], marker, ms=4, alpha=0.7, label=label)[0]
        if fit.ok and np.isfinite(fit.params.get("a_Nopt", fit.params.get("a", np.nan))):
            a = fit.params.get("a_Nopt", fit.params.get("a"))
            slope, offset = np.polyfit(np.log(points["C"]), np.log(points["N_opt"]), 1)
            xs = np.geomspace(points["C"].min(), points["C"].max(), 50)
            ax.plot(xs, np.exp(offset + slope * np.log(xs)), "--", color=line.get_color(), label=f"a = {a:.3f}")
    loglog(ax, "compute C (FLOPs)", "N_opt")
    return save_figure(fig, out_dir, "compute_optimal_size")
