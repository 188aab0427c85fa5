"""Fit scaling laws on a results folder and write its report: `python scripts/analyze.py RESULTS_DIR`.

Everything is regenerated from the parquet files alone into RESULTS_DIR/analysis/. A table of (N, D, loss)
points from anywhere: `python scripts/analyze.py --table points.csv` (.parquet, .jsonl; columns in
docs/analysis.md), report into points_analysis/ beside it unless --out says otherwise.
"""

import argparse
import sys
from pathlib import Path

import _bootstrap  # noqa: F401  (puts the repository on sys.path)

from analysis.analyze import NoRunsError, analyze, analyze_table
from analysis.data import COMPUTE_CONVENTIONS
from analysis.families import DEFAULT_EQUIVALENCE_TOLERANCE
from analysis.pipeline import AnalysisOptions
from analysis.table import N_COUNTINGS, TableError
from harness.store import ResultsError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", nargs="?", help="folder with runs/<run_id>.parquet")
    parser.add_argument("--table", help="a points table (.csv, .parquet, .jsonl) instead of a results folder")
    parser.add_argument("--n-counting", default="non_embedding", choices=N_COUNTINGS, help="what the table's N counts")
    parser.add_argument("--family", help="the one family of the table's 'family' column to fit")
    parser.add_argument("--out", help="report folder of --table (default: <table stem>_analysis beside it)")
    parser.add_argument("--compute", default="6n", choices=COMPUTE_CONVENTIONS, help="headline FLOP convention")
    parser.add_argument("--n-boot", type=int, default=200, help="bootstrap refits per fit (0: no intervals)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap and k-fold seed")
    parser.add_argument("--max-starts", type=int, default=100, help="Chinchilla L-BFGS starts from the init grid")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_EQUIVALENCE_TOLERANCE,
                        help="relative loss difference within which families or shapes count as equivalent")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="leave out run files that cannot be read (named in the report) instead of failing")
    args = parser.parse_args(argv)
    if (args.results_dir is None) == (args.table is None):
        parser.error("give either RESULTS_DIR or --table")
    options = AnalysisOptions(args.compute, args.n_boot, args.seed, args.max_starts, args.tolerance)
    try:
        out = _run(args, options)
    except (NoRunsError, ResultsError, TableError) as exc:  # no runs, an unreadable run file, a bad table (named)
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {out.report_md}\n        {out.report_html}")
    for png in out.figures:
        print(f"figure: {png} (+ .pdf)")
    for name, reason in out.skipped:
        print(f"skipped figure {name}: {reason}")
    return 0


def _run(args, options: AnalysisOptions):
    if args.table is None:
        return analyze(args.results_dir, options, "skip" if args.skip_unreadable else "raise")
    table = Path(args.table)
    out_dir = Path(args.out) if args.out else table.with_name(f"{table.stem}_analysis")
    return analyze_table(table, out_dir, args.n_counting, args.family, options)


if __name__ == "__main__":
    sys.exit(main())
