"""Kaplan 2020 Fig. 7: loss vs N per family (left) and loss vs position in context per family and size (right)."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis.families import N_COL, family_runs
from analysis.plotting import fit_line, loglog, new_figure, save_figure
from analysis.result import FitResult


def plot_families(runs: pd.DataFrame, fits: dict[str, FitResult], out_dir: Path,
                  loss_col: str = "final_test_loss") -> Path:
    """Final test loss vs non-embedding N, one colour per family: seed means with their range, and L(N) fits."""
    fig, (ax,) = new_figure(1)
    chosen = family_runs(runs)
    for i, (family, group) in enumerate(chosen.groupby("family")):
        colour = f"C{i}"
        points = group.groupby(N_COL)[loss_col].agg(["mean", "min", "max"]).reset_index()
        spread = [points["mean"] - points["min"], points["max"] - points["mean"]]
        ax.errorbar(points[N_COL], points["mean"], yerr=spread, fmt="o", color=colour, label=family)
        fit = fits.get(family)
        if fit is not None and fit.ok:
            fit_line(ax, fit, group[N_COL].min(), group[N_COL].max(),
                     f"{family}: α_N = {fit.params['alpha_N']:.3g}", color=colour)
    loglog(ax, "non-embedding parameters N")
    ax.set_title("Kaplan 2020 Fig. 7, left")
    return save_figure(fig, out_dir, "families_loss_vs_n")


def plot_loss_by_position(table: pd.DataFrame, out_dir: Path) -> Path:
    """Final test loss at each position of the context, one panel per family, one line per size."""
    families = sorted(table["family"].unique())
    fig, axes = new_figure(len(families))
    for ax, family in zip(axes, families):
        for n, rows in table[table["family"] == family].groupby(N_COL):
            ax.plot(rows["position"], rows["loss"], label=f"N={n:.3g}")
        loglog(ax, "token position in context")
        ax.set_title(f"{family} (Kaplan 2020 Fig. 7 right, Fig. 20)")
    return save_figure(fig, out_dir, "loss_by_position")
