"""The plan's time estimate: exact training FLOPs / (peak * MFU), for this machine's measured peak or for a
device's stated one (sweep.estimate_peak_flops, sweep.estimate_mfu); sweep.check_data=false plans without data."""

import pytest

from configs.errors import ConfigError
from harness.plan import EstimateBasis, estimate_basis, estimate_seconds, format_plan

# 1 x 16 (one head of 16), n_ctx 64, vocabulary 384 (the smoke data), d_ff 64: Hoffmann et al. 2022 app. F
# forward FLOPs per token, term by term: embeddings 2*384*16 = 12,288; QKV 2*3*16*16 = 1,536; QK logits
# 2*64*16 = 2,048; softmax 3*1*64 = 192; softmax @ V 2*64*16 = 2,048; output 2*16*16 = 512; MLP 2*2*16*64 = 4,096;
# final logits 2*16*384 = 12,288. Sum 35,008; training 3x = 105,024 per token, x 32,768 tokens:
ONE_RUN = ["sweep=single", "model.n_layer=1", "model.d_model=16", "model.d_head=16", "model.n_ctx=64",
           "train.tokens=32768", "train.batch_size=8"]
ONE_RUN_FLOPS = 105_024 * 32_768  # 3,441,426,432


def test_the_estimate_is_flops_over_peak_times_mfu():
    h100_at_40 = EstimateBasis(989.4e12, 0.4, measured=False)
    assert estimate_seconds(3e18, h100_at_40) == pytest.approx(3e18 / 395.76e12)  # 7,580.35 s
    assert estimate_seconds(ONE_RUN_FLOPS, EstimateBasis(1e9, 0.1, measured=False)) == pytest.approx(34.41426432)


def test_the_plan_prints_its_estimate_for_the_stated_peak_and_utilisation(sweep_plan):
    cfg, plan, _ = sweep_plan(*ONE_RUN, "sweep.estimate_peak_flops=1e9", "sweep.estimate_mfu=0.1")
    basis = estimate_basis(cfg.sweep.estimate_peak_flops, cfg.sweep.estimate_mfu)
    assert (basis.peak_flops_per_s, basis.mfu, basis.measured) == (1e9, 0.1, False)
    last = format_plan(plan, basis).splitlines()[-1]
    assert last == ("1 runs, 1 to train, in 1 units (0 packs): 3.44e+09 exact training FLOPs (1.00x of 3.44e+09 as separate "
                    "runs), estimated 34s (at 10% of a stated 1 GFLOP/s peak, one process)")
    assert basis.peak_words == "a stated peak of 1 GFLOP/s"
    h100 = EstimateBasis(989.4e12, 0.4, measured=False)
    assert "(at 40% of a stated 989.4 TFLOP/s peak, one process)" in format_plan(plan, h100)


def test_without_a_stated_peak_the_cpu_peak_is_measured():
    basis = estimate_basis(None, 0.4)
    assert basis.measured and basis.mfu == 0.4 and basis.peak_flops_per_s > 0
    assert basis.peak_words == "the measured matmul peak"
    assert basis.describe().startswith("at 40% of a measured ") and basis.describe().endswith(
        " GFLOP/s fp32 matmul peak, one process")


@pytest.mark.parametrize("override, field", [
    ("sweep.estimate_peak_flops=0", "sweep.estimate_peak_flops"),
    ("sweep.estimate_peak_flops=-1e12", "sweep.estimate_peak_flops"),
    ("sweep.estimate_peak_flops=inf", "sweep.estimate_peak_flops"),
    ("sweep.estimate_mfu=0", "sweep.estimate_mfu"),
    ("sweep.estimate_mfu=1.5", "sweep.estimate_mfu"),
    ("sweep.estimate_mfu=nan", "sweep.estimate_mfu"),
    ("sweep.check_data=false", "sweep.check_data"),  # without sweep.dry_run=true
])
def test_bad_estimate_settings_are_refused_naming_the_field(sweep_plan, override, field):
    with pytest.raises(ConfigError) as raised:
        sweep_plan(*ONE_RUN, override)
    assert raised.value.field == field


def test_a_dry_run_without_the_data_check_never_prepares_the_data(sweep_plan, monkeypatch):
    import harness.plan

    def no_data(*args, **kwargs):
        raise AssertionError("the data was prepared")

    monkeypatch.setattr(harness.plan, "prepare_once", no_data)
    _, plan, _ = sweep_plan(*ONE_RUN, "data.corpus=hf", "data.hf.name=wikitext", "sweep.dry_run=true",
                            "sweep.check_data=false")
    assert [p.run.params.non_embedding for p in plan] == [3_312]
    with pytest.raises(AssertionError, match="the data was prepared"):
        sweep_plan(*ONE_RUN, "data.corpus=hf", "data.hf.name=wikitext", "sweep.dry_run=true")
