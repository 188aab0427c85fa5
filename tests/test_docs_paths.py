"""Every repository path the docs and the code's comments name exists, so a moved or deleted file
cannot leave a stale reference behind (README, docs/*.md, and the text of every tracked source file)."""

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# A path-like token: one or more "name/" parts and a last part (globs allowed), not inside a longer word.
PATH_TOKEN = re.compile(r"(?<![\w./<>${}-])((?:[A-Za-z_.][\w.-]*/)+[\w.*-]*)")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Folders a run writes (results, Hydra's outputs): named in the docs, never part of the repository.
GENERATED_ROOTS = {"results", "RESULTS_DIR", "outputs", "multirun", ".venv"}
SCANNED_SUFFIXES = (".py", ".md", ".yaml", ".toml")


def tracked_files() -> list[str]:
    """The repository's tracked files, relative to its root."""
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True)
    return out.stdout.split()


def repository_paths(text: str, top_level: set[str]) -> set[str]:
    """The tokens of `text` that name a repository path: under a top-level entry, or a .md file."""
    found = set()
    for match in PATH_TOKEN.finditer(text):
        path = match.group(1).rstrip(".")
        root = path.split("/")[0]
        if root in GENERATED_ROOTS or root == "..":
            continue
        if root in top_level or path.endswith(".md"):
            found.add(path)
    return found


def exists(path: str, base: Path) -> bool:
    """Whether `path` (a glob where it has one) names something under `base`."""
    if "*" in path:
        return any(base.glob(path))
    return (base / path).exists()


def missing_paths() -> list[str]:
    """'file: path' for every named repository path that does not exist."""
    files = tracked_files()
    top_level = {f.split("/")[0] for f in files if "/" in f}
    missing = []
    for name in files:
        if not name.endswith(SCANNED_SUFFIXES) or name == "tests/test_docs_paths.py":
            continue
        text = (REPO / name).read_text(encoding="utf-8")
        missing += [f"{name}: {p}" for p in sorted(repository_paths(text, top_level)) if not exists(p, REPO)]
        if name.endswith(".md"):
            targets = {t for t in MARKDOWN_LINK.findall(text) if "://" not in t}
            base = (REPO / name).parent
            missing += [f"{name}: link {t}" for t in sorted(targets) if not exists(t, base)]
    return missing


def test_every_named_repository_path_exists():
    assert missing_paths() == []


@pytest.mark.parametrize("text, expected", [
    ("see shared/NOTES.md for why", {"shared/NOTES.md"}),
    ("`harness/store.py:atomic_write_bytes` and tests/test_faults_*.py", {"harness/store.py", "tests/test_faults_*.py"}),
    ("results/smoke/analysis/report.md, RESULTS_DIR/runs/, A/N and tokens/s", set()),
])
def test_repository_paths_are_told_from_other_slashes(text, expected):
    assert repository_paths(text, {"harness", "tests"}) == expected


def test_exists_refuses_a_missing_file_and_expands_globs():
    assert not exists("docs/no_such_page.md", REPO)
    assert exists("tests/test_docs_*.py", REPO)
