"""Speed benchmark: `python scripts/bench.py [--preset smoke kaplan_fig1] [--steps N] [--results-dir DIR] [--out DIR]`.

Measures, in one process: the machine's matmul peak; per shape of the presets, the trainer's
tokens/s, FLOPs/s and MFU against a plain PyTorch loop (interleaved); the share of a run spent on
test-loss evaluation; one 2-thread process vs two 1-thread processes; with --processes, k trainer
processes sharing the device against one; with --profile, where a step's time goes
(matmuls, attention, optimizer, the rest); with --results-dir, where a
finished sweep's time went; with --variants, candidate trainer changes. Prints the markdown report
and writes it with one parquet file per table under --out.
"""

import argparse
import logging
import shlex
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from harness.bench.run import BenchOptions, run_benchmark


def parse_args(argv) -> BenchOptions:
    """Command line -> BenchOptions."""
    d = BenchOptions()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--preset", nargs="+", default=d.presets, help="presets whose shapes are measured")
    p.add_argument("--steps", type=int, default=d.steps, help="timed steps per block")
    p.add_argument("--rounds", type=int, default=d.rounds, help="interleaved blocks per contender")
    p.add_argument("--warmup", type=int, default=d.warmup, help="untimed steps first")
    p.add_argument("--max-shapes", type=int, default=0, help="measure only the N smallest shapes per preset")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"])
    p.add_argument("--threads", type=int, default=0, help="torch threads of this process (0: all cores)")
    p.add_argument("--override", action="append", default=[], help="Hydra override for every preset, "
                   "e.g. data.cache_dir=/tmp/cache (repeatable)")
    p.add_argument("--results-dir", type=Path, help="a finished sweep of --sweep-preset")
    p.add_argument("--sweep-log", type=Path, help="that sweep's log (end-to-end time from its timestamps)")
    p.add_argument("--sweep-preset", default=d.sweep_preset)
    p.add_argument("--no-threads", action="store_true", help="skip the threads-per-job comparison")
    p.add_argument("--processes", type=int, nargs="+", default=[], help="k trainer processes side by side on "
                   "the device vs one, e.g. 1 2 4 8: how many tiny runs to pack per GPU")
    p.add_argument("--profile", action="store_true", help="where a step's time goes, by op group (CPU only)")
    p.add_argument("--variants", action="store_true", help="also time candidate trainer changes")
    p.add_argument("--compile", action="store_true", help="include torch.compile among the variants")
    p.add_argument("--out", type=Path, default=d.out, help="where bench.md and the parquet tables go")
    a = p.parse_args(argv)
    return BenchOptions(presets=a.preset, steps=a.steps, rounds=a.rounds, warmup=a.warmup, max_shapes=a.max_shapes,
                        device=a.device, threads=a.threads, overrides=a.override, results_dir=a.results_dir,
                        sweep_log=a.sweep_log, sweep_preset=a.sweep_preset, thread_compare=not a.no_threads,
                        processes=tuple(a.processes),
                        profile=a.profile, variants=a.variants, variant_compile=a.compile, out=a.out)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    argv = sys.argv[1:] if argv is None else argv
    print(run_benchmark(parse_args(argv), command=shlex.join(["python", "scripts/bench.py", *argv])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
