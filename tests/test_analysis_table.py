"""`scripts/analyze.py --table`: anyone's (N, D, loss) points in, the same report out; bad tables named."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.synthetic import final_points, law_with_a
from analysis.table import TableError, load_table, read_table, select_family, table_runs, validate_table

ROOT = Path(__file__).resolve().parents[1]


def points(a=0.5, n_budgets=5):
    runs = final_points(law_with_a(a), np.geomspace(1e15, 1e19, n_budgets), sizes_per_budget=9, shared_sizes=True)
    return runs.rename(columns={"params_non_embedding": "N", "tokens": "D", "final_test_loss": "loss",
                                "compute_budget": "budget"})[["N", "D", "loss", "budget"]]


def analyze_table(path, *args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "analyze.py"), "--table", str(path),
                           "--n-boot", "0", "--max-starts", "2", *args], capture_output=True, text=True, timeout=120)


def test_a_csv_table_gets_the_report_with_every_fit_its_columns_allow(tmp_path):
    points().to_csv(tmp_path / "points.csv", index=False)
    done = analyze_table(tmp_path / "points.csv", "--n-counting", "total")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "points_analysis"
    report = (out / "report.md").read_text()
    assert "N counts total parameters" in report and (out / "isoflop.png").stat().st_size > 0
    assert (out / "compute_optimal_size.png").stat().st_size > 0
    iso = next(line for line in report.splitlines() if line.startswith("| a (IsoFLOP)"))
    final = next(line for line in report.splitlines() if line.startswith("| N_opt ∝ C^a, frontier: final points"))
    assert abs(float(iso.split("|")[2]) - 0.5) < 0.02 and abs(float(final.split("|")[2]) - 0.5) < 0.02
    conventions = pd.read_csv(out / "counting_conventions.csv")
    assert list(conventions["N counts"]) == ["non_embedding"]  # the table's one N, under its own name


@pytest.mark.parametrize("suffix", [".parquet", ".jsonl"])
def test_parquet_and_jsonl_tables_read_as_the_csv_does(tmp_path, suffix):
    table = points()
    table.to_csv(tmp_path / "p.csv", index=False)
    table.to_parquet(tmp_path / "p.parquet") if suffix == ".parquet" else table.to_json(
        tmp_path / "p.jsonl", orient="records", lines=True)
    pd.testing.assert_frame_equal(read_table(tmp_path / f"p{suffix}"), read_table(tmp_path / "p.csv"),
                                  check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.drop(columns="D"), "column 'D' is missing"),
    (lambda t: t.astype({"N": object}).assign(N=lambda f: f["N"].where(f.index != 3, "big")),
     "column 'N', row 4: 'big' is not a number"),
    (lambda t: t.assign(D=lambda f: f["D"].where(f.index != 6, -5.0)),
     "column 'D', row 7: -5 must be a finite number > 0"),
    (lambda t: t.assign(N=lambda f: f["N"].where(f.index != 0, 0.0)), "column 'N', row 1: 0 must be"),
    (lambda t: t.assign(loss=lambda f: f["loss"].where(f.index != 2, np.inf)),
     "column 'loss', row 3: inf must be a finite loss"),
    (lambda t: t.assign(loss=lambda f: f["loss"].where(f.index != 9)), "column 'loss', row 10: nan is not a number"),
    (lambda t: t.assign(N=1e6), "column 'N': every row has N = 1e+06"),
    (lambda t: t.assign(budget=lambda f: f["budget"].where(f.index != 5, -1.0)), "column 'budget', row 6: -1 must be"),
])
def test_a_bad_table_names_its_column_and_row(tmp_path, edit, message):
    edit(points()).to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(TableError, match=message.replace("(", r"\(").replace("+", r"\+")):
        load_table(tmp_path / "bad.csv")


def test_a_bad_table_exits_2_with_one_message_and_writes_nothing(tmp_path):
    points().assign(loss=lambda f: f["loss"].where(f.index != 2, np.nan)).to_csv(tmp_path / "bad.csv", index=False)
    done = analyze_table(tmp_path / "bad.csv")
    assert done.returncode == 2 and done.stderr.strip() == "error: column 'loss', row 3: nan is not a number"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv"]


def test_several_families_need_a_choice():
    table = pd.concat([points().assign(family="a"), points(0.73).assign(family="b")], ignore_index=True)
    with pytest.raises(TableError, match=r"2 families \['a', 'b'\]"):
        load_table_frame(table)
    runs, _ = load_table_frame(table, "b")
    assert len(runs) == len(points(0.73))


def load_table_frame(table, family=None):
    return table_runs(select_family(validate_table(table), family))


def test_compute_without_budget_becomes_a_budget_where_three_sizes_share_it():
    table = points().drop(columns="budget").assign(compute=lambda f: 6 * f["N"] * f["D"] * (1 + 1e-9))
    runs, _ = load_table_frame(pd.concat([table, table.iloc[:1].assign(compute=1.2345e13)], ignore_index=True))
    assert runs["compute_budget"].iloc[:-1].notna().all() and np.isnan(runs["compute_budget"].iloc[-1])
    assert np.allclose(runs["flops_per_token_exact"].iloc[:-1], 6 * runs["params_non_embedding"].iloc[:-1])


def test_plain_arrays_go_through_the_same_checks_and_fits():
    from analysis.isoflop import fit_isoflop
    from analysis.table import points_runs

    table = points(0.73)
    fit = fit_isoflop(points_runs(table["N"].to_numpy(), table["D"].to_numpy(), table["loss"].to_numpy(),
                                  budget=table["budget"].to_numpy()), n_boot=0)
    assert abs(fit.params["a"] - 0.73) < 0.02 and fit.objective >= 0
    with pytest.raises(TableError, match="column 'D', row 2: -1 must be"):
        points_runs([1e6, 1e7, 1e8], [1e9, -1.0, 1e9], [3.0, 2.9, 2.8])
