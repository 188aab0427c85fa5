"""Shared fixtures of the harness and sweep tests: one tokenizer cache per session, config composition,
and running the real scripts.

Every run of these tests uses the data of the smoke preset (the first 60 stdlib files, BPE vocabulary
384, 32 held-out windows), so the BPE tokenizer is trained once per session, in `data_cache`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

import configs.run
from configs.data import DataConfig
from configs.run import RunConfig, to_run_config
from harness import store
from harness.data import prepare_data
from harness.sweep import plan_sweep, split_command_line

REPO = Path(__file__).resolve().parent.parent
SCRIPTS = REPO / "scripts"
SMOKE_DATA = {"stdlib_max_files": 60, "vocab_size": 384, "test_windows": 32}
# A tiny run on the smoke data: N = 25,472 (2 x 32, d_head 16), D = 64 steps of 8 x 64 tokens.
# One torch thread: on a shared 2-core machine two OpenMP threads can make a step 100x slower.
TINY_RUN = ["model.n_layer=2", "model.d_model=32", "model.d_head=16", "model.n_ctx=64",
            "train.tokens=32768", "train.batch_size=8", "train.eval_points=20", "train.train_log_points=20",
            "train.threads=1"]
SCRIPT_TIMEOUT_S = 300


def pytest_configure(config):
    # Under pytest-xdist (the README's test command: two workers on two cores) each worker's in-process torch
    # work gets one thread, so that the workers do not oversubscribe the cores.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_cache(tmp_path_factory) -> Path:
    """A tokenizer and token-id cache of the smoke data, built once and shared by every test."""
    cache = tmp_path_factory.mktemp("data_cache")
    prepare_data(DataConfig(cache_dir=str(cache), **SMOKE_DATA))
    return cache


@pytest.fixture(scope="session")
def data_overrides(data_cache) -> list[str]:
    """Command-line overrides selecting the smoke data in the shared cache."""
    return [f"data.{k}={v}" for k, v in SMOKE_DATA.items()] + [f"data.cache_dir={data_cache}"]


@pytest.fixture(scope="session")
def tiny_run_overrides(data_overrides) -> list[str]:
    """Command-line overrides of TINY_RUN on the smoke data (later overrides of the same key win)."""
    return [*data_overrides, *TINY_RUN]


@pytest.fixture(scope="session")
def compose_config(data_overrides):
    """compose(overrides, config_name='run') -> the DictConfig Hydra builds for scripts/train.py."""
    configs.run.register()

    def _compose(overrides: list[str], config_name: str = "run"):
        with initialize_config_dir(config_dir=str(configs.run.CONFIG_DIR), version_base="1.3"):
            return compose(config_name, overrides=[*data_overrides, *overrides])

    return _compose


@pytest.fixture(scope="session")
def run_config(compose_config):
    """run_config(results_dir, *overrides) -> RunConfig of TINY_RUN with the given overrides on top."""

    def _run_config(results_dir: Path, *overrides: str) -> RunConfig:
        return to_run_config(compose_config([*TINY_RUN, f"sweep.results_dir={results_dir}", *overrides]))

    return _run_config


@pytest.fixture
def sweep_plan(data_overrides, tmp_path):
    """sweep_plan(*args) -> (task config, plan, jobs side by side) as scripts/sweep.py builds them for these
    arguments (smoke data, results under tmp_path), validated, nothing written."""
    configs.run.register()  # as scripts/sweep.py does on import

    def _plan(*args: str):
        return plan_sweep(split_command_line([*data_overrides, f"sweep.results_dir={tmp_path / 'results'}", *args]))

    return _plan


@pytest.fixture(scope="session")
def script_command(data_overrides):
    """script_command(name, args) -> the argv of scripts/<name> on the smoke data (for Popen)."""

    def _command(name: str, args: list[str]) -> list[str]:
        return [sys.executable, str(SCRIPTS / name), *data_overrides, *args]

    return _command


@pytest.fixture(scope="session")
def run_script(script_command):
    """run_script(name, args, cwd) -> CompletedProcess of scripts/<name> with the smoke data, output merged."""

    def _run(name: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(script_command(name, args), cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=SCRIPT_TIMEOUT_S)

    return _run


@pytest.fixture(scope="session")
def write_fake_run():
    """write_fake_run(results_dir, run_id, loss=3.0, **metadata) -> path of a one-row run file (every curve
    column = loss, step 1, 512 tokens; status 'completed', final_test_loss = loss, plus `metadata`)."""

    def _write(results_dir: Path, run_id: str, loss: float = 3.0, **metadata) -> Path:
        curve = pd.DataFrame({c: [loss] for c in store.CURVE_COLUMNS}).assign(run_id=run_id, step=1, tokens=512)
        return store.write_run(results_dir, curve, {"run_id": run_id, "status": "completed",
                                                    "final_test_loss": loss, **metadata})

    return _write
