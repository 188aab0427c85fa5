"""Where a finished sweep's time went: log span, planned compute and the share outside training runs."""

import math

import pytest

from harness import store
from harness.bench.shapes import preset_plan
from harness.bench.sweep_time import log_span_s, planned_compute, sweep_summary
from models.flops import TRAIN_FLOPS_PER_TOKEN


def test_log_span_counts_both_stamp_formats_and_rolls_over_midnight(tmp_path):
    log = tmp_path / "sweep.log"
    log.write_text("[23:59:50] sweep plan:\n  no stamp here\n"
                   "[2026-11-24 00:00:05,123][HYDRA] launching\n[00:01:00] sweep done\n")
    assert log_span_s(log) == 70  # 15 s to midnight and past it, then 55 s
    log.write_text("[12:00:00] only one stamp\n")
    assert log_span_s(log) is None


def test_sweep_summary_of_a_sequential_and_a_parallel_sweep(tmp_path, data_overrides, write_fake_run):
    import os

    plan = preset_plan("smoke", data_overrides)
    compute = planned_compute(plan)
    assert compute["planned_runs"] == len(plan) == 6
    assert compute["planned_flops_6nd"] == sum(6 * p.run.params.non_embedding * p.run.tokens for p in plan)
    assert compute["planned_flops_exact"] == sum(p.run.tokens * TRAIN_FLOPS_PER_TOKEN["exact"](p.run.gpt)
                                                 for p in plan)
    a, b = write_fake_run(tmp_path, "a", wall_time_s=30.0), write_fake_run(tmp_path, "b", wall_time_s=50.0)
    t0 = 1_700_000_000.0
    os.utime(a, (t0 + 35, t0 + 35))  # a trains from 5 s to 35 s, b from 40 s to 90 s
    os.utime(b, (t0 + 90, t0 + 90))
    log = tmp_path / "sweep.log"
    log.write_text("[10:00:00] sweep plan:\n[10:01:40] sweep done\n")  # 100 s
    row = sweep_summary(tmp_path, store.load_runs(tmp_path), plan, log)
    assert (row["runs_found"], row["sum_wall_time_s"], row["end_to_end_s"]) == (2, 80.0, 100.0)
    assert not row["runs_overlapped"] and row["outside_training_fraction"] == pytest.approx(0.2)
    # Two jobs side by side that end together: Σ wall time (80 s) is still under the end-to-end time (100 s),
    # which a review found reported as a 20% "outside training" share.
    os.utime(a, (t0 + 88, t0 + 88))
    row = sweep_summary(tmp_path, store.load_runs(tmp_path), plan, log)
    assert row["runs_overlapped"] and math.isnan(row["outside_training_fraction"])
    log.write_text("[10:00:00] sweep plan:\n[10:01:00] sweep done\n")  # 60 s < Σ wall time
    row = sweep_summary(tmp_path, store.load_runs(tmp_path), plan, log)
    assert row["runs_overlapped"] and math.isnan(row["outside_training_fraction"])


def test_sweep_summary_names_an_empty_results_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run files"):
        sweep_summary(tmp_path, store.load_runs(tmp_path), [], None)


def test_a_results_dir_of_another_preset_is_refused(tmp_path, data_overrides, write_fake_run):
    from harness.bench.run import BenchOptions, measure_sweep

    write_fake_run(tmp_path, "a", wall_time_s=1.0, preset="smoke")
    opts = BenchOptions(results_dir=tmp_path, overrides=data_overrides)  # --sweep-preset left at kaplan_fig1
    with pytest.raises(ValueError, match="holds runs of preset smoke, but --sweep-preset is kaplan_fig1"):
        measure_sweep(opts)


def test_an_empty_results_dir_is_named_not_a_key_error(tmp_path, data_overrides):
    from harness.bench.run import BenchOptions, measure_sweep

    with pytest.raises(FileNotFoundError, match="no run files"):
        measure_sweep(BenchOptions(results_dir=tmp_path, overrides=data_overrides))
