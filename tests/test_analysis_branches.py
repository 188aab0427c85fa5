"""Runs with a `wsd` trunk and cooldown branches: the trunk's shared rows count once, each branch's final point
is a final point at its own budget, and figures draw the trunk once and each branch from its fork."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from analysis.branches import TRUNK_PREFIX, curve_segments, schedule_of
from analysis.frontier import compute_envelope, fit_compute_frontier, usable_curves
from analysis.frontier_final import fit_final_frontier
from analysis.plots_scaling import _panel_compute
from analysis.result import FitResult
from analysis.synthetic import branched_runs, law_with_a

LAW = law_with_a(0.5)
BUDGETS = np.geomspace(1e15, 1e18, 4)


def branched(sizes=np.geomspace(1e6, 1e9, 13)):
    return branched_runs(LAW, sizes, BUDGETS)


def test_a_trunks_shared_rows_are_kept_once_and_each_branch_starts_at_its_fork():
    runs, curves = branched(sizes=[1e7])
    segments = curve_segments(curves)
    trunk = segments[segments["run_id"] == TRUNK_PREFIX + "n0"]
    shared = curves[curves["tokens"] <= curves["fork_tokens"]]
    assert len(trunk) == shared["tokens"].nunique() < len(shared)  # 4 branches repeat the trunk's rows
    for run in runs.itertuples():
        own = segments[segments["run_id"] == run.run_id]
        assert own["tokens"].min() == run.fork_tokens and own["tokens"].max() == run.tokens
    assert len(segments) == len(curves) - len(shared) + len(trunk) + len(runs)  # + each branch's fork row


def test_the_envelope_and_its_bootstrap_units_see_the_trunk_once():
    _, curves = branched(sizes=[1e7, 1e8])
    units = set(usable_curves(curves, "compute_6n")["run_id"])
    assert units == {"trunk:n0", "trunk:n1"} | {f"n{i}-b{j}" for i in (0, 1) for j in range(4)}
    by_hand = curve_segments(curves).drop(columns="segment")
    pd.testing.assert_frame_equal(compute_envelope(curves), compute_envelope(by_hand))
    fit = fit_compute_frontier(branched()[1], n_boot=3)  # resamples trunks and branches as units
    assert fit.converged


def test_final_points_of_all_branches_give_the_frontier_at_several_budgets():
    runs, _ = branched()
    fit = fit_final_frontier(runs, n_boot=0)
    assert fit.converged and abs(fit.params["a_Nopt"] - 0.5) < 0.02  # the trunks' undecayed rows are not used


def test_runs_without_a_schedule_column_are_cosine_runs():
    assert list(schedule_of(pd.DataFrame({"run_id": ["a"]}))) == ["cosine"]
    assert list(schedule_of(pd.DataFrame({"schedule": ["wsd", None, ""]}))) == ["wsd", "cosine", "cosine"]


def test_figure_1_draws_the_trunk_once_and_each_branch_from_its_fork():
    runs, curves = branched(sizes=[1e7, 1e8])
    fig, ax = plt.subplots()
    no_fit = FitResult.failed("L(C_min)", "not fitted", ["alpha_C"])
    no_fit.extra["compute"] = "compute_6n"
    _panel_compute(ax, fig, curves, no_fit)
    assert len(ax.lines) == 2 + 2 * len(BUDGETS)  # two trunks, four branches each
    starts = sorted(float(line.get_xdata()[0]) for line in ax.lines)
    forks = 6 * runs["params_non_embedding"] * runs["fork_tokens"]
    trunk_starts = curves.groupby("trunk_id")["compute_6n"].min()
    assert np.allclose(starts, sorted([*forks, *trunk_starts]))
    plt.close(fig)


def test_branches_that_disagree_before_their_forks_are_named():
    from analysis.branches import shared_rows_differ

    _, curves = branched(sizes=[1e7, 1e8])
    assert shared_rows_differ(curves) == []
    row = curves.index[(curves["trunk_id"] == "n1") & (curves["tokens"] < curves["fork_tokens"])][0]
    curves.loc[row, "test_loss"] += 0.1
    assert shared_rows_differ(curves) == ["n1"]
