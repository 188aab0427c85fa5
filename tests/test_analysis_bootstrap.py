"""Bootstrap over runs: intervals contain the truth, shrink with less noise, and are seedable."""
import numpy as np
import pandas as pd

from analysis.powerlaw import fit_loss_vs_params

ALPHA_TRUE = 0.1


def n_grid_runs(noise, seed=0, n_seeds=2):
    n = np.repeat(np.geomspace(1e5, 1e8, 8), n_seeds)
    loss = (1e13 / n) ** ALPHA_TRUE * np.exp(np.random.default_rng(seed).normal(0, noise, len(n)))
    return pd.DataFrame({"run_id": [f"r{i}" for i in range(len(n))], "status": "completed", "grid": "n_grid",
                         "n_layer": 4, "d_model": np.repeat(np.arange(8), n_seeds), "tokens": 1e9,
                         "params_non_embedding": n, "best_test_loss": loss})


def width(fit, key="alpha_N"):
    low, high = fit.interval(key)
    return high - low


def test_interval_contains_true_exponent_in_most_noisy_datasets():
    covered = 0
    for data_seed in range(12):  # a 95% interval may miss once in twenty; assert coverage, not luck
        fit = fit_loss_vs_params(n_grid_runs(noise=0.01, seed=data_seed), n_boot=100, seed=1)
        low, high = fit.interval("alpha_N")
        covered += low <= ALPHA_TRUE <= high
    assert covered >= 9


def test_interval_is_narrower_with_less_noise():
    noisy = fit_loss_vs_params(n_grid_runs(noise=0.02), n_boot=100, seed=1)
    quiet = fit_loss_vs_params(n_grid_runs(noise=0.002), n_boot=100, seed=1)
    assert width(quiet) < 0.3 * width(noisy)


def test_bootstrap_is_reproducible_with_a_seed():
    runs = n_grid_runs(noise=0.01)
    assert fit_loss_vs_params(runs, n_boot=50, seed=7).intervals == fit_loss_vs_params(runs, n_boot=50, seed=7).intervals
    assert fit_loss_vs_params(runs, n_boot=50, seed=7).intervals != fit_loss_vs_params(runs, n_boot=50, seed=8).intervals


def test_no_bootstrap_means_no_interval_rather_than_a_fake_one():
    fit = fit_loss_vs_params(n_grid_runs(noise=0.01), n_boot=0)
    assert all(np.isnan(fit.interval("alpha_N")))


def test_standard_errors_are_the_spread_of_the_same_refits_as_the_intervals():
    from analysis.bootstrap import bootstrap_params

    runs = n_grid_runs(noise=0.01)
    fit = fit_loss_vs_params(runs, n_boot=50, seed=3)
    chosen = runs[runs["tokens"] == runs["tokens"].max()]
    samples, _ = bootstrap_params(lambda f: fit_loss_vs_params(f, n_boot=0), chosen, 50, 3)
    assert abs(fit.std_error("alpha_N") - samples["alpha_N"].std(ddof=1)) < 1e-12
    assert 0 < fit.std_error("alpha_N") < width(fit) / 2


def test_the_objective_is_the_sum_of_squared_log_residuals():
    from analysis.powerlaw import fit_power_law

    x, noise = np.array([1.0, 10, 100, 1000]), np.array([0.01, -0.01, 0.0, 0.0])
    fit = fit_power_law(x, (1e6 / x) ** 0.1 * np.exp(noise))
    # by hand: OLS of log L on log x through these 4 points leaves residuals (noise - fitted line of noise)
    line = np.polyval(np.polyfit(np.log(x), noise, 1), np.log(x))
    assert abs(fit.objective - np.sum((noise - line) ** 2)) < 1e-12
