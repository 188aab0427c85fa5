"""The results store: one parquet file per run (learning curve + metadata), written atomically.

Torch-free on purpose: `analysis/` reads results through this module on machines with no GPU stack.
Layout and column names are specified in docs/architecture.md.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

log = logging.getLogger("scalinglab")

SCHEMA_VERSION = 1
ON_ERROR = ("raise", "skip")  # what load_runs / load_curves do with an unreadable run file
METADATA_KEY = b"scalinglab"
RUNS_SUBDIR = "runs"

# FLOP conventions: the keys of models.flops.TRAIN_FLOPS_PER_TOKEN (tests/test_models_flops.py checks
# they agree), the suffixes of the compute_<key> curve columns and flops_per_token_<key> metadata.
COMPUTE_CONVENTIONS = ("6n", "6n_logits", "palm", "exact")
CURVE_COLUMNS = (
    "run_id", "step", "tokens",
    *(f"compute_{key}" for key in COMPUTE_CONVENTIONS),
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


class WriteError(OSError):
    """A file could not be written; the message names the file and the cause (errno kept where there is one)."""

    def __str__(self) -> str:
        return str(self.strerror)


def current_umask() -> int:
    """The process umask, read without changing it where Linux /proc says it (os.umask can only set it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass  # no /proc (macOS): fall back to setting and restoring it
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _reason(exc: BaseException) -> str:
    """The cause of a failed write in a few words: the OS error's text, else the exception's own."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else errno.errorcode.get(getattr(exc, 'errno', 0) or 0, '')}"


def atomic_write_bytes(path: Path, write) -> None:
    """Call `write(tmp_path)` then rename onto `path`, so readers never see a partial file.

    The file gets the mode any program's new file gets (0666 less the umask), not mkstemp's 0600.
    On any failure (a full disk, a read-only or missing folder, permission denied, whatever exception
    torch or pyarrow raise) the temp file is removed, `path` keeps its old content, and a WriteError
    naming `path` and the cause is raised. A SIGKILL can still leave `.<name>.*.tmp` behind: readers
    skip dot-files, and `remove_temp_files` clears them.
    """
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        os.close(fd)
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except Exception as exc:  # every writer's failure (OSError, torch's RuntimeError, ArrowException) alike
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise WriteError(getattr(exc, "errno", None) or errno.EIO, f"could not write {path}: {_reason(exc)}") from exc
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise


def remove_temp_files(path: Path) -> list[Path]:
    """Delete the temp files `atomic_write_bytes(path, ...)` left behind when its writer was killed.

    Only the holder of the run's claim may call this: another live writer's temp file would vanish.
    """
    leftovers = sorted(path.parent.glob(f".{path.name}.*.tmp"))
    for tmp in leftovers:
        tmp.unlink(missing_ok=True)
    return leftovers


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
    return table.to_pandas(), _metadata(path, table.schema)


def read_metadata(path: str | os.PathLike) -> dict:
    """A run file's metadata alone, from its parquet schema (the curve is not read)."""
    path = Path(path)
    try:
        schema = pq.read_schema(path)
    except (OSError, pa.ArrowException) as exc:
        raise ResultsError(f"{path}: not a readable parquet file ({exc})") from exc
    return _metadata(path, schema)


def _metadata(path: Path, schema: pa.Schema) -> dict:
    raw = (schema.metadata or {}).get(METADATA_KEY)
    if raw is None:
        raise ResultsError(f"{path}: no scalinglab metadata; not a run file")
    try:
        meta = json.loads(raw)
    except ValueError as exc:
        raise ResultsError(f"{path}: scalinglab metadata is not valid JSON ({exc})") from exc
    if meta.get("schema_version") != SCHEMA_VERSION:
        raise ResultsError(
            f"{path}: schema_version={meta.get('schema_version')!r}, this scalinglab reads {SCHEMA_VERSION}"
        )
    return meta


def run_files(results_dir: str | os.PathLike) -> list[Path]:
    """The finished run files of a results folder, in sorted order (temp files excluded)."""
    folder = runs_dir(results_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def read_runs(results_dir: str | os.PathLike, on_error: str = "raise",
              unreadable: list[str] | None = None) -> list[tuple[pd.DataFrame, dict]]:
    """(curve, metadata) of every run file; an unreadable one raises ResultsError, or with
    on_error='skip' is left out with a warning naming it (and its message appended to `unreadable`)."""
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error={on_error!r}: must be one of {ON_ERROR}")
    runs = []
    for path in run_files(results_dir):
        try:
            runs.append(read_run(path))
        except ResultsError as exc:
            if on_error == "raise":
                raise
            log.warning("skipped unreadable run file: %s", exc)
            if unreadable is not None:
                unreadable.append(str(exc))
    return runs


def runs_frame(runs: list[tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """One row per run (metadata columns) from `read_runs`' output."""
    return pd.DataFrame([meta for _, meta in runs])


def curves_frame(runs: list[tuple[pd.DataFrame, dict]]) -> pd.DataFrame:
    """Every curve row of `read_runs`' output, with the run's metadata columns joined on run_id."""
    frames = []
    for curve, meta in runs:
        extra = {k: v for k, v in meta.items() if k not in curve.columns}
        frames.append(curve.assign(**extra))
    if not frames:
        return pd.DataFrame(columns=list(CURVE_COLUMNS))
    return pd.concat(frames, ignore_index=True)


def load_runs(results_dir: str | os.PathLike, on_error: str = "raise") -> pd.DataFrame:
    """Every run under `results_dir` as one DataFrame, one row per run (metadata columns).

    on_error: 'raise' (ResultsError naming the first unreadable file) or 'skip' (warn and leave it out).
    """
    return runs_frame(read_runs(results_dir, on_error))


def load_curves(results_dir: str | os.PathLike, on_error: str = "raise") -> pd.DataFrame:
    """Every learning-curve row of every run, with the run's metadata columns joined on run_id.

    on_error: as for `load_runs`.
    """
    return curves_frame(read_runs(results_dir, on_error))
