"""Launch order: plan order for one job at a time, longest first (LPT) for jobs side by side."""
from types import SimpleNamespace

from omegaconf import OmegaConf

from harness.plan import plan_units
from harness.sweep import STEP_FIXED_S, STEP_FLOPS_PER_S, configured_jobs, launch_order, unit_seconds


def cosine_unit(flops: float, steps: int):
    """A planned unit of one pending cosine run of `steps` steps and `flops` FLOPs."""
    run = SimpleNamespace(done=False, run=SimpleNamespace(steps=steps, cooldown_steps=0))
    return SimpleNamespace(cost=SimpleNamespace(flops=flops, trunk_steps=0), members=[run],
                           unit=SimpleNamespace(is_trunk=False))


PLAN = [cosine_unit(f, 100) for f in (1e9, 5e12, 3e10, 7e12, 2e11)]


def test_one_job_keeps_the_plan_order():
    assert launch_order(PLAN, [0, 1, 2, 4], n_jobs=1) == [0, 1, 2, 4]


def test_parallel_jobs_start_the_largest_runs_first():
    assert launch_order(PLAN, [0, 1, 2, 3, 4], n_jobs=2) == [3, 1, 4, 2, 0]
    assert launch_order(PLAN, [0, 2, 4], n_jobs=2) == [4, 2, 0]  # only pending units


def test_a_unit_of_many_cheap_steps_goes_before_one_of_few_costly_ones():
    # the default preset's 2 x 16 trunk (4674 steps of 2.9e8 FLOPs) against its 4 x 96 trunk (1085 of 6.9e9)
    small, large = cosine_unit(4674 * 2.9e8, 4674), cosine_unit(1085 * 6.9e9, 1085)
    assert unit_seconds(small) == 4674 * STEP_FIXED_S + 4674 * 2.9e8 / STEP_FLOPS_PER_S
    assert unit_seconds(small) > unit_seconds(large) and small.cost.flops < large.cost.flops
    assert launch_order([large, small], [0, 1], n_jobs=2) == [1, 0]


def test_jobs_are_read_from_the_launcher_config():
    assert configured_jobs(OmegaConf.create({"hydra": {"launcher": {"n_jobs": 2}}})) == 2
    assert configured_jobs(OmegaConf.create({"hydra": {"launcher": {"partition": "gpu"}}})) == 1
    assert configured_jobs(OmegaConf.create({})) == 1


def test_plan_sweep_reads_the_jobs_of_the_chosen_launcher(sweep_plan):
    assert sweep_plan("sweep=smoke")[2] == 1
    _, plan, jobs = sweep_plan("sweep=smoke", "hydra/launcher=local_parallel")
    assert jobs == 2
    units = plan_units(plan)
    order = launch_order(units, list(range(len(units))), jobs)
    seconds = [unit_seconds(units[i]) for i in order]
    assert seconds == sorted(seconds, reverse=True) and order != list(range(len(units)))
    assert [u.cost.flops for u in units] == [p.train_flops for p in plan]  # cosine: one run per unit


def test_a_wsd_trunk_is_launched_by_the_flops_of_trunk_and_branches(sweep_plan):
    _, plan, jobs = sweep_plan("sweep=smoke", "hydra/launcher=local_parallel", "train.schedule=wsd",
                               "train.warmup_tokens=1024")
    units = plan_units(plan)
    order = launch_order(units, list(range(len(units))), jobs)
    assert len(units[order[0]].members) == 3  # 2 x 32 with the d_grid's budgets: 51 + 3 + 6 + 13 steps


def test_submitit_local_jobs_get_one_thread_each(monkeypatch, sweep_plan):
    # submitit's LocalExecutor starts every job at once: with 2 threads each, a review measured the smoke
    # sweep's runs at 80-145 s against 0.3-1.5 s under the basic launcher.
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    assert sweep_plan("sweep=smoke", "hydra/launcher=submitit_local")[2] == 8
    from harness.device import threads_for
    assert threads_for(0, 8) == 1


def test_ray_jobs_are_cores_over_cpus_per_job(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 8)
    ray = {"hydra": {"launcher": {"ray": {"remote": {"num_cpus": 2}}}}}
    assert configured_jobs(OmegaConf.create(ray)) == 4
