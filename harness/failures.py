"""A run that fails to write a file fails alone: one line naming the path and the cause, and the sweep goes on.

scripts/sweep.py then counts, among the planned runs without a result, those no live process is training
(harness.claims): those failed, and the sweep exits non-zero saying how many.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List

from harness import claims, store
from harness.plan import PlannedRun
from harness.resolve import ResolvedRun
from harness.runner import RunResult, shape_label, stale_claim_s

log = logging.getLogger("scalinglab")


def describe(exc: OSError) -> str:
    """'could not write <path>: <cause>' for any OSError (a WriteError already reads so)."""
    if isinstance(exc, store.WriteError) or not exc.filename:
        return str(exc)
    return f"could not write {exc.filename}: {exc.strerror or exc}"


def run_failed(run: ResolvedRun, exc: OSError) -> RunResult:
    """Log the failure of `run` in one line and return its result ('failed')."""
    log.error("%s failed: %s", shape_label(run), describe(exc))
    return RunResult(run.run_id, "failed", None, "failed")


def failed_runs(plan: List[PlannedRun], results_dir: str | Path) -> List[PlannedRun]:
    """Planned runs with no result that no live process holds a claim on: they failed (or were killed)."""
    failed = []
    for planned in plan:
        run = planned.run
        if store.run_path(results_dir, run.run_id).exists():
            continue
        if not claims.held_by_live_process(claims.claim_path(results_dir, run.run_id), stale_claim_s(run)):
            failed.append(planned)
    return failed
