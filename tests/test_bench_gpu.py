"""scripts/gpu_bench.py: every stage of the GPU measurement, run on the CPU with --tiny; the datasheet peaks, MFU
against both peaks, and the time limit that stops a sweep with its workers."""

import math
import os
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from harness.bench.datasheet import DATASHEET_BF16_PEAKS, datasheet_peak
from harness.bench.gpu import (PACKED_TODO, GpuBenchOptions, mfu_columns, run_gpu_bench, sweep_limit_s,
                               tiny_options)
from harness.bench.gpu_report import PACKED_SKIPPED
from harness.bench.limited import run_with_limit

SWEEP_SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "sweep.py"
# 2 x 32 (heads of 16), n_ctx 64, vocabulary 384, d_ff 128: Hoffmann et al. 2022 app. F forward FLOPs per token,
# embeddings 2*384*32 = 24,576; per layer QKV 2*3*32*32 = 6,144, QK 2*64*32 = 4,096, softmax 3*2*64 = 384,
# softmax @ V 4,096, output 2*32*32 = 2,048, MLP 2*2*32*128 = 16,384 (33,152 a layer, 66,304 for two);
# logits 2*32*384 = 24,576. Sum 115,456; training 3x:
TINY_FLOPS_PER_TOKEN = 346_368


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


def test_without_skip_packed_it_stops_after_the_peak_naming_the_todo(tmp_path, data_cache):
    opts = tiny_options(tmp_path / "out", str(data_cache), skip_packed=False)
    with pytest.raises(NotImplementedError) as raised:
        run_gpu_bench(opts, SWEEP_SCRIPT, "python scripts/gpu_bench.py --tiny")
    assert str(raised.value) == PACKED_TODO and "--skip-packed" in PACKED_TODO and "packed_table" in PACKED_TODO
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["gpu_bench.md", "peak.parquet"]


def test_an_output_folder_with_a_sweep_in_it_is_refused_before_measuring(tmp_path):
    (tmp_path / "default_sweep").mkdir()
    with pytest.raises(FileExistsError, match="default_sweep exists"):
        run_gpu_bench(tiny_options(tmp_path, None, skip_packed=True), SWEEP_SCRIPT, "gpu_bench")
    assert [p.name for p in tmp_path.iterdir()] == ["default_sweep"]


@pytest.mark.slow  # compiles the tiny model and runs a two-run sweep (about 30 s on 2 cores with a warm cache)
def test_tiny_run_on_the_cpu_writes_every_table(tmp_path, data_cache, monkeypatch):
    monkeypatch.syspath_prepend(str(SWEEP_SCRIPT.parent))
    import gpu_bench

    out = tmp_path / "out"
    assert gpu_bench.main(["--tiny", "--skip-packed", "--out", str(out), "--cache-dir", str(data_cache)]) == 0
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
    sweep = pd.read_parquet(out / "default_sweep.parquet").iloc[0]
    assert (sweep["timed_out"], sweep["exit_status"], sweep["runs_planned"], sweep["runs_finished"]) == (False, 0, 2, 2)
    assert 0 < sweep["sum_run_wall_time_s"] < sweep["wall_s"] <= sweep["limit_s"]
    text = (out / "gpu_bench.md").read_text()
    assert text.startswith("# scalinglab GPU measurement\n\n`python scripts/gpu_bench.py --tiny --skip-packed")
    assert PACKED_SKIPPED in text and "| 2 x 32 | 25,472 | 64 | 8 | default |" in text
