"""Runs with a trunk and cooldown branches (the `wsd` schedule): each branch's curve holds its trunk's rows up
to the fork, then its own cooldown rows. Curve analyses see the trunk's shared part once.

Run metadata (load_runs): schedule ('cosine' | 'wsd'; missing in older result files, read as 'cosine'),
trunk_id ('' for a run that is no branch), fork_step and fork_tokens (-1 when there is no fork).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TRUNK_PREFIX = "trunk:"  # run_id given to a trunk's shared curve rows
DEFAULT_SCHEDULE = "cosine"  # result files written before the schedule column existed were all cosine runs


def schedule_of(runs: pd.DataFrame) -> pd.Series:
    """Each run's schedule; 'cosine' where the column is missing (runs from before it existed) or empty."""
    if "schedule" not in runs:
        return pd.Series(DEFAULT_SCHEDULE, index=runs.index)
    return runs["schedule"].fillna(DEFAULT_SCHEDULE).replace("", DEFAULT_SCHEDULE)


def is_branch(frame: pd.DataFrame) -> pd.Series:
    """True for rows of runs that are branches of a trunk (non-empty trunk_id and a fork)."""
    if "trunk_id" not in frame or "fork_tokens" not in frame:
        return pd.Series(False, index=frame.index)
    trunk = frame["trunk_id"].fillna("").astype(str)
    return (trunk != "") & (pd.to_numeric(frame["fork_tokens"], errors="coerce").fillna(-1) >= 0)


def shared_trunk_rows(curves: pd.DataFrame) -> pd.DataFrame:
    """The rows of branches up to and including their forks: each trunk's shared part, once per branch."""
    rows = curves[is_branch(curves)]
    return rows[rows["tokens"].astype(float) <= rows["fork_tokens"].astype(float)]


def curve_segments(curves: pd.DataFrame) -> pd.DataFrame:
    """Curve rows with every trunk's shared part once: rows of a branch up to its fork become one segment
    per trunk (run_id 'trunk:<trunk_id>', rows at equal tokens kept once), and each branch keeps its rows from
    its fork on (the fork row included, so the branch starts where it leaves the trunk). Runs that are no
    branch are unchanged. A column `segment` says 'run', 'trunk' or 'branch'."""
    branch = is_branch(curves)
    if not branch.any():
        return curves.assign(segment="run")
    rows = curves[branch]
    trunk = (shared_trunk_rows(curves).sort_values(["trunk_id", "tokens"], kind="stable")
             .drop_duplicates(["trunk_id", "tokens"]))
    trunk = trunk.assign(run_id=TRUNK_PREFIX + trunk["trunk_id"].astype(str), segment="trunk")
    own = rows[rows["tokens"].astype(float) >= rows["fork_tokens"].astype(float)].assign(segment="branch")
    return pd.concat([curves[~branch].assign(segment="run"), trunk, own], ignore_index=True)


def shared_rows_differ(curves: pd.DataFrame, column: str = "test_loss") -> list[str]:
    """Trunks whose branches disagree on a shared row (same tokens before both forks): their curves are not
    branches of one trunk, and curve_segments would keep only one of them."""
    grouped = shared_trunk_rows(curves).groupby(["trunk_id", "tokens"])[column]
    spread = grouped.agg(lambda v: np.ptp(v.to_numpy(float)))
    bad = spread[spread > 0]
    return sorted(bad.index.get_level_values(0).unique().astype(str))
