"""The candidate-change benchmark: every variant steps, and the attention variant really changes the kernel."""

import pytest
import torch
import torch.nn.functional as F
from torch.profiler import ProfilerActivity, profile

from harness.bench.shapes import preset_shapes
from harness.bench.variants import VARIANTS, attention_backend, compare_variants
from harness.data import prepare_once


def sdpa_ops(kind: str) -> set:
    q = torch.randn(2, 2, 8, 4)
    with profile(activities=[ProfilerActivity.CPU]) as prof, attention_backend(kind):
        F.scaled_dot_product_attention(q, q, q, is_causal=True)
    return {e.key for e in prof.key_averages() if "scaled_dot_product" in e.key}


def test_math_backend_replaces_the_fused_kernel():
    assert any("flash" in op for op in sdpa_ops("auto"))
    math_ops = sdpa_ops("math")
    assert any("math" in op for op in math_ops)
    assert not any("flash" in op for op in math_ops)


@pytest.mark.slow  # builds a trainer per variant and steps each a few times
def test_every_variant_and_the_plain_loop_step_on_the_tiniest_shape(data_cache, tmp_path):
    shape = preset_shapes("smoke", [f"data.cache_dir={data_cache}"])[0]
    data = prepare_once(shape.run.config.data, {})
    threads = torch.get_num_threads()
    rows = compare_variants(shape, data, torch.device("cpu"), tmp_path, n_steps=1, rounds=2, warmup=1,
                            with_compile=False)
    assert torch.get_num_threads() == threads  # the '1 thread' variant does not leak its setting
    assert [r["variant"] for r in rows] == ["trainer (as is)", *VARIANTS, "plain loop"]
    assert all(r["tokens_per_s"] > 0 for r in rows)
    assert all(r["ratio_min"] <= r["over_trainer"] <= r["ratio_max"] for r in rows)
