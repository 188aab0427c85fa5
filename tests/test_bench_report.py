"""The report's device line: the peak at the start and the end of the run, and a warning when they differ."""

import math

import pytest

from harness.bench.machine import Machine
from harness.bench.report import PEAK_DRIFT_WARNING, machine_lines


def machine(start: float, end: float) -> Machine:
    return Machine(device="cpu", processor="Test CPU", torch_version="2.13.0", threads=2, cpu_count=2,
                   peak_dtype="float32", peak_flops_per_s=start, peak_sizes=(512, 1024), peak_end_flops_per_s=end)


def test_steady_peak_is_reported_twice_without_a_warning():
    line = machine_lines(machine(100e9, 105e9))
    assert "best square of 512, 1024): 100.0 GFLOP/s" in line
    assert "measured again at the end: 105.0 GFLOP/s." in line
    assert "changed" not in line


@pytest.mark.parametrize("end, change", [(186e9, "+29%"), (80e9, "-44%")])
def test_a_peak_that_moved_more_than_the_drift_bound_either_way_is_flagged_with_its_change(end, change):
    line = machine_lines(machine(144e9, end))
    assert f"The peak changed by {change} during the run" in line


def test_a_change_just_inside_the_drift_bound_is_not_flagged():
    assert "changed" not in machine_lines(machine(100e9, 100e9 * (1 - PEAK_DRIFT_WARNING) + 1))


def test_without_an_end_measurement_only_the_start_peak_is_given():
    line = machine_lines(machine(100e9, math.nan))
    assert line.endswith("100.0 GFLOP/s (every MFU here is against it).")
