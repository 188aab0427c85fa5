"""Which process is training a run: a claim file created exclusively, kept alive by a heartbeat thread.

A claim records its owner (host, pid, the pid's start time where /proc gives it) and a token of its own.
It is stale, and may be taken over, when
- its owner is on this host and is gone (no such pid, a zombie, or the pid now belongs to a later process):
  at once, so re-running a sweep right after a kill resumes its runs instead of waiting out the heartbeat;
- its owner cannot be checked from here (another host, a half-written claim, no start time to compare
  without /proc) and its heartbeat is older than `stale_after_s` (a killed worker or a failed node
  cannot hold a run forever).
A live owner on this host, checked by its start time, is never displaced, however long it was paused.

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


def _process_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks since boot) of `pid` from Linux /proc, None where it cannot be read.

    /proc/<pid>/stat is readable for every user's processes, so this also checks another user's pid.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # fields 3 on of proc(5); the command name may contain spaces
    return fields[0], fields[19]  # field 3 (state) and field 22 (starttime)


def _process_start(pid: int) -> str | None:
    stat = _process_stat(pid)
    return stat[1] if stat else None


def try_claim(path: Path, stale_after_s: float) -> Claim | None:
    """Take the claim, or None when another live process holds it. A stale claim is taken over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            seen = _read(path)
            if seen is not None:
                text, identity, mtime = seen
                if not _is_stale(text, mtime, stale_after_s):
                    return None
                _remove_stale(path, identity)
            continue
        claim = Claim(path, uuid.uuid4().hex)
        with os.fdopen(fd, "w") as fh:
            json.dump({"pid": os.getpid(), "host": socket.gethostname(), "pid_start": _process_start(os.getpid()),
                       "started": time.time(), "token": claim.token}, fh)
        return claim
    return None


def held_by_live_process(path: Path, stale_after_s: float) -> bool:
    """Whether a claim file is at `path` and is not stale (the rules of try_claim); nothing is touched."""
    seen = _read(path)
    return seen is not None and not _is_stale(seen[0], seen[2], stale_after_s)


def _read(path: Path) -> tuple[str, tuple[int, int, int], float] | None:
    """(text, identity, mtime) of the claim file, read through one descriptor so that all three belong to the
    same file; '' while half written; None when there is no claim any more. The identity (device, inode,
    mtime in ns) tells a claim from a later one even when both are still empty; the mtime, which a rename
    keeps, guards against a freed inode number given to the next file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    with os.fdopen(fd) as fh:
        info = os.fstat(fh.fileno())
        return fh.read(), _identity(info), info.st_mtime


def _identity(info: os.stat_result) -> tuple[int, int, int]:
    return info.st_dev, info.st_ino, info.st_mtime_ns


def _is_stale(text: str, mtime: float, stale_after_s: float) -> bool:
    owner = _owner_on_this_host(text)
    if owner == "dead":
        return True
    if owner == "alive":
        return False
    return time.time() - mtime > stale_after_s  # owner unknown here: the heartbeat decides


def _owner_on_this_host(text: str) -> str:
    """'dead' or 'alive' for an owner on this host that can be checked, else 'unknown'.

    Dead: no process has the pid, it is a zombie, or the process with that pid started at another time
    than the owner did (the pid was reused after the owner died). Alive: the pid's process started when the
    owner did. Unknown: another host, an unreadable claim, or no start time to compare (no /proc, a claim
    without one); the heartbeat rule then decides.
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
    except PermissionError:  # exists, owned by another user: its start time still says whether it is the owner
        pass
    recorded, stat = owner.get("pid_start"), _process_stat(pid)
    if stat is None or recorded is None:
        return "unknown"
    state, started = stat
    return "dead" if state == "Z" or started != recorded else "alive"


def _remove_stale(path: Path, identity: tuple[int, int, int]) -> None:
    """Remove the stale claim file `identity` (_read), through a rename so that two processes cannot
    both remove and recreate it; a newer claim file, renamed by mistake, is put back."""
    grave = path.with_suffix(f".stale.{os.getpid()}")
    try:
        os.rename(path, grave)
    except FileNotFoundError:
        return  # another process removed it first
    if _identity(os.stat(grave)) != identity:  # someone claimed it anew between our check and the rename
        try:
            os.link(grave, path)
        except FileExistsError:
            pass  # a third claim is already in place; the displaced owner learns it at its next heartbeat
    grave.unlink(missing_ok=True)


def _token(path: Path) -> str | None:
    """The claim's token; None while there is none to read (no file, half written, a transient I/O error)."""
    try:
        return json.loads(path.read_text()).get("token")
    except (OSError, ValueError, AttributeError):
        return None


def _taken_by_another(claim: Claim) -> bool:
    """True only when the claim file holds another token: a missing or half-written file is the moment
    between a mistaken removal and its put-back, or a new claim being written, and is read again later."""
    token = _token(claim.path)
    return token is not None and token != claim.token


def heartbeat(claim: Claim) -> bool:
    """Mark the claim as alive; False (and nothing touched) once another claim holds its place."""
    token = _token(claim.path)
    if token is not None and token != claim.token:
        return False
    if token == claim.token:
        try:
            os.utime(claim.path)
        except FileNotFoundError:
            pass  # removed between the read and the touch: judged again at the next beat
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
        if self.lost or _taken_by_another(self.claim):
            self.lost = True
            raise ClaimLost(f"claim {self.claim.path} was taken over by another process")

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
