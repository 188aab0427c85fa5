"""scripts/gpu_bench.py: every stage of the GPU measurement, run on the CPU with --tiny; the datasheet peaks, MFU
against both peaks, the packed table's schedule and arithmetic, and the time limit that stops a sweep with its
workers."""

import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from harness.bench.datasheet import DATASHEET_BF16_PEAKS, datasheet_peak
from harness.bench.gpu import GpuBenchOptions, mfu_columns, run_gpu_bench, sweep_limit_s, tiny_options
from harness.bench.gpu_packed import packed_rows, packed_schedule, round_tokens_per_s, takes_part
from harness.bench.gpu_report import PACKED_SKIPPED, GpuReport
from harness.bench.limited import run_with_limit
from harness.resolve import resolve

SWEEP_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sweep.py"
# 2 x 32 (heads of 16), n_ctx 64, vocabulary 384, d_ff 128: Hoffmann et al. 2022 app. F forward FLOPs per token,
# embeddings 2*384*32 = 24,576; per layer QKV 2*3*32*32 = 6,144, QK 2*64*32 = 4,096, softmax 3*2*64 = 384,
# softmax @ V 4,096, output 2*32*32 = 2,048, MLP 2*2*32*128 = 16,384 (33,152 a layer, 66,304 for two);
# logits 2*32*384 = 24,576. Sum 115,456; training 3x:
TINY_FLOPS_PER_TOKEN = 346_368
PACKED_COLUMNS = ["shape", "n_layer", "d_model", "params_non_embedding", "n_ctx", "batch_size", "flops_per_token_exact",
                  "models", "rounds", "separate_tokens_per_s", "packed_tokens_per_s", "separate_tokens_per_s_per_model",
                  "packed_tokens_per_s_per_model", "packed_over_separate", "ratio_min", "ratio_max",
                  "separate_over_one_model", "packed_over_one_model", "separate_mfu_measured_peak",
                  "packed_mfu_measured_peak"]
PACKED_RATIOS = ["packed_over_separate", "ratio_min", "ratio_max", "separate_over_one_model", "packed_over_one_model"]


@pytest.mark.parametrize("name, device, peak", [
    ("NVIDIA H100 80GB HBM3", "H100 SXM", 989.4e12),
    ("NVIDIA H100 PCIe", "H100 PCIe", 756e12),
    ("NVIDIA H200", "H200", 989.4e12),
    ("NVIDIA A100-SXM4-80GB", "A100", 312e12),
    ("NVIDIA A100-PCIE-40GB", "A100", 312e12),
])
def test_a_device_name_finds_its_datasheet_peak(name, device, peak):
    sheet = datasheet_peak(name)
    assert (sheet.device, sheet.flops_per_s) == (device, peak) and sheet.source


@pytest.mark.parametrize("name", ["NVIDIA H100 NVL", "NVIDIA H200 NVL", "NVIDIA GeForce RTX 4090", "AMD EPYC 7B13"])
def test_a_device_not_in_the_table_has_no_datasheet_peak(name):
    assert datasheet_peak(name) is None


def test_mfu_is_set_against_the_measured_and_the_datasheet_peak():
    h100 = DATASHEET_BF16_PEAKS["H100 SXM"]
    row = mfu_columns(tokens_per_s=1e5, flops_per_token=5e8, measured_peak=8e14, sheet=h100)
    assert row == pytest.approx({"flops_per_s": 5e13, "mfu_measured_peak": 0.0625,
                                 "mfu_datasheet_peak": 5e13 / 989.4e12})  # 0.05054
    assert math.isnan(mfu_columns(1e5, 5e8, 8e14, sheet=None)["mfu_datasheet_peak"])


def test_the_sweep_gets_its_own_limit_or_what_is_left_of_the_budget(tmp_path):
    opts = GpuBenchOptions(out=tmp_path, sweep_limit_s=240.0, budget_s=450.0)
    assert [sweep_limit_s(opts, elapsed) for elapsed in (100.0, 300.0, 500.0)] == [240.0, 150.0, 0.0]


def test_a_command_past_its_limit_is_stopped_with_the_processes_it_started(tmp_path):
    pid_file = tmp_path / "grandchild.pid"
    script = ("import subprocess, sys, time; "
              "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)']); "
              f"open({str(pid_file)!r}, 'w').write(str(child.pid)); time.sleep(120)")
    start = time.monotonic()
    ran = run_with_limit([sys.executable, "-c", script], 2.0, tmp_path / "log", tmp_path)
    assert ran.timed_out and ran.exit_status is None and 2.0 <= ran.wall_s < 2.5
    assert time.monotonic() - start < 15
    grandchild = int(pid_file.read_text())
    with pytest.raises(ProcessLookupError):  # gone with its parent's process group (reaped by init)
        for _ in range(50):
            os.kill(grandchild, 0)
            time.sleep(0.1)


def test_a_command_within_its_limit_keeps_its_exit_status_and_log(tmp_path):
    ran = run_with_limit([sys.executable, "-c", "print('hello'); raise SystemExit(3)"], 60.0, tmp_path / "log", tmp_path)
    assert (ran.exit_status, ran.timed_out) == (3, False)
    assert (tmp_path / "log").read_text() == "hello\n"


def test_the_packed_schedule_measures_both_contenders_at_every_k_and_reverses_every_other_round():
    assert packed_schedule(1, [1, 2], 2) == [
        (0, 0, "separate", 1), (0, 0, "packed", 1), (0, 0, "separate", 2), (0, 0, "packed", 2),
        (0, 1, "packed", 2), (0, 1, "separate", 2), (0, 1, "packed", 1), (0, 1, "separate", 1)]


def test_separate_k_trains_in_k_workers_and_a_pack_of_k_in_worker_0_alone():
    assert [w for w in range(4) if takes_part(w, "separate", 3)] == [0, 1, 2]
    assert [w for w in range(4) if takes_part(w, "packed", 3)] == [0]


def test_a_measurements_tokens_per_s_is_every_workers_tokens_over_the_whole_window():
    schedule = packed_schedule(1, [1, 2], 1)  # entry 2 is 'separate 2'
    spans = {2: [(10.0, 12.0, 1000), (10.5, 12.5, 1000)], 3: [(20.0, 21.0, 3000)]}
    assert round_tokens_per_s(schedule, spans) == {(0, "separate", 2): [800.0], (0, "packed", 2): [3000.0]}


def test_the_packed_rows_take_the_median_of_each_rounds_ratio_and_set_k_against_one_model(tmp_path, run_config):
    run = resolve(run_config(tmp_path))  # 2 x 32, context 64, batch 8: TINY_FLOPS_PER_TOKEN
    tps = {(0, "separate", 1): [100.0, 120.0], (0, "packed", 1): [90.0, 120.0],
           (0, "separate", 2): [160.0, 200.0], (0, "packed", 2): [240.0, 200.0]}
    one, two = packed_rows([run], tps, measured_peak=1e9).to_dict("records")
    assert list(one) == PACKED_COLUMNS and (one["shape"], one["models"], two["models"]) == ("2 x 32", 1, 2)
    assert (one["packed_over_separate"], one["ratio_min"], one["ratio_max"]) == pytest.approx((0.95, 0.9, 1.0))
    assert (one["separate_over_one_model"], one["packed_over_one_model"]) == pytest.approx((1.0, 105 / 110))
    assert (two["separate_tokens_per_s"], two["packed_tokens_per_s"], two["rounds"]) == (180.0, 220.0, 2)
    assert (two["separate_tokens_per_s_per_model"], two["packed_tokens_per_s_per_model"]) == (90.0, 110.0)
    assert (two["packed_over_separate"], two["ratio_min"], two["ratio_max"]) == pytest.approx((1.25, 1.0, 1.5))
    assert (two["separate_over_one_model"], two["packed_over_one_model"]) == pytest.approx((180 / 110, 2.0))
    assert two["flops_per_token_exact"] == TINY_FLOPS_PER_TOKEN
    assert two["packed_mfu_measured_peak"] == pytest.approx(220 * TINY_FLOPS_PER_TOKEN / 1e9)  # 0.0762


def test_the_report_names_a_skipped_packed_table_and_not_one_still_to_come(tmp_path):
    def text(skipped: bool) -> str:
        return GpuReport(tmp_path, "gpu_bench", torch.device("cpu"), "CPU", None, packed_skipped=skipped).render()

    assert PACKED_SKIPPED in text(True) and "--skip-packed" in PACKED_SKIPPED
    assert PACKED_SKIPPED not in text(False)


def test_an_output_folder_with_a_sweep_in_it_is_refused_before_measuring(tmp_path):
    (tmp_path / "default_sweep").mkdir()
    with pytest.raises(FileExistsError, match="default_sweep exists"):
        run_gpu_bench(tiny_options(tmp_path, None, skip_packed=True), SWEEP_SCRIPT, "gpu_bench")
    assert [p.name for p in tmp_path.iterdir()] == ["default_sweep"]


@pytest.mark.slow  # compiles the tiny model, starts 2 packed-table workers, runs a two-run sweep (30 s on 2 cores)
def test_tiny_run_on_the_cpu_writes_every_table(tmp_path, data_cache, monkeypatch):
    monkeypatch.syspath_prepend(str(SWEEP_SCRIPT.parent))
    import gpu_bench

    monkeypatch.chdir(tmp_path)  # a relative --out, as the documented command gives it
    out = tmp_path / "out"
    assert gpu_bench.main(["--tiny", "--out", "out", "--cache-dir", str(data_cache)]) == 0
    peak = pd.read_parquet(out / "peak.parquet")
    assert peak["size"].tolist() == [64, 128] and (peak["measured_flops_per_s"] > 0).all()
    assert peak["datasheet_flops_per_s"].isna().all()  # a CPU is not in the datasheet table
    mfu = pd.read_parquet(out / "mfu.parquet")
    assert mfu["compile"].tolist() == ["none", "default"] and set(mfu["shape"]) == {"2 x 32"}
    assert (mfu["flops_per_token_exact"] == TINY_FLOPS_PER_TOKEN).all()
    assert mfu["flops_per_s"].tolist() == pytest.approx((mfu["tokens_per_s"] * TINY_FLOPS_PER_TOKEN).tolist())
    assert mfu["mfu_measured_peak"].tolist() == pytest.approx(
        (mfu["flops_per_s"] / peak["measured_flops_per_s"].max()).tolist())
    assert mfu["mfu_datasheet_peak"].isna().all()
    assert (mfu["ms_per_step"] * mfu["tokens_per_s"]).tolist() == pytest.approx([1e3 * 8 * 64] * 2)  # 512 tokens a step
    packed = pd.read_parquet(out / "packed.parquet")
    assert list(packed.columns) == [*PACKED_COLUMNS, "device", "device_name", "torch_version"]
    assert packed["models"].tolist() == [1, 2] and set(packed["shape"]) == {"1 x 16"}
    assert (packed["rounds"] == 1).all()  # the tiny table's limit of 0 s skips the second round
    assert (packed["ratio_min"] == packed["packed_over_separate"]).all()
    assert (packed["ratio_max"] == packed["packed_over_separate"]).all()
    assert (packed["n_ctx"] == 128).all() and (packed["batch_size"] == 16).all()
    assert np.isfinite(packed[PACKED_RATIOS]).all().all() and (packed[PACKED_RATIOS] > 0).all().all()
    assert packed["separate_over_one_model"].iloc[0] == 1.0  # k = 1 is its own reference
    assert (packed["packed_tokens_per_s_per_model"] * packed["models"]).tolist() == pytest.approx(
        packed["packed_tokens_per_s"].tolist())
    sweep = pd.read_parquet(out / "default_sweep.parquet").iloc[0]
    assert (sweep["timed_out"], sweep["exit_status"], sweep["runs_planned"], sweep["runs_finished"]) == (False, 0, 2, 2)
    assert 0 < sweep["sum_run_wall_time_s"] < sweep["wall_s"] <= sweep["limit_s"]
    text = (out / "gpu_bench.md").read_text()
    assert text.startswith("# scalinglab GPU measurement\n\n`python scripts/gpu_bench.py --tiny --out")
    assert PACKED_SKIPPED not in text and "| 2 x 32 | 25,472 | 64 | 8 | default |" in text
    assert "| 1 x 16 | 3,312 | 128 | 16 | 2 | 1 |" in text
