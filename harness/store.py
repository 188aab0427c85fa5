"""The results store: one parquet file per run (learning curve + metadata), written atomically.

Torch-free on purpose: `analysis/` reads results through this module on machines with no GPU stack.
Layout and column names are specified in docs/architecture.md.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA_VERSION = 1
METADATA_KEY = b"scalinglab"
RUNS_SUBDIR = "runs"

CURVE_COLUMNS = (
    "run_id", "step", "tokens",
    "compute_6n", "compute_6n_logits", "compute_palm", "compute_exact",
    "train_loss", "test_loss", "lr", "elapsed_s",
)


class ResultsError(RuntimeError):
    """A results folder or file cannot be read as scalinglab results; the message names the file."""


def runs_dir(results_dir: str | os.PathLike) -> Path:
    """The folder holding one parquet file per run."""
    return Path(results_dir) / RUNS_SUBDIR


def run_path(results_dir: str | os.PathLike, run_id: str) -> Path:
    """Where the parquet file of `run_id` lives."""
    return runs_dir(results_dir) / f"{run_id}.parquet"


def atomic_write_bytes(path: Path, write) -> None:
    """Call `write(tmp_path)` then rename onto `path`, so readers never see a partial file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_run(results_dir: str | os.PathLike, curve: pd.DataFrame, metadata: dict) -> Path:
    """Write one run's curve and metadata as `runs/<run_id>.parquet`, atomically."""
    missing = [c for c in CURVE_COLUMNS if c not in curve.columns]
    if missing:
        raise ValueError(f"curve is missing columns {missing}")
    meta = {**metadata, "schema_version": SCHEMA_VERSION}
    table = pa.Table.from_pandas(curve[list(CURVE_COLUMNS)], preserve_index=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()}
    )
    path = run_path(results_dir, meta["run_id"])
    atomic_write_bytes(path, lambda tmp: pq.write_table(table, tmp))
    return path


def read_run(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """Read one run file: (curve, metadata). Raises ResultsError naming the file if unreadable."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: not a readable parquet file ({exc})") from exc
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ResultsError(f"{path}: no scalinglab metadata; not a run file")
    meta = json.loads(raw)
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema_version={meta.get('schema_version')!r}, this scalinglab reads {SCHEMA_VERSION}"
        )
    return table.to_pandas(), meta


def run_files(results_dir: str | os.PathLike) -> list[Path]:
    """The finished run files of a results folder, in sorted order (temp files excluded)."""
    folder = runs_dir(results_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def load_runs(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every run under `results_dir` as one DataFrame, one row per run (metadata columns)."""
    rows = [read_run(p)[1] for p in run_files(results_dir)]
    return pd.DataFrame(rows)


def load_curves(results_dir: str | os.PathLike) -> pd.DataFrame:
    """Every learning-curve row of every run, with the run's metadata columns joined on run_id."""
    frames = []
    for path in run_files(results_dir):
        curve, meta = read_run(path)
        extra = {k: v for k, v in meta.items() if k not in curve.columns}
        frames.append(curve.assign(**extra))
    if not frames:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)
