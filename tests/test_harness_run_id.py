"""A run's id hashes every value that changes its result and nothing that only changes where or how fast it runs."""

import math

import pytest

from harness.resolve import RUN_ID_HEX_CHARS, resolve


@pytest.fixture(scope="module")
def base_id(run_config, tmp_path_factory):
    return resolve(run_config(tmp_path_factory.mktemp("results"))).run_id


def test_run_id_is_16_hex_characters(base_id):
    assert len(base_id) == RUN_ID_HEX_CHARS == 16
    int(base_id, 16)


def test_same_config_gives_the_same_id(base_id, run_config, tmp_path):
    assert resolve(run_config(tmp_path)).run_id == base_id


@pytest.mark.parametrize("override", [
    "train.seed=1", "model.d_model=64", "model.n_layer=3", "train.tokens=65536", "train.batch_size=16",
    "train.lr_rule=fixed", "train.warmup_frac=0.1", "data.vocab_size=512", "data.test_windows=16",
])
def test_result_changing_value_changes_the_id(base_id, run_config, tmp_path, override):
    assert resolve(run_config(tmp_path, override)).run_id != base_id


@pytest.mark.parametrize("override", [
    "train.device=cpu", "train.threads=2", "train.compile=default", "train.micro_batch_size=2", "train.checkpoint_interval_s=5",
    "train.progress_interval_s=1",
    "data.cache_dir=/elsewhere", "sweep.preset=other", "sweep.analyze=false",
])
def test_placement_and_bookkeeping_values_keep_the_id(base_id, run_config, tmp_path, override):
    assert resolve(run_config(tmp_path, override)).run_id == base_id


def test_results_dir_keeps_the_id(base_id, run_config, tmp_path):
    assert resolve(run_config(tmp_path / "another" / "folder")).run_id == base_id


def test_compute_budget_changes_the_id(base_id, run_config, tmp_path):
    cfg = run_config(tmp_path)
    assert resolve(cfg, compute_budget=1e11).run_id != base_id
    assert resolve(cfg, compute_budget=math.nan).run_id == base_id
