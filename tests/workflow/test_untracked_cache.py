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
from photosync.model import new_record, record_relpath

#: a folder mtime git caches: whole second plus a bit, and the same second a bit later
CACHED_NS = 1_700_000_000_100_000_000
SAME_SECOND_NS = CACHED_NS + 300_000_000


def _record(seed: str, taken: str) -> dict[str, Any]:
    record = new_record(
        content_hash="sha256:" + (seed * 64)[:64],
        size=10,
        media={"kind": "photo"},
        canonical_source="test:1",
        source_of_truth_path=None,
    )
    record["metadata"]["taken_date"] = taken
    return record


def _status(root: Path) -> list[str]:
    return subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()


def _killed_run(tmp_path: Path) -> tuple[Path, Path]:
    """An archive a run was killed in: one record of its written and not committed (in
    another folder), and its temp file for a committed record's rewrite. Returns
    (archive root, the committed record's folder)."""
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    committed = _record("d", "2024-03-05T12:15:30+01:00")
    archive.write_record(committed)
    archive.commit("test: one record")
    archive.write_record(_record("e", "2021-07-01T10:00:00"))  # left uncommitted
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
    assert _status(root) == ["?? photos/2021/"]  # git caches the folder, no temp file in it
    temp = _temp_of(folder)
    temp.write_text('{"photo_id": "half')  # the killed run's temp file, same second
    os.utime(folder, ns=(SAME_SECOND_NS, SAME_SECOND_NS))
    if any(".tmp" in line for line in _status(root)):
        pytest.skip("this git tells sub-second folder changes apart: no race to test")

    archive = Archive(root)
    archive.lock()
    archive.close()
    assert not temp.exists()
    assert (root / ".photosync" / "quarantine" / temp.name).exists()
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
