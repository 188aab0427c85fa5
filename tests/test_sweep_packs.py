"""The planner packs only pending runs that can share a pack (one shape, steps, data; other seeds, rates or
beta2), at most sweep.pack_max each, below the step-cost threshold; sweep.pack=false plans today's units."""

import pytest

from configs.errors import ConfigError
from configs.sweep import SweepConfig
from harness.data import prepare_data
from harness.packing import pack_key, split_evenly, why_not_packable
from harness.plan import estimate_basis, format_plan, plan_units
from harness.trunks import group_units

SEEDS = "sweep.seeds=[0,1,2]"


def _units(sweep_plan, *args):
    _, plan, _ = sweep_plan(*args)
    return plan, plan_units(plan)


def test_seed_replicates_of_each_smoke_point_make_one_pack(sweep_plan):
    plan, units = _units(sweep_plan, "sweep=smoke", SEEDS)
    assert [len(u.unit.runs) for u in units] == [3] * 6
    for u in units:
        assert u.unit.is_pack and not u.unit.is_trunk
        assert len({pack_key(r) for r in u.unit.runs}) == 1
        assert sorted(r.config.train.seed for r in u.unit.runs) == [0, 1, 2]
    assert sum(u.cost.flops for u in units) == pytest.approx(sum(p.train_flops for p in plan))


def test_pack_false_plans_one_unit_per_run(sweep_plan):
    plan, units = _units(sweep_plan, "sweep=smoke", SEEDS, "sweep.pack=false")
    assert [u.unit.runs for u in units] == [u.runs for u in group_units([p.run for p in plan])]
    assert len(units) == 18


def test_learning_rate_points_of_one_shape_pack_and_other_shapes_do_not(sweep_plan):
    _, units = _units(sweep_plan, "train.tokens=32768", "train.schedule=cosine", "train.lr_rule=fixed",
                      "train.lr=1e-3,2e-3,4e-3", "model.n_ctx=32,64")
    assert [len(u.unit.runs) for u in units] == [3, 3]
    for u in units:
        assert len({r.gpt.n_ctx for r in u.unit.runs}) == 1
        assert sorted(r.peak_lr for r in u.unit.runs) == [1e-3, 2e-3, 4e-3]


def test_packs_hold_at_most_pack_max_runs_split_evenly(sweep_plan):
    _, units = _units(sweep_plan, "sweep=smoke", "sweep.seeds=[0,1,2,3,4]", "sweep.pack_max=3")
    assert [len(u.unit.runs) for u in units] == [3, 2] * 6
    assert [len(g) for g in split_evenly(list(range(9)), 8)] == [5, 4]
    assert split_evenly([0, 1, 2], 2) == [[0, 1], [2]]


def test_runs_costlier_than_the_threshold_stay_alone(sweep_plan):
    # exact training FLOPs per step of 8 x 64 tokens: 1 x 16 5.4e7, 2 x 16 7.0e7, 1 x 32 1.3e8, 2 x 32 1.8e8
    _, units = _units(sweep_plan, "sweep=smoke", SEEDS, "sweep.pack_below_flops_per_step=1e8")
    assert [len(u.unit.runs) for u in units] == [3, 3] + [1] * 12


def test_other_families_and_compiled_runs_are_not_packed(sweep_plan):
    _, units = _units(sweep_plan, "sweep=families", "sweep.seeds=[0,1]", "train.tokens=32768",
                      "sweep.pack_below_flops_per_step=1e12")
    packs = [u for u in units if u.unit.is_pack]
    assert {r.gpt.family for u in packs for r in u.unit.runs} == {"gpt2"}
    assert len(packs) == 3
    _, plan, _ = sweep_plan("sweep=smoke", SEEDS, "train.compile=default")
    assert "train.compile=default" in why_not_packable(plan[0].run)
    assert all(len(u.unit.runs) == 1 for u in plan_units(plan))
    _, plan, _ = sweep_plan("sweep=smoke", SEEDS, "train.micro_batch_size=4")
    assert "train.micro_batch_size=4" in why_not_packable(plan[0].run)
    assert all(len(u.unit.runs) == 1 for u in plan_units(plan))


def test_finished_runs_are_left_out_of_packs(sweep_plan, write_fake_run, tmp_path):
    plan, _ = _units(sweep_plan, "sweep=smoke", SEEDS)
    fingerprint = prepare_data(plan[0].run.config.data).fingerprint
    write_fake_run(tmp_path / "results", plan[0].run.run_id, corpus_fingerprint=fingerprint)
    plan, units = _units(sweep_plan, "sweep=smoke", SEEDS)
    assert plan[0].done
    assert [len(u.unit.runs) for u in units][:2] == [1, 2]
    assert plan[0].run.run_id not in {r.run_id for u in units[1:] for r in u.unit.runs}


def test_wsd_runs_of_one_budget_pack_and_trunks_of_several_do_not(sweep_plan):
    wsd = ("sweep=single", "model.n_layer=2", "model.d_model=32", "model.n_ctx=64", "model.d_head=16", "train.batch_size=8",
           "train.schedule=wsd", "train.warmup_tokens=1024", SEEDS)
    _, units = _units(sweep_plan, *wsd, "train.tokens=32768")
    assert [len(u.unit.runs) for u in units] == [3]
    assert units[0].unit.is_pack and not units[0].unit.is_trunk
    _, units = _units(sweep_plan, *wsd, "train.tokens=16384,32768")
    assert [(len(u.unit.runs), u.unit.is_trunk) for u in units] == [(2, True)] * 3


def test_the_dry_run_plan_shows_each_pack(sweep_plan):
    _, plan, _ = sweep_plan("sweep=smoke", SEEDS)
    text = format_plan(plan, estimate_basis(1e11, 0.4))
    assert text.count("pack of 3 runs") == 6
    assert "pack of 3 runs L1 d16 (#0 #1 #2): seeds [0, 1, 2]" in text
    assert "in 6 units (6 packs)" in text


@pytest.mark.parametrize("field, value", [("pack_max", 0), ("pack_below_flops_per_step", 0.0)])
def test_bad_pack_settings_name_the_field(field, value):
    with pytest.raises(ConfigError, match=f"sweep.{field}"):
        SweepConfig(**{field: value})
