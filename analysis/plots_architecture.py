"""Kaplan 2020 Fig. 5 (loss vs shape at fixed N) and Fig. 6 (loss vs N with and without embeddings)."""
from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from analysis.data import largest_d_per_shape
from analysis.plotting import loglog, new_figure, save_figure

SHAPE_AXES = (("aspect_ratio", "aspect ratio d_model / n_layer"), ("n_head", "attention heads n_head"),
              ("ff_ratio", "feed-forward ratio d_ff / d_model"))


def _varying_axes(table: pd.DataFrame) -> list[tuple[str, str]]:
    """The shape axes that vary inside at least one fixed-N group (aspect ratio always shown)."""
    varies = table.groupby("group")[[c for c, _ in SHAPE_AXES]].nunique().max()
    return [(c, label) for c, label in SHAPE_AXES if c == "aspect_ratio" or varies[c] > 1]


def plot_shape_dependence(table: pd.DataFrame, out_dir: Path) -> Path:
    """Loss relative to the best shape at fixed N against each varied shape ratio, one line per N."""
    axes_spec = _varying_axes(table)
    fig, axes = new_figure(len(axes_spec))
    for ax, (column, label) in zip(axes, axes_spec):
        for group, runs in table.groupby("group"):
            runs = runs.sort_values(column)
            ax.plot(runs[column], runs["rel_loss_pct"], "o-", label=str(group))
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("loss increase over best shape (%)")
        ax.legend(fontsize=7)
    return save_figure(fig, out_dir, "architecture_shape")


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
