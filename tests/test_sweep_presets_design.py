"""The presets designed for the laws plan what their comments say: trunks, budgets, calibrated rates, seeds."""
from collections import Counter

import pytest

from harness.plan import plan_units

OFFLINE = ["sweep.dry_run=true", "sweep.check_data=false"]


@pytest.fixture
def planned(sweep_plan):
    def _planned(preset: str):
        _, plan, _ = sweep_plan(f"sweep={preset}", *OFFLINE)
        return [p.run for p in plan], plan_units(plan)

    return _planned


def test_default_preset_gives_every_size_five_or_more_decayed_budgets_in_one_trunk(planned):
    runs, units = planned("kaplan_fig1")
    assert len(runs) == 34 and len(units) == 6 and all(u.unit.is_trunk for u in units)
    budgets = Counter((r.gpt.n_layer, r.gpt.d_model) for r in runs)
    assert sorted(budgets.values()) == [5, 5, 6, 6, 6, 6]
    assert {r.config.train.lr_rule for r in runs} == {"calibrated"}
    l_of_n = [r for r in runs if r.grid == "n_grid"]
    largest = {(r.gpt.n_layer, r.gpt.d_model): r.tokens for r in sorted(l_of_n, key=lambda r: r.tokens)}
    assert set(largest.values()) == {2000896}  # L(N) reads every size at one D (2e6 tokens in whole steps)
    assert len({r.peak_lr for r in runs}) == 6  # one calibrated rate per size, shared by its budgets


def test_lr_sweep_scans_six_rates_on_fourteen_shape_and_beta2_settings(planned):
    runs, units = planned("lr_sweep")
    scans = Counter((r.gpt.n_layer, r.gpt.d_model, r.config.train.beta2) for r in runs)
    assert len(scans) == 14 and set(scans.values()) == {6}
    assert sorted({r.peak_lr for r in runs}) == pytest.approx([0.00075 * 2**k for k in range(6)])
    assert any(u.unit.is_pack for u in units)  # the rates of a small shape train as one batched model


def test_arch_shape_trains_seeds_at_the_two_smaller_sizes_and_calibrated_rates(planned):
    runs, _ = planned("arch_shape")
    assert len(runs) == 27
    seeds = Counter((r.gpt.n_layer, r.gpt.d_model) for r in runs if r.params.non_embedding < 2e5)
    assert set(seeds.values()) == {2}
    ratios = sorted({r.gpt.d_model / r.gpt.n_layer for r in runs})
    assert ratios[0] <= 3 and ratios[-1] >= 176
    assert {r.config.train.lr_rule for r in runs} == {"calibrated"}


def test_isoflop_is_one_trunk_per_size_with_a_branch_per_budget_across_its_two_grids(planned):
    runs, units = planned("isoflop")
    assert len(runs) == 29 and len(units) == 7 and all(u.unit.is_trunk for u in units)
    assert sorted(len(u.unit.runs) for u in units) == [1, 4, 4, 5, 5, 5, 5]  # 4x96 only at 3e12
    by_grid = {grid: sorted({r.compute_budget for r in runs if r.grid == grid}) for grid in ("isoflop", "isoflop_high")}
    assert by_grid == {"isoflop": [3e10, 1e11, 3e11, 1e12], "isoflop_high": [3e12]}  # half-decade steps
    sizes = {grid: sorted({r.params.non_embedding for r in runs if r.grid == grid}) for grid in by_grid}
    assert (sizes["isoflop"][0], sizes["isoflop"][-1]) == (3312, 233680)  # 1x16 to 3x80
    assert (sizes["isoflop_high"][0], sizes["isoflop_high"][-1]) == (25472, 447552)  # 2x32 to 4x96
    for run in runs:  # D = C / (6 N), in whole steps of 16 x 128 tokens
        assert run.tokens == pytest.approx(run.compute_budget / (6 * run.params.non_embedding), abs=2048)
