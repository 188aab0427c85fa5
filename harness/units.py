"""Execute a unit of a plan — one run, or a trunk with its cooldown branches — and one config as a unit."""

from __future__ import annotations

import math
from typing import List, Sequence

from configs.run import RunConfig
from harness.resolve import ResolvedRun, resolve
from harness.pack_runner import execute_pack
from harness.runner import RunResult, execute
from harness.trunk_runner import execute_trunk
from harness.trunks import is_pack


def execute_unit(runs: Sequence[ResolvedRun], **kwargs) -> List[RunResult]:
    """Train a unit's runs: a pack as one batched model, the budgets of one trunk together, a cosine run alone."""
    if is_pack(runs):
        return execute_pack(runs, **kwargs)
    if runs[0].trunk_id:
        return execute_trunk(runs, **kwargs)
    return [execute(run, **kwargs) for run in runs]


def run_config(cfg: RunConfig, grid: str = "single", compute_budget: float = math.nan, **kwargs) -> RunResult:
    """Resolve and execute one config (a wsd run as a trunk of one budget, so that it shares the sweeps' trunks)."""
    (result,) = execute_unit([resolve(cfg, grid, compute_budget)], **kwargs)
    return result
