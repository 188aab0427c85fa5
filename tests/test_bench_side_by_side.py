"""Processes timed side by side: a child that dies or hangs stops the benchmark with an error at once."""

import multiprocessing as mp
import os
import time

import pytest

from harness.bench.threads import _collect


def test_a_child_that_exits_without_a_result_is_reported_with_its_status():
    ctx = mp.get_context("spawn")
    child = ctx.Process(target=os._exit, args=(3,), daemon=True)  # a pytest-xdist worker replaces sys.exit, which then does not pickle
    child.start()
    start = time.monotonic()
    with pytest.raises(RuntimeError, match="exited with status 3"):
        _collect([child], ctx.Queue(), timeout_s=60)
    assert time.monotonic() - start < 30  # noticed at the next poll, not at the timeout


def test_a_child_that_never_reports_times_out():
    ctx = mp.get_context("spawn")
    child = ctx.Process(target=time.sleep, args=(30,), daemon=True)
    child.start()
    try:
        with pytest.raises(TimeoutError, match="no result within 2 s"):
            _collect([child], ctx.Queue(), timeout_s=2)
    finally:
        child.terminate()
        child.join()
