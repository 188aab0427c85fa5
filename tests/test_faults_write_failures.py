"""Every write failure fails its run with one message naming the path and the cause, whatever raised it (the OS,
torch or pyarrow); the earlier files stay intact, the sweep goes on with its other runs and exits non-zero
with the count of failed runs. New files get the mode the umask gives, as any program's."""

from __future__ import annotations

import errno
import os
import stat
import textwrap

import pyarrow as pa
import pytest
import torch

from harness import store
from harness.checkpoint import checkpoint_path, save_checkpoint
from harness.failures import describe
from harness.resolve import resolve
from harness.runner import execute

# What torch 2.13's torch.save raised when a 64 KiB tmpfs filled up (test_full_tmpfs_... below, run as root).
TORCH_DISK_FULL = "[enforce fail at inline_container.cc:672] . unexpected pos 704 vs 598"
TMPFS_SIZE = "64k"


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _raise(exc):
    def _fail(*args, **kwargs):
        raise exc
    return _fail


def test_torch_runtime_error_on_a_full_disk_names_the_checkpoint_and_keeps_the_previous_one(tmp_path, monkeypatch):
    path = checkpoint_path(tmp_path, "run")
    save_checkpoint(path, {"step": 1})
    before = _files(tmp_path)
    monkeypatch.setattr(torch, "save", _raise(RuntimeError(TORCH_DISK_FULL)))
    with pytest.raises(store.WriteError) as raised:
        save_checkpoint(path, {"step": 2})
    assert str(raised.value) == f"could not write {path}: RuntimeError: {TORCH_DISK_FULL}"
    assert _files(tmp_path) == before


@pytest.fixture
def full_tmpfs(tmp_path):
    """A 64 KiB tmpfs (needs root and CAP_SYS_ADMIN; skipped elsewhere), unmounted afterwards."""
    import subprocess
    mount = tmp_path / "tmpfs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root); the patched writers above cover the same path")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_full_tmpfs_fails_checkpoint_and_result_naming_each_and_leaves_no_temp_file(full_tmpfs, write_fake_run):
    ckpt = checkpoint_path(full_tmpfs, "run")
    with pytest.raises(store.WriteError, match=f"^could not write {ckpt}: RuntimeError: .*unexpected pos"):
        save_checkpoint(ckpt, {"model": torch.zeros(100_000)})  # 400 kB
    with pytest.raises(store.WriteError, match=f"^could not write {store.run_path(full_tmpfs, 'r')}: .*No space"):
        write_fake_run(full_tmpfs, "r", padding="x" * 100_000)
    assert [p for p in full_tmpfs.rglob("*") if p.is_file()] == []


def test_arrow_error_names_the_result_file(write_fake_run, tmp_path, monkeypatch):
    monkeypatch.setattr(store.pq, "write_table", _raise(pa.ArrowIOError("IOError: No space left on device")))
    with pytest.raises(store.WriteError, match=f"^could not write {store.run_path(tmp_path, 'r')}: "
                                               "OSError: IOError: No space left on device$"):
        write_fake_run(tmp_path, "r")
    assert list(store.runs_dir(tmp_path).iterdir()) == []  # no temp file left


def test_folder_whose_parent_is_a_file_names_the_path_and_cause(write_fake_run, tmp_path):
    (tmp_path / "a_file").write_text("")  # read-only as root too: no directory can be made under a file
    results = tmp_path / "a_file" / "results"
    with pytest.raises(store.WriteError) as raised:
        write_fake_run(results, "r")
    assert str(raised.value) == f"could not write {store.run_path(results, 'r')}: Not a directory"
    assert raised.value.errno == errno.ENOTDIR


def test_permission_denied_names_the_path(write_fake_run, tmp_path, monkeypatch):
    monkeypatch.setattr(store.os, "replace", _raise(PermissionError(errno.EACCES, "Permission denied")))
    with pytest.raises(store.WriteError, match=f"could not write {store.run_path(tmp_path, 'r')}: Permission denied"):
        write_fake_run(tmp_path, "r")
    assert list(store.runs_dir(tmp_path).iterdir()) == []


def test_describe_names_the_path_of_a_plain_os_error():
    assert describe(NotADirectoryError(errno.ENOTDIR, "Not a directory", "/r/claims")) == "/r/claims: Not a directory"


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_results_plans_and_checkpoints_honour_the_umask(write_fake_run, tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        result = write_fake_run(tmp_path, "r")
        ckpt = checkpoint_path(tmp_path, "r")
        save_checkpoint(ckpt, {"step": 1})
    finally:
        os.umask(old)
    assert [stat.S_IMODE(p.stat().st_mode) for p in (result, ckpt)] == [mode, mode]


def test_a_run_whose_results_folder_cannot_be_made_fails_naming_it(run_config, tmp_path):
    (tmp_path / "a_file").write_text("")
    run = resolve(run_config(tmp_path / "a_file" / "results"))
    with pytest.raises(OSError) as raised:
        execute(run)
    assert describe(raised.value) == f"{tmp_path / 'a_file' / 'results' / 'claims'}: Not a directory"


@pytest.mark.slow
def test_sweep_into_a_folder_that_cannot_be_made_exits_1_with_one_line(run_script, tmp_path):
    (tmp_path / "a_file").write_text("")
    results = tmp_path / "a_file" / "results"
    done = run_script("sweep.py", ["sweep=smoke", f"sweep.results_dir={results}", "sweep.analyze=false"], tmp_path)
    assert done.returncode == 1
    errors = [line for line in done.stdout.splitlines() if "could not write" in line]
    assert len(errors) == 1
    assert f"could not write {results}/plans/" in errors[0] and errors[0].endswith(": Not a directory")
    assert "Traceback" not in done.stdout


# The sweep script in-process (the basic launcher runs its jobs there), with torch.save failing like a full disk
# for the first checkpoint written: the first run fails, the others are trained.
FAILING_SWEEP = textwrap.dedent("""
    import runpy, sys, torch
    real, calls = torch.save, []
    def save(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError({message!r})
        return real(*args, **kwargs)
    torch.save = save
    sys.path.insert(0, {scripts!r})
    sys.argv = ["sweep.py", *sys.argv[1:]]
    runpy.run_path({script!r}, run_name="__main__")
""")


@pytest.mark.slow
def test_sweep_goes_on_after_a_failed_run_and_exits_1_counting_it(script_command, tmp_path):
    import subprocess
    import sys
    command = script_command("sweep.py", ["sweep=smoke", "model.d_model=16", "model.n_layer=1,2,3",
                                          "train.tokens=4096", "train.threads=1", "train.checkpoint_interval_s=1e-6",
                                          f"sweep.results_dir={tmp_path / 'results'}", "sweep.analyze=false"])
    wrapper = tmp_path / "failing_sweep.py"
    wrapper.write_text(FAILING_SWEEP.format(message=TORCH_DISK_FULL, scripts=str(os.path.dirname(command[1])),
                                            script=command[1]))
    done = subprocess.run([sys.executable, str(wrapper), *command[2:]], cwd=tmp_path, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)
    assert done.returncode == 1, done.stdout[-3000:]
    assert "Traceback" not in done.stdout
    failed = [line for line in done.stdout.splitlines() if " failed: could not write " in line]
    assert len(failed) == 1 and f"/checkpoints/" in failed[0] and TORCH_DISK_FULL in failed[0]
    assert len(store.run_files(tmp_path / "results")) == 2
    assert "1 of 3 runs failed" in done.stdout
