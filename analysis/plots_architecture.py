"""Kaplan 2020 Fig. 5 (loss vs shape at fixed N) and Fig. 6 (loss vs N with and without embeddings)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.architecture_series import SERIES_KEYS, SERIES_LABELS
from analysis.data import largest_d_per_shape
from analysis.plotting import loglog, mark_empty, new_figure, save_figure


def shape_figure(series: pd.DataFrame):
    """Kaplan 2020 Fig. 5 from architecture_series' series table: a panel per attribute that has a series (aspect
    ratio always), in it one line per fixed N through that series' shapes only, loss over the group's best shape
    in percent with its 95% interval as error bars."""
    present = set(series["attribute"]) if not series.empty else set()
    attributes = [a for a in SERIES_KEYS if a == "aspect_ratio" or a in present]
    colours = {group: f"C{i}" for i, group in enumerate(series["group"].unique())} if present else {}  # one per N
    fig, axes = new_figure(len(attributes))
    for ax, attribute in zip(axes, attributes):
        lines = series[series["attribute"] == attribute] if attribute in present else series.iloc[0:0]
        if lines.empty:
            mark_empty(ax, f"no fixed-N group varies {SERIES_LABELS[attribute]}")
            continue
        for group, points in lines.groupby("group", sort=False):  # in the table's order: by N
            points = points.sort_values("x")
            low, high = np.array(points["rel_95"].tolist(), float).T
            errors = np.vstack([points["rel_pct"] - low, high - points["rel_pct"]])
            ax.errorbar(points["x"], points["rel_pct"], yerr=None if np.isnan(errors).all() else errors,
                        fmt="o-", capsize=2, color=colours[group], label=str(group))
        ax.set_xscale("log")
        if attribute != "aspect_ratio":  # a few round values: label each, not the decades
            values = sorted(lines["x"].unique())
            ax.set_xticks(values, [f"{v:g}" for v in values])
            ax.minorticks_off()
        ax.set_xlabel(SERIES_LABELS[attribute])
        ax.set_ylabel("loss increase over the group's best shape (%)")
        ax.legend(fontsize=7)
    return fig


def plot_shape_dependence(series: pd.DataFrame, out_dir: Path) -> Path:
    """Write shape_figure(series) as architecture_shape.png and .pdf."""
    return save_figure(shape_figure(series), out_dir, "architecture_shape")


def plot_embedding_counting(runs: pd.DataFrame, out_dir: Path, loss_col: str = "final_test_loss") -> Path:
    """Test loss against N counted with and without embedding parameters, coloured by depth.

    Each shape at its largest D only (Kaplan 2020 Fig. 6 compares models trained to the same point):
    a D grid's shorter runs of one shape would otherwise stack up as a column at one N.
    """
    usable = largest_d_per_shape(runs[runs["status"] == "completed"])
    fig, axes = new_figure(2)
    layers = sorted(usable["n_layer"].unique())
    colours = plt.cm.viridis([i / max(len(layers) - 1, 1) for i in range(len(layers))])
    for ax, column, label in zip(axes, ("params_total", "params_non_embedding"),
                                 ("parameters including embeddings", "non-embedding parameters N")):
        for colour, n_layer in zip(colours, layers):
            subset = usable[usable["n_layer"] == n_layer]
            ax.plot(subset[column], subset[loss_col], "o", color=colour, ms=4, label=f"{n_layer} layers")
        loglog(ax, label)
    return save_figure(fig, out_dir, "architecture_embeddings")
