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
from harness.trunks import TRUNK_CLAIM_PREFIX

log = logging.getLogger("scalinglab")


def describe(exc: OSError) -> str:
    """One line naming the path and the cause: a WriteError's 'could not write <path>: <cause>', or
    '<path>: <cause>' for another OSError (a folder that could not be made, a file that could not be read)."""
    if isinstance(exc, store.WriteError) or not exc.filename:
        return str(exc)
    return f"{exc.filename}: {exc.strerror or exc}"


def run_failed(run: ResolvedRun, exc: OSError) -> RunResult:
    """Log the failure of `run` in one line and return its result ('failed')."""
    log.error("%s failed: %s", shape_label(run), describe(exc))
    return RunResult(run.run_id, "failed", None, "failed")


def failed_runs(plan: List[PlannedRun], results_dir: str | Path) -> List[PlannedRun]:
    """Planned runs with no result that no live process holds a claim on (the run's, or its trunk's): they failed
    (or were killed)."""
    failed = []
    for planned in plan:
        run = planned.run
        if store.run_path(results_dir, run.run_id).exists():
            continue
        held = [claims.claim_path(results_dir, run.run_id)]
        if run.trunk_id:  # a branch waits for its trunk, whose claim one process holds for all its budgets
            held.append(claims.claim_path(results_dir, TRUNK_CLAIM_PREFIX + run.trunk_id))
        if not any(claims.held_by_live_process(path, stale_claim_s(run)) for path in held):
            failed.append(planned)
    return failed


def report_outcome(plan: List[PlannedRun], results_dir: str | Path) -> int:
    """Log the sweep's last lines: runs with results, runs left to other processes, runs that failed.
    Returns the exit status: 1 when any run failed, else 0."""
    missing = [p for p in plan if not store.run_path(results_dir, p.run.run_id).exists()]
    log.info("sweep done: %d of %d runs have results in %s", len(plan) - len(missing), len(plan),
             store.runs_dir(results_dir))
    failed = failed_runs(plan, results_dir)
    if len(missing) > len(failed):  # left to another live process (its claim): re-running picks them up
        log.warning("%d runs have no result yet (claimed by another process); re-run the same command to train "
                    "them", len(missing) - len(failed))
    if failed:
        log.error("%d of %d runs failed (see the errors above); re-run the same command to retry them",
                  len(failed), len(plan))
    return 1 if failed else 0
