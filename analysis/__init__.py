"""Scaling-law fits, figures and report from a results folder (parquet in, pandas + scipy; never torch).

Entry points: `analysis.analyze.analyze(results_dir)`, or `python scripts/analyze.py RESULTS_DIR`; for a table
of (N, D, loss) points from anywhere, `analysis.analyze.analyze_table` or `scripts/analyze.py --table`.
"""
import os

# The fits are thousands of tiny L-BFGS problems; multithreaded OpenBLAS spins on each 5-vector and
# was measured 40x slower on a loaded 2-core machine. Only effective if numpy is not yet imported.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
