"""Expand a preset's grids into the list of points a sweep trains (Hydra's sweep syntax for axes)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import List, Optional

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.errors import HydraException

from configs.errors import ConfigError
from configs.sweep import GridConfig, SweepConfig


@dataclass(frozen=True)
class GridPoint:
    """One run of a sweep before resolution: overrides on top of the base config, plus its labels."""

    grid: str
    overrides: tuple
    compute_budget: float = math.nan

    def describe(self) -> str:
        """Human-readable label naming the grid and the overrides."""
        budget = "" if math.isnan(self.compute_budget) else f" C={self.compute_budget:.3g}"
        return f"{self.grid}[{' '.join(self.overrides)}{budget}]"


def _axis_values(field: str, axis: str) -> List[str]:
    """Parse one 'key=v1,v2' axis with Hydra's override grammar into 'key=v' strings."""
    try:
        (override,) = OverridesParser.create().parse_overrides([axis])
    except (HydraException, ValueError) as exc:
        raise ConfigError(field, axis, f"not a Hydra override: {exc}") from exc
    key = override.key_or_group
    if override.is_sweep_override():
        return [f"{key}={v}" for v in override.sweep_string_iterator()]
    return [f"{key}={override.get_value_element_as_str()}"]


def expand_grid(grid: GridConfig, index: int) -> List[GridPoint]:
    """All points of one grid: the product of its axes, then its explicit points, times its budgets."""
    field = f"sweep.grids[{index}]"
    axes = [_axis_values(f"{field}.axes", a) for a in grid.axes]
    combos = [tuple(c) for c in itertools.product(*axes)] if axes else []
    combos += [tuple(p.split()) for p in grid.points]
    if not combos:
        raise ConfigError(field, grid.name, "a grid needs at least one axis or point")
    budgets = list(grid.compute_budgets) or [math.nan]
    return [GridPoint(grid.name, combo, float(c)) for c in budgets for combo in combos]


def expand_sweep(sweep: SweepConfig) -> List[GridPoint]:
    """Every point of the sweep, once per seed of sweep.seeds (with none, once at the base train.seed); a sweep
    with no grids is the single base run."""
    points: List[GridPoint] = []
    for i, grid in enumerate(sweep.grids):
        points += expand_grid(grid, i)
    if not sweep.grids:
        points = [GridPoint("single", ())]
    if sweep.seeds is None:
        return points
    seeded = []
    for p in points:
        if any(o.startswith("train.seed=") for o in p.overrides):
            seeded.append(p)  # the grid itself sweeps seeds
            continue
        seeded += [GridPoint(p.grid, p.overrides + (f"train.seed={s}",), p.compute_budget) for s in sweep.seeds]
    return seeded


def sweep_axes_to_grid(axes: List[str]) -> Optional[GridConfig]:
    """A command-line grid (`-m model.d_model=64,128 ...`) as a one-grid preset named 'cli'."""
    return GridConfig(name="cli", axes=list(axes)) if axes else None
