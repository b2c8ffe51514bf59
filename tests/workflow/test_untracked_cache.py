"""git's untracked cache and a killed run's leftovers.

git built without nanosecond timestamps (as most are) trusts a folder whose mtime is
in the same second as when it cached the folder's listing: a file added or removed
in that second is then missed, or shown after it is gone. A killed run writes its
files in exactly such seconds, and the run after it removes them. The seconds are
set here with ``os.utime`` (what a fast run does by chance), so nothing waits on
the clock.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import photosync.archive.archive as archive_module
from photosync.archive.archive import Archive
from photosync.archive.git import Git
from photosync.model import record_relpath
from tests.workflow.test_archive import _record

#: a folder mtime git caches: whole second plus a bit, and the same second a bit later
CACHED_NS = 1_700_000_000_100_000_000
SAME_SECOND_NS = CACHED_NS + 300_000_000


def _status(root: Path) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


def _killed_run(tmp_path: Path) -> tuple[Path, Path]:
    """An archive a run was killed in: one record of its written and not committed (in
    another folder), and a committed record rewritten (its temp file is made by each
    test). Returns
    (archive root, the committed record's folder)."""
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    committed = _record("d", "2024-03-05T12:15:30+01:00")
    archive.write_record(committed)
    archive.commit("test: one record")
    archive.write_record(_record("e", "2021-07-01T10:00:00"))  # left uncommitted
    committed["metadata"]["caption"] = "rewritten by the run that was killed"
    archive.write_record(committed)  # listed as pending: its temp file below is the run's
    archive.close()  # the pending-paths list stays, as a kill leaves it
    folder = (archive.root / record_relpath(committed)).parent
    return archive.root, folder


def _temp_of(folder: Path) -> Path:
    record = next(folder.glob("*.json"))
    return folder / f".{record.name}.4242.1234.tmp"


def test_a_leftover_git_last_saw_absent_in_the_same_second_is_still_found(
    tmp_path: Path,
) -> None:
    root, folder = _killed_run(tmp_path)
    os.utime(folder, ns=(CACHED_NS, CACHED_NS))
    assert not any(".tmp" in line for line in _status(root))  # git caches it, no temp file
    temp = _temp_of(folder)
    temp.write_text('{"photo_id": "half')  # the killed run's temp file, same second
    os.utime(folder, ns=(SAME_SECOND_NS, SAME_SECOND_NS))
    # git's status now misses the temp file, mostly (git with nanosecond times sees it):
    # what follows must hold either way

    archive = Archive(root)
    archive.lock()
    archive.close()
    assert not temp.exists()
    quarantined = str(temp.relative_to(root)).replace("/", "__")
    assert (root / ".photosync" / "quarantine" / quarantined).exists()
    assert _status(root) == []


def test_a_leftover_removed_in_the_second_git_saw_it_is_not_shown_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, folder = _killed_run(tmp_path)
    temp = _temp_of(folder)
    temp.write_text('{"photo_id": "half')
    os.utime(folder, ns=(CACHED_NS, CACHED_NS))
    moved = []
    real_move = shutil.move

    def move_within_the_second(src: str, dst: Path) -> Any:
        """The recovery's move, as fast as the git status before it: one second."""
        result = real_move(src, dst)
        os.utime(Path(src).parent, ns=(SAME_SECOND_NS, SAME_SECOND_NS))
        moved.append(src)
        return result

    monkeypatch.setattr(archive_module.shutil, "move", move_within_the_second)
    archive = Archive(root)
    archive.lock()
    archive.close()
    assert moved == [str(temp)]
    assert not temp.exists()
    assert _status(root) == []  # no phantom of the temp file


def test_a_users_own_dot_tmp_files_are_left_alone(tmp_path: Path) -> None:
    """A user's own untracked '.draft.tmp' in photos/ and one in config/ (not photosync's
    .NAME.PID.TID.tmp form): any locking run moves both to one quarantine name."""
    archive = Archive.init(tmp_path / "a")
    archive.close()
    root = archive.root
    (root / "photos").mkdir(exist_ok=True)
    (root / "photos" / ".draft.tmp").write_text("user note A")
    (root / "config" / ".draft.tmp").write_text("user note B")
    archive = Archive(root)
    archive.lock()
    archive.settle()
    archive.close()
    # the user's files, however named: left where they are, untouched
    assert (root / "photos" / ".draft.tmp").read_text() == "user note A"
    assert (root / "config" / ".draft.tmp").read_text() == "user note B"


def test_a_killed_runs_record_git_did_not_see_is_recovered_even_if_the_cache_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A killed run's pending, uncommitted record in a folder git cached in the same
    second; the cache drop fails (another git holds .git/index at that instant)."""
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    committed = _record("d", "2024-03-05T12:15:30+01:00")
    archive.write_record(committed)
    archive.commit("test: one record")
    archive.close()
    root = archive.root
    photos = root / "photos"
    os.utime(photos, ns=(CACHED_NS, CACHED_NS))
    assert _status(root) == []  # git caches photos/ without 2021/
    archive = Archive(root)
    archive.lock()
    left = _record("e", "2021-07-01T10:00:00")
    archive.write_record(left)  # the killed run's uncommitted record
    archive.close()
    os.utime(photos, ns=(SAME_SECOND_NS, SAME_SECOND_NS))
    # git's status now misses the record, mostly: what follows must hold either way

    real_forget = Git.forget_untracked_cache

    def locked(self: Git) -> None:
        """Another git (the user's `git add` in a second terminal) holds the index
        for the instant photosync drops the cache; released right after."""
        lock = self.git_dir / "index.lock"
        lock.write_bytes(b"")
        try:
            real_forget(self)
        finally:
            lock.unlink()

    monkeypatch.setattr(Git, "forget_untracked_cache", locked)
    archive = Archive(root)
    notes = archive.lock()
    archive.close()
    monkeypatch.undo()
    rel = record_relpath(left)
    # the killed run's record is found without git's (stale) cache: checked, kept, committed
    assert any("checked and kept" in note for note in notes), notes
    tracked = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--error-unmatch", rel], capture_output=True
    )
    assert tracked.returncode == 0
    os.utime(photos)  # the folder changes again: git looks, and finds nothing left over
    assert _status(root) == []
