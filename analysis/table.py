"""Anyone's (N, D, loss) points as the runs the fits read: `python scripts/analyze.py --table points.csv`.

Columns (docs/analysis.md): N, D, loss required; compute, budget, seed, shape, family optional. Every
check runs before anything is written, and the first problem stops the analysis with one message naming the
column and the row (rows counted from 1, the header not counted).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import published as pub
from analysis.optimum import merge_budgets
from analysis.result import MIN_DISTINCT_X

REQUIRED_COLUMNS = ("N", "D", "loss")
POSITIVE_OPTIONAL = ("compute", "budget")  # numbers > 0 where given; empty cells allowed
N_COUNTINGS = ("non_embedding", "with_embeddings", "total")  # what a table's N counts (docs/analysis.md)
READERS = {".csv": pd.read_csv, ".parquet": pd.read_parquet,
           ".jsonl": lambda path: pd.read_json(path, lines=True)}


class TableError(ValueError):
    """A points table that cannot be fitted; the message names the column and the row."""


def read_table(path: str | Path) -> pd.DataFrame:
    """The table at `path` (.csv, .parquet or .jsonl), as read; TableError if it cannot be read at all."""
    path = Path(path)
    if path.suffix not in READERS:
        raise TableError(f"table {str(path)!r}: unknown suffix {path.suffix!r}; expected one of {sorted(READERS)}")
    if not path.is_file():
        raise TableError(f"table {str(path)!r}: no such file")
    try:
        return READERS[path.suffix](path)
    except (ValueError, OSError) as exc:  # a malformed file of the right suffix: say which and why
        raise TableError(f"table {str(path)!r}: not a readable {path.suffix[1:]} file ({exc})") from exc


def _cell(value) -> str:
    """A cell as the message shows it: text quoted, numbers as %g (NaN is an empty or 'nan' cell)."""
    return repr(value) if isinstance(value, str) else f"{float(value):g}"


def _numbers(frame: pd.DataFrame, column: str, required: bool) -> pd.Series:
    """The column as floats; TableError at the first cell that is not a number (empty cells only if optional)."""
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = values.isna() & (frame[column].notna() | required)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise TableError(f"column {column!r}, row {row + 1}: {_cell(frame[column].iloc[row])} is not a number")
    return values.astype(float)


def _first_bad(column: str, values: pd.Series, ok: pd.Series, what: str) -> None:
    if not ok.all():
        row = int(np.flatnonzero(~ok.to_numpy())[0])
        raise TableError(f"column {column!r}, row {row + 1}: {_cell(values.iloc[row])} {what}")


def validate_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The required and optional numeric columns as floats, checked; TableError at the first problem."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame]
    if missing:
        raise TableError(f"column {missing[0]!r} is missing: a points table needs {list(REQUIRED_COLUMNS)} "
                         f"(has {list(frame.columns)})")
    if frame.empty:
        raise TableError("the table has no rows")
    checked = frame.copy()
    for column in ("N", "D", *[c for c in POSITIVE_OPTIONAL if c in frame]):
        values = _numbers(frame, column, required=column in REQUIRED_COLUMNS)
        _first_bad(column, values, values.isna() | (np.isfinite(values) & (values > 0)), "must be a finite number > 0")
        checked[column] = values
    loss = _numbers(frame, "loss", required=True)
    _first_bad("loss", loss, np.isfinite(loss) & (loss > 0), "must be a finite loss > 0")
    checked["loss"] = loss
    if "seed" in frame:
        checked["seed"] = _numbers(frame, "seed", required=False)
    if checked["N"].nunique() < 2:
        raise TableError(f"column 'N': every row has N = {checked['N'].iloc[0]:g}; the fits need at least two "
                         "model sizes")
    return checked


def select_family(table: pd.DataFrame, family: str | None) -> pd.DataFrame:
    """The rows of one family: all rows when the table has no family column or one family; else `family`."""
    if "family" not in table:
        if family is not None:
            raise TableError(f"--family {family!r}: the table has no 'family' column")
        return table
    families = sorted(table["family"].astype(str).unique())
    if family is None and len(families) > 1:
        raise TableError(f"column 'family': {len(families)} families {families}; the fits assume one, choose it "
                         "with --family")
    chosen = table[table["family"].astype(str) == (family or families[0])]
    if chosen.empty:
        raise TableError(f"--family {family!r}: not in column 'family' (has {families})")
    return chosen.reset_index(drop=True)


def _budgets(table: pd.DataFrame) -> pd.Series:
    """The IsoFLOP budget of each row: the budget column, else the compute column where the computes of at
    least MIN_DISTINCT_X sizes agree within BUDGET_RTOL, else NaN."""
    if "budget" in table:
        return table["budget"]
    if "compute" not in table:
        return pd.Series(math.nan, index=table.index)
    merged = merge_budgets(table["compute"])
    sizes = table.groupby(merged)["N"].transform("nunique")
    return merged.where(sizes >= MIN_DISTINCT_X)


def table_runs(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(runs, curves) in the columns the fits read: N becomes params_non_embedding (in the table's own
    counting), D tokens, loss both final_test_loss and best_test_loss; C = 6·N·D is the '6n' convention and
    the table's compute column, if any, the 'exact' one. Each point is a one-row curve."""
    n, d = table["N"].astype(float), table["D"].astype(float)
    runs = pd.DataFrame({
        "run_id": [f"row{i + 1}" for i in range(len(table))], "status": "completed",
        "params_non_embedding": n, "tokens": d, "final_test_loss": table["loss"], "best_test_loss": table["loss"],
        "seed": table["seed"] if "seed" in table else 0.0,
        "shape": table["shape"].astype(str) if "shape" in table else n.map(lambda v: f"N={v:.6g}"),
        "compute_budget": _budgets(table), "flops_per_token_6n": pub.FLOPS_PER_PARAM_TOKEN * n})
    if "compute" in table:
        runs["flops_per_token_exact"] = table["compute"] / d
    curves = runs[["run_id", "status", "params_non_embedding", "tokens"]].assign(
        step=0, test_loss=runs["final_test_loss"], compute_6n=runs["flops_per_token_6n"] * d)
    if "compute" in table:
        curves["compute_exact"] = table["compute"]
    return runs, curves


def load_table(path: str | Path, family: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """read_table, validate_table, select_family and table_runs in one call."""
    return table_runs(select_family(validate_table(read_table(path)), family))


def points_runs(n, d, loss, **optional) -> pd.DataFrame:
    """The runs frame of plain arrays, checked as a table is: points_runs(N, D, loss, budget=C) for
    fit_isoflop, fit_final_frontier, fit_loss_vs_params and the other DataFrame fitters. `optional` takes
    the table's optional columns (compute, budget, seed, shape) by name; None leaves one out."""
    columns = {"N": n, "D": d, "loss": loss, **{k: v for k, v in optional.items() if v is not None}}
    unknown = sorted(set(columns) - set(REQUIRED_COLUMNS) - {"compute", "budget", "seed", "shape"})
    if unknown:
        raise TableError(f"points_runs: unknown columns {unknown}; optional ones are compute, budget, seed, shape")
    return table_runs(validate_table(pd.DataFrame(columns)))[0]
