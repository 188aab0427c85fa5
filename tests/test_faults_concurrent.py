"""Two sweeps on one results folder with overlapping grids, started together: every run is trained exactly
once, nothing is corrupted, and the analysis' loader, read meanwhile, sees only finished runs."""

from __future__ import annotations

import re
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from harness import runner, store
from harness.resolve import resolve

pytestmark = pytest.mark.slow  # trains real (tiny) models

COMMON = ["sweep=smoke", "model.n_layer=1,2", "train.threads=1", "sweep.analyze=false"]
# Both grids start with d_model=32, so the two processes meet on the same runs from their first step.
GRIDS = (["model.d_model=32,16"], ["model.d_model=32,48"])
# cosine: 6 runs (d_model 16, 32, 48 x n_layer 1, 2); wsd: 6 trunks of two budgets each, the two 32-wide
# trunks shared by both sweeps.
SCHEDULES = {"cosine": (["train.tokens=16384"], 6),
             "wsd": (["train.tokens=8192,16384", "train.schedule=wsd", "train.warmup_tokens=1024"], 12)}
TRUNK_TRAINED = re.compile(r"trunk ([0-9a-f]{8}) \(.*\): steps \d+ -> \d+")
FINISHED = re.compile(r"run ([0-9a-f]{8}) .*: (completed|diverged), final test loss")
TIMEOUT_S = 300


@pytest.fixture(scope="module", params=sorted(SCHEDULES))
def two_sweeps(request, tmp_path_factory, script_command):
    schedule, union = SCHEDULES[request.param]
    results = tmp_path_factory.mktemp(f"shared-{request.param}")
    logs = [results.parent / f"sweep{i}-{request.param}.log" for i in range(2)]
    procs = []
    for grid, log in zip(GRIDS, logs):
        with open(log, "w") as out:
            procs.append(subprocess.Popen(script_command("sweep.py", [*COMMON, *schedule, *grid,
                                                                      f"sweep.results_dir={results}"]),
                                          cwd=results.parent,
                                          stdout=out, stderr=subprocess.STDOUT))
    snapshots, start = [], time.time()
    while any(p.poll() is None for p in procs) and time.time() - start < TIMEOUT_S:
        snapshots.append(_snapshot(results))
        time.sleep(0.2)
    codes = [p.wait(timeout=10) for p in procs]
    return {"results": results, "codes": codes, "outputs": [log.read_text() for log in logs],
            "snapshots": snapshots, "union": union, "schedule": request.param}


def _snapshot(results: Path) -> dict:
    before = {p.stem for p in store.run_files(results)}
    runs = store.load_runs(results)
    return {"before": before, "loaded": list(runs.get("run_id", [])), "statuses": set(runs.get("status", [])),
            "after": {p.stem for p in store.run_files(results)}}


def test_both_sweeps_exit_zero(two_sweeps):
    assert two_sweeps["codes"] == [0, 0], two_sweeps["outputs"]


def test_every_run_of_both_grids_is_trained_exactly_once(two_sweeps):
    trained = Counter(m.group(1) for out in two_sweeps["outputs"] for m in FINISHED.finditer(out))
    assert len(trained) == two_sweeps["union"], trained
    assert set(trained.values()) == {1}, trained


def test_a_trunk_both_sweeps_plan_is_trained_by_one_of_them_once(two_sweeps):
    trunks = Counter(m.group(1) for out in two_sweeps["outputs"] for m in TRUNK_TRAINED.finditer(out))
    expected = 6 if two_sweeps["schedule"] == "wsd" else 0
    assert len(trunks) == expected and set(trunks.values()) <= {1}, trunks


def test_every_result_is_readable_and_nothing_is_left_over(two_sweeps):
    results = two_sweeps["results"]
    runs = store.read_runs(results)
    assert len(runs) == two_sweeps["union"]
    assert {meta["status"] for _, meta in runs} == {"completed"}
    leftovers = [p for sub in ("runs", "checkpoints", "claims") for p in (results / sub).glob(".*")]
    assert leftovers + list((results / "claims").glob("*")) + list((results / "checkpoints").glob("*")) == []


def test_loader_reads_only_finished_runs_while_the_sweeps_write(two_sweeps):
    snapshots = two_sweeps["snapshots"]
    assert any(0 < len(s["loaded"]) < two_sweeps["union"] for s in snapshots)  # some reads happened mid-sweep
    for s in snapshots:
        assert len(set(s["loaded"])) == len(s["loaded"])
        assert s["before"] <= set(s["loaded"]) <= s["after"]
        assert s["statuses"] <= {"completed"}


def test_run_finished_by_another_process_while_this_one_prepared_data_is_not_retrained(
        run_config, tmp_path, monkeypatch):
    # The race: the result is absent at the first check, then another process writes it before the claim.
    done_dir = tmp_path / "other"
    finished = runner.execute(resolve(run_config(done_dir))).path
    run = resolve(run_config(tmp_path / "shared"))
    prepare = runner.prepare_data

    def prepare_while_another_process_finishes(cfg):
        store.run_path(tmp_path / "shared", run.run_id).parent.mkdir(parents=True, exist_ok=True)
        store.run_path(tmp_path / "shared", run.run_id).write_bytes(finished.read_bytes())
        return prepare(cfg)

    monkeypatch.setattr(runner, "prepare_data", prepare_while_another_process_finishes)
    monkeypatch.setattr(runner, "Trainer", None)  # training again would fail loudly
    result = runner.execute(run)
    assert (result.action, result.path) == ("skipped", store.run_path(tmp_path / "shared", run.run_id))
    assert list((tmp_path / "shared" / "claims").iterdir()) == []


def test_sweep_leaves_a_run_claimed_by_a_live_process_and_says_so(tmp_path, run_script, run_config):
    """A run held by a live process (this test's own pid) is not trained; the last lines count it."""
    import json
    import os
    import socket

    from harness import claims

    held = resolve(run_config(tmp_path, "model.d_model=16", "model.n_layer=1", "train.tokens=16384"))
    claim = claims.claim_path(tmp_path, held.run_id)
    claim.parent.mkdir(parents=True)
    claim.write_text(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}))
    done = run_script("sweep.py", ["sweep=smoke", "model.d_model=16", "model.n_layer=1,2", "train.tokens=16384",
                                   "train.batch_size=8", "model.n_ctx=64", "train.threads=1", "sweep.analyze=false",
                                   f"sweep.results_dir={tmp_path}"], tmp_path)
    assert done.returncode == 0, done.stdout[-2000:]
    assert not store.run_path(tmp_path, held.run_id).exists()
    assert "sweep done: 1 of 2 runs have results" in done.stdout
    assert "1 runs have no result yet" in done.stdout


def test_a_run_taken_over_while_training_is_left_to_the_new_owner(monkeypatch, run_config, tmp_path):
    """A process presumed dead (its claim taken over from another node) stops instead of racing the new owner."""
    import json

    from harness import claims

    run = resolve(run_config(tmp_path))
    claim = claims.claim_path(tmp_path, run.run_id)

    class TakenOverMidRun(runner.Trainer):
        def train(self):
            claim.write_text(json.dumps({"pid": 1, "host": "another-node", "started": 0, "token": "new-owner"}))
            return super().train()

    monkeypatch.setattr(runner, "Trainer", TakenOverMidRun)
    result = runner.execute(run)
    assert (result.action, result.path) == ("busy", None)
    assert not store.run_path(tmp_path, run.run_id).exists()
    assert json.loads(claim.read_text())["token"] == "new-owner"  # the new owner's claim is not released
