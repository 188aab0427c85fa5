"""Scaling-law fits, figures and report from a results folder (parquet in, pandas + numpy; never torch).

Entry points: `analysis.analyze.analyze(results_dir)`, or `python scripts/analyze.py RESULTS_DIR`; for a table
of (N, D, loss) points from anywhere, `analysis.analyze.analyze_table` or `scripts/analyze.py --table`.
"""
import os

# The fits solve thousands of tiny 3x3 to 5x5 systems (analysis.batchfit); multithreaded OpenBLAS spins on
# such small problems (the scipy fits before them ran 40x slower with it on a loaded 2-core machine). Only
# effective if numpy is not yet imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
