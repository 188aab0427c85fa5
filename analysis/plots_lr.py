"""The learning-rate calibration's figure: loss against peak rate per shape, and the rule against the optima."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis.lr_calibration import Calibration, rule_predictions
from analysis.lr_optimum import scan_points
from analysis.plotting import new_figure, save_figure


def plot_lr_scans(cal: Calibration, runs, out_dir: Path) -> Path:
    """One panel per beta2: final loss vs peak rate, one line per shape, the optimum with its 95% interval;
    last panel: each optimum against the chosen rule's rate for its shape."""
    points = scan_points(runs)
    levels = sorted(points["beta2"].unique())
    fig, axes = new_figure(len(levels) + 1)
    for ax, beta2 in zip(axes, levels):
        scans = points[points["beta2"] == beta2]
        for i, ((n_layer, d_model), rows) in enumerate(scans.groupby(["n_layer", "d_model"])):
            colour = f"C{i % 10}"
            finite = rows[np.isfinite(rows["loss"])]
            ax.plot(finite["lr"], finite["loss"], "o-", color=colour, ms=3, label=f"{n_layer}x{d_model}")
            best = cal.optima[(cal.optima["n_layer"] == n_layer) & (cal.optima["d_model"] == d_model)
                              & (cal.optima["beta2"] == beta2) & cal.optima["bracketed"]]
            for r in best.itertuples():
                ax.errorbar([r.lr_opt], [r.loss_opt], xerr=[[r.lr_opt - r.lr_low], [r.lr_high - r.lr_opt]],
                            fmt="*", color=colour, ms=9, capsize=2)
        ax.set_xscale("log")
        ax.set_xlabel("peak learning rate")
        ax.set_ylabel("final test loss (nats/token)")
        ax.set_title(f"AdamW beta2 = {beta2:g} (stars: optimum, 95% interval)")
        ax.legend(fontsize=6, ncol=2)
    ax = axes[-1]
    table = rule_predictions(cal)
    if not table.empty:
        yerr = [table["lr_opt"] - table["lr_low"], table["lr_high"] - table["lr_opt"]]
        ax.errorbar(table["lr_rule"], table["lr_opt"], yerr=yerr, fmt="o", ms=4)
        for r in table.itertuples():
            ax.annotate(f"{r.n_layer}x{r.d_model}", (r.lr_rule, r.lr_opt), fontsize=6)
        span = [table[["lr_rule", "lr_low"]].min().min() * 0.8, table[["lr_rule", "lr_high"]].max().max() * 1.2]
        ax.plot(span, span, "k--", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel(f"rule's rate ({cal.rule.form})")
        ax.set_ylabel("scanned optimum")
        ax.set_title(f"rule vs optima: leave-one-out error {np.expm1(cal.rule.loo_rms):.0%} in rate")
    return save_figure(fig, out_dir, "lr_calibration")
