"""Time to a scaling law: the plain way's projection, a sweep folder's unit times, and the ratio's factors."""

import math
import os

import pandas as pd
import pytest
import torch

from harness import store
from harness.bench.plain_run import plain_spec, time_plain_process
from harness.bench.shapes import preset_plan
from harness.bench.time_to_law import breakdown, project_plain, read_sweep_folder, unit_busy_s
from harness.bench.time_to_law_run import LawOptions, run_time_to_law, scalinglab_time
from harness.data import prepare_data
from harness.plan import plan_units
from harness.plan_file import write_plan
from harness.trunks import state_path

# smoke as wsd trunks with two seeds: three packs of two single-budget runs, two trunks of three budgets
WSD_SEEDS = ["train.schedule=wsd", "train.warmup_tokens=1024", "sweep.seeds=[0,1]"]


def test_projection_is_steps_times_the_shapes_step_plus_one_start_up_per_run():
    runs = pd.DataFrame({"run_id": ["x", "y", "z"], "shape": ["a", "a", "b"], "steps": [10, 20, 30]})
    projected = project_plain(runs, {"a": 0.5, "b": 0.1}, startup_s=2.0)
    assert projected["plain_s"].tolist() == pytest.approx([7.0, 12.0, 5.0])
    assert projected["plain_train_s"].sum() == pytest.approx(18.0)
    with pytest.raises(ValueError, match=r"no measured plain-loop step for shapes \['b'\]"):
        project_plain(runs, {"a": 0.5}, startup_s=2.0)


def test_the_factors_multiply_to_the_ratio():
    # plain: 100 s of steps + 20 s of start-ups; units: plain-loop 30, 20, 10 s; in the sweep 50, 40, 5 s (a pack)
    f = breakdown(100.0, 20.0, pd.Series([30.0, 20.0, 10.0]), pd.Series([50.0, 40.0, 5.0]),
                  pd.Series([False, False, True]), span_s=60.0, end_to_end_s=75.0)
    # unpacked units run at 50/90 of the plain loop; at that speed the pack would have taken 18 s, not 5
    assert f["per_job_speed"] == pytest.approx(60 / 108)
    assert f["packing"] == pytest.approx(108 / 95)
    assert (f["startups"], f["trunks"], f["concurrency"], f["inside_span"]) == pytest.approx((1.2, 100 / 60, 95 / 60, 0.8))
    assert f["ratio"] == pytest.approx(120 / 75)
    product = f["startups"] * f["trunks"] * f["per_job_speed"] * f["packing"] * f["concurrency"] * f["inside_span"]
    assert product == pytest.approx(f["ratio"])
    assert f["two_jobs"] == pytest.approx(f["per_job_speed"] * f["concurrency"])


def test_nothing_packed_is_a_packing_factor_of_one_and_all_packed_has_none():
    args = (100.0, 0.0, pd.Series([30.0, 20.0]), pd.Series([50.0, 40.0]))
    assert breakdown(*args, pd.Series([False, False]), 60.0, 75.0)["packing"] == 1.0
    only_packs = breakdown(*args, pd.Series([True, True]), 60.0, 75.0)
    assert math.isnan(only_packs["packing"]) and only_packs["per_job_speed"] == pytest.approx(50 / 90)


def test_a_trunks_time_is_its_trunk_to_the_last_fork_plus_each_cooldown():
    walls = pd.Series({"a": 3.0, "b": 6.0, "c": 12.0})  # each: trunk to its fork + its cooldown
    forks = pd.Series({"a": 2.0, "b": 4.0, "c": 8.0})
    assert unit_busy_s("trunk", walls, forks) == 8.0 + 1.0 + 2.0 + 4.0
    assert unit_busy_s("pack", pd.Series({"a": 5.0, "b": 5.0}), pd.Series(dtype=float)) == 10.0
    assert unit_busy_s("run", pd.Series({"a": 7.0}), pd.Series(dtype=float)) == 7.0


def fake_sweep(results_dir, data_overrides, write_fake_run):
    """A finished fake sweep of WSD_SEEDS smoke: plan file, run files (mtimes set), the trunks' fork states."""
    plan = preset_plan("smoke", [*data_overrides, *WSD_SEEDS, f"sweep.results_dir={results_dir}"])
    units = plan_units(plan)
    write_plan(str(results_dir), [u.unit.runs for u in units], [1.0] * len(units), [u.cost.flops for u in units], "x")
    t0 = 1_700_000_000.0
    for k, u in enumerate(units):
        for j, run in enumerate(u.unit.runs):  # unit k ends at t0 + 100 (k + 1); a trunk's budgets 1 s apart
            path = write_fake_run(results_dir, run.run_id, wall_time_s=5.0 if u.unit.is_pack else 3.0 * 2 ** j)
            os.utime(path, (t0 + 100 * (k + 1) - (len(u.unit.runs) - 1 - j),) * 2)
            if run.trunk_id and not u.unit.is_pack:
                state = state_path(results_dir, run.trunk_id, run.fork_step)
                state.parent.mkdir(parents=True, exist_ok=True)
                torch.save({"curve": {"elapsed_s": 2.0 * 2 ** j}}, state)
    return plan, units, t0


def test_a_finished_folder_gives_each_units_time_and_span(tmp_path, data_overrides, write_fake_run):
    plan, units, t0 = fake_sweep(tmp_path, data_overrides, write_fake_run)
    table, plan_written = read_sweep_folder(tmp_path)
    assert table["kind"].tolist() == ["pack", "pack", "pack", "trunk", "trunk"]
    # trunk: 51 steps to the last fork + cooldowns of 3, 6, 13; a pack: 64 steps for each of its 2 members
    assert table["trained_steps"].tolist() == [128, 128, 128, 73, 73]
    assert table["separate_steps"].tolist() == [128, 128, 128, 112, 112]
    assert table["busy_s"].tolist() == [10.0, 10.0, 10.0, 15.0, 15.0]  # trunk: 8 + (3-2) + (6-4) + (12-8)
    assert table["end_s"].tolist() == [t0 + 100 * (k + 1) for k in range(5)]
    assert plan_written == pytest.approx(os.stat(next((tmp_path / "plans").glob("*.json"))).st_mtime)


def test_a_folder_of_other_runs_or_an_unfinished_one_is_refused(tmp_path, data_overrides, write_fake_run):
    plan, units, _ = fake_sweep(tmp_path, data_overrides, write_fake_run)
    opts = LawOptions(preset="smoke", results_dir=tmp_path)
    with pytest.raises(ValueError, match="not in preset smoke as planned now"):
        scalinglab_time(opts, {p.run.run_id for p in plan[1:]})
    store.run_path(tmp_path, plan[0].run.run_id).unlink()
    with pytest.raises(ValueError, match="1 planned runs have no result file"):
        read_sweep_folder(tmp_path)


def test_both_sweep_sources_at_once_are_refused(tmp_path):
    with pytest.raises(ValueError, match="choose one"):
        run_time_to_law(LawOptions(run_sweep=True, results_dir=tmp_path, out=tmp_path), "cmd")


def test_a_plain_process_trains_its_steps_and_reports_its_time(data_cache, data_overrides):
    (run, *_) = [p.run for p in preset_plan("smoke", data_overrides)]
    data = prepare_data(run.config.data)
    wall, out = time_plain_process(plain_spec(run, data.train_tokens.filename, steps=3))
    assert out["steps"] == 3 and math.isfinite(out["final_train_loss"])
    assert 0 < out["train_s"] < wall  # the process's wall time holds its start-up as well
