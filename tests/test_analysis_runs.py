"""Run handling across the analysis: exclusions, noise, architecture spread, extrapolation, comparison."""
import numpy as np
import pandas as pd
import pytest

from analysis.architecture import architecture_verdict, shape_groups, shape_table
from analysis.architecture_series import summarise_architecture
from analysis.data import replicate_noise, split_by_status
from analysis.pipeline import AnalysisOptions, run_analysis
from analysis.synthetic import as_frames, synthetic_results
from analysis.validation import compare_joint_models, extrapolate_joint, extrapolate_power_law, joint_fitters

RESULTS = synthetic_results(noise=0.003, seed=0)
RUNS, CURVES = as_frames(RESULTS)


def test_diverged_runs_are_excluded_and_listed_with_their_step():
    usable, excluded = split_by_status(RUNS)
    assert "n_grid-diverged" not in set(usable["run_id"])
    row = excluded.set_index("run_id").loc["n_grid-diverged"]
    assert row["status"] == "diverged" and row["shape"] == "4x384" and row["diverged_step"] > 0


def test_diverged_run_never_reaches_a_fit():
    poisoned = RUNS.copy()
    poisoned.loc[poisoned["run_id"] == "n_grid-diverged", "best_test_loss"] = 0.001  # would dominate L(N)
    analysis = run_analysis(poisoned, CURVES, AnalysisOptions(n_boot=0, max_starts=5))
    assert "n_grid-diverged" in set(analysis.excluded["run_id"])
    assert analysis.fits["L(N)"].n_points == 7 and analysis.fits["L(N)"].params["alpha_N"] > 0


def test_replicate_noise_reports_spread_of_seed_pairs():
    noise = replicate_noise(split_by_status(RUNS)[0])
    assert len(noise) == 7 and (noise["n_seeds"] == 2).all()
    assert 0 < noise["sd_log"].median() < 0.01


def test_shape_groups_join_sizes_within_20_percent():
    runs = pd.DataFrame({"params_non_embedding": [1.0e6, 1.1e6, 1.19e6, 5e6, 5.5e6]})
    assert shape_groups(runs).nunique() == 2


def test_a_chain_of_sizes_each_19_percent_apart_is_not_one_fixed_n():
    sizes = 1e5 * 1.19 ** np.arange(10)  # 4.8x from first to last
    groups = shape_groups(pd.DataFrame({"params_non_embedding": sizes}))
    assert groups.nunique() == 5 and groups.value_counts().max() == 2


def test_arch_shape_preset_sizes_fall_into_its_three_groups():
    # N of the arch_shape preset's 16 distinct shapes (vocab 1024, d_head 16), from models.counting: the
    # largest group spans 744,000 (4 x 96, d_ff 8d) to 894,912 (8 x 96), 20.3%, yet is one group.
    sizes = [50112, 56640, 50880, 52512, 198528, 223872, 200064, 226272,
             790272, 748352, 793344, 894912, 799872, 750816, 826560, 744000]
    groups = shape_groups(pd.DataFrame({"params_non_embedding": sizes}))
    assert groups.value_counts().sort_index().tolist() == [4, 4, 8]
    assert groups.iloc[11] == groups.iloc[15] == "N~7.92e+05"


def test_shapes_differing_only_in_heads_are_different_shapes():
    runs = pd.DataFrame({"run_id": list("abcd"), "status": "completed", "grid": "arch_shape",
                         "n_layer": 4, "d_model": 128, "n_head": [1, 2, 8, 8], "d_ff": [512, 512, 512, 1024],
                         "params_non_embedding": [7.9e5] * 4, "final_test_loss": [3.3, 3.0, 3.1, 3.05]})
    spread = summarise_architecture(shape_table(runs), 0.03).spread.iloc[0]
    assert spread["n_shapes"] == 4 and spread["best_shape"] == "4x128 h2 ff4"
    assert abs(spread["spread_pct"] - 10.0) < 1e-9


def test_architecture_spread_is_the_worst_shape_over_the_best_in_percent():
    runs = pd.DataFrame({"run_id": list("abc"), "status": "completed", "grid": "arch_shape",
                         "n_layer": [2, 4, 8], "d_model": [256, 180, 128], "d_ff": [1024, 720, 512],
                         "params_non_embedding": [1.0e6, 1.02e6, 1.01e6], "final_test_loss": [3.0, 3.03, 3.06]})
    spread = summarise_architecture(shape_table(runs), 0.03).spread
    assert abs(spread["spread_pct"].iloc[0] - 2.0) < 1e-9
    assert architecture_verdict(spread, 0.03).startswith("largest loss spread across shapes at fixed N: 2.00% (group")


def test_extrapolation_predicts_the_held_out_largest_model():
    row = extrapolate_power_law(split_by_status(RUNS)[0], "n_grid", "params_non_embedding", "N", "best_test_loss")
    assert np.isfinite(row["rel_error"]) and row["held_out"].startswith("N=")


def test_model_comparison_prefers_chinchilla_on_chinchilla_data():
    table = compare_joint_models(split_by_status(RUNS)[0], joint_fitters(max_starts=5))
    kfold = table[table["scheme"].str.contains("fold")].set_index("model")
    assert kfold.loc["Chinchilla", "rmse_log"] < kfold.loc["Kaplan L(N,D)", "rmse_log"]


def test_extrapolation_and_comparison_share_the_fit_without_the_largest_n(monkeypatch):
    import analysis.validation as validation

    inputs = []
    real = validation.fit_kaplan_nd_sets
    monkeypatch.setattr(validation, "fit_kaplan_nd_sets",
                        lambda sets: inputs.extend(len(s[2]) for s in sets) or real(sets))
    runs = split_by_status(RUNS)[0]
    fitters = joint_fitters(max_starts=5)
    row = extrapolate_joint(runs, "L(N,D) Kaplan", fitters["Kaplan L(N,D)"], "final_test_loss")
    table = compare_joint_models(runs, fitters).set_index(["scheme", "model"])
    # one fit without the largest N (shared) + one per fold, not two without the largest N
    assert len(inputs) == 1 + validation.K_FOLDS
    held_out = table.loc[("leave-largest-N-out", "Kaplan L(N,D)")]
    assert row["rel_error"] == pytest.approx(held_out["mean_abs_rel_error"])


def test_embedding_figure_takes_each_shape_at_its_largest_d_only():
    import pandas as pd

    from analysis.data import largest_d_per_shape

    runs = pd.DataFrame({"n_layer": [4, 4, 4, 2, 2], "d_model": [96, 96, 96, 64, 64], "n_head": 4, "d_ff": 256,
                         "tokens": [1e5, 1e6, 2e6, 1e6, 1e6], "seed": [0, 0, 0, 0, 1]})
    kept = largest_d_per_shape(runs)
    assert kept["tokens"].tolist() == [2e6, 1e6, 1e6] and kept["seed"].tolist() == [0, 0, 1]


def test_report_rows_carry_their_own_r2_and_each_fit_its_bootstrap_count():
    from analysis.report_sections import bootstrap_text, exponent_table

    analysis = run_analysis(RUNS, CURVES, AnalysisOptions(n_boot=4, max_starts=5))
    table = exponent_table(analysis).set_index("quantity")
    frontier, iso = analysis.frontiers["6n"], analysis.isoflops["6n"]
    a_row = table.loc["N_opt ∝ C^a, frontier: envelope of curves (6n)", "r2_log"]
    assert a_row == frontier.extra["r2_log_of"]["a_Nopt"] and a_row != frontier.r2_log
    assert table.loc["b (IsoFLOP)", "r2_log"] == iso.extra["r2_log_of"]["b"] != iso.r2_log
    assert table.loc["α_C (6n)", "r2_log"] == frontier.r2_log
    text = bootstrap_text(analysis)
    assert text.startswith("4 bootstrap refits over runs for L(N), ") and "; 2 bootstrap refits over runs for " \
        "L(N,D) Kaplan, Chinchilla" in text


def test_an_inferred_l_of_d_takes_the_largest_size_with_three_budgets():
    from analysis.data import select_grid
    runs = pd.DataFrame({"params_non_embedding": [100, 100, 100, 100, 900, 900, 900, 5000],
                         "tokens": [1e5, 2e5, 4e5, 8e5, 1e5, 2e5, 4e5, 4e5]})
    chosen, note, inferred = select_grid(runs, "d_grid")
    assert inferred and chosen["params_non_embedding"].tolist() == [900, 900, 900]
    assert "the largest model size with 3 or more token counts (N=900, 3 of them)" in note


def test_an_inferred_l_of_d_without_three_budgets_takes_the_size_with_the_most():
    from analysis.data import select_grid
    runs = pd.DataFrame({"params_non_embedding": [100, 100, 900], "tokens": [1e5, 2e5, 4e5]})
    chosen, note, inferred = select_grid(runs, "d_grid")
    assert inferred and chosen["params_non_embedding"].tolist() == [100, 100]
    assert "the model size with the most token counts (N=100, 2 of them)" in note
