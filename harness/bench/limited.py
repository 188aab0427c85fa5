"""A command run with a wall-clock limit: stopped with its whole process group when the limit passes."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

KILL_GRACE_S = 10.0  # after SIGTERM at the limit, how long the group may take to exit before SIGKILL


@dataclass(frozen=True)
class LimitedRun:
    """How a command limited in time ended."""

    exit_status: Optional[int]
    """Its exit status; None when it was stopped at the limit."""
    wall_s: float
    """Seconds from its start to its exit, or to the limit."""
    timed_out: bool


def run_with_limit(argv: Sequence[str], limit_s: float, log_path: Path, cwd: Path) -> LimitedRun:
    """Run `argv` in `cwd` with stdout and stderr to `log_path`; at `limit_s` stop it and every process it started.

    The command gets a session of its own, so its workers (joblib's, Hydra's) share its process group and are
    signalled with it: a sweep stopped at the limit leaves no worker training on."""
    with open(log_path, "wb") as log:
        start = time.monotonic()
        proc = subprocess.Popen(list(argv), stdout=log, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True)
        try:
            status = proc.wait(timeout=limit_s)
            return LimitedRun(status, time.monotonic() - start, timed_out=False)
        except subprocess.TimeoutExpired:
            wall = time.monotonic() - start
            stop_group(proc)
            return LimitedRun(None, wall, timed_out=True)


def stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the process group of `proc` (its leader), then SIGKILL to whatever of it is left."""
    signal_group(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        pass  # the leader ignored SIGTERM: SIGKILL below
    signal_group(proc.pid, signal.SIGKILL)  # workers outliving their leader go too
    proc.wait()


def signal_group(pgid: int, sig: signal.Signals) -> None:
    """Send `sig` to process group `pgid`; a group with no process left is nothing to stop."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return
