"""A value of the wrong type or an unknown key: one line naming the key, the value, and the expected type or
the nearest valid keys, exit status 2, nothing written; hub data without a network: one line saying how to
point the config at local copies, exit 2."""

from __future__ import annotations

import pytest

from configs.data import DataConfig, HFDataConfig
from configs.errors import ConfigError
from configs.run import check_command_line, check_overrides
from harness.data import prepare_data

BAD_VALUES = {  # override -> the one line the error must be
    "model.d_model=sixteen": "invalid config: model.d_model='sixteen': must be of type int",
    "train.batch_size=1.5": "invalid config: train.batch_size=1.5: must be of type int",
    "model.n_head=x": "invalid config: model.n_head='x': must be of type Optional[int]",
    "sweep.quarantine=maybe": "invalid config: sweep.quarantine='maybe': must be of type bool",
    "model.dmodel=16": "invalid config: model.dmodel='16': no such key 'dmodel'; nearest valid keys: ['d_model']",
    "trian.lr=1": "invalid config: trian.lr='1': no such key 'trian'; nearest valid keys: ['train']",
    "data.vocabsize=3": "invalid config: data.vocabsize='3': no such key 'vocabsize'; nearest valid keys: "
                        "['vocab_size']",
}


@pytest.mark.parametrize("override", sorted(BAD_VALUES))
def test_sweep_planning_names_key_value_and_expected_type_or_keys(override, sweep_plan):
    with pytest.raises(ConfigError) as raised:
        sweep_plan("train.lr=1e-3", override)  # a good override beside it stays out of the message
    assert str(raised.value) == BAD_VALUES[override]


@pytest.mark.parametrize("override", ["model.d_model=sixteen", "trian.lr=1"])
def test_train_overrides_are_checked_the_same_way(override):
    with pytest.raises(ConfigError) as raised:
        check_overrides("run", [override])
    assert str(raised.value) == BAD_VALUES[override]


def test_train_command_line_check_leaves_flags_and_sweeps_to_hydra():
    check_command_line("run", ["--cfg", "job", "-m", "model.d_model=64,128", "hydra.job.chdir=false"])
    check_command_line("run", ["--config-name", "other", "model.dmodel=3"])  # another primary config: Hydra's
    with pytest.raises(ConfigError, match="model.dmodel='3': no such key 'dmodel'"):
        check_command_line("run", ["-m", "model.d_model=64,128", "model.dmodel=3"])


@pytest.mark.slow
@pytest.mark.parametrize("script", ["train.py", "sweep.py"])
def test_scripts_exit_2_with_one_line(script, run_script, tmp_path):
    done = run_script(script, [f"sweep.results_dir={tmp_path / 'results'}", "model.d_model=sixteen"], tmp_path)
    assert done.returncode == 2
    assert BAD_VALUES["model.d_model=sixteen"] in done.stdout
    assert "Traceback" not in done.stdout and len(done.stdout.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_hub_dataset_without_network_names_the_local_settings(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")

    def offline(*args, **kwargs):  # what datasets 5.2 raises when the Hub's name cannot be resolved
        raise ConnectionError("Couldn't reach 'wikitext' on the Hub (LocalEntryNotFoundError)")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    cfg = DataConfig(corpus="hf", hf=HFDataConfig(name="wikitext"), cache_dir=str(tmp_path))
    with pytest.raises(ConfigError) as raised:
        prepare_data(cfg)
    message = str(raised.value)
    assert raised.value.field == "data.hf.name" and "\n" not in message
    assert message.startswith("invalid config: data.hf.name='wikitext': the dataset could not be reached "
                              "(ConnectionError: Couldn't reach 'wikitext' on the Hub")
    assert "data.hf.data_files" in message and "data.text_files.globs" in message
    assert message.endswith("a dry run prints its plan without the data with sweep.check_data=false")


@pytest.mark.slow
def test_sweep_on_hub_data_in_offline_mode_exits_2_with_one_line(run_script, tmp_path, monkeypatch):
    pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no request leaves the machine; datasets answers as with no network
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    done = run_script("sweep.py", ["sweep=smoke", "data.corpus=hf", "data.hf.name=wikitext",
                                   f"data.cache_dir={tmp_path / 'cache'}",
                                   f"sweep.results_dir={tmp_path / 'results'}"], tmp_path)
    assert done.returncode == 2, done.stdout[-3000:]
    assert "the dataset could not be reached" in done.stdout and "data.hf.data_files" in done.stdout
    assert "Traceback" not in done.stdout
    assert not (tmp_path / "results").exists()
