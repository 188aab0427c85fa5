"""Which runs may train together as one pack (harness/packed.py), and how a plan's pending runs form packs.

`why_not_packable` is the one place that decides whether a run can be a member of a pack at all; `pack_key`
says which runs can share one: everything of the run but its seed, its peak learning rate and its AdamW
beta2 (docs/sweeps.md, "Packed runs").
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import List, Optional, Sequence

from harness.resolve import ResolvedRun
from harness.trunks import flops_per_step

PACKABLE_FAMILIES = ("gpt2",)  # the families models/packed_gpt.py batches
# What the members of one pack may differ in (train.lr_rule too: what counts is the peak rate it resolves to).
MEMBER_FIELDS = ("seed", "lr", "lr_rule", "beta2")


def why_not_packable(run: ResolvedRun) -> Optional[str]:
    """None when `run` may train as a member of a pack; else why not, in words."""
    t = run.config.train
    if run.gpt.family not in PACKABLE_FAMILIES:
        return f"model.family={run.gpt.family}: only {', '.join(PACKABLE_FAMILIES)} has a packed model"
    if t.compile != "none":
        return f"train.compile={t.compile}: packs train eagerly"
    if run.gpt.dropout:
        return f"dropout {run.gpt.dropout}: packed models draw no dropout masks"
    if t.micro_batch_size:
        return f"train.micro_batch_size={t.micro_batch_size}: a pack steps every member on one whole batch"
    return None


def pack_key(run: ResolvedRun) -> Optional[str]:
    """What every member of a pack shares (the run's config and resolved values but MEMBER_FIELDS), or None
    when the run cannot be a member."""
    if why_not_packable(run) is not None:
        return None
    tree = dataclasses.asdict(run.config)
    for name in MEMBER_FIELDS:
        tree["train"].pop(name)
    resolved = {"gpt": dataclasses.asdict(run.gpt), "steps": run.steps, "tokens": run.tokens,
                "batch_size": run.batch_size, "warmup_steps": run.warmup_steps, "cooldown_steps": run.cooldown_steps}
    return json.dumps([tree, resolved], sort_keys=True, default=str)


def split_evenly(members: Sequence[int], largest: int) -> List[List[int]]:
    """`members` in as few consecutive groups of at most `largest` as possible, their sizes within one."""
    count = math.ceil(len(members) / largest)
    size, extra = divmod(len(members), count)
    groups, start = [], 0
    for k in range(count):
        end = start + size + (k < extra)
        groups.append(list(members[start:end]))
        start = end
    return groups


def form_packs(runs: Sequence[ResolvedRun], pack_max: int, below_flops_per_step: float) -> List[List[int]]:
    """Indices of `runs` (pending runs, each a unit of its own) grouped into packs of compatible runs whose step
    costs fewer than `below_flops_per_step` exact FLOPs, at most `pack_max` each and as even as possible; a run
    that packs with no other stays alone. Groups come in the order of their first run."""
    groups: dict = {}
    for i, run in enumerate(runs):
        key = pack_key(run) if flops_per_step(run) < below_flops_per_step else None
        groups.setdefault(f"alone:{i}" if key is None else key, []).append(i)
    packs = [g for members in groups.values() for g in split_evenly(members, pack_max)]
    return sorted(packs, key=lambda g: g[0])
