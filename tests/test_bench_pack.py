"""The packed-runs benchmark's schedule interleaves its contenders, and its table divides round by round."""

from harness.bench.pack import make_schedule, ratio_table, with_seed
from harness.resolve import resolve


def test_each_round_measures_every_contender_and_every_other_round_reverses_them():
    assert make_schedule(2, [2, 4], 2) == [(0, 0), (0, 2), (0, 4), (0, 4), (0, 2), (0, 0),
                                           (1, 0), (1, 2), (1, 4), (1, 4), (1, 2), (1, 0)]


def test_the_ratio_is_the_median_of_each_rounds_packed_over_separate(tmp_path, run_config):
    run = resolve(run_config(tmp_path))
    table = ratio_table([run], {(0, 0): [100.0, 200.0, 100.0], (0, 4): [150.0, 200.0, 300.0]}, 3)
    (row,) = table.to_dict("records")
    assert (row["models_per_pack"], row["packed_over_separate"], row["ratio_min"], row["ratio_max"]) == (4, 1.5, 1.0, 3.0)
    assert row["separate_tokens_per_s"] == 100.0 and row["packed_tokens_per_s"] == 200.0


def test_a_seeded_copy_changes_only_the_seed(tmp_path, run_config):
    run = resolve(run_config(tmp_path))
    copy = with_seed(run, 7)
    assert copy.config.train.seed == 7 and run.config.train.seed == 0
    assert copy.gpt == run.gpt and copy.steps == run.steps
