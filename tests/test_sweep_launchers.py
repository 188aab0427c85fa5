"""The smoke sweep through scripts/sweep.py with three Hydra launchers: same runs, same losses, resumable."""

import json

import pytest

from harness import store

pytestmark = pytest.mark.slow  # trains real (tiny) models

# Extra arguments per launcher. The basic launcher runs jobs one after another in the sweep's own
# process; one torch thread keeps it fast on a shared 2-core machine (the thread count stays out of the run id).
LAUNCHERS = {
    "basic": ["train.threads=1"],
    "local_parallel": ["hydra/launcher=local_parallel"],  # joblib, 2 jobs, threads = cores // 2
    "submitit_local": ["hydra/launcher=submitit_local", "train.threads=1"],
    # wsd: the 4 shapes become 4 units; 2 x 32 shares one trunk with the d_grid's two budgets
    "local_parallel_wsd": ["hydra/launcher=local_parallel", "train.schedule=wsd", "train.warmup_tokens=1024"],
}
SMOKE_WSD_FORKS = {"n_grid": [51], "d_grid": [13, 26, 51]}
SMOKE_RUNS = 6  # n_grid 2 x 2 + d_grid 2


def _mtimes(results):
    return {p.name: p.stat().st_mtime_ns for p in store.run_files(results)}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory, run_script):
    """Each launcher's smoke sweep, run twice into its own results folder, from an empty working directory."""
    out = {}
    for name, args in LAUNCHERS.items():
        cwd = tmp_path_factory.mktemp(f"cwd_{name}")
        results = tmp_path_factory.mktemp(f"results_{name}")
        line = ["sweep=smoke", f"sweep.results_dir={results}", "sweep.analyze=false", *args]
        first = run_script("sweep.py", line, cwd=cwd)
        mtimes = _mtimes(results)
        second = run_script("sweep.py", line, cwd=cwd)
        out[name] = {"first": first, "second": second, "results": results, "cwd": cwd,
                     "mtimes_before": mtimes, "mtimes_after": _mtimes(results)}
    return out


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_sweep_exits_cleanly(sweeps, launcher):
    s = sweeps[launcher]
    assert (s["first"].returncode, s["second"].returncode) == (0, 0), s["first"].stdout[-3000:]
    assert "Traceback" not in s["first"].stdout


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_sweep_writes_one_parquet_per_run_of_its_plan(sweeps, launcher):
    results = sweeps[launcher]["results"]
    (plan_file,) = (results / "plans").glob("*.json")
    planned = [r["run_id"] for unit in json.loads(plan_file.read_text())["units"] for r in unit]
    assert len(planned) == len(set(planned)) == SMOKE_RUNS
    assert sorted(p.stem for p in store.run_files(results)) == sorted(planned)


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_every_run_of_the_sweep_completed_with_its_grid_label(sweeps, launcher):
    runs = store.load_runs(sweeps[launcher]["results"])
    assert (runs["status"] == "completed").all()
    assert sorted(runs["grid"]) == ["d_grid"] * 2 + ["n_grid"] * 4
    assert set(runs["preset"]) == {"smoke"}
    assert sorted(runs[runs["grid"] == "d_grid"]["tokens"]) == [8192, 16384]


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_sweep_leaves_no_checkpoint_claim_or_temp_file(sweeps, launcher):
    results = sweeps[launcher]["results"]
    assert list((results / "checkpoints").glob("*")) == []
    assert list((results / "claims").glob("*")) == []
    assert list(results.rglob("*.tmp")) == []


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_sweep_writes_nothing_in_the_working_directory(sweeps, launcher):
    assert list(sweeps[launcher]["cwd"].iterdir()) == []


@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_second_invocation_trains_nothing(sweeps, launcher):
    s = sweeps[launcher]
    assert f"{SMOKE_RUNS} runs, 0 to train" in s["second"].stdout
    assert "completed, final test loss" not in s["second"].stdout
    assert s["mtimes_after"] == s["mtimes_before"]
    assert len(s["mtimes_after"]) == SMOKE_RUNS


def test_a_wsd_sweep_launches_one_unit_per_trunk_and_keeps_each_fork_state(sweeps):
    results = sweeps["local_parallel_wsd"]["results"]
    (plan_file,) = (results / "plans").glob("*.json")
    units = json.loads(plan_file.read_text())["units"]
    assert sorted(len(unit) for unit in units) == [1, 1, 1, 3]
    kept = sorted(sorted(p.name for p in trunk.iterdir()) for trunk in (results / "trunks").iterdir())
    assert kept == sorted([["step_000000051.pt"]] * 3 + [["step_000000013.pt", "step_000000026.pt",
                                                          "step_000000051.pt"]])
    runs = store.load_runs(results)
    assert set(runs["schedule"]) == {"wsd"} and runs["trunk_id"].nunique() == 4


def test_basic_launcher_logs_each_run_completing_once(sweeps):
    assert sweeps["basic"]["first"].stdout.count("completed, final test loss") == SMOKE_RUNS


@pytest.mark.parametrize("launcher", ["local_parallel", "submitit_local"])
def test_launchers_reach_the_same_final_losses(sweeps, launcher):
    basic = store.load_runs(sweeps["basic"]["results"]).set_index("run_id")["final_test_loss"]
    other = store.load_runs(sweeps[launcher]["results"]).set_index("run_id")["final_test_loss"]
    assert sorted(other.index) == sorted(basic.index)
    for run_id, loss in basic.items():
        assert other[run_id] == pytest.approx(loss, rel=1e-6, abs=1e-6), run_id


def test_smoke_sweep_losses_fall_with_model_size_and_data(sweeps):
    runs = store.load_runs(sweeps["basic"]["results"]).set_index(["grid", "d_model", "n_layer", "tokens"])
    loss = runs["final_test_loss"]
    # L(N): the 32-wide models beat the 16-wide ones at the same D; L(D): more tokens, lower loss.
    assert loss["n_grid", 32, 1, 32768] < loss["n_grid", 16, 1, 32768]
    assert loss["n_grid", 32, 2, 32768] < loss["n_grid", 16, 2, 32768]
    assert loss["d_grid", 32, 2, 16384] < loss["d_grid", 32, 2, 8192]
