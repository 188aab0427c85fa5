"""The wsd schedule step by step, its config checks, and run ids: cosine ids unchanged, wsd fields in wsd ids."""

import math

import pytest
from hydra import compose, initialize_config_dir

import configs.run
from configs.run import to_run_config
from configs.errors import ConfigError
from harness.resolve import resolve
from configs.train import COOLDOWN_SHAPES
from harness.schedule import COOLDOWN_FRACTION_LEFT, WSDSchedule

PEAK = 1.0


@pytest.mark.parametrize("shape, at_step_8", [("1-sqrt", 1 - math.sqrt(0.5)), ("linear", 0.5), ("cosine", 0.5)])
def test_wsd_warms_up_holds_the_peak_then_cools_down_to_the_final_ratio(shape, at_step_8):
    # 10 steps: warmup 2, constant 2..7, cooldown of 2 steps (8 and 9), progress 1/2 then 1
    schedule = WSDSchedule(PEAK, warmup_steps=2, total_steps=10, cooldown_steps=2, shape=shape, final_ratio=0.0)
    lrs = [schedule.lr(s) for s in range(10)]
    assert lrs[:8] == [0.5, 1, 1, 1, 1, 1, 1, 1]
    assert lrs[8] == pytest.approx(at_step_8)
    assert lrs[9] == 0.0
    assert schedule.cooldown_start == 8


def test_every_configured_cooldown_shape_has_a_function_and_no_other():
    assert sorted(COOLDOWN_FRACTION_LEFT) == sorted(COOLDOWN_SHAPES)


def test_wsd_ends_at_final_lr_ratio_times_the_peak():
    schedule = WSDSchedule(2.0, warmup_steps=0, total_steps=5, cooldown_steps=4, shape="linear", final_ratio=0.1)
    # p = 1/4 ... 1: 2 * (0.1 + 0.9 * (1 - p))
    assert [schedule.lr(s) for s in range(5)] == pytest.approx([2.0, 1.55, 1.1, 0.65, 0.2])


def test_before_its_cooldown_a_budget_has_the_rate_of_every_longer_budget():
    short = WSDSchedule(PEAK, 3, 50, 10, "1-sqrt", 0.0)
    long = WSDSchedule(PEAK, 3, 500, 100, "1-sqrt", 0.0)
    assert [short.lr(s) for s in range(40)] == [long.lr(s) for s in range(40)]


# The first and last runs of the cosine default preset (kaplan_fig1 before it moved to wsd trunks), by their
# overrides; their ids from before train.schedule existed.
OLD_DEFAULT_FIRST = ["model.d_model=16", "model.n_layer=1", "train.tokens=1000000"]
OLD_DEFAULT_LAST = ["model.d_model=96", "model.n_layer=4", "train.tokens=2000000"]
OLD_DEFAULT_BASE = ["model.d_head=16", "model.n_ctx=128", "train.batch_size=16", "train.schedule=cosine",
                    "train.lr_rule=kaplan"]


def test_a_cosine_run_keeps_the_id_it_had_before_wsd_existed():
    configs.run.register()
    ids = []
    for point in (OLD_DEFAULT_FIRST, OLD_DEFAULT_LAST):
        with initialize_config_dir(config_dir=str(configs.run.CONFIG_DIR), version_base="1.3"):
            cfg = to_run_config(compose("run", overrides=[*OLD_DEFAULT_BASE, *point]))
        ids.append(resolve(cfg, "n_grid").run_id)
    assert ids == ["41dc17094c9d3951", "74a1ffb9c215be66"]


@pytest.mark.parametrize("override", ["train.cooldown_frac=0.3", "train.cooldown_shape=linear",
                                      "train.warmup_tokens=1536"])
def test_wsd_fields_change_a_wsd_id_and_leave_a_cosine_id(run_config, tmp_path, override):
    wsd_args = ("train.schedule=wsd", "train.warmup_tokens=1024")
    cosine, wsd = resolve(run_config(tmp_path)), resolve(run_config(tmp_path, *wsd_args))
    assert resolve(run_config(tmp_path, override)).run_id == cosine.run_id
    assert resolve(run_config(tmp_path, *wsd_args, override)).run_id != wsd.run_id
    assert wsd.run_id != cosine.run_id


def test_budgets_of_one_wsd_config_share_a_trunk_id_and_cosine_has_none(run_config, tmp_path):
    a = resolve(run_config(tmp_path, "train.schedule=wsd", "train.warmup_tokens=1024"))
    b = resolve(run_config(tmp_path, "train.schedule=wsd", "train.warmup_tokens=1024", "train.tokens=65536"))
    other = resolve(run_config(tmp_path, "train.schedule=wsd", "train.warmup_tokens=1024", "train.seed=1"))
    assert a.trunk_id == b.trunk_id != other.trunk_id
    assert a.run_id != b.run_id
    assert resolve(run_config(tmp_path)).trunk_id == ""


def test_a_wsd_run_forks_at_its_budget_minus_the_rounded_cooldown(run_config, tmp_path):
    run = resolve(run_config(tmp_path, "train.schedule=wsd", "train.warmup_tokens=1536"))  # 64 steps of 512 tokens
    assert (run.steps, run.cooldown_steps, run.fork_step, run.warmup_steps) == (64, 13, 51, 3)  # round(12.8) = 13


@pytest.mark.parametrize("override, field", [
    ("train.cooldown_frac=0", "train.cooldown_frac"), ("train.cooldown_frac=1", "train.cooldown_frac"),
    ("train.cooldown_shape=step", "train.cooldown_shape"), ("train.schedule=constant", "train.schedule"),
    ("train.cooldown_frac=0.001", "train.cooldown_frac"),  # 0.064 of a step: shorter than one step
    ("train.warmup_tokens=30000", "train.warmup_tokens"),  # 59 warmup steps, the cooldown starts at 51
])
def test_a_bad_wsd_value_stops_planning_naming_the_field(sweep_plan, tmp_path, override, field):
    with pytest.raises(ConfigError) as err:
        sweep_plan("sweep=smoke", "train.schedule=wsd", "train.warmup_tokens=1024", override)
    assert err.value.field == field
    assert not (tmp_path / "results").exists()
