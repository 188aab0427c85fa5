"""sweep=kaplan_fig1_gpu: Kaplan Figure 1 on one GPU, 9 sizes x 8 budgets in 9 wsd trunks, planned offline, and
estimated at 40% of an H100 SXM's dense bf16 peak at about two hours."""

import copy
import dataclasses
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import configs.run
from configs.errors import ConfigError
from harness.bench.datasheet import DATASHEET_BF16_PEAKS
from harness.data import PreparedData
from harness.plan import check_data_fits, estimate_basis, estimate_seconds, plan_units
from harness.sweep import plan_sweep, split_command_line

REPO = configs.run.CONFIG_DIR.parent
OFFLINE_DRY_RUN = ["sweep=kaplan_fig1_gpu", "sweep.dry_run=true", "sweep.check_data=false"]
SIZES = [(2, 64, 100_096), (2, 128, 396_800), (4, 192, 1_779_840), (6, 256, 4_739_072), (6, 384, 10_647_552),
         (8, 512, 25_220_096), (10, 640, 49_236_480), (12, 768, 85_056_000), (16, 832, 133_081_728)]
BUDGETS = [2**k for k in range(23, 31)]  # 8.4e6 ... 1.07e9 tokens
FORKS = [102, 205, 410, 819, 1638, 3277, 6554, 13107]  # 0.8 of each budget's 2^(k-16) steps, rounded
TOKENS_PER_STEP = 128 * 512
# Each trunk trains to its last fork, then each budget its cooldown (steps - fork): 13,107 + 6,528 steps.
STEPS_PER_TRUNK = FORKS[-1] + sum(d // TOKENS_PER_STEP - f for d, f in zip(BUDGETS, FORKS))


def exact_train_flops_per_token(n_layer: int, d_model: int, n_ctx: int = 512, vocab: int = 1024) -> int:
    """Hoffmann et al. 2022 app. F's forward count x 3, summed by hand: embeddings and logits 2 V d each; per layer
    QKV 6 d^2, QK and softmax @ V 2 ctx d each, softmax 3 heads ctx, output 2 d^2, MLP 16 d^2 (d_ff = 4 d)."""
    heads = d_model // 64
    return 3 * (4 * vocab * d_model + n_layer * (24 * d_model**2 + 4 * n_ctx * d_model + 3 * heads * n_ctx))


PRESET_FLOPS = sum(STEPS_PER_TRUNK * TOKENS_PER_STEP * exact_train_flops_per_token(L, d) for L, d, _ in SIZES)
H100_AT_40_S = PRESET_FLOPS / (989.4e12 * 0.4)  # 6,962 s = 1 h 56 min


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """(task config, plan) of the preset, planned without its dataset (WikiText-103 from the Hub)."""
    configs.run.register()
    results = tmp_path_factory.mktemp("results")
    cfg, plan, jobs = plan_sweep(split_command_line([*OFFLINE_DRY_RUN, f"sweep.results_dir={results}"]))
    assert jobs == 1  # one process on the GPU
    return cfg, plan


def test_it_plans_nine_sizes_from_1e5_to_1e8_each_at_eight_budgets_in_one_trunk(planned):
    _, plan = planned
    units = plan_units(plan)
    assert [(u.unit.runs[0].gpt.n_layer, u.unit.runs[0].gpt.d_model, u.unit.runs[0].params.non_embedding)
            for u in units] == SIZES
    for u in units:
        runs = u.unit.runs
        assert [r.tokens for r in runs] == BUDGETS and [r.fork_step for r in runs] == FORKS
        assert {(r.gpt.n_ctx, r.batch_size, r.warmup_steps, r.gpt.n_head * 64) for r in runs} == {
            (512, 128, 64, runs[0].gpt.d_model)}
        assert u.cost.flops / u.cost.separate_flops == pytest.approx(0.6, abs=0.002)
    assert {p.run.config.train.device for p in plan} == {"cuda"}
    assert {p.run.grid for p in plan if p.run.tokens == 2**30} == {"n_grid"}  # L(N): every size at 2^30
    assert not any(p.run.grid == "d_grid" for p in plan)  # L(D) is inferred: the largest size, 8 budgets
    assert [p.run.peak_lr for p in plan if p.run.grid == "n_grid"] == pytest.approx(
        [1.633e-3, 1.441e-3, 1.231e-3, 1.094e-3, 9.82e-4, 8.61e-4, 7.68e-4, 6.92e-4, 6.29e-4], abs=1e-6)


def test_its_estimate_at_40_percent_of_an_h100_sxm_is_about_two_hours(planned):
    cfg, plan = planned
    assert cfg.sweep.estimate_peak_flops == DATASHEET_BF16_PEAKS["H100 SXM"].flops_per_s == 989.4e12
    basis = estimate_basis(cfg.sweep.estimate_peak_flops, cfg.sweep.estimate_mfu)
    assert (basis.measured, basis.mfu) == (False, 0.4)
    flops = sum(u.cost.flops for u in plan_units(plan))
    assert STEPS_PER_TRUNK == 19_635 and PRESET_FLOPS == 2_755_349_308_747_284_480  # 2.76e18
    assert flops == pytest.approx(PRESET_FLOPS, rel=1e-12)
    seconds = estimate_seconds(flops, basis)
    assert seconds == pytest.approx(H100_AT_40_S, rel=1e-7) and 1.5 * 3600 <= seconds <= 2.5 * 3600


def test_its_runs_pass_the_data_checks_the_offline_dry_run_leaves_out(planned):
    """check_data_fits on every planned run, against a stand-in for WikiText-103 (which needs a network): 2^20
    train tokens, and the 256 test windows of 513 tokens the preset asks for."""
    _, plan = planned
    test = np.zeros(256 * 512 + 1, dtype=np.uint16)  # the fewest tokens that hold 256 windows of n_ctx + 1
    data = PreparedData("hf", "0" * 64, 1024, np.zeros(2**20, dtype=np.uint16), test, math.nan, 0, None)
    for p in plan:
        check_data_fits(p.run, data)
    strict = copy.deepcopy(plan[-1].run)
    strict.config.data.allow_repeat = False  # 2^30 tokens on a smaller train split need repetition
    with pytest.raises(ConfigError) as raised:
        check_data_fits(strict, data)
    assert raised.value.field == "train.tokens"
    with pytest.raises(ConfigError) as raised:  # one window short of the test set
        check_data_fits(plan[0].run, dataclasses.replace(data, test_tokens=test[:-2]))
    assert raised.value.field == "data.test_windows"


def test_the_dry_run_prints_the_gpu_estimate_offline(tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "sweep.py"), *OFFLINE_DRY_RUN,
                           f"sweep.results_dir={tmp_path / 'r'}"], cwd=tmp_path, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    assert ("72 runs, 72 to train, in 9 units (0 packs): 2.76e+18 exact training FLOPs (0.60x of 4.58e+18 as separate runs), "
            "estimated 1h56m (at 40% of a stated 989.4 TFLOP/s peak, one process)") in done.stdout
    assert list(tmp_path.iterdir()) == []
