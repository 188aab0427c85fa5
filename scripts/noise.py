"""Test-loss noise, paired and unpaired: `python scripts/noise.py [--a OVERRIDE ...] [--b OVERRIDE ...]`.

Trains two runs (default: 1 x 32 and 2 x 32 of the kaplan_fig1 setting, D = 1e6, about 20 s each on
2 cores), evaluates both on the whole held-out set window by window, and prints each loss with its
standard error across windows and the standard error of their difference on the same windows.
"""

import argparse
import sys

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from harness.bench.noise import paired_noise

COMMON = ["model.d_model=32", "model.d_head=16", "model.n_ctx=128", "train.tokens=1e6", "train.batch_size=16"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", nargs="*", default=[*COMMON, "model.n_layer=1"], help="overrides of run A")
    parser.add_argument("--b", nargs="*", default=[*COMMON, "model.n_layer=2"], help="overrides of run B")
    args = parser.parse_args(argv)
    r = paired_noise(args.a, args.b)
    print(f"{r['windows']} held-out windows")
    print(f"run A {r['run_a']}: {r['loss_a']:.4f} ± {r['sem_a']:.4f} nats (standard error across windows)")
    print(f"run B {r['run_b']}: {r['loss_b']:.4f} ± {r['sem_b']:.4f}")
    print(f"B - A: {r['difference']:+.4f} ± {r['sem_difference_paired']:.4f} paired "
          f"(± {r['sem_difference_unpaired']:.4f} if the windows were independent samples)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
