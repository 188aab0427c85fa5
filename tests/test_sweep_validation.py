"""Every point of a sweep is validated before the first run starts; bad presets and launchers are named."""

import pytest

from configs.errors import ConfigError


@pytest.fixture
def plan_of(sweep_plan):
    """plan_of(*args) -> the validated plan scripts/sweep.py would build for these arguments."""
    return lambda *args: sweep_plan(*args)[1]


def test_command_line_grid_is_the_product_of_its_axes_in_grid_cli(plan_of, tmp_path):
    plan = plan_of("sweep=smoke", "model.d_model=16,32", "model.n_layer=1,2")
    assert [(p.run.gpt.d_model, p.run.gpt.n_layer) for p in plan] == [(16, 1), (16, 2), (32, 1), (32, 2)]
    assert {p.run.grid for p in plan} == {"cli"}
    assert {p.run.config.sweep.preset for p in plan} == {"cli"}
    assert not (tmp_path / "results").exists()


def test_smoke_preset_plans_its_six_runs(plan_of):
    plan = plan_of("sweep=smoke")
    assert [p.run.grid for p in plan] == ["n_grid"] * 4 + ["d_grid"] * 2
    assert [p.run.params.non_embedding for p in plan] == [3_312, 6_592, 12_768, 25_472, 25_472, 25_472]
    assert [p.run.tokens for p in plan] == [32_768] * 4 + [8_192, 16_384]


def test_two_seeds_double_the_plan_with_distinct_run_ids(plan_of):
    one, two = plan_of("sweep=smoke"), plan_of("sweep=smoke", "sweep.seeds=[0,1]")
    assert (len(one), len(two)) == (6, 12)
    assert len({p.run.run_id for p in two}) == 12
    assert sorted(p.run.config.train.seed for p in two) == [0] * 6 + [1] * 6
    assert {p.run.run_id for p in one} <= {p.run.run_id for p in two}  # seed 0 keeps its ids


def test_a_command_line_train_seed_holds_for_every_point_of_a_sweep(plan_of):
    # sweep.seeds used to default to [0] and overrode train.seed=5 silently
    default, five = plan_of("sweep=smoke"), plan_of("sweep=smoke", "train.seed=5")
    assert [p.run.config.train.seed for p in default] == [0] * 6
    assert [p.run.config.train.seed for p in five] == [5] * 6
    assert not {p.run.run_id for p in five} & {p.run.run_id for p in default}


def test_invalid_grid_point_raises_naming_the_point_and_field(plan_of, tmp_path):
    with pytest.raises(ConfigError) as raised:
        plan_of("sweep=smoke", "model.d_model=32,33")
    assert raised.value.field == "model.d_model"
    assert "cli[model.d_model=33" in str(raised.value)
    assert not (tmp_path / "results").exists()


def test_sweep_script_rejects_an_invalid_point_before_any_run(run_script, tmp_path):
    results = tmp_path / "results"
    done = run_script("sweep.py", ["sweep=smoke", f"sweep.results_dir={results}", "model.d_model=32,33"],
                      cwd=tmp_path)
    assert done.returncode == 2
    assert "invalid config: model.d_model=33" in done.stdout
    assert "grid point cli[model.d_model=33]" in done.stdout
    assert "Traceback" not in done.stdout
    assert not results.exists()


@pytest.mark.parametrize("group, choices", [
    ("sweep", ("arch_shape", "isoflop", "kaplan_fig1", "lr_sweep", "single", "smoke")),
    ("hydra/launcher", ("basic", "local_parallel", "submitit_local", "slurm")),
])
def test_sweep_script_lists_the_choices_for_an_unknown_one(run_script, tmp_path, group, choices):
    preset = [] if group == "sweep" else ["sweep=smoke"]
    done = run_script("sweep.py", [*preset, f"{group}=nope", f"sweep.results_dir={tmp_path / 'r'}"], cwd=tmp_path)
    assert done.returncode == 2
    assert f"{group}='nope'" in done.stdout
    for choice in choices:
        assert choice in done.stdout
    assert "Traceback" not in done.stdout
    assert list(tmp_path.iterdir()) == []


def test_dry_run_prints_the_plan_table_and_writes_nothing(run_script, tmp_path):
    done = run_script("sweep.py", ["sweep=smoke", "sweep.dry_run=true", f"sweep.results_dir={tmp_path / 'r'}"],
                      cwd=tmp_path)
    assert done.returncode == 0
    assert "C=6ND" in done.stdout
    assert "6 runs, 6 to train" in done.stdout
    assert done.stdout.count(" pending") == 6
    assert list(tmp_path.iterdir()) == []


def test_unknown_config_key_on_the_command_line_raises_config_error(plan_of):
    with pytest.raises(ConfigError) as raised:
        plan_of("sweep=smoke", "model.foo=1")
    assert str(raised.value) == ("invalid config: model.foo='1': no such key 'foo'; valid keys: ['n_layer', "
                                 "'d_model', 'n_head', 'd_head', 'd_ff_ratio', 'n_ctx', 'tie_embeddings', 'family']")


def test_ray_launcher_without_its_extra_says_how_to_install_it(plan_of):
    import importlib.util

    if importlib.util.find_spec("hydra_plugins.hydra_ray_launcher") is not None:
        pytest.skip("the ray extra is installed here")
    with pytest.raises(ConfigError) as raised:
        plan_of("sweep=smoke", "hydra/launcher=ray_local")
    assert "pip install -e '.[ray]'" in str(raised.value)


@pytest.mark.parametrize("budget", ["nan", "inf", "-1e11"])
def test_a_compute_budget_that_is_not_finite_and_positive_is_refused(plan_of, budget):
    # nan was ignored (the run trained at train.tokens), inf raised OverflowError from resolve
    with pytest.raises(ConfigError) as raised:
        plan_of("sweep=isoflop", f"sweep.grids.0.compute_budgets=[1e11,{budget}]")
    assert raised.value.field == "sweep.grids[isoflop].compute_budgets"


def test_families_preset_plans_three_families_at_matched_n_with_one_d_and_schedule(plan_of):
    plan = plan_of("sweep=families")
    runs = [p.run for p in plan]
    assert len(runs) == 18 and {r.grid for r in runs} == {"families"}
    by_family = {}
    for r in runs:
        by_family.setdefault(r.gpt.family, set()).add(r.params.non_embedding)
    assert by_family == {"gpt2": {25_472, 100_096, 223_872}, "llama": {25_248, 100_672, 221_664},
                         "lstm": {26_240, 103_680, 232_320}}
    for sizes in zip(*(sorted(s) for s in by_family.values())):
        assert max(sizes) / min(sizes) - 1 < 0.05  # matched N: within 5% at each size
    assert {(r.tokens, r.config.train.schedule, r.config.train.seed) for r in runs} == {
        (153_600, "wsd", 0), (153_600, "wsd", 1)}  # 150 steps of 8 x 128
    assert {r.gpt.n_head for r in runs if r.gpt.family == "lstm"} == {None}
    assert {r.peak_lr for r in runs if r.gpt.family == "lstm"} == {0.03}  # its calibrated rate
    assert {r.config.train.lr_rule for r in runs if r.gpt.family != "lstm"} == {"kaplan"}


def _finish_first_run(sweep_plan, write_fake_run, tmp_path):
    """Write a result for the smoke plan's first run, as a finished sweep leaves it."""
    from harness.data import prepare_data
    _, plan, _ = sweep_plan("sweep=smoke")
    run = plan[0].run
    write_fake_run(tmp_path / "results", run.run_id, corpus_fingerprint=prepare_data(run.config.data).fingerprint)


def test_sweep_force_counts_no_run_as_done(sweep_plan, write_fake_run, tmp_path):
    _finish_first_run(sweep_plan, write_fake_run, tmp_path)
    assert [p.done for p in sweep_plan("sweep=smoke")[1]] == [True] + [False] * 5
    assert not any(p.done for p in sweep_plan("sweep=smoke", "sweep.force=true")[1])


def test_a_tracker_chosen_over_finished_runs_warns_that_they_send_nothing(sweep_plan, write_fake_run, tmp_path,
                                                                          caplog):
    from harness.plan import EstimateBasis
    from harness.sweep import print_plan
    _finish_first_run(sweep_plan, write_fake_run, tmp_path)
    with caplog.at_level("WARNING", logger="scalinglab"):
        print_plan(sweep_plan("sweep=smoke", "logger=[tensorboard]")[1], EstimateBasis(1e11, 0.4, measured=True))
    assert "1 of 6 runs are already finished and are not trained again, so they send nothing" in caplog.text


def test_an_unknown_tracker_lists_the_trackers(sweep_plan):
    with pytest.raises(ConfigError) as err:
        sweep_plan("sweep=smoke", "logger=[foo]")
    assert "valid: ['mlflow', 'tensorboard', 'wandb']" in str(err.value)
