"""Shared plotting helpers: headless backend, saving as PNG and PDF, fit lines."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # analysis runs on headless machines; never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from analysis.result import FitResult  # noqa: E402

PANEL_SIZE_IN = (4.6, 3.8)  # width, height of one panel in inches


def new_figure(n_panels: int):
    """A row of `n_panels` axes."""
    fig, axes = plt.subplots(1, n_panels, figsize=(PANEL_SIZE_IN[0] * n_panels, PANEL_SIZE_IN[1]), squeeze=False)
    return fig, list(axes[0])


def save_figure(fig, out_dir: Path, stem: str) -> Path:
    """Write `stem`.png and `stem`.pdf under out_dir; return the PNG path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    png = out_dir / f"{stem}.png"
    fig.savefig(png, dpi=130)
    fig.savefig(out_dir / f"{stem}.pdf")
    plt.close(fig)
    return png


def fit_line(ax, fit: FitResult | None, x_min: float, x_max: float, label: str, **style) -> None:
    """Draw a converged single-variable fit as a dashed line over [x_min, x_max]; nothing otherwise."""
    if fit is None or not fit.ok or fit.predict is None:
        return
    xs = np.logspace(np.log10(x_min), np.log10(x_max), 100)
    ax.plot(xs, fit.predict(xs), "--", label=label, **{"color": "black", **style})


def mark_empty(ax, reason: str) -> None:
    """Leave a panel blank but say why."""
    ax.text(0.5, 0.5, reason, ha="center", va="center", wrap=True, transform=ax.transAxes, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def loglog(ax, xlabel: str, ylabel: str = "test loss (nats/token)") -> None:
    """Log-log axes with labels and a legend when there is anything to list."""
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
