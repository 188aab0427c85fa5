"""One wsd trunk, many budgets: each branch ends exactly where an uninterrupted run to its budget ends, the
trunk trains once, a later budget grows it from its kept states, and foreign states are refused."""

import shutil

import pytest
import torch

from configs.errors import ConfigError
from harness import claims, store
from harness.data import prepare_data
from harness.plan import EstimateBasis, format_plan, plan_units
from harness.plan_file import run_from_json, run_to_json
from harness.resolve import resolve
from harness.trainer import Trainer
from harness import runner
from harness.trunk_runner import execute_trunk, tidy_finished_trunk, trunk_checkpoint_path
from harness.trunks import TRUNK_CLAIM_PREFIX
from harness.trunks import Unit, kept_steps, state_path, trunk_segment_steps, trunk_stretches, unit_cost

pytestmark = pytest.mark.slow  # trains real (tiny) models

WSD = ("train.schedule=wsd", "train.warmup_tokens=1024")  # 2 warmup steps of 8 x 64 tokens
BUDGETS = (8192, 16384, 32768)  # 16, 32, 64 steps; cooldowns round(0.2 x steps) = 3, 6, 13
FORKS = (13, 26, 51)


@pytest.fixture(scope="module")
def wsd_run(run_config):
    """wsd_run(results_dir, tokens, *overrides) -> the resolved wsd TINY_RUN at that budget."""
    return lambda results, tokens, *extra: resolve(run_config(results, *WSD, f"train.tokens={tokens}", *extra))


def _counting_steps(patch) -> list:
    taken = []
    original = Trainer._step
    patch.setattr(Trainer, "_step", lambda self, step: taken.append(step) or original(self, step))
    return taken


def _uninterrupted(run, tmp_path) -> float:
    """The final test loss of `run` trained in one piece by the trainer alone (no trunk, no fork)."""
    data = prepare_data(run.config.data)
    return Trainer(run, data, torch.device("cpu"), tmp_path / f"{run.run_id}.pt").train().final_test_loss


@pytest.fixture(scope="module")
def trunk(tmp_path_factory, wsd_run):
    results = tmp_path_factory.mktemp("trunk")
    runs = [wsd_run(results, d) for d in BUDGETS]
    with pytest.MonkeyPatch.context() as patch:
        taken = _counting_steps(patch)
        outcomes = execute_trunk(runs)
    reference = tmp_path_factory.mktemp("reference")
    return {"results": results, "runs": runs, "outcomes": outcomes, "steps_taken": taken,
            "files": [store.read_run(o.path) for o in outcomes],
            "uninterrupted": [_uninterrupted(r, reference) for r in runs]}


def test_each_branch_ends_exactly_where_an_uninterrupted_run_to_its_budget_ends(trunk):
    finals = [meta["final_test_loss"] for _, meta in trunk["files"]]
    assert finals == trunk["uninterrupted"]  # same steps, rates and batches: bit for bit on the CPU


def test_the_trunk_trains_once_then_each_cooldown(trunk):
    taken = trunk["steps_taken"]
    assert taken[:51] == list(range(51))  # the trunk, to the last fork
    assert taken[51:] == [*range(13, 16), *range(26, 32), *range(51, 64)]  # the three cooldowns


def test_branches_record_trunk_fork_and_schedule(trunk):
    metas = [meta for _, meta in trunk["files"]]
    assert [m["fork_step"] for m in metas] == list(FORKS)
    assert [m["fork_tokens"] for m in metas] == [f * 512 for f in FORKS]
    assert [m["cooldown_steps"] for m in metas] == [3, 6, 13]
    assert {m["trunk_id"] for m in metas} == {trunk["runs"][0].trunk_id}
    assert {(m["schedule"], m["cooldown_shape"], m["status"]) for m in metas} == {("wsd", "1-sqrt", "completed")}
    assert kept_steps(trunk["results"], trunk["runs"][0].trunk_id) == list(FORKS)


def test_branch_curves_share_the_trunk_up_to_their_forks_then_cool_down(trunk):
    (short, _), (middle, _), (long, meta) = trunk["files"]
    peak = meta["lr"]
    for curve, fork in zip((short, middle, long), FORKS):
        before, after = curve[curve.step <= fork].drop(columns="run_id"), curve[curve.step > fork]
        assert before.equals(long[long.step <= fork].drop(columns="run_id"))  # the one trunk, not a copy per budget
        assert (before[before.step > 2]["lr"] == peak).all()
        assert (after["lr"] < peak).all() and after["lr"].iloc[-1] == 0.0
        rows, evals = trunk_segment_steps(fork)  # a grid of no budget's: the same rows whatever else shares the trunk
        assert before["step"].tolist() == sorted(rows)
        assert sorted(before.loc[before.test_loss.notna(), "step"]) == sorted(evals)


def test_no_claim_or_trunk_checkpoint_is_left_and_the_fork_states_are_kept(trunk):
    results = trunk["results"]
    assert list((results / "claims").iterdir()) == []
    assert list((results / "checkpoints").glob("*")) == []


def test_a_larger_budget_grows_the_trunk_from_its_last_kept_state(trunk, wsd_run, tmp_path):
    results = tmp_path / "grow"
    shutil.copytree(trunk["results"], results)
    runs = [wsd_run(results, d) for d in (*BUDGETS, 65536)]  # 128 steps: cooldown 26, fork 102
    with pytest.MonkeyPatch.context() as patch:
        taken = _counting_steps(patch)
        outcomes = execute_trunk(runs)
    assert [o.action for o in outcomes] == ["skipped"] * 3 + ["trained"]
    assert taken == [*range(51, 102), *range(102, 128)]
    assert store.read_run(outcomes[-1].path)[1]["final_test_loss"] == _uninterrupted(runs[-1], tmp_path)


def test_a_smaller_budget_forks_from_a_kept_state_before_it_or_says_it_retrains_from_step_0(trunk, wsd_run):
    results = trunk["results"]
    kept = kept_steps(results, trunk["runs"][0].trunk_id)
    between = [wsd_run(results, d) for d in (12288, 32768)]  # 24 steps: cooldown 5, fork 19
    below = [wsd_run(results, d) for d in (4096, 32768)]  # 8 steps: cooldown 2, fork 6
    from_kept = unit_cost(Unit(tuple(between)), [True, False], kept)
    from_zero = unit_cost(Unit(tuple(below)), [True, False], kept)
    assert (from_kept.trunk_from_step, from_kept.trunk_to_step) == (13, 19)
    assert (from_zero.trunk_from_step, from_zero.trunk_to_step) == (0, 6)


def test_a_smaller_budget_trains_the_trunk_on_from_the_kept_state_before_its_fork(trunk, wsd_run, tmp_path):
    results = tmp_path / "smaller"
    shutil.copytree(trunk["results"], results)
    runs = [wsd_run(results, d) for d in (12288, *BUDGETS)]  # 24 steps: cooldown 5, fork 19
    with pytest.MonkeyPatch.context() as patch:
        taken = _counting_steps(patch)
        outcomes = execute_trunk(runs)
    assert taken == [*range(13, 19), *range(19, 24)]
    assert store.read_run(outcomes[0].path)[1]["final_test_loss"] == _uninterrupted(runs[0], tmp_path)


def test_new_forks_below_and_above_the_kept_ones_train_no_kept_stretch_twice():
    # kept at 13, 26, 51; new forks at 19 and 102: 13 -> 19, then 51 -> 102 (not 13 -> 102)
    assert trunk_stretches([19, 102], [13, 26, 51]) == [(13, [19]), (51, [102])]
    assert trunk_stretches([13, 26, 51], []) == [(0, [13, 26, 51])]
    assert trunk_stretches([6], [13]) == [(0, [6])]


def test_a_budget_another_process_finished_meanwhile_is_not_trained_again(trunk, wsd_run, tmp_path):
    results = tmp_path / "raced"
    run = wsd_run(results, BUDGETS[0])
    finished = trunk["outcomes"][0].path
    real_prepare = runner.prepare_data  # the data every unit prepares, before its claim

    def prepare_while_another_process_finishes(cfg):
        store.runs_dir(results).mkdir(parents=True, exist_ok=True)
        shutil.copy(finished, store.run_path(results, run.run_id))
        return real_prepare(cfg)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(runner, "prepare_data", prepare_while_another_process_finishes)
        taken = _counting_steps(patch)
        (outcome,) = execute_trunk([run])
    assert (outcome.action, taken) == ("skipped", [])


def test_a_budget_whose_result_cannot_be_written_fails_alone(wsd_run, tmp_path):
    runs = [wsd_run(tmp_path, d) for d in BUDGETS]
    real_write = store.write_run

    def full_disk_for_the_middle_budget(results_dir, curve, meta):
        if meta["run_id"] == runs[1].run_id:
            raise OSError(28, f"could not write {store.run_path(results_dir, runs[1].run_id)}: No space left on device")
        return real_write(results_dir, curve, meta)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(store, "write_run", full_disk_for_the_middle_budget)
        outcomes = execute_trunk(runs)
    assert [o.action for o in outcomes] == ["trained", "failed", "trained"]
    assert list((tmp_path / "claims").iterdir()) == []


def test_a_finished_trunk_left_with_its_checkpoint_is_tidied(trunk, wsd_run, tmp_path):
    results = tmp_path / "tidy"
    shutil.copytree(trunk["results"], results)
    runs = [wsd_run(results, d) for d in BUDGETS]
    leftover = trunk_checkpoint_path(results, runs[0].trunk_id)
    leftover.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(state_path(results, runs[0].trunk_id, 26), leftover)  # killed after the last branch's result
    tidy_finished_trunk(runs)
    assert not leftover.exists() and list((results / "claims").iterdir()) == []
    assert kept_steps(results, runs[0].trunk_id) == list(FORKS)


def test_a_state_of_another_trunk_under_a_fork_name_is_refused_naming_it(trunk, wsd_run, tmp_path):
    results = tmp_path / "foreign"
    other = wsd_run(results, 32768, "train.seed=1")
    state = state_path(results, other.trunk_id, other.fork_step)
    state.parent.mkdir(parents=True)
    shutil.copy(state_path(trunk["results"], trunk["runs"][0].trunk_id, 51), state)
    with pytest.raises(ConfigError) as err:
        execute_trunk([other])
    assert str(state) in str(err.value) and "trunk_id" in str(err.value)
    assert not store.run_path(results, other.run_id).exists()


def test_a_state_made_with_other_data_is_refused_naming_it(trunk, wsd_run, tmp_path):
    results = tmp_path / "otherdata"
    shutil.copytree(trunk["results"], results)
    run = wsd_run(results, BUDGETS[1])
    state = state_path(results, run.trunk_id, run.fork_step)
    saved = torch.load(state, weights_only=False)
    torch.save({**saved, "corpus_fingerprint": "0" * 64}, state)
    store.run_path(results, run.run_id).unlink()
    with pytest.raises(ConfigError) as err:
        execute_trunk([run])
    assert str(state) in str(err.value) and "000000000000" in str(err.value)


def test_a_trunk_claimed_by_a_live_process_is_left_to_it(wsd_run, tmp_path):
    runs = [wsd_run(tmp_path, d) for d in BUDGETS]
    held = claims.try_claim(claims.claim_path(tmp_path, TRUNK_CLAIM_PREFIX + runs[0].trunk_id), 60.0)
    try:
        outcomes = execute_trunk(runs)
    finally:
        claims.release(held)
    assert [o.action for o in outcomes] == ["busy"] * 3
    assert not (tmp_path / "runs").exists() and kept_steps(tmp_path, runs[0].trunk_id) == []


def test_a_resolved_run_survives_the_plan_file_unchanged(trunk):
    for run in trunk["runs"]:
        assert run_from_json(run_to_json(run)) == run


def test_the_plan_groups_the_budgets_into_one_trunk_and_prices_it(sweep_plan):
    _, plan, _ = sweep_plan("sweep=smoke", *WSD, "model.d_model=32", "model.n_layer=2",
                            f"train.tokens={','.join(map(str, BUDGETS))}")
    (unit,) = plan_units(plan)
    assert [r.fork_step for r in unit.unit.runs] == list(FORKS)
    # trunk 51 steps + cooldowns 3 + 6 + 13, against 16 + 32 + 64 steps as separate runs
    assert unit.cost.flops / unit.cost.separate_flops == pytest.approx(73 / 112)
    text = format_plan(plan, EstimateBasis(1e11, 0.4, measured=True))  # what sweep.dry_run=true prints
    assert "trunk " + unit.unit.trunk_id[:8] + " L2 d32: 3 budgets, 3 to train; 51 trunk steps to train" in text
    assert "forks at steps [13, 26, 51]" in text and "(0.65x)" in text
    cosine = plan_units(sweep_sweep := sweep_plan("sweep=smoke", "model.d_model=32", "model.n_layer=2",
                                                  f"train.tokens={','.join(map(str, BUDGETS))}")[1])
    assert len(cosine) == 3 and sweep_sweep


def test_a_trunk_that_diverges_records_every_later_fork_as_diverged(wsd_run, tmp_path):
    runs = [wsd_run(tmp_path, d) for d in BUDGETS]
    original = Trainer._step

    def blows_up_at_step_20(self, step):
        loss, lr = original(self, step)
        return (torch.full_like(loss, float("nan")) if step == 20 else loss), lr

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Trainer, "_step", blows_up_at_step_20)
        outcomes = execute_trunk(runs)
    metas = [store.read_run(o.path)[1] for o in outcomes]
    assert [(m["status"], m["diverged_step"]) for m in metas] == [("completed", -1), ("diverged", 21), ("diverged", 21)]
