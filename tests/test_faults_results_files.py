"""Bad files in a results folder: a corrupt or truncated run file, another schema version, a full disk and
temp files a killed writer left. Each is named in one clear error (or skipped with a warning naming it when
asked), and never damages the results already there."""

from __future__ import annotations

import errno
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from harness import claims, runner, store
from harness.checkpoint import checkpoint_path, save_checkpoint
from harness.resolve import resolve

ANALYZE = Path(__file__).resolve().parent.parent / "scripts" / "analyze.py"
DISK_FULL = OSError(errno.ENOSPC, "No space left on device")


def _files(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _disk_full(*args, **kwargs):
    raise DISK_FULL


@pytest.fixture
def folder_with_a_truncated_run(write_fake_run, tmp_path) -> tuple[Path, Path]:
    write_fake_run(tmp_path, "good")
    bad = write_fake_run(tmp_path, "truncated")
    bad.write_bytes(bad.read_bytes()[: bad.stat().st_size // 2])
    return tmp_path, bad


@pytest.mark.parametrize("load", [store.load_runs, store.load_curves])
def test_truncated_run_file_raises_results_error_naming_it(folder_with_a_truncated_run, load):
    results, bad = folder_with_a_truncated_run
    with pytest.raises(store.ResultsError, match=f"^{bad}: not a readable parquet file"):
        load(results)


@pytest.mark.parametrize("load", [store.load_runs, store.load_curves])
def test_truncated_run_file_is_skipped_with_a_warning_naming_it_on_request(folder_with_a_truncated_run, load,
                                                                           caplog):
    results, bad = folder_with_a_truncated_run
    with caplog.at_level(logging.WARNING, logger="scalinglab"):
        loaded = load(results, on_error="skip")
    assert set(loaded["run_id"]) == {"good"}
    assert [r.getMessage() for r in caplog.records if str(bad) in r.getMessage()] != []


def test_unknown_on_error_value_is_rejected_naming_it(tmp_path):
    with pytest.raises(ValueError, match="on_error='ignore'"):
        store.load_runs(tmp_path, on_error="ignore")


def test_file_that_is_not_parquet_at_all_is_named(tmp_path):
    bad = store.run_path(tmp_path, "garbage")
    bad.parent.mkdir(parents=True)
    bad.write_text("not parquet")
    with pytest.raises(store.ResultsError, match=f"^{bad}: "):
        store.load_runs(tmp_path)


def test_run_file_of_another_schema_version_is_an_error_naming_it(write_fake_run, tmp_path, monkeypatch):
    write_fake_run(tmp_path, "current")
    monkeypatch.setattr(store, "SCHEMA_VERSION", 99)
    old = write_fake_run(tmp_path, "future")
    monkeypatch.undo()
    with pytest.raises(store.ResultsError, match=f"^{old}: schema_version=99, this scalinglab reads 1"):
        store.load_runs(tmp_path)


def test_analyze_script_exits_2_naming_the_bad_file_without_a_traceback(folder_with_a_truncated_run):
    results, bad = folder_with_a_truncated_run
    done = subprocess.run([sys.executable, str(ANALYZE), str(results), "--n-boot", "0"], timeout=300,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert done.returncode == 2
    assert f"error: {bad}: not a readable parquet file" in done.stdout
    assert "Traceback" not in done.stdout
    assert not (results / "analysis").exists()


@pytest.mark.parametrize("target", ["write_table", "replace"])
def test_disk_full_while_writing_a_result_keeps_earlier_results_and_leaves_no_temp_file(write_fake_run, tmp_path,
                                                                                       monkeypatch, target):
    write_fake_run(tmp_path, "earlier")
    write_fake_run(tmp_path, "rewritten", loss=3.0)
    before = _files(tmp_path)
    monkeypatch.setattr(*((store.pq, "write_table") if target == "write_table" else (store.os, "replace")),
                        _disk_full)
    for run_id in ("new", "rewritten"):  # a new run, and a re-trained one (sweep.force) over its old file
        with pytest.raises(OSError, match=f"could not write {store.run_path(tmp_path, run_id)}") as raised:
            write_fake_run(tmp_path, run_id, loss=1.0)
        assert raised.value.errno == errno.ENOSPC
    assert _files(tmp_path) == before  # no new file, no temp file, old files byte for byte


def test_disk_full_while_checkpointing_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = checkpoint_path(tmp_path, "run")
    save_checkpoint(path, {"step": 1})
    before = _files(tmp_path)
    monkeypatch.setattr(torch, "save", _disk_full)
    with pytest.raises(OSError, match=f"could not write {path}"):
        save_checkpoint(path, {"step": 2})
    assert _files(tmp_path) == before


@pytest.mark.slow
def test_disk_full_at_the_end_of_a_run_fails_it_and_keeps_earlier_results(write_fake_run, run_config, tmp_path,
                                                                          monkeypatch):
    earlier = write_fake_run(tmp_path, "earlier")
    before = _files(tmp_path)
    run = resolve(run_config(tmp_path))
    monkeypatch.setattr(store.pq, "write_table", _disk_full)
    with pytest.raises(OSError, match=f"could not write {store.run_path(tmp_path, run.run_id)}"):
        runner.execute(run)
    assert store.run_files(tmp_path) == [earlier]
    assert {k: v for k, v in _files(tmp_path).items() if k.startswith("runs/")} == before
    assert list((tmp_path / "claims").iterdir()) == []  # released, so a retry can take the run


def test_readers_ignore_temp_files_of_interrupted_writes(write_fake_run, tmp_path):
    write_fake_run(tmp_path, "finished")
    (store.runs_dir(tmp_path) / ".unfinished.parquet.abc123.tmp").write_bytes(b"PAR1 half a file")
    assert list(store.load_runs(tmp_path)["run_id"]) == ["finished"]
    assert set(store.load_curves(tmp_path)["run_id"]) == {"finished"}


@pytest.mark.slow
def test_run_taking_its_claim_removes_its_own_stale_temp_files_only(run_config, tmp_path):
    run = resolve(run_config(tmp_path))
    own = [checkpoint_path(tmp_path, run.run_id).parent / f".{run.run_id}.pt.k1ll3d.tmp",
           store.runs_dir(tmp_path) / f".{run.run_id}.parquet.k1ll3d.tmp"]
    others = [store.runs_dir(tmp_path) / ".0123456789abcdef.parquet.alive1.tmp"]
    for path in own + others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"partial")
    assert runner.execute(run).action == "trained"
    assert [p.exists() for p in own + others] == [False, False, True]


def test_finished_run_left_with_a_checkpoint_and_stale_claim_is_tidied(write_fake_run, run_config, tmp_path):
    # A process killed between renaming its result into place and deleting its checkpoint and claim.
    run = resolve(run_config(tmp_path))
    write_fake_run(tmp_path, run.run_id, corpus_fingerprint=runner.prepare_data(run.config.data).fingerprint)
    save_checkpoint(checkpoint_path(tmp_path, run.run_id), {"step": 1})
    claim = claims.claim_path(tmp_path, run.run_id)  # its owner ran on another node and stopped beating
    claim.parent.mkdir()
    claim.write_text(json.dumps({"pid": 1, "host": "another-node", "started": 0, "token": "dead"}))
    stale = time.time() - 2 * runner.stale_claim_s(run)
    os.utime(claim, (stale, stale))
    assert runner.execute(run).action == "skipped"
    assert list((tmp_path / "checkpoints").iterdir()) == list((tmp_path / "claims").iterdir()) == []


def test_finished_run_whose_claim_is_alive_is_not_tidied(write_fake_run, run_config, tmp_path):
    # Another process holds the claim (e.g. re-training with sweep.force): its checkpoint stays.
    run = resolve(run_config(tmp_path))
    write_fake_run(tmp_path, run.run_id, corpus_fingerprint=runner.prepare_data(run.config.data).fingerprint)
    ckpt = checkpoint_path(tmp_path, run.run_id)
    save_checkpoint(ckpt, {"step": 1})
    assert claims.try_claim(claims.claim_path(tmp_path, run.run_id), runner.stale_claim_s(run))
    assert runner.execute(run).action == "skipped"
    assert ckpt.exists()
