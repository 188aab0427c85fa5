"""The counting-conventions table on a case worked by hand: exact Chinchilla-law points (E = 0, α = β = 0.3)
whose N under each counting and whose C under each FLOP convention are chosen so every exponent is known."""
import numpy as np
import pandas as pd
import pytest

from analysis.conventions import COLUMNS, convention_exponents
from analysis.synthetic import Law, final_points

# a = β/(α+β) = 0.5 and L_opt ∝ C^-(αβ/(α+β)) = C^-0.15 (Hoffmann 2022 eq. 4)
LAW = Law(E=0.0, alpha=0.3, beta=0.3)
ALPHA_C = 0.3 * 0.3 / 0.6


def hand_case() -> pd.DataFrame:
    iso = final_points(LAW, np.geomspace(1e15, 1e19, 5), sizes_per_budget=13, noise=0.0, shared_sizes=True)
    n_grid = pd.DataFrame({"run_id": ["n1", "n2", "n3"], "status": "completed", "grid": "n_grid",
                           "compute_budget": np.nan, "params_non_embedding": [1e6, 1e7, 1e8], "tokens": 1e12})
    n_grid["final_test_loss"] = n_grid["best_test_loss"] = LAW(n_grid["params_non_embedding"], n_grid["tokens"])
    runs = pd.concat([iso, n_grid], ignore_index=True)
    n = runs["params_non_embedding"]
    # with_embeddings = 2N (a constant factor: no exponent moves); total = N²/1e3 (log N doubles: a doubles,
    # α halves); palm = 2 x 6N per token (a constant factor on C: no exponent moves)
    return runs.assign(params_token_embedding=n / 2, params_output_head=n / 2, params_total=n**2 / 1e3,
                       flops_per_token_6n=6 * n, flops_per_token_palm=12 * n)


@pytest.fixture(scope="module")
def table():
    empty_curves = pd.DataFrame(columns=["run_id", "tokens", "test_loss", "params_non_embedding", "status"])
    return convention_exponents(hand_case(), empty_curves).set_index(["N counts", "C counts", "points"])


def test_every_counting_and_convention_has_a_row_and_no_mid_run_rows_without_curves(table):
    assert list(table.reset_index().columns) == COLUMNS
    assert len(table) == 3 * 2 and set(table.index.get_level_values("points")) == {"final"}


@pytest.mark.parametrize("counting, a", [("non_embedding", 0.5), ("with_embeddings", 0.5), ("total", 1.0)])
@pytest.mark.parametrize("convention", ["6n", "palm"])
def test_optimal_size_exponents_follow_the_counting_and_not_a_constant_flop_factor(table, counting, a, convention):
    row = table.loc[(counting, convention, "final")]
    assert abs(row["a (frontier)"] - a) < 2e-3 and abs(row["a (IsoFLOP)"] - a) < 2e-3
    assert abs(row["α_C"] - ALPHA_C) < 2e-3  # α_C does not depend on what N counts


@pytest.mark.parametrize("counting, alpha", [("non_embedding", 0.3), ("with_embeddings", 0.3), ("total", 0.15)])
def test_chinchilla_exponents_follow_the_counting(table, counting, alpha):
    row = table.loc[(counting, "6n", "final")]
    assert abs(row["α (Chinchilla)"] - alpha) < 2e-3 and abs(row["β (Chinchilla)"] - 0.3) < 2e-3
    assert abs(row["a = β/(α+β)"] - 0.3 / (alpha + 0.3)) < 2e-3


def test_alpha_n_halves_when_log_n_doubles(table):
    base = table.loc[("non_embedding", "6n", "final"), "α_N"]
    assert base > 0
    assert abs(table.loc[("total", "6n", "final"), "α_N"] - base / 2) < 1e-9
    assert abs(table.loc[("with_embeddings", "6n", "final"), "α_N"] - base) < 1e-9
