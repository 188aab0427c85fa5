"""The written plan: every unit of a validated sweep with its runs as they were resolved at planning.

Each launched job reads its unit from this file and trains the runs in it as they are: it composes no
config and resolves nothing again, so every launcher (basic, joblib, submitit, ray) trains exactly
what the plan printed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from pathlib import Path
from typing import List, Sequence, Tuple

from omegaconf import OmegaConf

from configs.run import RunConfig
from harness import store
from harness.estimate import training_left
from harness.progress import format_duration
from harness.resolve import ResolvedRun
from models.config import GPTConfig
from models.counting import ParamCounts

PLANS_SUBDIR = "plans"
PARAM_COUNT_INPUTS = ("total", "token_embedding", "position_embedding", "output_head")


def run_to_json(run: ResolvedRun) -> dict:
    """A resolved run as plain JSON values (NaN budgets as null)."""
    blob = dataclasses.asdict(run)
    blob["compute_budget"] = None if math.isnan(run.compute_budget) else run.compute_budget
    blob["params"] = {k: blob["params"][k] for k in PARAM_COUNT_INPUTS}
    return blob


def run_from_json(blob: dict) -> ResolvedRun:
    """The resolved run `run_to_json` wrote, its config re-validated by its dataclasses."""
    config = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(RunConfig), blob["config"]))
    budget = math.nan if blob["compute_budget"] is None else float(blob["compute_budget"])
    fields = {k: v for k, v in blob.items() if k not in ("config", "gpt", "params", "compute_budget")}
    return ResolvedRun(config=config, gpt=GPTConfig(**blob["gpt"]), params=ParamCounts(**blob["params"]),
                       compute_budget=budget, **fields)


def write_plan(results_dir: str, units: Sequence[Sequence[ResolvedRun]], estimates_s: Sequence[float],
               unit_flops: Sequence[float], estimated_from: str) -> Path:
    """Write the validated plan where every job can read it; the name is a hash of its units.

    `estimates_s` and `unit_flops` (exact training FLOPs left to train) hold one value per unit; `estimated_from`
    names the peak the estimates assume ('the measured matmul peak', 'a stated peak of 989.4 TFLOP/s')."""
    blob = [[run_to_json(r) for r in unit] for unit in units]
    name = hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:16]
    text = json.dumps({"units": blob, "estimated_s": list(estimates_s), "unit_flops": list(unit_flops),
                       "estimated_from": estimated_from}, indent=1, sort_keys=True)
    path = (Path(results_dir) / PLANS_SUBDIR / f"{name}.json").resolve()
    store.atomic_write_bytes(path, lambda tmp: Path(tmp).write_text(text))
    return path


def read_plan(plan_file: str) -> dict:
    """A written plan: {'units': [[run, ...], ...], 'estimated_s': [one per unit], 'unit_flops': [one per unit],
    'estimated_from': the peak the estimates assume}."""
    return json.loads(Path(plan_file).read_text())


def unit_of(plan: dict, index: int) -> List[ResolvedRun]:
    """The runs of unit `index` of a written plan, as resolved at planning."""
    return [run_from_json(blob) for blob in plan["units"][index]]


def runs_done(plan: dict, results_dir: str) -> Tuple[int, int]:
    """(runs with a result file now, runs in the plan)."""
    done = [store.run_path(results_dir, r["run_id"]).exists() for unit in plan["units"] for r in unit]
    return sum(done), len(done)


def sweep_progress(plan: dict, results_dir: str, jobs: int = 1) -> Tuple[int, int, str]:
    """(runs done, runs in the plan, 'about 6m10s of training left (estimated from ...)') from the files now."""
    done, total = runs_done(plan, results_dir)
    left = training_left(plan, results_dir, jobs)
    return done, total, f"about {format_duration(left.seconds)} of training left (estimated {left.how})"
