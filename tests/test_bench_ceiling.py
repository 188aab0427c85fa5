"""The whole-preset ceiling: plain-loop time, compute floor and the MFU a 1.5x gain needs, by hand-computed numbers."""

import math

import pandas as pd
import pytest

from harness.bench.ceiling import SPEEDUP_TARGET, preset_ceiling


def shapes_table() -> pd.DataFrame:
    # preset a: shape 1 trains 1000 tokens at 100 tok/s plain, 200 tok/s trainer, 1e6 FLOPs/token;
    #           shape 2 trains 3000 tokens at 300 tok/s plain, 300 tok/s trainer, 2e6 FLOPs/token.
    # preset b: one shape, 500 tokens at 50 tok/s both, 4e6 FLOPs/token.
    return pd.DataFrame({
        "preset": ["a", "a", "b"],
        "tokens_shape_runs": [1000, 3000, 500],
        "plain_tokens_per_s": [100.0, 300.0, 50.0],
        "trainer_tokens_per_s": [200.0, 300.0, 50.0],
        "flops_per_token_exact": [1e6, 2e6, 4e6],
        "eval_s_shape_runs": [1.0, 2.0, 0.5],
    })


def test_ceiling_sums_each_presets_runs_and_divides_by_the_peak():
    table = preset_ceiling(shapes_table(), peak_flops_per_s=1e9).set_index("preset")
    a = table.loc["a"]
    assert a["plain_loop_steps_s"] == pytest.approx(10 + 10)  # 1000/100 + 3000/300
    assert a["trainer_steps_s"] == pytest.approx(5 + 10)
    assert a["trainer_steps_and_eval_s"] == pytest.approx(15 + 3)
    assert a["train_flops_exact"] == pytest.approx(1e9 + 6e9)
    assert a["compute_floor_s"] == pytest.approx(7.0)  # 7e9 FLOPs at 1e9 FLOP/s
    assert a["ceiling_over_plain"] == pytest.approx(20 / 7)
    assert a["plain_loop_mfu"] == pytest.approx(7 / 20)
    assert a["mfu_needed_for_target"] == pytest.approx(SPEEDUP_TARGET * 7 / 20)
    assert math.isnan(a["sweep_over_plain"])
    b = table.loc["b"]
    assert b["compute_floor_s"] == pytest.approx(2.0) and b["plain_loop_steps_s"] == pytest.approx(10.0)


def test_a_finished_sweep_gives_its_preset_the_measured_speed_up():
    sweep = pd.DataFrame([{"end_to_end_s": 16.0}])
    table = preset_ceiling(shapes_table(), 1e9, sweep, "a").set_index("preset")
    assert table.loc["a", "sweep_end_to_end_s"] == 16.0
    assert table.loc["a", "sweep_over_plain"] == pytest.approx(20 / 16)
    assert math.isnan(table.loc["b", "sweep_over_plain"])
