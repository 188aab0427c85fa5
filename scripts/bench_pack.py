"""Packed runs vs separate processes: `python scripts/bench_pack.py [--sizes 2 4 8 16] [--rounds 2] [--window 2]`.

Total training tokens/s of two single-thread jobs side by side (the default sweep's way on 2 cores), each
training one run, against the same two jobs each training a pack of M runs, for the default sweep's
smallest shapes (harness/bench/pack.py); then, with --profile-members M, the top ops of one run's step and of
a pack's step. Prints markdown tables and writes them as parquet under --out.
"""

import argparse
import shlex
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

import pandas as pd

from harness.bench.pack import PACK_SIZES, bench_runs, measure, profile_table, ratio_table

PROFILE_TOP_OPS = 6


def markdown(frame: pd.DataFrame) -> str:
    """A plain markdown table (floats to 3 significant digits)."""
    cells = [[f"{v:.3g}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in cells])


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(PACK_SIZES), help="models per pack")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds of every contender")
    p.add_argument("--window", type=float, default=2.0, help="seconds each measurement steps, at least")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps of each contender first")
    p.add_argument("--profile-members", type=int, default=8, help="pack size of the profile (0: no profile)")
    p.add_argument("--override", action="append", default=[], help="Hydra override of the preset (repeatable)")
    p.add_argument("--out", type=Path, default=Path("results/bench_pack"))
    a = p.parse_args(argv)
    runs, data = bench_runs(a.override)
    ratios = ratio_table(runs, measure(runs, data, a.sizes, a.rounds, a.window, a.warmup), a.rounds)
    a.out.mkdir(parents=True, exist_ok=True)
    ratios.to_parquet(a.out / "pack.parquet", index=False)
    print(f"`{shlex.join(['python', 'scripts/bench_pack.py', *argv])}`\n")
    print(markdown(ratios.drop(columns=["n_layer", "d_model", "rounds"])))
    if a.profile_members:
        profiled = profile_table([runs[0], runs[-1]], data, a.profile_members, PROFILE_TOP_OPS)
        profiled.to_parquet(a.out / "pack_profile.parquet", index=False)
        print("\n" + markdown(profiled))
    return 0


if __name__ == "__main__":
    sys.exit(main())
