"""The batched fitters (analysis/batchfit.py) give the fits of the scipy fitters they replaced, and their
bootstraps the intervals of refitting every resampled frame one by one.

References kept only here: scipy.optimize.least_squares and L-BFGS-B from the same starts, run to tight
tolerances, and the analytic derivatives checked against finite differences.
"""
import numpy as np
import pandas as pd
import pytest
from scipy.optimize import approx_fprime, check_grad, least_squares, minimize
from scipy.special import logsumexp

from analysis import chinchilla, joint, powerlaw
from analysis.batchfit import minimize_batch
from analysis.bootstrap import attach_bootstrap, bootstrap_params, resample_counts
from analysis.frontier import fit_compute_frontier
from analysis.frontier_final import fit_final_frontier
from analysis.isoflop import fit_isoflop
from analysis.synthetic import Law, as_frames, branched_runs, law_curves, law_with_a, synthetic_results

RTOL = 1e-6  # the agreement asked of every point estimate
LAW = Law()
N, D = (g.ravel() for g in np.meshgrid(np.geomspace(1e5, 1e8, 5), np.geomspace(1e8, 1e11, 5)))


def noisy(loss, seed, noise=0.01):
    return loss * np.exp(np.random.default_rng(seed).normal(0, noise, len(loss)))


def close(a, b, rtol=RTOL):
    return np.allclose(a, b, rtol=rtol, atol=0)


# --- the solver itself, on problems with known minima


def rosenbrock(x, rows, derivatives):
    a, b = x[:, 0], x[:, 1]
    f = (1 - a) ** 2 + 100 * (b - a**2) ** 2
    if not derivatives:
        return f
    g = np.stack([-2 * (1 - a) - 400 * a * (b - a**2), 200 * (b - a**2)], axis=1)
    h = np.stack([np.stack([2 - 400 * (b - 3 * a**2), -400 * a], axis=1),
                  np.stack([-400 * a, np.full_like(a, 200.0)], axis=1)], axis=1)
    return f, g, h


def test_every_start_of_a_batch_reaches_the_rosenbrock_minimum():
    starts = np.array([[-1.2, 1.0], [2.0, -1.0], [0.0, 0.0], [-3.0, 5.0]])
    result = minimize_batch(rosenbrock, starts)
    assert result.converged.all() and close(result.x, 1.0, 1e-6)


def test_a_bound_holds_a_minimum_that_lies_outside_the_box():
    def quadratic(x, rows, derivatives):  # minimum at (2, -1)
        f = (x[:, 0] - 2) ** 2 + (x[:, 1] + 1) ** 2
        if not derivatives:
            return f
        return f, 2 * np.stack([x[:, 0] - 2, x[:, 1] + 1], axis=1), np.broadcast_to(2 * np.eye(2), (len(x), 2, 2))

    result = minimize_batch(quadratic, [[0.0, 0.0]], lower=[-np.inf, 0.5], upper=[1.0, np.inf])
    assert result.converged[0] and close(result.x[0], [1.0, 0.5], 1e-12)


def test_a_start_where_the_objective_is_not_finite_ends_not_converged():
    def log_barrier(x, rows, derivatives):
        f = -np.log(x[:, 0]) + x[:, 0]
        return f if not derivatives else (f, (1 - 1 / x)[:, :1], (1 / x**2)[:, :, None])

    with np.errstate(invalid="ignore"):
        result = minimize_batch(log_barrier, [[-1.0], [3.0]])
    assert list(result.converged) == [False, True] and close(result.x[1], 1.0)


def test_a_singular_system_in_the_batch_takes_least_norm_steps(monkeypatch):
    def singular(*args):
        raise np.linalg.LinAlgError("Singular matrix")

    monkeypatch.setattr(np.linalg, "solve", singular)
    result = minimize_batch(rosenbrock, [[-1.2, 1.0]])
    assert result.converged[0] and close(result.x[0], 1.0, 1e-6)


# --- analytic derivatives against finite differences


def huber_at(theta, ln_n, ln_d, ln_l):
    return chinchilla._huber_terms(theta[None], ln_n[None], ln_d[None], ln_l[None], np.ones((1, len(ln_n))), 1e-3)


def test_the_huber_gradient_and_hessian_are_those_of_finite_differences():
    ln_n, ln_d = np.log(N), np.log(D)
    ln_l = np.log(noisy(LAW(N, D), seed=0))
    theta = np.array([6.2, 5.8, 0.4, 0.33, 0.29])  # residuals of ~1e-2, none at the Huber kink (|r| = δ)
    value, grad = (lambda t: huber_at(t, ln_n, ln_d, ln_l)[0][0]), (lambda t: huber_at(t, ln_n, ln_d, ln_l)[1][0])
    # finite differences of a sum of Huber terms scaled by 1/δ² = 1e6 carry errors of ~1e-5 of the gradient
    assert check_grad(value, grad, theta, epsilon=1e-8) < 1e-4 * np.abs(grad(theta)).max()
    numeric = np.array([approx_fprime(theta, lambda t, i=i: grad(t)[i], 1e-7) for i in range(5)])
    assert close(huber_at(theta, ln_n, ln_d, ln_l)[2][0], numeric, 1e-4)


@pytest.mark.parametrize("model", ["kaplan", "floor"])
def test_least_squares_gradients_are_those_of_finite_differences(model):
    x, y = np.log(N), np.log(noisy(LAW(N, D), seed=1))
    if model == "kaplan":
        theta, terms = np.array([0.08, 0.1, 30.0, 25.0]), lambda t: joint._kaplan_terms(
            t[None], x[None], np.log(D)[None], y[None], np.ones((1, len(x))))
    else:
        theta, terms = np.array([0.5, 0.2, 0.4]), lambda t: powerlaw._floor_terms(
            t[None], (x - x.mean())[None], y[None], np.ones((1, len(x))))
    grad = terms(theta)[1][0]
    assert check_grad(lambda t: terms(t)[0][0], lambda t: terms(t)[1][0], theta) < 1e-6 * np.abs(grad).max()


def test_the_grid_costs_are_those_of_scipy_logsumexp():
    ln_n, ln_d = np.log(N), np.log(D)
    grid = np.array([[0.0, 5.0, -1.0, 0.5, 2.0], [25.0, 0.0, 1.0, 2.0, 0.0], [5.0, 5.0, 5.0, 0.0, 0.0]])
    terms = [grid[:, [0]] - grid[:, [3]] * ln_n, grid[:, [1]] - grid[:, [4]] * ln_d, grid[:, [2]] + 0 * ln_n]
    assert np.array_equal(chinchilla._log_sum_exp3(*terms), logsumexp(np.stack(terms), axis=0))


# --- point estimates against the scipy fitters, started where they were


def test_chinchilla_matches_lbfgs_from_the_same_starts():
    n, d, loss = N, D, noisy(LAW(N, D), seed=2, noise=0.003)
    ln = [np.log(v) for v in (n, d, loss)]
    starts = chinchilla._grid_starts(*ln, 1e-3, 4)

    def objective(theta):  # the fit's own objective and gradient, one start at a time
        value, grad, _ = huber_at(theta, *ln)
        return value[0], grad[0]

    # the options of the L-BFGS-B fit this one replaced
    lbfgs = [minimize(objective, s, jac=True, method="L-BFGS-B", options={"maxiter": 5000, "ftol": 1e-10,
                                                                            "gtol": 1e-5}) for s in starts]
    best = min(lbfgs, key=lambda r: r.fun)
    fit = chinchilla.fit_chinchilla_arrays(n, d, loss, max_starts=4)
    assert fit.converged and close(fit.extra["theta"], best.x) and close(fit.objective, best.fun, 1e-9)


def test_kaplan_eq_1_5_matches_least_squares_from_the_same_starts():
    n, d = N, D
    loss = noisy(((6.4e13 / n) ** (0.076 / 0.103) + 1.8e13 / d) ** 0.103, seed=3)  # Kaplan 2020 Table 2
    ln = [np.log(v) for v in (n, d, loss)]
    fits = [least_squares(lambda t: joint.kaplan_nd_log_loss(t, ln[0], ln[1]) - ln[2], s, method="trf",
                          bounds=([1e-4, 1e-4, -np.inf, -np.inf], [5, 5, np.inf, np.inf]), x_scale="jac",
                          ftol=1e-15, xtol=1e-15, gtol=1e-15, max_nfev=5000) for s in joint._grid_starts(*ln)]
    best = min(fits, key=lambda r: r.cost)
    fit = joint.fit_kaplan_nd_arrays(n, d, loss)
    assert fit.converged and close(fit.extra["theta"], best.x) and close(fit.objective, 2 * best.cost, 1e-9)


def test_l_of_n_with_a_floor_matches_least_squares_from_the_same_starts():
    x = np.geomspace(1e4, 1e8, 9)
    loss = noisy(1.7 + (1e9 / x) ** 0.3, seed=4, noise=0.003)
    lx, ly, w, _ = powerlaw._centred(x, loss, None)
    lo_e = ly.min() - powerlaw.FLOOR_LOG_RANGE
    fits = [least_squares(lambda t: np.logaddexp(t[2], t[0] - t[1] * lx) - ly, s, method="trf", x_scale="jac",
                          bounds=([-np.inf, 0.0, lo_e], [np.inf, 10.0, np.inf]), ftol=1e-15, xtol=1e-15, gtol=1e-15)
            for s in powerlaw._floor_starts(lx, ly, w)]
    theta, converged, _ = powerlaw._fit_floor(lx, ly, w)
    assert converged and close(theta, min(fits, key=lambda r: r.cost).x)


def test_sets_fitted_in_one_batch_are_the_sets_fitted_one_by_one():
    loss = noisy(LAW(N, D), seed=7)
    sets = [(N, D, loss), (N[:15], D[:15], loss[:15])]  # of different sizes: the shorter one is padded
    for one_batch, fit_one in ((joint.fit_kaplan_nd_sets(sets), joint.fit_kaplan_nd_arrays),
                               (chinchilla.fit_chinchilla_sets(sets, max_starts=3),
                                lambda *s: chinchilla.fit_chinchilla_arrays(*s, max_starts=3))):
        for batched, arrays in zip(one_batch, sets):
            alone = fit_one(*arrays)
            assert batched.converged and close(batched.extra["theta"], alone.extra["theta"], 1e-9)


# --- batched bootstraps against refitting every resampled frame


def frame_intervals(result, fit, data, n_boot, **resampling):
    """attach_bootstrap's intervals and standard errors from `fit` on each resampled frame."""
    copy = type(result)(result.name, dict(result.params), result.converged, result.message)
    attach_bootstrap(copy, fit, data, n_boot, 0, **resampling)
    return copy.intervals, copy.std_errors


def same_bootstrap(batched, frames, rtol=1e-9):
    assert batched.intervals.keys() == frames[0].keys() and batched.intervals
    for key, interval in frames[0].items():
        assert close(batched.intervals[key], interval, rtol) and close(batched.std_errors[key], frames[1][key], rtol)


def test_resample_counts_are_the_resamples_of_bootstrap_params():
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(6)], "x": np.arange(6.0), "budget": [1, 1, 1, 2, 2, 3]})
    seen = []
    bootstrap_params(lambda f: seen.append(np.bincount(f["x"].astype(int), minlength=6)) or
                     powerlaw.FitResult.failed("", "", ["p"]), runs, 5, 7, strata="budget")
    assert np.array_equal(resample_counts(runs, 5, 7, strata="budget"), np.array(seen))


@pytest.mark.parametrize("irreducible", [False, True])
def test_l_of_n_refits_are_fits_of_each_resampled_frame(irreducible):
    n = np.repeat(np.geomspace(1e4, 1e8, 6), 2)
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(n))], "status": "completed", "grid": "n_grid",
                         "n_layer": 2, "d_model": np.repeat(np.arange(6), 2), "tokens": 1e9,
                         "params_non_embedding": n, "best_test_loss": noisy(1.7 + (1e9 / n) ** 0.3, seed=5)})
    batched = powerlaw.fit_loss_vs_params(runs, irreducible=irreducible, n_boot=40)
    frames = frame_intervals(batched, lambda f: powerlaw.fit_loss_vs_params(f, irreducible=irreducible, n_boot=0),
                             runs, 40)
    same_bootstrap(batched, frames, 1e-6)


@pytest.mark.parametrize("fitter", ["kaplan", "chinchilla"])
def test_joint_refits_are_fits_of_each_resampled_frame_from_the_full_optimum(fitter):
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(len(N))], "status": "completed",
                         "params_non_embedding": N, "tokens": D, "final_test_loss": noisy(LAW(N, D), seed=6)})
    if fitter == "kaplan":
        batched, fit_arrays = joint.fit_kaplan_nd(runs, n_boot=30), joint.fit_kaplan_nd_arrays
    else:
        batched = chinchilla.fit_chinchilla(runs, n_boot=30, max_starts=5)
        fit_arrays = chinchilla.fit_chinchilla_arrays
    theta = batched.extra["theta"]
    frames = frame_intervals(batched, lambda f: fit_arrays(*joint.joint_arrays(f, "final_test_loss"), starts=theta),
                             runs, 30)
    same_bootstrap(batched, frames, 1e-6)


@pytest.mark.parametrize("branched", [False, True])
def test_frontier_refits_are_fits_of_each_resampled_frame(branched):
    if branched:  # wsd trunks: a trunk's shared rows stand for every branch drawn
        curves = branched_runs(law_with_a(0.5), np.geomspace(1e6, 1e9, 7), np.geomspace(1e15, 1e18, 3))[1]
    else:
        curves = law_curves(LAW, np.geomspace(1e6, 1e9, 7), (1e14, 1e19))
    batched = fit_compute_frontier(curves, n_boot=25)
    same_bootstrap(batched, frame_intervals(batched, lambda f: fit_compute_frontier(f, n_boot=0), curves, 25,
                                            unit="run_id"))


def test_isoflop_and_final_frontier_refits_are_fits_of_each_resampled_frame():
    runs, _ = as_frames(synthetic_results(n_seeds=1))
    runs = runs[runs["status"] == "completed"]
    iso = fit_isoflop(runs, n_boot=20)
    same_bootstrap(iso, frame_intervals(iso, lambda f: fit_isoflop(f, n_boot=0), runs, 20,
                                        strata="compute_budget"))
    final = fit_final_frontier(runs, n_boot=20)
    same_bootstrap(final, frame_intervals(final, lambda f: fit_final_frontier(f, n_boot=0), runs, 20,
                                          unit="run_id"))
