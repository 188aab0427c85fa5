"""The model shapes a benchmark measures: the distinct shapes of a preset's plan, built by the harness itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Sequence

from hydra import compose, initialize_config_dir

import configs.run
from harness.plan import PlannedRun, build_plan
from harness.resolve import ResolvedRun


@dataclass(frozen=True)
class BenchShape:
    """One distinct training shape of a preset, and every planned run that trains at it."""

    preset: str
    run: ResolvedRun
    """The shape's longest planned run: the one its trainer measurement is built from."""
    runs: tuple
    """Every planned run of the preset with this shape (different D, grid or seed)."""

    @property
    def key(self) -> tuple:
        """What makes two runs train at the same speed: architecture, context, vocabulary and batch."""
        return shape_key(self.run)

    @property
    def label(self) -> str:
        """'L4 d128 ctx128 b16 V1024' for tables."""
        g = self.run.gpt
        return f"L{g.n_layer} d{g.d_model} ctx{g.n_ctx} b{self.run.batch_size} V{g.vocab_size}"


def shape_key(run: ResolvedRun) -> tuple:
    """(n_layer, d_model, n_head, d_ff, n_ctx, vocab, batch): runs with equal keys step equally fast."""
    g = run.gpt
    return (g.n_layer, g.d_model, g.n_head, g.d_ff, g.n_ctx, g.vocab_size, run.batch_size)


def preset_plan(preset: str, overrides: Sequence[str] = ()) -> List[PlannedRun]:
    """The preset's plan as scripts/sweep.py builds it (without the data checks), nothing written."""
    configs.run.register()
    with initialize_config_dir(config_dir=str(configs.run.CONFIG_DIR), version_base="1.3", job_name="bench"):
        cfg = compose("sweep_app", overrides=[f"sweep={preset}", *overrides])
    return build_plan(cfg, check_data=False)


def distinct_shapes(preset: str, plan: Sequence[PlannedRun]) -> List[BenchShape]:
    """One BenchShape per distinct shape key, in plan order, smallest model first."""
    groups: dict = {}
    for planned in plan:
        groups.setdefault(shape_key(planned.run), []).append(planned.run)
    shapes = [BenchShape(preset, max(runs, key=lambda r: r.steps), tuple(runs)) for runs in groups.values()]
    return sorted(shapes, key=lambda s: s.run.params.non_embedding)


def preset_shapes(preset: str, overrides: Sequence[str] = ()) -> List[BenchShape]:
    """The distinct shapes of a preset (see distinct_shapes)."""
    return distinct_shapes(preset, preset_plan(preset, overrides))


def find_shape(shapes: Sequence[BenchShape], n_layer: int, d_model: int) -> BenchShape:
    """The shape with this depth and width; ValueError naming the shapes there are otherwise."""
    for shape in shapes:
        if (shape.run.gpt.n_layer, shape.run.gpt.d_model) == (n_layer, d_model):
            return shape
    raise ValueError(f"no shape L{n_layer} d{d_model}; have {[s.label for s in shapes]}")
