"""Selecting and aggregating runs for the fits (columns as in docs/architecture.md)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.store import COMPUTE_CONVENTIONS  # column suffixes, docs/architecture.md

MIN_SEEDS_FOR_OWN_VARIANCE = 3  # fewer replicates give too wild a per-point variance to weight by


def shape_label(runs: pd.DataFrame) -> pd.Series:
    """'n_layer x d_model' for each run, e.g. '4x128', prefixed by a family other than gpt2; a points table's
    own `shape` column where it has one."""
    if "shape" in runs and "n_layer" not in runs:
        return runs["shape"].astype(str)
    label = runs["n_layer"].astype(int).astype(str) + "x" + runs["d_model"].astype(int).astype(str)
    if "family" in runs:  # gpt2 (and runs from before families) keep their labels; '2x32' of lstm is 'lstm 2x32'
        family = runs["family"].fillna("gpt2")
        label = label.where(family == "gpt2", family + " " + label)
    return label


def architecture_label(runs: pd.DataFrame) -> pd.Series:
    """shape_label plus heads and d_ff/d_model where known, e.g. '4x128 h8 ff4': runs that differ only
    in n_head or d_ff are different shapes in Kaplan 2020 Fig. 5."""
    label = shape_label(runs)
    if "n_head" in runs:
        label = label + " h" + runs["n_head"].astype(int).astype(str)
    if "d_ff" in runs:
        label = label + " ff" + (runs["d_ff"] / runs["d_model"]).map(lambda r: f"{r:g}")
    return label


def split_by_status(runs: pd.DataFrame, loss_col: str = "final_test_loss") -> tuple[pd.DataFrame, pd.DataFrame]:
    """(usable runs, excluded runs with a reason): not 'completed' or a non-finite loss is excluded."""
    not_completed = runs["status"] != "completed"
    no_loss = ~np.isfinite(pd.to_numeric(runs[loss_col], errors="coerce"))
    excluded = runs[not_completed | no_loss].copy()
    rule = excluded.get("diverged_rule", pd.Series("", index=excluded.index)).fillna("").astype(str)
    status = "status=" + excluded["status"].astype(str) + np.where(rule != "", " (rule " + rule + ")", "")
    reason = np.where(not_completed[excluded.index], status, f"non-finite {loss_col}")
    table = pd.DataFrame({
        "run_id": excluded["run_id"], "status": excluded["status"], "shape": shape_label(excluded),
        "tokens": excluded["tokens"],
        "diverged_step": excluded.get("diverged_step", pd.Series(-1, index=excluded.index)),
        "reason": reason,
    })
    return runs[~(not_completed | no_loss)].copy(), table.reset_index(drop=True)


def select_grid(runs: pd.DataFrame, grid: str) -> tuple[pd.DataFrame, str, bool]:
    """Runs of one grid ('n_grid' or 'd_grid'), a note on how they were chosen, and whether they were
    inferred (no run carries that grid name, as in a plain multirun over model and train values)."""
    if "grid" in runs and (runs["grid"] == grid).any():
        # each model's loss at the largest D it was trained on (Kaplan 2020 sec. 3)
        chosen = runs[runs["grid"] == grid]
        chosen = largest_d_per_shape(chosen) if grid == "n_grid" else chosen
        return chosen.copy(), f"runs with grid=='{grid}'", False
    if grid == "n_grid":
        chosen, note = _at_shared_tokens(runs)
    elif grid == "d_grid":
        chosen, note = _most_budgets(runs)
    else:
        raise ValueError(f"grid={grid!r}: select_grid knows 'n_grid' and 'd_grid'")
    return chosen.copy(), note, True


# Kaplan 2020 sec. 3.2 measure L(D) on a large model, so that D and not N limits the loss; a size needs this
# many budgets (as many as a fit needs distinct x) to be that model.
MIN_BUDGETS_FOR_L_OF_D = 3


def _most_budgets(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The runs of the largest model size trained at MIN_BUDGETS_FOR_L_OF_D or more token counts (where none
    is, the size with the most, the largest on a tie), with a note that says which rule chose it."""
    budgets = runs.groupby("params_non_embedding")["tokens"].nunique()
    enough = budgets[budgets >= MIN_BUDGETS_FOR_L_OF_D]
    if not enough.empty:
        size = max(enough.index)
        rule = f"the largest model size with {MIN_BUDGETS_FOR_L_OF_D} or more token counts"
    else:
        size = max(budgets.index[budgets == budgets.max()])
        rule = "the model size with the most token counts"
    return (runs[runs["params_non_embedding"] == size],
            f"no grid=='d_grid' runs: inferred, {rule} (N={size:.3g}, {budgets[size]} of them)")


MIN_SHAPES_AT_SHARED_D = 3  # an inferred L(N) needs as many model shapes at one D as a fit needs distinct x


def _at_shared_tokens(runs: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """The runs at the largest token count that at least MIN_SHAPES_AT_SHARED_D shapes share: L(N) holds D
    fixed, and each shape's own largest D can differ (IsoFLOP runs), which would mix D into the fit."""
    shape = shape_keys(runs)
    shapes_per_d = runs.drop_duplicates(shape + ["tokens"]).groupby("tokens").size()
    shared = shapes_per_d[shapes_per_d >= MIN_SHAPES_AT_SHARED_D]
    if shared.empty:
        return runs.iloc[:0], (f"no grid=='n_grid' runs, and no token count shared by {MIN_SHAPES_AT_SHARED_D} "
                               "model shapes: L(N) needs models trained to one D")
    d = shared.index.max()
    return runs[runs["tokens"] == d], (f"no grid=='n_grid' runs: inferred, the {shared[d]} shapes trained to "
                                       f"D = {d:.3g}, the largest token count {MIN_SHAPES_AT_SHARED_D} or more share")


SHAPE_COLUMNS = ["family", "n_layer", "d_model", "n_head", "d_ff", "shape"]  # `shape`: a points table's label (analysis.table)


def shape_keys(runs: pd.DataFrame) -> list[str]:
    """The SHAPE_COLUMNS a frame has; N itself for a frame with none (each size its own shape)."""
    return [c for c in SHAPE_COLUMNS if c in runs] or ["params_non_embedding"]


def largest_d_per_shape(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs of each model shape (SHAPE_COLUMNS present) at that shape's largest token count (seed
    replicates kept)."""
    shape = shape_keys(runs)
    # dropna=False: an lstm has no n_head (None), and a run from before families no family
    return runs[runs["tokens"] == runs.groupby(shape, dropna=False)["tokens"].transform("max")]


def aggregate_replicates(runs: pd.DataFrame, x_col: str, loss_col: str) -> pd.DataFrame:
    """One row per distinct x: geometric-mean loss, replicate count, sd of log loss, fit weight."""
    x, loss, n, sd_log, weight = aggregate_arrays(runs[x_col].to_numpy(float), runs[loss_col].to_numpy(float))
    return pd.DataFrame({"x": x, "loss": loss, "n": n, "sd_log": sd_log, "weight": weight})


def aggregate_arrays(x: np.ndarray, loss: np.ndarray) -> tuple[np.ndarray, ...]:
    """aggregate_replicates on arrays (numpy, not groupby: this runs in every bootstrap refit): per distinct x,
    (x, geometric-mean loss, replicate count, sd of log loss, fit weight)."""
    x, inverse = np.unique(x, return_inverse=True)
    inverse = inverse.ravel()
    log_loss = np.log(loss)
    n = np.bincount(inverse, minlength=len(x))
    mean = np.bincount(inverse, log_loss, minlength=len(x)) / n
    squares = np.bincount(inverse, (log_loss - mean[inverse]) ** 2, minlength=len(x))
    with np.errstate(invalid="ignore", divide="ignore"):
        sd_log = np.where(n >= 2, np.sqrt(squares / (n - 1)), np.nan)
    return x, np.exp(mean), n, sd_log, replicate_weights(n, sd_log)


def pooled_sd_log(n: np.ndarray, sd_log: np.ndarray) -> float:
    """Pooled run-to-run standard deviation of log loss over groups with >= 2 replicates."""
    mask = (n >= 2) & np.isfinite(sd_log)
    if not mask.any():
        return math.nan
    return float(np.sqrt(np.sum((n[mask] - 1) * sd_log[mask] ** 2) / np.sum(n[mask] - 1)))


def replicate_weights(n: np.ndarray, sd_log: np.ndarray) -> np.ndarray:
    """Inverse variance of each point's mean log loss; replicate count when seeds are too few."""
    pooled = pooled_sd_log(n, sd_log)
    own = (n >= MIN_SEEDS_FOR_OWN_VARIANCE).all() and np.isfinite(sd_log).all() and pooled > 0
    if own:  # floor each variance at a third of the pooled sd so one lucky triple cannot dominate
        var = np.maximum(sd_log**2, (pooled / 3.0) ** 2) / n
        weights = 1.0 / var
    else:
        weights = n.astype(float)
    return weights / weights.mean()


def replicate_noise(runs: pd.DataFrame, loss_col: str = "final_test_loss") -> pd.DataFrame:
    """Run-to-run spread of loss among runs that differ only in seed (same shape and tokens)."""
    keys = [k for k in ("grid", "family", "n_layer", "d_model", "n_head", "d_ff", "shape", "params_non_embedding", "tokens", "lr")
            if k in runs]
    logs = runs.assign(_log=np.log(runs[loss_col].astype(float)))
    grouped = logs.groupby(keys, dropna=False)["_log"]
    table = pd.DataFrame({"n_seeds": grouped.size(), "sd_log": grouped.std(),
                          "mean_loss": np.exp(grouped.mean())}).reset_index()
    table = table[table["n_seeds"] >= 2].reset_index(drop=True)
    table["sd_pct"] = 100.0 * np.expm1(table["sd_log"])
    return table


def final_compute(runs: pd.DataFrame, convention: str) -> pd.Series:
    """Training FLOPs of each run's whole budget under a convention: flops_per_token_<key> x tokens."""
    check_convention(convention)
    return runs[f"flops_per_token_{convention}"].astype(float) * runs["tokens"].astype(float)


def check_convention(key: str) -> str:
    """`key` if it is one of COMPUTE_CONVENTIONS, else ValueError naming the valid ones."""
    if key not in COMPUTE_CONVENTIONS:
        raise ValueError(f"compute convention {key!r}: expected one of {COMPUTE_CONVENTIONS}")
    return key
