"""scripts/analyze.py on a synthetic results folder written through harness.store."""
import subprocess
import sys
from pathlib import Path

import pandas as pd

from analysis.synthetic import write_synthetic_folder
from harness.store import load_runs

ROOT = Path(__file__).resolve().parents[1]
FIGURES = ("figure1_scaling", "isoflop", "compute_optimal_size", "architecture_shape", "architecture_embeddings")


def run_script(*args):
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "analyze.py"), *map(str, args)],
                          capture_output=True, text=True, timeout=120)


def test_analyze_writes_report_figures_and_tables(tmp_path):
    write_synthetic_folder(tmp_path)
    done = run_script(tmp_path, "--n-boot", "10", "--max-starts", "5")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "analysis"
    assert "report.md" in done.stdout
    for name in FIGURES:
        assert (out / f"{name}.png").stat().st_size > 0 and (out / f"{name}.pdf").stat().st_size > 0
    report = (out / "report.md").read_text()
    for text in ("α_N", "α_D", "α_C (6n)", "a (IsoFLOP)", "Kaplan 2020 eq. 1.1", "n_grid-diverged",
                 "Architecture independence", "known entropy rate", "Counting conventions", "Pearce & Song 2024",
                 "N_opt ∝ C^a, frontier: final points (6n)", "N_opt ∝ C^a, frontier: envelope of curves (6n)",
                 "Schedules: 52 cosine runs"):
        assert text in report, text
    assert "data:image/png;base64," in (out / "report.html").read_text()
    for table in ("exponents", "compute_conventions", "extrapolation", "model_comparison", "excluded_runs",
                  "counting_conventions"):
        assert (out / f"{table}.csv").exists(), table
    conventions = pd.read_csv(out / "counting_conventions.csv")
    assert len(conventions) == 3 * 4 * 2  # N countings x FLOP conventions x final / mid-run points
    total = conventions[(conventions["N counts"] == "total") & (conventions["C counts"] == "6n")]
    assert set(total["points"]) == {"final", "mid-run"} and total["α (Chinchilla)"].notna().all()
    iso_row = next(line for line in report.splitlines() if line.startswith("| a (IsoFLOP)"))
    assert abs(float(iso_row.split("|")[2]) - 0.4516) < 0.02  # a = β/(α+β) of Hoffmann 2022 eq. 10


def test_analyze_exits_nonzero_on_a_folder_without_runs(tmp_path):
    done = run_script(tmp_path)
    assert done.returncode != 0 and "no run files" in done.stderr


def test_skip_unreadable_leaves_a_corrupt_run_out_and_names_it_in_the_report(tmp_path):
    write_synthetic_folder(tmp_path)
    good = sorted((tmp_path / "runs").glob("*.parquet"))
    bad = good[0]
    bad.write_bytes(bad.read_bytes()[:100])
    failed = run_script(tmp_path, "--n-boot", "0", "--max-starts", "2")
    assert failed.returncode == 2 and f"error: {bad}: not a readable parquet file" in failed.stderr
    done = run_script(tmp_path, "--n-boot", "0", "--max-starts", "2", "--skip-unreadable")
    assert done.returncode == 0, done.stderr
    report = (tmp_path / "analysis" / "report.md").read_text()
    assert "1 unreadable run files left out" in report and str(bad) in report
    readable = load_runs(tmp_path, on_error="skip")
    assert len(readable) == len(good) - 1
    assert f"{(readable['status'] == 'completed').sum()} completed runs used" in report
