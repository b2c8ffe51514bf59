"""Kill -9 in the middle of discover and replicate, re-run, and get the clean run's result."""

from __future__ import annotations

import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from photosync.blobstore.base import hash_file
from tests.helpers import (
    assert_check_clean,
    comparable,
    git_clean,
    make_library,
    new_archive,
    photosync_process,
    records,
    run_cli,
    set_prefs,
)

N_PHOTOS = 120


def _wait_for(condition, deadline_s: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    """Poll a condition (not a sleep as synchronisation: we wait for an observed state)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.005)
    return False


def _record_count(root: Path) -> int:
    return sum(1 for _ in (root / "photos").rglob("*.json"))


def _target_count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("library")
    make_library(root / "lib", N_PHOTOS)
    return root / "lib"


def _archive(tmp: Path, library: Path) -> Path:
    archive = new_archive(
        tmp,
        lib={"type": "local", "path": str(library)},
        backup={"type": "local", "path": str(tmp / "backup"), "target": True, "source": False},
    )
    set_prefs(archive, commit_every=15, hash_workers=2)
    return archive.root


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, library: Path) -> Path:
    root = _archive(tmp_path_factory.mktemp("reference"), library)
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    assert run_cli("--archive", str(root), "replicate", "--execute").exit_code == 0
    return root


@pytest.mark.parametrize("trial", range(5))
def test_discover_killed_at_a_random_point_then_rerun(
    tmp_path: Path, library: Path, reference: Path, trial: int
) -> None:
    root = _archive(tmp_path, library)
    kill_at = random.Random(trial).randrange(1, N_PHOTOS - 10)
    proc = photosync_process("--archive", str(root), "-q", "discover")
    reached = _wait_for(lambda: _record_count(root) >= kill_at or proc.poll() is not None)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached
    result = run_cli("--archive", str(root), "discover")
    assert result.exit_code == 0, result.output
    assert git_clean(root)
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    assert run_cli("--archive", str(root), "replicate", "--execute").exit_code == 0
    assert comparable(root) == comparable(reference)
    for record in records(root):
        blob = root / "blobs" / "sha256" / record["content_hash"][7:9] / record["content_hash"][7:]
        assert hash_file(blob)[0] == record["content_hash"][7:]
    assert_check_clean(root)


@pytest.mark.parametrize("trial", range(5))
def test_replicate_killed_at_a_random_point_then_rerun(
    tmp_path: Path, library: Path, reference: Path, trial: int
) -> None:
    root = _archive(tmp_path, library)
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    kill_at = random.Random(100 + trial).randrange(1, N_PHOTOS - 10)
    backup = tmp_path / "backup"
    proc = photosync_process("--archive", str(root), "-q", "replicate", "--execute")
    reached = _wait_for(
        lambda: (backup.exists() and _target_count(backup) >= kill_at) or proc.poll() is not None
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached
    result = run_cli("--archive", str(root), "replicate", "--execute")
    assert result.exit_code == 0, result.output
    assert git_clean(root)
    assert comparable(root) == comparable(reference)
    # nothing copied twice, nothing skipped: exactly one file per photo in the target
    copies = sorted(
        hash_file(p)[0] for p in backup.rglob("*") if p.is_file() and not p.name.startswith(".")
    )
    assert copies == sorted(r["content_hash"][7:] for r in records(root))
    assert not [p for p in backup.rglob(".photosync-*")]
    assert_check_clean(root)
    shutil.rmtree(root / "blobs", ignore_errors=True)
