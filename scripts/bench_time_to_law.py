"""Time to a scaling law: `python scripts/bench_time_to_law.py [--preset P] [--full] [--run-sweep | --results-dir DIR]`.

The plain way (every result of the preset as its own cosine run with a plain PyTorch loop, one process after
another) against scalinglab's default (`python scripts/sweep.py sweep=P`: wsd trunks, two jobs, packing),
the ratio and where it comes from. By default the plain way is projected from timed steps and a measured
process start-up; --full trains every plain run. Prints the table and writes it with parquet files under --out.
"""

import argparse
import logging
import shlex
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from harness.bench.time_to_law_run import LawOptions, run_time_to_law


def parse_args(argv) -> LawOptions:
    """Command line -> LawOptions."""
    d = LawOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", default=d.preset, help="the sweep preset whose laws are timed")
    p.add_argument("--override", action="append", default=[], help="Hydra override for the plan and the sweep "
                   "(repeatable)")
    p.add_argument("--steps", type=int, default=d.steps, help="timed plain-loop steps per block")
    p.add_argument("--rounds", type=int, default=d.rounds, help="interleaved blocks (plain loop, trainer)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed steps first")
    p.add_argument("--full", action="store_true", help="train every plain run end to end (20 min for kaplan_fig1)")
    p.add_argument("--run-sweep", action="store_true", help="run scalinglab's sweep now, into OUT/sweep")
    p.add_argument("--results-dir", type=Path, help="a finished fresh sweep of the preset, instead of --run-sweep")
    p.add_argument("--sweep-log", type=Path, help="that sweep's log (end-to-end time from its time stamps)")
    p.add_argument("--out", type=Path, default=d.out, help="where time_to_law.md and the parquet tables go")
    a = p.parse_args(argv)
    return LawOptions(preset=a.preset, overrides=a.override, steps=a.steps, rounds=a.rounds, warmup=a.warmup,
                      full=a.full, run_sweep=a.run_sweep, results_dir=a.results_dir, sweep_log=a.sweep_log, out=a.out)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    argv = sys.argv[1:] if argv is None else argv
    print(run_time_to_law(parse_args(argv), command=shlex.join(["python", "scripts/bench_time_to_law.py", *argv])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
