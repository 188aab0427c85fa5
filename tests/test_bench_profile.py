"""The step profile groups torch's ops by what they compute and charges each group its exact FLOPs."""

import pytest

from harness.bench.profile import (ATTENTION, MATMUL, OPTIMIZER, OTHER, OUTSIDE, category_flops_per_token,
                                   category_seconds, op_category, wall_shares)
from harness.bench.shapes import BenchShape


@pytest.mark.parametrize("name, category", [
    ("aten::mm", MATMUL), ("aten::addmm", MATMUL), ("aten::bmm", MATMUL),
    ("aten::_scaled_dot_product_flash_attention_for_cpu", ATTENTION),
    ("aten::_scaled_dot_product_flash_attention_for_cpu_backward", ATTENTION),
    ("aten::_fused_adamw_", OPTIMIZER),
    ("aten::gelu_backward", OTHER), ("aten::native_layer_norm", OTHER), ("aten::matmul", OTHER),
])
def test_ops_fall_into_their_group(name, category):
    # aten::matmul is a dispatcher over mm/bmm: its self time is bookkeeping, not arithmetic.
    assert op_category(name) == category


def test_op_seconds_are_summed_per_group():
    seconds = category_seconds([("aten::mm", 3.0), ("aten::addmm", 1.0), ("aten::_fused_adamw_", 0.5),
                                ("Optimizer.step#AdamW.step", 0.25), ("aten::gelu", 0.5), ("aten::add_", 1.0)])
    assert seconds == {MATMUL: 4.0, ATTENTION: 0.0, OPTIMIZER: 0.75, OTHER: 1.5}


def test_shares_are_of_the_wall_time_and_the_time_in_no_op_is_its_own_row():
    shares = wall_shares({MATMUL: 4.0, ATTENTION: 1.0, OPTIMIZER: 0.0, OTHER: 2.0}, wall_s=8.0)
    assert shares == pytest.approx({MATMUL: 0.5, ATTENTION: 0.125, OPTIMIZER: 0.0, OTHER: 0.25, OUTSIDE: 0.125})


def test_a_profile_of_no_time_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="took no time"):
        wall_shares({MATMUL: 0.0}, wall_s=0.0)


def test_group_flops_are_three_times_the_forward_terms(sweep_plan):
    # 2 x 32 with d_head 16 (2 heads), d_ff 128, n_ctx 64, vocab 384 (the smoke preset's largest shape).
    _, plan, _ = sweep_plan("sweep=smoke")
    run = max((p.run for p in plan), key=lambda r: r.params.non_embedding)
    assert (run.gpt.n_layer, run.gpt.d_model, run.gpt.n_ctx, run.gpt.vocab_size) == (2, 32, 64, 384)
    flops = category_flops_per_token(BenchShape("smoke", run, (run,)))
    per_layer_dense = 2 * 3 * 32 * 32 + 2 * 32 * 32 + 2 * 2 * 32 * 128  # qkv, out projection, MLP
    assert flops[MATMUL] == 3 * (2 * per_layer_dense + 2 * 32 * 384)  # + the logits
    per_layer_attention = 2 * 64 * 32 + 3 * 2 * 64 + 2 * 64 * 32  # Q K^T, softmax (2 heads), @ V
    assert flops[ATTENTION] == 3 * 2 * per_layer_attention
