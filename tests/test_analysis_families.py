"""Families at matched N: per-family L(N), differences from gpt2 with bootstrap intervals, equivalence verdicts."""
import json

import numpy as np
import pandas as pd
import pytest

from analysis.families import (DIFFERENT, UNRESOLVED, combined_verdict, compare_families, family_runs, fit_family,
                               loss_by_position, verdict)
from analysis.pipeline import AnalysisOptions, run_analysis

SIZES = np.array([2e4, 5e4, 1.2e5, 3e5])
N_C, ALPHA = 1e9, 0.1  # L(N) = (N_c/N)^alpha: about 2.95 nats at N = 2e4


def synthetic_runs(offsets: dict[str, float], alphas: dict[str, float] | None = None, noise: float = 0.002,
                   seeds: int = 3, seed: int = 0) -> pd.DataFrame:
    """Runs of the families grid: family f has loss (1 + offsets[f]) (N_c/N)^alpha_f, lognormal seed noise."""
    rng, rows = np.random.default_rng(seed), []
    for family, offset in offsets.items():
        alpha = (alphas or {}).get(family, ALPHA)
        for n in SIZES:
            for s in range(seeds):
                loss = (1 + offset) * (N_C / n) ** alpha * np.exp(rng.normal(0, noise))
                lstm, d_model = family == "lstm", int((n / 24) ** 0.5)
                rows.append({"run_id": f"{family}-{n:g}-{s}", "status": "completed", "grid": "families",
                             "family": family, "n_layer": 2, "d_model": d_model, "n_head": None if lstm else 2,
                             "d_ff": 0 if lstm else 4 * d_model, "params_non_embedding": n, "tokens": 1e6, "seed": s,
                             "final_test_loss": loss, "best_test_loss": loss, "final_test_loss_sem": 0.01,
                             "final_test_loss_by_position_json": json.dumps([loss * 1.2, loss, loss * 0.9])})
    return pd.DataFrame(rows)


def _differences(runs: pd.DataFrame, tolerance: float = 0.03) -> pd.DataFrame:
    chosen = family_runs(runs)
    fits = {f: fit_family(g) for f, g in chosen.groupby("family")}
    return compare_families(chosen, fits, n_boot=100, seed=0, tolerance=tolerance)


def _overall(table: pd.DataFrame, family: str) -> str:
    rows = table[table["family"] == family]
    return rows["verdict"].iloc[-1]


def test_verdict_reads_the_interval_against_the_band():
    assert verdict(-0.01, 0.02, 0.03) == "equivalent within 3%"
    assert verdict(0.031, 0.08, 0.03) == DIFFERENT
    assert verdict(-0.09, -0.04, 0.03) == DIFFERENT
    assert verdict(0.01, 0.05, 0.03) == UNRESOLVED
    assert combined_verdict(["equivalent within 3%", UNRESOLVED], 0.03) == UNRESOLVED
    assert combined_verdict(["equivalent within 3%", DIFFERENT], 0.03) == DIFFERENT


def test_identical_family_is_equivalent_and_a_10_percent_worse_one_is_different():
    table = _differences(synthetic_runs({"gpt2": 0.0, "llama": 0.0, "lstm": 0.10}))
    assert _overall(table, "llama") == "equivalent within 3%"
    assert _overall(table, "lstm") == DIFFERENT
    lstm = table[(table["family"] == "lstm") & table["quantity"].str.startswith("L/L")]
    assert lstm["estimate"].to_numpy() == pytest.approx(0.10, abs=0.01)


def test_exponent_difference_is_recovered_with_an_interval_around_it():
    table = _differences(synthetic_runs({"gpt2": 0.0, "lstm": 0.0}, alphas={"lstm": 0.08}))
    row = table[table["quantity"].str.startswith("alpha")].iloc[0]
    assert row["estimate"] == pytest.approx(-0.02, abs=0.003)
    assert row["interval_95"][0] < -0.02 < row["interval_95"][1] and row["verdict"] == "excludes 0"


def test_a_3_percent_difference_under_5_percent_noise_is_not_resolved():
    table = _differences(synthetic_runs({"gpt2": 0.0, "llama": 0.03}, noise=0.05, seeds=3))
    assert _overall(table, "llama") == UNRESOLVED


def test_tolerance_is_configurable_through_the_analysis_options():
    runs = synthetic_runs({"gpt2": 0.0, "llama": 0.05})
    tight = run_analysis(runs, pd.DataFrame(columns=["run_id"]), AnalysisOptions(n_boot=20, max_starts=4))
    loose = run_analysis(runs, pd.DataFrame(columns=["run_id"]),
                         AnalysisOptions(n_boot=20, max_starts=4, equivalence_tolerance=0.1))
    assert _overall(tight.family_differences, "llama") == DIFFERENT
    assert _overall(loose.family_differences, "llama") == "equivalent within 10%"
    assert set(tight.families["family"]) == {"gpt2", "llama"}
    assert tight.families["alpha_N"].to_numpy() == pytest.approx(ALPHA, abs=0.005)


def test_loss_by_position_averages_seeds_per_family_and_size():
    table = loss_by_position(synthetic_runs({"gpt2": 0.0, "lstm": 0.1}, noise=0.0))
    assert len(table) == 2 * len(SIZES) * 3
    first = table[(table["family"] == "lstm") & (table["position"] == 1)].iloc[0]
    assert first["loss"] == pytest.approx(1.2 * 1.1 * (N_C / SIZES[0]) ** ALPHA)


def test_one_seed_per_size_takes_its_interval_from_the_held_out_standard_error():
    runs = synthetic_runs({"gpt2": 0.0, "llama": 0.0}, seeds=1)  # sem 0.01 nats on losses near 2-3 nats
    row = _differences(runs).iloc[1]
    assert 0.001 < row["interval_95"][1] - row["interval_95"][0] < 0.05
    without = _differences(runs.drop(columns="final_test_loss_sem"))
    assert set(without["verdict"].iloc[1:]) == {UNRESOLVED}  # resampling one run per size says nothing
