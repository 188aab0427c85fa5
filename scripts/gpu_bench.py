"""GPU measurement in one call: `python scripts/gpu_bench.py --out results/gpu_bench` (under 8 minutes on one
H100/H200-class GPU; `--tiny` runs every stage on the CPU in seconds).

Writes under --out: the measured bf16 matmul peak beside the device's datasheet peak, the trainer's tokens/s and
MFU at 8 x 512 and 12 x 768 (context 1024) eager and compiled, k tiny models packed in one process against k
processes of one model each (k = 1 ... 16; --skip-packed leaves it out), and the default preset's wall time on the
device (its results in --out/default_sweep), as parquet tables and gpu_bench.md.
"""

import argparse
import logging
import shlex
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from harness.bench.gpu import GpuBenchOptions, run_gpu_bench, tiny_options


def parse_args(argv) -> GpuBenchOptions:
    """Command line -> GpuBenchOptions."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("results/gpu_bench"), help="where the tables go")
    p.add_argument("--tiny", action="store_true", help="tiny shapes and few steps on the CPU (the test's run)")
    p.add_argument("--skip-packed", action="store_true",
                   help="leave out the packed-models table (about 60-90 s on a GPU)")
    p.add_argument("--cache-dir", help="data.cache_dir of the trainer runs and the sweep (default: the config's)")
    a = p.parse_args(argv)
    if a.cache_dir:  # the sweep runs in --out, where a relative cache folder would be another one
        a.cache_dir = str(Path(a.cache_dir).absolute())
    if a.tiny:
        return tiny_options(a.out, a.cache_dir, a.skip_packed)
    cache = (f"data.cache_dir={a.cache_dir}",) if a.cache_dir else ()
    return GpuBenchOptions(out=a.out, overrides=cache, sweep_args=cache, skip_packed=a.skip_packed)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(message)s", datefmt="%H:%M:%S")
    argv = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "scripts/gpu_bench.py", *argv])
    try:
        print(run_gpu_bench(parse_args(argv), Path(__file__).with_name("sweep.py"), command))
    except FileExistsError as exc:  # a used --out: one line, no traceback
        logging.getLogger("scalinglab.bench").error("%s", exc)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
