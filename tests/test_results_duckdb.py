"""A results folder opens in DuckDB: the README's SQL over runs/*.parquet returns each run's final loss."""

import re
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from harness import store

README = Path(__file__).resolve().parent.parent / "README.md"
README_RESULTS_DIR = "results/kaplan_fig1"
FINAL_LOSSES = {"run_a": 3.5, "run_b": 2.25, "run_c": 4.125}  # exact in binary, so compared with ==


def readme_sql() -> str:
    """The one ```sql block of the README."""
    blocks = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the README should show exactly one SQL query"
    return blocks[0]


@pytest.fixture
def results_dir(tmp_path):
    """Three runs written by the store, each a two-row curve whose last test loss is its final loss."""
    for run_id, loss in FINAL_LOSSES.items():
        curve = pd.DataFrame({c: [loss + 1.0, loss] for c in store.CURVE_COLUMNS})
        curve = curve.assign(run_id=run_id, step=[1, 2], tokens=[512, 1024])
        store.write_run(tmp_path, curve, {"run_id": run_id, "status": "completed", "final_test_loss": loss})
    (tmp_path / "runs" / ".run_a.parquet.x1.tmp").write_bytes(b"a killed writer's leftover")
    return tmp_path


def test_the_readme_query_returns_every_final_loss_in_order(results_dir):
    sql = readme_sql().replace(README_RESULTS_DIR, results_dir.as_posix())
    rows = duckdb.sql(sql).fetchall()
    assert rows == sorted(FINAL_LOSSES.items(), key=lambda item: item[1])


def test_the_curves_query_over_the_glob_reads_each_runs_last_row(results_dir):
    sql = (f"SELECT run_id, arg_max(test_loss, tokens) AS last_test_loss, max(tokens) AS tokens "
           f"FROM '{results_dir.as_posix()}/runs/*.parquet' GROUP BY run_id ORDER BY run_id")
    assert duckdb.sql(sql).fetchall() == [(r, loss, 1024) for r, loss in sorted(FINAL_LOSSES.items())]
