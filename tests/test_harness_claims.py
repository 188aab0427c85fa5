"""Claims: one process trains a run; a claim whose heartbeat stopped is taken over (harness/claims.py)."""

import json
import os
import time

import pytest

from harness import claims, store
from harness.resolve import resolve
from harness.runner import execute

STALE_AFTER_S = 60.0


def test_first_claim_succeeds_and_records_its_owner(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    assert claims.try_claim(path, STALE_AFTER_S)
    assert path == tmp_path / "claims" / "abc.claim"
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_live_claim_blocks_a_second_claim(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    assert claims.try_claim(path, STALE_AFTER_S)
    assert not claims.try_claim(path, STALE_AFTER_S)


def test_claim_with_a_recent_heartbeat_is_not_stale(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    claims.try_claim(path, STALE_AFTER_S)
    old = time.time() - 10 * STALE_AFTER_S
    os.utime(path, (old, old))
    claims.heartbeat(path)
    assert not claims.try_claim(path, STALE_AFTER_S)


def test_stale_claim_is_taken_over(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": 999_999_999, "host": "dead-node", "started": 0}))
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(path, (old, old))
    assert claims.try_claim(path, STALE_AFTER_S)
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert time.time() - path.stat().st_mtime < 5
    assert sorted(p.name for p in path.parent.iterdir()) == ["abc.claim"]  # no stale leftovers


def test_released_claim_can_be_taken_again(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    claims.try_claim(path, STALE_AFTER_S)
    claims.release(path)
    assert not path.exists()
    assert claims.try_claim(path, STALE_AFTER_S)


def test_run_claimed_by_another_process_is_left_alone(run_config, tmp_path):
    run = resolve(run_config(tmp_path))
    assert claims.try_claim(claims.claim_path(tmp_path, run.run_id), STALE_AFTER_S)
    result = execute(run)
    assert (result.run_id, result.action, result.path) == (run.run_id, "busy", None)
    assert not store.run_path(tmp_path, run.run_id).exists()


def _dead_pid() -> int:
    """The pid of a child that has exited and been reaped."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_fresh_claim_of_a_dead_process_on_this_host_is_taken_over_at_once(tmp_path):
    import socket

    path = claims.claim_path(tmp_path, "abc")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"pid": _dead_pid(), "host": socket.gethostname(), "started": time.time()}))
    assert claims.try_claim(path, STALE_AFTER_S)  # heartbeat is fresh, but its owner is gone
    assert json.loads(path.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("content", [
    lambda: json.dumps({"pid": _dead_pid(), "host": "another-node", "started": time.time()}),  # another host
    lambda: "",  # half written
])
def test_fresh_claim_whose_owner_cannot_be_checked_here_waits_for_the_heartbeat(tmp_path, content):
    path = claims.claim_path(tmp_path, "abc")
    path.parent.mkdir(parents=True)
    path.write_text(content())
    assert not claims.try_claim(path, STALE_AFTER_S)
