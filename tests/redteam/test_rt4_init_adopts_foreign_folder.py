"""Red-team rt4: ``_unfinished_init`` walks the folder skipping ``.git``, ``.photosync``
and ``blobs`` and never descending a symlinked folder (``os.walk`` lists it in dirnames
and does not follow it). A git repository with no commit whose only other entries are a
user's ``photos`` symlink (to a folder of their own), or a user's files under
``blobs/`` / ``.photosync/``, is taken for "an init killed before its commit".

Before HEAD~0 ``init`` refused ("exists and is not empty"). Now it goes ahead: with a
``photos`` symlink it writes ``.gitkeep`` into the user's own folder outside the archive,
commits the symlink, and the next ``discover`` writes records into the user's folder
and fails ("beyond a symbolic link"), leaving ``check`` failing for good. With files in
``blobs/`` or ``.photosync/`` the user's files are silently mixed into the archive.

Promises 1 (a user's file/folder written into) and 2 (an archive no run can settle).
Expected: init refuses (exit 3) and writes nothing, as for any other foreign file.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.helpers import git_out, make_library, photosync_run


def test_photos_symlink_to_a_users_folder_is_not_an_unfinished_init(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "diary.txt").write_text("dear diary")
    path = tmp_path / "archive"
    path.mkdir()
    git_out(path, "init", "-q")
    os.symlink(mine, path / "photos")

    again = photosync_run(tmp_path, "init", str(path), config=tmp_path / "cfg")

    assert sorted(os.listdir(mine)) == ["diary.txt"], sorted(os.listdir(mine))
    assert again.returncode == 3, (again.returncode, again.stdout, again.stderr)


def test_photos_symlink_archive_then_discover_and_check(tmp_path: Path) -> None:
    """What the user sees after init accepted the folder: discover fails, check fails."""
    make_library(tmp_path / "lib", 2)
    mine = tmp_path / "mine"
    mine.mkdir()
    path = tmp_path / "archive"
    path.mkdir()
    git_out(path, "init", "-q")
    os.symlink(mine, path / "photos")
    cfg = tmp_path / "cfg"
    init = photosync_run(tmp_path, "init", str(path), config=cfg)
    if init.returncode != 0:
        return  # refused: fine
    photosync_run(
        tmp_path,
        "--archive",
        str(path),
        "service",
        "add",
        "lib",
        "--type",
        "local",
        "--path",
        str(tmp_path / "lib"),
        config=cfg,
    )
    discover = photosync_run(tmp_path, "--archive", str(path), "discover", config=cfg)
    check = photosync_run(tmp_path, "--archive", str(path), "check", config=cfg)
    assert discover.returncode == 0 and check.returncode == 0, (
        f"discover {discover.returncode}: {discover.stderr[-400:]}\n"
        f"check {check.returncode}: {check.stdout[-600:]}\nuser's folder: {os.listdir(mine)}"
    )


@pytest.mark.parametrize("where", ["blobs/holiday.jpg", ".photosync/notes.txt"])
def test_users_files_under_skipped_folders_stop_init(tmp_path: Path, where: str) -> None:
    path = tmp_path / "archive"
    path.mkdir()
    git_out(path, "init", "-q")
    (path / where).parent.mkdir()
    (path / where).write_bytes(b"my own bytes")

    again = photosync_run(tmp_path, "init", str(path), config=tmp_path / "cfg")

    assert again.returncode == 3, (again.returncode, again.stdout, again.stderr)
    assert (path / where).read_bytes() == b"my own bytes"
    assert sorted(p.name for p in path.iterdir()) == sorted([".git", where.split("/")[0]])
