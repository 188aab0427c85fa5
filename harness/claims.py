"""Which process is training a run: a claim file created exclusively, kept alive by a heartbeat.

A claim whose heartbeat is older than `stale_after_s` belongs to a process that died (SIGKILL,
node failure) and may be taken over, so a killed worker cannot hold a run forever. A claim written
on this host by a process that no longer exists is taken over at once, so re-running a sweep right
after a kill resumes its runs instead of waiting out the heartbeat.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

CLAIMS_SUBDIR = "claims"


def claim_path(results_dir: str | Path, run_id: str) -> Path:
    """Where the claim of `run_id` lives."""
    return Path(results_dir) / CLAIMS_SUBDIR / f"{run_id}.claim"


def _owner() -> dict:
    return {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time()}


def try_claim(path: Path, stale_after_s: float) -> bool:
    """Take the claim; False when another live process holds it. A stale claim is taken over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            if not _is_stale(path, stale_after_s):
                return False
            _remove_stale(path)
            continue
        with os.fdopen(fd, "w") as fh:
            json.dump(_owner(), fh)
        return True
    return False


def _is_stale(path: Path, stale_after_s: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > stale_after_s or _owner_is_dead_on_this_host(path)
    except FileNotFoundError:
        return True


def _owner_is_dead_on_this_host(path: Path) -> bool:
    """True only when the claim names this host and a pid that no longer exists here.

    Anything less certain (another host, an unreadable or half-written claim, a pid that exists,
    perhaps reused) is left to the heartbeat rule.
    """
    try:
        owner = json.loads(path.read_text())
        pid, host = int(owner["pid"]), str(owner["host"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if host != socket.gethostname() or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # exists, owned by another user
        return False
    return False


def _remove_stale(path: Path) -> None:
    """Remove a stale claim through a rename, so two processes cannot both remove-and-recreate it."""
    grave = path.with_suffix(f".stale.{os.getpid()}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return  # another process removed it first
    grave.unlink(missing_ok=True)


def heartbeat(path: Path) -> None:
    """Mark the claim as alive."""
    os.utime(path)


def release(path: Path) -> None:
    """Give the claim up (the run is finished or failed)."""
    path.unlink(missing_ok=True)
