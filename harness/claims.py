"""Which process is training a run: a claim file created exclusively, kept alive by a heartbeat thread.

A claim records its owner (host, pid, the pid's start time where /proc gives it) and a token of its own.
It is stale, and may be taken over, when
- its owner is on this host and is gone (no such pid, or the pid now belongs to a later process): at once,
  so re-running a sweep right after a kill resumes its runs instead of waiting out the heartbeat;
- its owner cannot be checked from here (another host, a half-written claim) and its heartbeat is older
  than `stale_after_s` (a killed worker or a failed node cannot hold a run forever).
A live owner on this host is never displaced, however long it was paused.

A process whose claim was taken over all the same (another host decided it was dead, say) learns it at its
next heartbeat, and the runner then stops training that run instead of racing the new owner.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

CLAIMS_SUBDIR = "claims"


class ClaimLost(RuntimeError):
    """This process's claim on a run was taken over: another process trains it now."""


@dataclass(frozen=True)
class Claim:
    """A claim this process holds: where it is and the token that tells it from a later claim."""

    path: Path
    token: str


def claim_path(results_dir: str | Path, run_id: str) -> Path:
    """Where the claim of `run_id` lives."""
    return Path(results_dir) / CLAIMS_SUBDIR / f"{run_id}.claim"


def _process_start(pid: int) -> str | None:
    """The start time of `pid` in clock ticks since boot (Linux /proc), None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5); the command name may contain spaces


def try_claim(path: Path, stale_after_s: float) -> Claim | None:
    """Take the claim, or None when another live process holds it. A stale claim is taken over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            seen = _read(path)
            if seen is not None:
                if not _is_stale(path, seen, stale_after_s):
                    return None
                _remove_stale(path, seen)
            continue
        claim = Claim(path, uuid.uuid4().hex)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "pid_start": _process_start(os.getpid()),
                       "started": time.time(), "token": claim.token}, fh)
        return claim
    return None


def _read(path: Path) -> str | None:
    """The claim's text ('' while half written), None when there is no claim any more."""
    try:
        return path.read_text()
    except FileNotFoundError:
        return None


def _is_stale(path: Path, text: str, stale_after_s: float) -> bool:
    owner = _owner_on_this_host(text)
    if owner == "dead":
        return True
    if owner == "alive":
        return False
    try:  # owner unknown here: the heartbeat decides
        return time.time() - path.stat().st_mtime > stale_after_s
    except FileNotFoundError:
        return True


def _owner_on_this_host(text: str) -> str:
    """'dead' or 'alive' for an owner on this host, 'unknown' for another host or an unreadable claim.

    Dead: no process has the pid, or (where /proc tells) the process with that pid started at another time
    than the owner did, so the pid was reused after the owner died.
    """
    try:
        owner = json.loads(text)
        pid, host = int(owner["pid"]), str(owner["host"])
    except (ValueError, KeyError, TypeError):
        return "unknown"
    if host != socket.gethostname() or pid <= 0:
        return "unknown"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return "dead"
    except PermissionError:  # exists, owned by another user
        return "alive"
    recorded, now = owner.get("pid_start"), _process_start(pid)
    return "dead" if recorded is not None and now is not None and recorded != now else "alive"


def _remove_stale(path: Path, seen: str) -> None:
    """Remove the stale claim whose text was `seen`, through a rename so that two processes cannot both
    remove and recreate it; a claim that changed since it was judged is put back."""
    grave = path.with_suffix(f".stale.{os.getpid()}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return  # another process removed it first
    if _read(grave) != seen:  # someone claimed it anew between our check and the rename
        try:
            os.link(grave, path)
        except FileExistsError:
            pass  # a third claim is already in place; the displaced owner learns it at its next heartbeat
    grave.unlink(missing_ok=True)


def _token(path: Path) -> str | None:
    try:
        return json.loads(path.read_text()).get("token")
    except (FileNotFoundError, ValueError, AttributeError):
        return None


def heartbeat(claim: Claim) -> bool:
    """Mark the claim as alive; False (and nothing touched) when it is no longer this process's."""
    if _token(claim.path) != claim.token:
        return False
    try:
        os.utime(claim.path)
    except FileNotFoundError:
        return False
    return True


def release(claim: Claim) -> None:
    """Give the claim up (the run is finished or failed); a claim another process took over is left to it."""
    if _token(claim.path) == claim.token:
        claim.path.unlink(missing_ok=True)


class Heartbeat:
    """Beats `claim` every `interval_s` from a daemon thread while training runs, so a long step or a slow
    evaluation never lets the claim look stale; `check()` raises ClaimLost once a beat found it taken."""

    def __init__(self, claim: Claim, interval_s: float):
        self.claim, self.interval_s = claim, interval_s
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"heartbeat {claim.path.stem[:8]}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not heartbeat(self.claim):
                self.lost = True
                return

    def check(self) -> None:
        """Raise ClaimLost if the claim was taken over (checked now, not only at the last beat)."""
        if self.lost or _token(self.claim.path) != self.claim.token:
            self.lost = True
            raise ClaimLost(f"claim {self.claim.path} was taken over by another process")

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
