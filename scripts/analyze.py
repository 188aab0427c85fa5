"""Fit scaling laws on a results folder and write its report: `python scripts/analyze.py RESULTS_DIR`.

Everything is regenerated from the parquet files alone into RESULTS_DIR/analysis/.
"""

import argparse
import sys

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from analysis.analyze import NoRunsError, analyze
from analysis.data import COMPUTE_CONVENTIONS
from analysis.pipeline import AnalysisOptions
from harness.store import ResultsError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", help="folder with runs/<run_id>.parquet")
    parser.add_argument("--compute", default="6n", choices=COMPUTE_CONVENTIONS, help="headline FLOP convention")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap refits per fit (0: no intervals)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and k-fold seed")
    parser.add_argument("--max-starts", type=int, default=100, help="Chinchilla L-BFGS starts from the init grid")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="leave out run files that cannot be read (named in the report) instead of failing")
    args = parser.parse_args(argv)
    options = AnalysisOptions(args.compute, args.n_boot, args.seed, args.max_starts)
    try:
        out = analyze(args.results_dir, options, "skip" if args.skip_unreadable else "raise")
    except (NoRunsError, ResultsError) as exc:  # no runs, or an unreadable run file (named)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {out.report_md}\n        {out.report_html}")
    for png in out.figures:
        print(f"figure: {png} (+ .pdf)")
    for name, reason in out.skipped:
        print(f"skipped figure {name}: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
