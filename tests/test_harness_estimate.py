"""The sweep's time left: from the plan's peak-based estimate until a run finishes, then from the finished
runs' measured FLOP rates, per shape, shared out over the jobs that run side by side."""

import pytest

from harness.estimate import side_by_side, training_left
from harness.plan_file import sweep_progress

SHAPE_A = {"n_layer": 1, "d_model": 16, "n_ctx": 64}
SHAPE_B = {"n_layer": 2, "d_model": 32, "n_ctx": 64}


def planned(run_id: str, gpt: dict) -> dict:
    """A run as the written plan holds it, reduced to what the estimate reads."""
    return {"run_id": run_id, "gpt": gpt, "batch_size": 8}


@pytest.fixture
def plan():
    """Unit 0 and 1 of shape A, unit 2 of shape B; planned at 5, 7 and 9 s."""
    units = [[planned("a0", SHAPE_A)], [planned("a1", SHAPE_A)], [planned("b0", SHAPE_B)]]
    return {"units": units, "estimated_s": [5.0, 7.0, 9.0], "unit_flops": [1e9, 4e9, 6e9],
            "estimated_from": "the measured matmul peak"}


def finish(write_fake_run, results_dir, run_id, gpt, flops, wall_s, **metadata):
    """A finished run of shape `gpt` that trained `flops` exact FLOPs in `wall_s` seconds."""
    fields = {"trunk_id": "", "batch_size": 8, "tokens": 1_000_000, "wall_time_s": wall_s, **gpt, **metadata}
    write_fake_run(results_dir, run_id, flops_per_token_exact=flops / 1_000_000, **fields)


def test_before_any_run_finishes_the_plans_estimate_stands(plan, tmp_path):
    left = training_left(plan, str(tmp_path))
    assert left.seconds == 21.0
    assert left.how == "from the measured matmul peak"


def test_a_finished_run_sets_the_rate_of_its_shape_and_of_unmeasured_ones(plan, tmp_path, write_fake_run):
    finish(write_fake_run, tmp_path, "a0", SHAPE_A, flops=1e9, wall_s=2.0)  # 5e8 FLOP/s
    left = training_left(plan, str(tmp_path))
    assert left.seconds == pytest.approx(4e9 / 5e8 + 6e9 / 5e8)  # 8 s + 12 s
    assert left.how == "from 1 finished runs' FLOP rates; 1 of 2 pending units of a measured shape"


def test_each_shape_is_timed_by_its_own_runs(tmp_path, write_fake_run):
    plan = {"units": [[planned("a0", SHAPE_A)], [planned("b0", SHAPE_B)], [planned("a1", SHAPE_A)],
                      [planned("b1", SHAPE_B)]], "estimated_s": [1.0] * 4, "unit_flops": [0, 0, 3e9, 3e9],
            "estimated_from": "the measured matmul peak"}
    finish(write_fake_run, tmp_path, "a0", SHAPE_A, flops=1e9, wall_s=1.0)  # 1e9 FLOP/s
    finish(write_fake_run, tmp_path, "b0", SHAPE_B, flops=1e9, wall_s=4.0)  # 2.5e8 FLOP/s
    assert training_left(plan, str(tmp_path)).seconds == pytest.approx(3.0 + 12.0)


def test_jobs_side_by_side_share_the_time_but_never_beat_the_longest_unit(plan, tmp_path, write_fake_run):
    finish(write_fake_run, tmp_path, "a0", SHAPE_A, flops=1e9, wall_s=2.0)
    assert training_left(plan, str(tmp_path), jobs=2).seconds == pytest.approx(12.0)  # max(20 / 2, 12)
    assert side_by_side([3.0, 3.0, 3.0, 3.0], jobs=2) == 6.0
    assert side_by_side([8.0], jobs=4) == 8.0


@pytest.mark.parametrize("metadata", [{"trunk_id": "t" * 16}, {"status": "diverged"}])
def test_branches_and_diverged_runs_teach_no_rate(plan, tmp_path, write_fake_run, metadata):
    finish(write_fake_run, tmp_path, "a0", SHAPE_A, flops=1e9, wall_s=2.0, **metadata)
    left = training_left(plan, str(tmp_path))
    assert (left.seconds, left.how) == (16.0, "from the measured matmul peak")


def test_the_sweep_line_says_how_it_estimated(plan, tmp_path, write_fake_run):
    finish(write_fake_run, tmp_path, "a0", SHAPE_A, flops=1e9, wall_s=2.0)
    assert sweep_progress(plan, str(tmp_path)) == (
        1, 3, "about 20s of training left (estimated from 1 finished runs' FLOP rates; "
              "1 of 2 pending units of a measured shape)")


def test_before_any_run_finishes_a_stated_peak_is_named(plan, tmp_path):
    plan["estimated_from"] = "a stated peak of 989.4 TFLOP/s"  # sweep.estimate_peak_flops=989.4e12
    assert training_left(plan, str(tmp_path)).how == "from a stated peak of 989.4 TFLOP/s"
