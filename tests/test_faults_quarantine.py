"""Unreadable files in a results folder: a corrupt or foreign run file stops the sweep at planning with one
message naming it and the flag that moves it aside (sweep.quarantine=true, then its run is trained again); an
unreadable checkpoint is moved aside with a warning and its run trains from the start. Nothing is deleted."""

from __future__ import annotations

import logging

import pytest

from harness import quarantine, store
from harness.checkpoint import checkpoint_path
from harness.resolve import resolve
from harness.runner import execute
from harness.trainer import RunInterrupted

ONE_RUN = ["sweep=smoke", "sweep.grids=[]", "model.d_model=16", "model.n_layer=1", "train.threads=1",
           "sweep.analyze=false"]


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.fixture
def planned_with_a_truncated_result(sweep_plan, write_fake_run, tmp_path):
    """The one run of a plan, whose result file in the folder is truncated; and a readable other run file."""
    (_, plan, _) = sweep_plan(*ONE_RUN)
    results = tmp_path / "results"
    write_fake_run(results, "0123456789abcdef")
    bad = write_fake_run(results, plan[0].run.run_id)
    _truncate(bad)
    return results, bad


def test_truncated_run_file_stops_planning_naming_it_and_the_flag(planned_with_a_truncated_result, sweep_plan):
    results, bad = planned_with_a_truncated_result
    before = bad.read_bytes()
    with pytest.raises(store.ResultsError, match=f"^{bad}: not a readable parquet file .*: sweep.quarantine=true "
                                                 f"moves unreadable run files to {results}/quarantine/runs "):
        sweep_plan(*ONE_RUN)
    assert bad.read_bytes() == before


def test_quarantine_moves_the_file_aside_and_plans_its_run_again(planned_with_a_truncated_result, sweep_plan,
                                                                 caplog):
    results, bad = planned_with_a_truncated_result
    before = bad.read_bytes()
    with caplog.at_level(logging.WARNING, logger="scalinglab"):
        (_, plan, _) = sweep_plan(*ONE_RUN, "sweep.quarantine=true")
    moved = results / "quarantine" / "runs" / bad.name
    assert moved.read_bytes() == before and not bad.exists()
    assert [p.done for p in plan] == [False]
    assert f"moved unreadable run file {bad} to {moved}" in caplog.text
    assert [p.stem for p in store.run_files(results)] == ["0123456789abcdef"]  # readable files stay


def test_a_second_quarantine_of_the_same_name_keeps_both(write_fake_run, tmp_path):
    for expected in ("r.parquet", "r.parquet.1"):
        _truncate(write_fake_run(tmp_path, "r"))
        quarantine.check_results_folder(tmp_path, quarantine=True)
        assert (tmp_path / "quarantine" / "runs" / expected).exists()


def test_foreign_run_file_is_named(write_fake_run, tmp_path):
    other = write_fake_run(tmp_path, "aaaa")
    foreign = other.rename(other.with_name("bbbb.parquet"))
    with pytest.raises(store.ResultsError, match=f"^{foreign}: holds run 'aaaa', not the run bbbb its name says"):
        quarantine.check_results_folder(tmp_path, quarantine=False)


@pytest.mark.slow
def test_sweep_script_exits_2_then_retrains_the_quarantined_run(planned_with_a_truncated_result, run_script,
                                                                tmp_path):
    results, bad = planned_with_a_truncated_result
    args = [*ONE_RUN, f"sweep.results_dir={results}"]
    stopped = run_script("sweep.py", args, tmp_path)
    assert stopped.returncode == 2 and "Traceback" not in stopped.stdout
    assert f"{bad}: not a readable parquet file" in stopped.stdout
    done = run_script("sweep.py", [*args, "sweep.quarantine=true"], tmp_path)
    assert done.returncode == 0, done.stdout[-3000:]
    _, meta = store.read_run(bad)
    assert meta["status"] == "completed"
    assert (results / "quarantine" / "runs" / bad.name).exists()


def test_unreadable_checkpoint_is_moved_aside_and_the_run_trains_from_the_start(run_config, tmp_path, caplog):
    fresh = resolve(run_config(tmp_path / "fresh"))
    execute(fresh)
    run = resolve(run_config(tmp_path / "results"))
    with pytest.raises(RunInterrupted):
        execute(run, stop_after_step=20)
    ckpt = checkpoint_path(tmp_path / "results", run.run_id)
    _truncate(ckpt)
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        assert execute(run).status == "completed"
    moved = tmp_path / "results" / "quarantine" / "checkpoints" / ckpt.name
    assert moved.exists() and not ckpt.exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith(f"unreadable checkpoint {ckpt} (")
    assert warnings[0].endswith(f"moved to {moved}; the run trains from the start")
    assert "resuming" not in caplog.text
    final = [store.read_run(store.run_path(r.config.sweep.results_dir, r.run_id))[1]["final_test_loss"]
             for r in (fresh, run)]
    assert final[0] == final[1]  # trained from step 0, as a fresh run


def test_resume_is_logged_with_its_step(run_config, tmp_path, caplog):
    run = resolve(run_config(tmp_path))
    with pytest.raises(RunInterrupted):
        execute(run, stop_after_step=20)
    with caplog.at_level(logging.INFO, logger="scalinglab"):
        execute(run)
    assert f"run {run.run_id[:8]}: resuming from step 20 of {run.steps} (saved state " in caplog.text
