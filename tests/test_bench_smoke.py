"""The speed benchmark runs end to end on the tiniest smoke shape and writes its report."""

import pandas as pd
import pytest

from harness.bench.run import BenchOptions, run_benchmark
from harness.device import threads_for

pytestmark = pytest.mark.slow  # trains real (tiny) models for a few steps


def test_benchmark_writes_markdown_and_parquet_for_the_tiniest_shape(tmp_path, data_cache):
    opts = BenchOptions(presets=["smoke"], steps=2, rounds=2, warmup=1, max_shapes=1, threads=1,
                        thread_compare=False, processes=(1, 2), side_by_side_s=0.2, profile=True, overrides=[f"data.cache_dir={data_cache}"], out=tmp_path,
                        peak_sizes=(128,))
    text = run_benchmark(opts)
    shapes = pd.read_parquet(tmp_path / "shapes.parquet")
    assert list(shapes["shape"]) == ["L1 d16 ctx64 b8 V384"]
    row = shapes.iloc[0]
    assert row["trainer_tokens_per_s"] > 0 and row["plain_tokens_per_s"] > 0
    assert row["ratio_min"] <= row["trainer_over_plain"] <= row["ratio_max"]
    assert 0 < row["eval_fraction_shape_runs"] < 1
    assert (tmp_path / "bench.md").read_text() == text
    assert "L1 d16 ctx64 b8 V384" in text and "GFLOP/s" in text
    ceiling = pd.read_parquet(tmp_path / "ceiling.parquet").iloc[0]
    assert ceiling["preset"] == "smoke" and ceiling["compute_floor_s"] > 0
    assert ceiling["plain_loop_steps_s"] == pytest.approx(row["tokens_shape_runs"] / row["plain_tokens_per_s"])
    processes = pd.read_parquet(tmp_path / "processes.parquet")
    assert processes["processes"].tolist() == [1, 2]
    assert processes["threads_each"].tolist() == [threads_for(0, 1), threads_for(0, 2)]  # as the sweep's jobs
    assert (processes["total_tokens_per_s"] > 0).all()
    assert processes["start_spread_s"].iloc[0] == 0.0  # one process: nothing to spread
    assert 0 <= processes["start_spread_s"].iloc[1] < 0.2  # the barrier releases both together
    assert processes["over_one_process"].iloc[0] == 1.0
    assert processes["over_one_process"].iloc[1] == pytest.approx(
        processes["total_tokens_per_s"].iloc[1] / processes["total_tokens_per_s"].iloc[0])
    assert "Processes sharing the device" in text
    profile = pd.read_parquet(tmp_path / "profile.parquet").set_index("category")
    assert profile.index.tolist() == ["dense matmuls", "attention (SDPA)", "optimizer (AdamW, its Python included)",
                                      "everything else", "outside torch ops (Python, batches, profiler)"]
    assert (profile["share"].iloc[:4] > 0).all()  # this step did run matmuls, attention, AdamW and the rest
    assert 0 < profile.loc["dense matmuls", "profiler_fraction_of_peak"] < 2  # from the profiler's own counts
    # The exact count and the profiler's own count charge the same matmuls over the same self time.
    assert profile.loc["dense matmuls", "fraction_of_peak"] == pytest.approx(
        profile.loc["dense matmuls", "profiler_fraction_of_peak"], rel=0.05)
    # Two timings of a ~5 ms step: they agree within 10x even on a loaded machine, and a unit slip (s, ms) is 1000x.
    trainer_ms = 1e3 * 8 * 64 / row["trainer_tokens_per_s"]  # batch 8 x n_ctx 64 tokens a step
    assert trainer_ms / 10 < profile["ms_per_step"].sum() < trainer_ms * 10


def test_benchmark_runs_the_candidate_changes_and_reads_a_finished_sweep(tmp_path, data_overrides, write_fake_run):
    results = tmp_path / "sweep"
    for run_id, wall in (("a", 30.0), ("b", 50.0)):
        write_fake_run(results, run_id, wall_time_s=wall, grid="n_grid", preset="smoke", n_layer=1, d_model=16,
                       params_non_embedding=3312, tokens=32768, steps=64, flops_per_token_exact=1e5)
    log = tmp_path / "sweep.log"
    log.write_text("[10:00:00] sweep plan:\n[10:01:40] sweep done\n")  # 100 s
    opts = BenchOptions(presets=["smoke"], steps=1, rounds=2, warmup=1, max_shapes=1, threads=1,
                        # the variants' kaplan_fig1 shapes train up to 2e6 tokens; the smoke data holds 6e5
                        thread_compare=False, overrides=[*data_overrides, "data.allow_repeat=true"],
                        out=tmp_path / "bench", peak_sizes=(128,),
                        results_dir=results, sweep_log=log, sweep_preset="smoke", variants=True)
    text = run_benchmark(opts)
    sweep = pd.read_parquet(tmp_path / "bench" / "sweep.parquet").iloc[0]
    assert (sweep["runs_found"], sweep["sum_wall_time_s"], sweep["end_to_end_s"]) == (2, 80.0, 100.0)
    assert pd.read_parquet(tmp_path / "bench" / "sweep_runs.parquet")["tokens_per_s"].tolist() == pytest.approx(
        [32768 / 30.0, 32768 / 50.0])
    variants = pd.read_parquet(tmp_path / "bench" / "variants.parquet")
    assert variants["shape"].unique().tolist() == ["L4 d96 ctx128 b16 V384", "L2 d32 ctx128 b16 V384"]
    assert (variants["tokens_per_s"] > 0).all()
    assert "Candidate trainer changes" in text and "Finished sweep" in text


def test_benchmark_refuses_settings_that_measure_nothing(tmp_path):
    for opts in (BenchOptions(steps=0, out=tmp_path), BenchOptions(side_by_side_s=0.0, out=tmp_path),
                 BenchOptions(processes=(0, 2), out=tmp_path)):
        with pytest.raises(ValueError, match="must be"):
            run_benchmark(opts)
    assert not any(tmp_path.iterdir())
