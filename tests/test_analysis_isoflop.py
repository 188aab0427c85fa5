"""IsoFLOP profiles (Hoffmann 2022 approach 2) recover a known N_opt ∝ C^a and flag unbracketed minima."""
import numpy as np
import pandas as pd

from analysis.isoflop import fit_isoflop
from analysis.synthetic import Law

LAW = Law()
A_TRUE = LAW.beta / (LAW.alpha + LAW.beta)  # Hoffmann 2022 eq. 4


def isoflop_runs(budgets=(1e15, 1e16, 1e17, 1e18), factors=np.geomspace(0.1, 10, 9), shift=1.0, seed=0):
    rng, rows = np.random.default_rng(seed), []
    for c in budgets:
        for f in factors:
            n = LAW.n_opt(c) * f * shift
            d = c / (6 * n)
            rows.append({"run_id": f"{c:g}-{f:.3f}", "status": "completed", "grid": "isoflop", "compute_budget": c,
                         "params_non_embedding": n, "tokens": d,
                         "final_test_loss": LAW(n, d) * np.exp(rng.normal(0, 0.001))})
    return pd.DataFrame(rows)


def test_isoflop_recovers_known_exponent_a_within_2_percent():
    fit = fit_isoflop(isoflop_runs(), n_boot=0)
    assert fit.converged and not fit.diagnostics
    assert abs(fit.params["a"] / A_TRUE - 1) < 0.02
    assert abs(fit.params["a"] + fit.params["b"] - 1) < 1e-6  # D_opt = C/(6 N_opt)


def test_isoflop_flags_a_minimum_outside_the_size_grid():
    shifted = isoflop_runs(budgets=(1e15,), shift=30.0)  # this budget's sizes all lie far above its optimum
    runs = pd.concat([isoflop_runs(budgets=(1e16, 1e17, 1e18)), shifted], ignore_index=True)
    fit = fit_isoflop(runs, n_boot=0)
    minima = fit.extra["minima"].set_index("budget")
    assert minima.loc[1e15, "edge"] and not minima.loc[1e16, "edge"]
    assert any("edge of the size grid" in note for note in fit.diagnostics)


def test_isoflop_with_too_few_bracketed_budgets_says_so():
    fit = fit_isoflop(isoflop_runs(budgets=(1e15, 1e16)), n_boot=0)
    assert not fit.converged and np.isnan(fit.params["a"]) and "budgets" in fit.message


def test_budgets_with_their_own_sizes_in_isoflop_grids_are_read_as_one_design():
    runs = isoflop_runs()
    # the two larger budgets as a grid of their own sizes (isoflop_high), the rest of another grid left out
    split = runs.assign(grid=np.where(runs["compute_budget"] > 1e16, "isoflop_high", "isoflop"))
    other = runs.assign(grid="n_grid", run_id=runs["run_id"] + "-other", final_test_loss=runs["final_test_loss"] * 2)
    fit = fit_isoflop(pd.concat([split, other], ignore_index=True), n_boot=0)
    assert fit.params["a"] == fit_isoflop(runs, n_boot=0).params["a"]
    assert len(fit.extra["minima"]) == 4
    assert fit_isoflop(runs.assign(grid="isoflopish"), n_boot=0).n_points == 0  # only isoflop and isoflop_<part>
