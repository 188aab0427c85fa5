"""Unreadable files moved aside, never deleted: result files planning cannot read, checkpoints that do not load.

Both go to RESULTS_DIR/quarantine/<the folder they came from>/, so their runs are trained again while the
files stay there to inspect.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from harness import store

log = logging.getLogger("scalinglab")

QUARANTINE_SUBDIR = "quarantine"
QUARANTINE_FLAG = "sweep.quarantine=true"


def quarantine_dir(results_dir: str | os.PathLike) -> Path:
    """Where unreadable files of a results folder are moved."""
    return Path(results_dir) / QUARANTINE_SUBDIR


def move_aside(path: Path, results_dir: str | os.PathLike) -> Path:
    """Move `path` into the quarantine folder (a numbered name when an earlier one is there); the new path."""
    folder = quarantine_dir(results_dir) / path.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    target, n = folder / path.name, 1
    while target.exists():
        target, n = folder / f"{path.name}.{n}", n + 1
    os.replace(path, target)
    return target


def unreadable_results(results_dir: str | os.PathLike) -> list[tuple[Path, str]]:
    """(file, why) for every run file that cannot be read as this scalinglab's result of the run it names."""
    bad = []
    for path in store.run_files(results_dir):
        try:
            meta = store.read_metadata(path)
        except store.ResultsError as exc:
            bad.append((path, str(exc)))
            continue
        if meta.get("run_id") != path.stem:
            bad.append((path, f"{path}: holds run {meta.get('run_id')!r}, not the run {path.stem} its name says"))
    return bad


def check_results_folder(results_dir: str | os.PathLike, quarantine: bool) -> None:
    """ResultsError naming the unreadable run files and what to do; with `quarantine`, move them aside instead."""
    bad = unreadable_results(results_dir)
    if bad and not quarantine:
        more = f" (and {len(bad) - 1} more unreadable run files)" if len(bad) > 1 else ""
        raise store.ResultsError(f"{bad[0][1]}{more}: {QUARANTINE_FLAG} moves unreadable run files to "
                                 f"{quarantine_dir(results_dir) / store.RUNS_SUBDIR} and trains their runs again, "
                                 "or delete them by hand")
    for path, why in bad:
        target = move_aside(path, results_dir)
        log.warning("moved unreadable run file %s to %s; its run is trained again (%s)", path, target, why)
