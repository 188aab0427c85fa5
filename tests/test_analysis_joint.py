"""Joint fits L(N, D): Chinchilla (Hoffmann 2022 app. D.2) and Kaplan 2020 eq. 1.5 recover known laws."""
import numpy as np
import pandas as pd

from analysis.chinchilla import fit_chinchilla, fit_chinchilla_arrays
from analysis.joint import fit_kaplan_nd_arrays
from analysis.synthetic import Law

N, D = (g.ravel() for g in np.meshgrid(np.geomspace(1e4, 3e7, 8), np.geomspace(1e6, 3e9, 8)))


def noisy(loss, seed, noise=0.002):
    return loss * np.exp(np.random.default_rng(seed).normal(0, noise, len(loss)))


def test_chinchilla_recovers_e_a_b_alpha_beta():
    law = Law()
    fit = fit_chinchilla_arrays(N, D, noisy(law(N, D), seed=0), max_starts=20)
    assert fit.converged
    for key, true in (("E", law.E), ("alpha", law.alpha), ("beta", law.beta)):
        assert abs(fit.params[key] / true - 1) < 0.02, key
    for key, true in (("A", law.A), ("B", law.B)):
        assert abs(fit.params[key] / true - 1) < 0.10, key
    assert abs(fit.params["a_from_fit"] - law.beta / (law.alpha + law.beta)) < 0.01


def test_chinchilla_on_runs_frame_has_bootstrap_intervals():
    law = Law()
    runs = pd.DataFrame({"params_non_embedding": N, "tokens": D, "final_test_loss": noisy(law(N, D), seed=1),
                         "status": "completed", "run_id": [f"r{i}" for i in range(len(N))]})
    fit = fit_chinchilla(runs, n_boot=20, max_starts=10)
    low, high = fit.interval("alpha")
    assert low <= fit.params["alpha"] <= high and high - low < 0.05


def test_kaplan_nd_recovers_exponents_within_2_percent():
    alpha_n, alpha_d, n_c, d_c = 0.076, 0.103, 6.4e13, 1.8e13  # Kaplan 2020 Table 2
    loss = ((n_c / N) ** (alpha_n / alpha_d) + d_c / D) ** alpha_d
    fit = fit_kaplan_nd_arrays(N, D, noisy(loss, seed=2, noise=0.001))
    assert fit.converged
    assert abs(fit.params["alpha_N"] / alpha_n - 1) < 0.02
    assert abs(fit.params["alpha_D"] / alpha_d - 1) < 0.02


def test_joint_fits_refuse_nan_losses_with_a_message():
    loss = Law()(N, D)
    loss[3] = np.nan
    for fit in (fit_chinchilla_arrays(N, D, loss, max_starts=2), fit_kaplan_nd_arrays(N, D, loss)):
        assert not fit.converged and np.isnan(list(fit.params.values())[0]) and "non-finite" in fit.message


def test_joint_fits_refuse_two_distinct_sizes():
    n, d = np.array([1e5, 1e5, 1e6, 1e6]), np.array([1e7, 1e8, 1e7, 1e8])
    fit = fit_chinchilla_arrays(n, d, Law()(n, d), max_starts=2)
    assert not fit.converged and "distinct" in fit.message


def test_chinchilla_e_that_runs_to_zero_is_flagged():
    law = Law()
    loss = noisy(law.A / N**law.alpha + law.B / D**law.beta, seed=3)  # the same law with no floor (E = 0)
    fit = fit_chinchilla_arrays(N, D, loss, max_starts=20)
    assert fit.params["E"] < 1e-3 * loss.min()
    assert any(note.startswith("E ran to 0") for note in fit.diagnostics)
    assert not any("ran to 0" in note for note in fit_chinchilla_arrays(N, D, law(N, D), max_starts=20).diagnostics)


def test_chinchilla_that_runs_off_to_infinity_is_a_message_not_an_overflow():
    # Five runs of a smoke sweep (one left out): L-BFGS drove a = log A past 700, and math.exp raised
    # OverflowError out of the whole analysis; Newton steps stop at a ≈ 385 with α ≈ 44, a step in N.
    n = np.array([6592.0, 25472.0, 12768.0, 25472.0, 25472.0])
    d = np.array([32768.0, 16384.0, 32768.0, 8192.0, 32768.0])
    loss = np.array([5.1969, 5.2533, 4.9342, 5.5683, 4.941])
    fit = fit_chinchilla_arrays(n, d, loss)
    assert not fit.converged and np.isnan(fit.params["E"]) and "ran off" in fit.message
