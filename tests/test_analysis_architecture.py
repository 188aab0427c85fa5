"""Architecture independence on synthetic arch_shape runs: spreads, intervals, holding ranges, Fig. 5 series."""
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy.stats import t as student_t

from analysis.architecture import (HELD_OUT_SOURCE, NO_SOURCE, architecture_verdict, draw_means, group_noise,
                                   percentile_interval, shape_table, spread_pct)
from analysis.architecture_series import holding_range, range_statements, summarise_architecture
from analysis.families import DIFFERENT, UNRESOLVED
from analysis.plots_architecture import shape_figure
from analysis.synthetic import arch_shape_runs, kaplan_l_of_n

TOLERANCE = 0.03
# Known excess of each shape over L(N) (Kaplan 2020 Fig. 5 in shape: narrow, single-layer and one-head models
# lose); every shape not named has none.
PENALTY = {"16x16 h1 ff4": 0.10, "1x256 h16 ff4": 0.05, "2x176 h11 ff4": 0.01, "8x96 h6 ff4": 0.005,
           "16x64 h4 ff4": 0.02, "4x128 h1 ff4": 0.04, "4x128 h2 ff4": 0.01, "4x176 h11 ff1": 0.035}
SMALL, MIDDLE, LARGE = "N~4.92e+04", "N~2.09e+05", "N~7.86e+05"  # the preset's groups, as named from its sizes


def summarise(runs, **kwargs):
    return summarise_architecture(shape_table(runs, baseline=kaplan_l_of_n()), TOLERANCE, **kwargs)


@pytest.fixture(scope="module")
def exact():
    """The preset's 20 shapes, 2 seeds each, no noise: every number is a penalty."""
    return summarise(arch_shape_runs(PENALTY, n_seeds=2))


def _row(frame, **match):
    rows = frame.loc[(frame[list(match)] == pd.Series(match)).all(axis=1)]
    assert len(rows) == 1, match
    return rows.iloc[0]


def test_spread_is_the_worst_shape_over_the_best_in_percent(exact):
    spread = exact.spread.set_index("group")
    assert list(spread.index) == [SMALL, MIDDLE, LARGE]  # ordered by N
    assert spread["spread_pct"].to_numpy() == pytest.approx([10.0, 0.0, 5.0])
    assert spread.loc[SMALL, "worst_shape"] == "16x16 h1 ff4" and spread.loc[LARGE, "n_shapes"] == 12
    assert spread.loc[LARGE, "spread_95"] == pytest.approx((5.0, 5.0))  # seeds agree exactly: no width
    assert spread.loc[SMALL, "verdict"] == DIFFERENT and spread.loc[MIDDLE, "verdict"] == "equivalent within 3%"


def test_each_shape_over_the_best_recovers_its_penalty(exact):
    shapes = exact.shapes.set_index("shape")
    expected = pd.Series(PENALTY).reindex(shapes.index).fillna(0.0) * 100
    assert shapes["rel_pct"].to_numpy() == pytest.approx(expected.to_numpy(), abs=1e-9)
    assert (shapes["n_seeds"] == 2).all()


def test_kaplan_claim_holds_over_the_largest_contiguous_range_and_breaks_outside_it(exact):
    ranges = exact.ranges
    small = _row(ranges, group=SMALL, attribute="aspect_ratio")
    assert (small["holds"], small["n_within"], small["spread_pct"]) == ("8..64", 3, pytest.approx(0.0))
    assert small["breaks"] == "16x16 h1 ff4 (1): +10.0% [+10.0, +10.0]"
    large = _row(ranges, group=LARGE, attribute="aspect_ratio")
    assert (large["tested"], large["holds"], large["spread_pct"]) == ("4..256", "4..88", pytest.approx(2.0))
    assert large["breaks"].startswith("1x256 h16 ff4 (256): +5.0%")
    assert _row(ranges, group=LARGE, attribute="n_head")["holds"] == "2..16"
    assert _row(ranges, group=LARGE, attribute="ff_ratio")["holds"] == "2..8"
    assert _row(ranges, group=MIDDLE, attribute="aspect_ratio")["breaks"] == ""
    statements = range_statements(exact)
    assert (f"{LARGE}, aspect ratio d_model / n_layer 4..88 (4 of 5 shapes): spread 2.0% [2.0, 2.0], equivalent "
            "within 3%; breaks at 1x256 h16 ff4 (256): +5.0% [+5.0, +5.0] over the best shape") in statements


def test_holding_range_prefers_more_shapes_then_the_wider_range():
    series = pd.DataFrame({"x": [1, 4, 16, 64, 256], "mean": [1.10, 1.00, 1.02, 1.01, 1.05]})
    assert holding_range(series, TOLERANCE) == (1, 3)  # 1.00..1.02: 2%; adding 1.05 makes 5%
    tied = pd.DataFrame({"x": [1, 2, 4, 64], "mean": [1.00, 1.02, 1.06, 1.08]})
    assert holding_range(tied, TOLERANCE) == (2, 3)  # two pairs of two within 3%: 4..64 spans more than 1..2
    assert holding_range(pd.DataFrame({"x": [1, 2, 4], "mean": [1.0, 1.1, 1.2]}), TOLERANCE) is None


def test_each_panel_series_holds_only_the_shapes_that_vary_its_attribute(exact):
    series = exact.series
    members = series.groupby(["group", "attribute"])["shape"].apply(list).to_dict()
    assert members[(LARGE, "n_head")] == ["4x128 h1 ff4", "4x128 h2 ff4", "4x128 h4 ff4", "4x128 h8 ff4",
                                          "4x128 h16 ff4"]
    assert members[(LARGE, "ff_ratio")] == ["4x176 h11 ff1", "4x160 h10 ff2", "4x128 h8 ff4", "4x96 h6 ff8"]
    assert members[(LARGE, "aspect_ratio")] == ["16x64 h4 ff4", "8x96 h6 ff4", "4x128 h8 ff4", "2x176 h11 ff4",
                                                "1x256 h16 ff4"]
    assert set(members) == {(g, "aspect_ratio") for g in (SMALL, MIDDLE, LARGE)} | {(LARGE, "n_head"),
                                                                                    (LARGE, "ff_ratio")}


def test_shape_figure_draws_one_line_per_n_with_x_strictly_increasing(exact):
    fig = shape_figure(exact.series)
    try:
        lines = {ax.get_xlabel(): [c.lines[0] for c in ax.containers] for ax in fig.axes}
    finally:
        plt.close(fig)
    assert [len(v) for v in lines.values()] == [3, 1, 1]  # aspect ratio, heads, feed-forward ratio
    for line in sum(lines.values(), []):
        assert (np.diff(line.get_xdata()) > 0).all()
    heads = lines["attention heads n_head"][0]
    assert list(heads.get_xdata()) == [1, 2, 4, 8, 16]
    assert list(heads.get_ydata()) == pytest.approx([4.0, 1.0, 0.0, 0.0, 0.0])
    assert heads.get_color() == lines["aspect ratio d_model / n_layer"][2].get_color()  # one colour per N


def test_interval_covers_the_true_spread_in_a_seeded_case():
    runs = arch_shape_runs(PENALTY | {"4x32 h2 ff4": 0.01, "1x64 h4 ff4": 0.02, "8x48 h3 ff4": 0.03,
                                      "4x64 h4 ff4": 0.01, "1x128 h8 ff4": 0.015},
                           n_seeds=3, noise=0.003, seed=7)
    spread = summarise(runs).spread.set_index("group")
    for group, truth in ((SMALL, 10.0), (MIDDLE, 3.0), (LARGE, 5.0)):
        low, high = spread.loc[group, "spread_95"]
        assert low < truth < high and high - low < 1.5, group


def test_seed_intervals_cover_the_truth_at_about_their_nominal_rate():
    truth, hits, n_reps = np.array([1.02, 1.01, 1.00, 1.03, 1.06]), 0, 200
    for rep in range(n_reps):
        rel = truth[:, None] * np.exp(np.random.default_rng(rep).normal(0.0, 0.004, (5, 2)))
        shapes = pd.DataFrame({"shape": list("abcde"), "n_seeds": 2, "mean": rel.mean(axis=1),
                               "sd": rel.std(axis=1, ddof=1), "own_se": np.nan})
        low, high = percentile_interval(spread_pct(draw_means(shapes, group_noise(shapes), 1000, rep).to_numpy()))
        hits += low <= 6.0 <= high
    assert 0.90 <= hits / n_reps <= 0.99


def _two_shapes(losses, sem=None):
    """Two shapes of one group ('a' = 4x128, 'b' = 2x176), two seeds each unless fewer losses are given."""
    n = len(losses) // 2
    runs = pd.DataFrame({"run_id": [f"r{i}" for i in range(2 * n)], "status": "completed", "grid": "arch_shape",
                         "arch_group": "g", "n_layer": [4] * n + [2] * n, "d_model": [128] * n + [176] * n,
                         "n_head": [8] * n + [11] * n, "params_non_embedding": 7.9e5, "final_test_loss": losses})
    runs["d_ff"] = 4 * runs["d_model"]
    if sem is not None:
        runs["final_test_loss_sem"] = sem
    return summarise_architecture(shape_table(runs), TOLERANCE)


def test_seed_interval_is_a_t_interval_on_the_pooled_seed_sd():
    summary = _two_shapes([3.00, 3.06, 3.15, 3.21])  # relative 1.00, 1.02 and 1.05, 1.07: pooled sd 0.01414
    row = summary.spread.iloc[0]
    assert row["interval_source"] == "seeds: sd pooled over the group's 2 replicated shapes (2 dof)"
    a, b, se = 1.01, 1.06, 0.01414 / np.sqrt(2)
    half = student_t.ppf(0.975, 2) * se * np.hypot(1.0, b / a) / a  # delta method for b/a - 1, t with 2 dof
    assert row["spread_pct"] == pytest.approx(100 * (b / a - 1))
    low, high = summary.shapes.set_index("shape").loc["2x176 h11 ff4", "rel_95"]
    assert (high - low) / 2 == pytest.approx(100 * half, rel=0.08)  # Monte Carlo quantiles of a t with 2 dof


def test_one_seed_per_shape_says_its_interval_sees_only_held_out_noise():
    summary = _two_shapes([3.00, 3.30], sem=0.006)  # 10% apart; each loss known to 0.2%
    row = summary.spread.iloc[0]
    assert row["interval_source"] == HELD_OUT_SOURCE and row["seeds_per_shape"] == "1"
    low, high = row["spread_95"]
    assert (high - low) / 2 == pytest.approx(1.96 * 110 * np.hypot(0.002, 0.002), rel=0.06)
    assert "interval from held-out sample only (one seed per shape)" in architecture_verdict(summary.spread, TOLERANCE)
    bare = _two_shapes([3.00, 3.30]).spread.iloc[0]
    assert bare["interval_source"] == NO_SOURCE and bare["verdict"] == "no interval" and np.isnan(bare["spread_95"][0])


def test_verdict_reads_the_interval_against_the_tolerance():
    assert _two_shapes([3.00, 3.006, 3.03, 3.036]).spread.iloc[0]["verdict"] == "equivalent within 3%"
    assert _two_shapes([3.00, 3.006, 3.30, 3.306]).spread.iloc[0]["verdict"] == DIFFERENT
    assert _two_shapes([3.00, 3.06, 3.09, 3.15]).spread.iloc[0]["verdict"] == UNRESOLVED  # 3.0% [0.3, 10.5]


def test_a_series_with_no_two_shapes_within_tolerance_says_so_and_lists_each_excess():
    summary = _two_shapes([3.00, 3.006, 3.30, 3.306])  # 4x128 and 2x176, 10% apart
    # t(2) half width 4.30 x 0.1% x hypot(1, 1.1) = 0.64%, so about [9.4, 10.6], drawn: [9.3, 10.7]
    assert summary.ranges.iloc[0]["holds"] == "nowhere"
    assert range_statements(summary) == [
        "g, aspect ratio d_model / n_layer 32..88: no two neighbouring shapes within 3%; each over the best: "
        "4x128 h8 ff4 (32): +0.0% [+0.0, +0.0]; 2x176 h11 ff4 (88): +10.0% [+9.3, +10.7]"]
