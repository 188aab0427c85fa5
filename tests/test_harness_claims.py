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
    assert claims.try_claim(path, STALE_AFTER_S) is not None
    assert path == tmp_path / "claims" / "abc.claim"
    assert json.loads(path.read_text())["pid"] == os.getpid()


def test_live_claim_blocks_a_second_claim(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    assert claims.try_claim(path, STALE_AFTER_S) is not None
    assert claims.try_claim(path, STALE_AFTER_S) is None


def test_claim_with_a_recent_heartbeat_is_not_stale(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    write_claim(path, pid=999_999_999, host="another-node")
    old = time.time() - 10 * STALE_AFTER_S
    os.utime(path, (old, old))
    os.utime(path)  # the other node's heartbeat
    assert claims.try_claim(path, STALE_AFTER_S) is None


def write_claim(path, **owner):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": 1, "host": "dead-node", "started": 0, "token": "theirs", **owner}))


def test_stale_claim_is_taken_over(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    write_claim(path, pid=999_999_999, host="dead-node")
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(path, (old, old))
    claim = claims.try_claim(path, STALE_AFTER_S)
    assert claim is not None and json.loads(path.read_text())["token"] == claim.token
    assert json.loads(path.read_text())["pid"] == os.getpid()
    assert time.time() - path.stat().st_mtime < 5
    assert sorted(p.name for p in path.parent.iterdir()) == ["abc.claim"]  # no stale leftovers


def test_released_claim_can_be_taken_again(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    claims.release(claims.try_claim(path, STALE_AFTER_S))
    assert not path.exists()
    assert claims.try_claim(path, STALE_AFTER_S) is not None


def test_a_paused_live_owner_on_this_host_keeps_its_claim(tmp_path):
    # A review paused a trainer (SIGSTOP) past 5 heartbeat intervals: a second process took the run over,
    # and the first crashed on resuming. A live owner on this host is now never displaced.
    path = claims.claim_path(tmp_path, "abc")
    held = claims.try_claim(path, STALE_AFTER_S)
    old = time.time() - 10 * STALE_AFTER_S
    os.utime(path, (old, old))
    assert claims.try_claim(path, STALE_AFTER_S) is None
    assert claims.heartbeat(held)


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/stat"), reason="needs /proc for process start times")
def test_a_reused_pid_does_not_keep_a_dead_owners_claim(tmp_path):
    import socket

    path = claims.claim_path(tmp_path, "abc")
    write_claim(path, pid=os.getpid(), host=socket.gethostname(), pid_start="1")  # our pid, another start time
    assert claims.try_claim(path, STALE_AFTER_S) is not None


def test_a_claim_taken_over_is_neither_refreshed_nor_released_by_its_old_owner(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    old_claim = claims.try_claim(path, STALE_AFTER_S)
    path.unlink()
    new_claim = claims.try_claim(path, STALE_AFTER_S)
    mtime = path.stat().st_mtime
    assert not claims.heartbeat(old_claim) and path.stat().st_mtime == mtime
    claims.release(old_claim)
    assert path.exists()
    with pytest.raises(claims.ClaimLost), claims.Heartbeat(old_claim, interval_s=60) as beat:
        beat.check()
    with claims.Heartbeat(new_claim, interval_s=60) as beat:
        beat.check()


def test_heartbeat_thread_keeps_a_claim_fresh_and_notices_its_loss(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    claim = claims.try_claim(path, STALE_AFTER_S)
    old = time.time() - 100
    os.utime(path, (old, old))
    with claims.Heartbeat(claim, interval_s=0.01) as beat:
        deadline = time.time() + 5
        while path.stat().st_mtime == old and time.time() < deadline:
            time.sleep(0.01)
        assert path.stat().st_mtime > old and not beat.lost
        write_claim(path, token="someone-else")
        while not beat.lost and time.time() < deadline:
            time.sleep(0.01)
        assert beat.lost


def test_a_claim_renewed_between_check_and_removal_is_put_back(tmp_path):
    path = claims.claim_path(tmp_path, "abc")
    path.parent.mkdir()
    path.write_text("")  # left empty by a killed writer, and judged stale
    judged = claims._read(path)[1]
    newer = path.with_name("newer")
    newer.write_text("")  # a new claimant's file, not yet written: the same text, another file
    os.replace(newer, path)
    claims._remove_stale(path, judged)
    assert claims._read(path)[1] != judged
    assert sorted(p.name for p in path.parent.iterdir()) == ["abc.claim"]
    claims._remove_stale(path, claims._read(path)[1])  # the judged file itself goes
    assert list(path.parent.iterdir()) == []


def test_a_missing_claim_file_is_not_yet_a_lost_claim(tmp_path):
    # Between a mistaken removal and its put-back the file is briefly absent: the owner must not give up.
    claim = claims.try_claim(claims.claim_path(tmp_path, "abc"), STALE_AFTER_S)
    claim.path.unlink()
    assert claims.heartbeat(claim)
    with claims.Heartbeat(claim, interval_s=60) as beat:
        beat.check()


def test_an_owner_whose_start_time_cannot_be_compared_is_left_to_the_heartbeat(tmp_path):
    import socket

    path = claims.claim_path(tmp_path, "abc")
    write_claim(path, pid=os.getpid(), host=socket.gethostname())  # a live pid, but no pid_start recorded
    assert claims.try_claim(path, STALE_AFTER_S) is None  # fresh heartbeat
    old = time.time() - 2 * STALE_AFTER_S
    os.utime(path, (old, old))
    assert claims.try_claim(path, STALE_AFTER_S) is not None


@pytest.mark.skipif(not os.path.exists(f"/proc/{os.getpid()}/stat"), reason="needs /proc for process states")
def test_a_zombie_owner_is_dead(tmp_path):
    import socket
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])  # not waited for: a zombie once it exits
    try:
        deadline = time.time() + 30
        while claims._process_stat(child.pid)[0] != "Z" and time.time() < deadline:
            time.sleep(0.05)
        path = claims.claim_path(tmp_path, "abc")
        write_claim(path, pid=child.pid, host=socket.gethostname(), pid_start=claims._process_start(child.pid))
        assert claims.try_claim(path, STALE_AFTER_S) is not None
    finally:
        child.wait()


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
    assert claims.try_claim(path, STALE_AFTER_S) is not None  # heartbeat is fresh, but its owner is gone
    assert json.loads(path.read_text())["pid"] == os.getpid()


@pytest.mark.parametrize("content", [
    lambda: json.dumps({"pid": _dead_pid(), "host": "another-node", "started": time.time()}),  # another host
    lambda: "",  # half written
])
def test_fresh_claim_whose_owner_cannot_be_checked_here_waits_for_the_heartbeat(tmp_path, content):
    path = claims.claim_path(tmp_path, "abc")
    path.parent.mkdir(parents=True)
    path.write_text(content())
    assert claims.try_claim(path, STALE_AFTER_S) is None
