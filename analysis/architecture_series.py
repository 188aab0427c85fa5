"""The series of Kaplan 2020 Fig. 5 found in the data, and where its claim holds: per fixed-N group, the shapes
that vary one attribute with the others held fixed, and the largest contiguous range of that attribute whose
loss spread stays within the tolerance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.architecture import (SPREAD_DRAWS, draw_means, group_noise, group_spread,
                                   percentile_interval, relative_to_best, shape_means, spread_pct)
from analysis.families import verdict

# The attribute a Fig. 5 panel varies, and the alternative sets of attributes held fixed along its series: a
# preset may fix d_head (n_head grows with d_model, as arch_shape does) or n_head. The series of a group is the
# candidate with the most distinct values of the attribute.
SERIES_KEYS = {
    "aspect_ratio": (("ff_ratio", "d_head"), ("ff_ratio", "n_head")),
    "n_head": (("n_layer", "d_model", "ff_ratio"),),
    "ff_ratio": (("n_layer", "d_head"), ("n_layer", "n_head")),
}
SERIES_LABELS = {"aspect_ratio": "aspect ratio d_model / n_layer", "n_head": "attention heads n_head",
                 "ff_ratio": "feed-forward ratio d_ff / d_model"}


@dataclass
class ArchitectureSummary:
    """Everything the report and the shape figure show about arch_shape."""

    shapes: pd.DataFrame
    """Per (group, shape): seed count, mean relative loss, rel_pct over the group's best with rel_95."""
    spread: pd.DataFrame
    """Per group: spread_pct with spread_95, the verdict at the tolerance and what the interval sees."""
    series: pd.DataFrame
    """Per (group, attribute, shape) of each Fig. 5 series: x, rel_pct, rel_95; x strictly increasing."""
    ranges: pd.DataFrame
    """Per (group, attribute): the largest contiguous range within the tolerance and the shapes outside it."""
    tolerance: float


def _candidates(shapes: pd.DataFrame, attribute: str) -> list[pd.DataFrame]:
    """Every set of shapes of one group that shares one of the attribute's held-fixed key sets."""
    return [members for keys in SERIES_KEYS[attribute]
            for _, members in shapes.groupby(list(keys), dropna=False, sort=True)]


def group_series(shapes: pd.DataFrame, attribute: str) -> tuple[pd.DataFrame, list[str]]:
    """(the group's series of `attribute`, sorted by it, empty when none has 2+ values; the shapes left out of it
    for repeating a value, each the farther from the group's median N)."""
    candidates = _candidates(shapes, attribute)
    best = max(candidates, key=lambda c: (c[attribute].nunique(), len(c)), default=shapes.iloc[0:0])
    if best[attribute].nunique() < 2:
        return shapes.iloc[0:0], []
    distance = (np.log(best["params_non_embedding"]) - np.log(shapes["params_non_embedding"].median())).abs()
    ordered = best.assign(_distance=distance).sort_values([attribute, "_distance"])
    kept = ordered.drop_duplicates(attribute)
    left_out = sorted(set(ordered["shape"]) - set(kept["shape"]))
    return kept.drop(columns="_distance").assign(attribute=attribute, x=kept[attribute].astype(float)), left_out


def holding_range(series: pd.DataFrame, tolerance: float) -> tuple[int, int] | None:
    """(first, last) positions of the largest contiguous run of the series whose spread is within tolerance:
    most shapes, then widest in log x, then smallest spread; None when no two neighbours are within it."""
    means, log_x = series["mean"].to_numpy(float), np.log(series["x"].to_numpy(float))
    found, best_key = None, None
    for i in range(len(series)):
        for j in range(i + 1, len(series)):
            spread = float(spread_pct(means[i:j + 1]))
            if spread > 100 * tolerance:
                break  # a wider window only adds shapes, so its spread cannot shrink
            key = (j - i, log_x[j] - log_x[i], -spread)
            if best_key is None or key > best_key:
                found, best_key = (i, j), key
    return found


def _breaks(outside: pd.DataFrame) -> str:
    """'shape (x): +rel% [low, high]' for each shape outside the holding range."""
    parts = []
    for _, row in outside.iterrows():
        low, high = row["rel_95"]
        interval = f" [{low:+.1f}, {high:+.1f}]" if np.isfinite(low) else ""
        parts.append(f"{row['shape']} ({row['x']:g}): {row['rel_pct']:+.1f}%{interval}")
    return "; ".join(parts)


def range_row(group: str, series: pd.DataFrame, draws: pd.DataFrame, tolerance: float, left_out: list[str]) -> dict:
    """Where the claim holds along one series (its spread with interval and verdict) and where it breaks (each
    shape outside the range over the group's best, with interval)."""
    found = holding_range(series, tolerance)
    row = {"group": group, "attribute": series["attribute"].iloc[0],
           "tested": f"{series['x'].min():g}..{series['x'].max():g}", "n_tested": len(series)}
    if found is None:
        return {**row, "holds": "nowhere", "n_within": 0, "spread_pct": math.nan, "spread_95": (math.nan, math.nan),
                "verdict": "", "breaks": _breaks(series), "left_out": ", ".join(left_out)}
    within = series.iloc[found[0]:found[1] + 1]
    low, high = percentile_interval(spread_pct(draws[within["shape"].tolist()].to_numpy()))
    outside = series.drop(index=within.index)
    return {**row, "holds": f"{within['x'].min():g}..{within['x'].max():g}", "n_within": len(within),
            "spread_pct": float(spread_pct(within["mean"].to_numpy(float))), "spread_95": (low, high),
            "verdict": verdict(low / 100, high / 100, tolerance) if np.isfinite(low) else "no interval",
            "breaks": _breaks(outside), "left_out": ", ".join(left_out)}


def summarise_architecture(table: pd.DataFrame, tolerance: float, n_draws: int = SPREAD_DRAWS,
                           seed: int = 0) -> ArchitectureSummary:
    """Per fixed-N group of shape_table's runs: shape means with intervals, the spread, every Fig. 5 series and
    its holding range, all from one set of draws per group."""
    shape_rows, spread_rows, series_rows, range_rows = [], [], [], []
    means = shape_means(table)
    by_size = means.groupby("group")["params_non_embedding"].median().sort_values().index
    for group in by_size:
        shapes = means[means["group"] == group].sort_values(["aspect_ratio", "shape"]).reset_index(drop=True)
        noise = group_noise(shapes)
        draws = draw_means(shapes, noise, n_draws, seed)
        shapes = relative_to_best(shapes, draws)
        shape_rows.append(shapes)
        spread_rows.append(group_spread(group, shapes, draws, noise, tolerance))
        for attribute in SERIES_KEYS:
            series, left_out = group_series(shapes, attribute)
            if not series.empty:
                series_rows.append(series)
                range_rows.append(range_row(group, series.reset_index(drop=True), draws, tolerance, left_out))
    series = pd.concat(series_rows, ignore_index=True) if series_rows else pd.DataFrame()
    return ArchitectureSummary(pd.concat(shape_rows, ignore_index=True), pd.DataFrame(spread_rows), series,
                               pd.DataFrame(range_rows), tolerance)


def range_statements(summary: ArchitectureSummary) -> list[str]:
    """One sentence per (group, attribute): where the spread stays within the tolerance and where it breaks."""
    tol, lines = 100 * summary.tolerance, []
    for _, row in summary.ranges.iterrows():
        label = SERIES_LABELS[row["attribute"]]
        if row["holds"] == "nowhere":
            lines.append(f"{row['group']}, {label} {row['tested']}: no two neighbouring shapes within {tol:g}%; "
                         f"each over the best: {row['breaks']}")
            continue
        low, high = row["spread_95"]
        interval = f" [{low:.1f}, {high:.1f}]" if np.isfinite(low) else ""
        text = (f"{row['group']}, {label} {row['holds']} ({row['n_within']} of {row['n_tested']} shapes): spread "
                f"{row['spread_pct']:.1f}%{interval}, {row['verdict']}")
        lines.append(text + (f"; breaks at {row['breaks']} over the best shape" if row["breaks"] else
                             "; holds over the whole range tested"))
    return lines
