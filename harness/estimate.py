"""Training time left in a sweep, learnt from the runs that have finished.

Before any run has finished the plan's estimate stands: exact training FLOPs at an assumed share
(sweep.estimate_mfu) of a matmul peak measured for a fraction of a second, or of the peak stated for the
device (sweep.estimate_peak_flops). Each finished run then
measures what a job really sustains on its shape: its exact training FLOPs over its `wall_time_s`. A
pending unit of a measured shape is estimated at that shape's rate; one of a shape not yet measured at
the rate of all finished runs together. The rates are per job, measured while the other jobs ran beside
it, so the time left is the sum over pending units divided by the jobs that run side by side.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

from harness import store

Shape = Tuple[int, int, int, int]  # (n_layer, d_model, n_ctx, batch_size): what decides a step's speed


@dataclass(frozen=True)
class TimeLeft:
    """Seconds of training left and, in words, how they were estimated."""

    seconds: float
    how: str


def shape_of_planned(run: dict) -> Shape:
    """The shape of a run as the written plan holds it (harness.plan_file.run_to_json)."""
    return run["gpt"]["n_layer"], run["gpt"]["d_model"], run["gpt"]["n_ctx"], run["batch_size"]


def measured_work(results_dir: str, run_ids: Sequence[str]) -> Dict[Shape, List[Tuple[float, float]]]:
    """(exact training FLOPs, wall_time_s) of each finished, completed cosine run among `run_ids`, by shape.

    Branches of wsd trunks are left out: a branch's wall time does not cover the trunk it forked from."""
    work: Dict[Shape, List[Tuple[float, float]]] = {}
    for run_id in run_ids:
        path = store.run_path(results_dir, run_id)
        if not path.exists():
            continue
        meta = store.read_metadata(path)
        if meta["status"] != "completed" or meta["trunk_id"] or meta["wall_time_s"] <= 0:
            continue
        shape = (meta["n_layer"], meta["d_model"], meta["n_ctx"], meta["batch_size"])
        work.setdefault(shape, []).append((meta["flops_per_token_exact"] * meta["tokens"], meta["wall_time_s"]))
    return work


def rate(work: Sequence[Tuple[float, float]]) -> float:
    """FLOP/s of runs taken together: their FLOPs over their wall time."""
    return sum(flops for flops, _ in work) / sum(wall for _, wall in work)


def training_left(plan: dict, results_dir: str, jobs: int = 1) -> TimeLeft:
    """Training time left for the units of `plan` that have a run without a result file."""
    units = plan["units"]
    done = [[store.run_path(results_dir, r["run_id"]).exists() for r in unit] for unit in units]
    pending = [i for i, unit in enumerate(done) if not all(unit)]
    work = measured_work(results_dir, [r["run_id"] for unit in units for r in unit])
    if not work or "unit_flops" not in plan:
        return TimeLeft(sum(plan["estimated_s"][i] for i in pending), f"from {plan['estimated_from']}")
    overall = rate([w for shape_work in work.values() for w in shape_work])
    seconds, measured = [], 0
    for i in pending:
        shape_work = work.get(shape_of_planned(units[i][0]))
        measured += shape_work is not None
        seconds.append(plan["unit_flops"][i] / (rate(shape_work) if shape_work else overall))
    finished = sum(len(w) for w in work.values())
    how = f"from {finished} finished runs' FLOP rates; {measured} of {len(pending)} pending units of a measured shape"
    return TimeLeft(side_by_side(seconds, jobs), how)


def side_by_side(seconds: Sequence[float], jobs: int) -> float:
    """Wall time of units of `seconds` each on `jobs` workers: their sum shared out, never under the longest."""
    if not seconds:
        return 0.0
    return max(sum(seconds) / max(1, min(jobs, len(seconds))), max(seconds))
