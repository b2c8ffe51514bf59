"""Red-team rt3: ``left_by_run`` compares only the bytes read *through* the path (a
symlink is followed, the mode is not looked at), while the recovery commit
(``Git._import_stream``) records what the path *is*: a symlink, or an executable file.

After a killed resolve, the user (1) makes a listed record executable, or (2) moves it
out to a notes folder and leaves a symlink in its place. Same bytes, so "as the run left
it": recovery commits the user's change. In (2) HEAD's tree holds a symlink to a path
on this machine where the record was: every other clone has no record for the photo.
Promise 3 (the user's change committed) and promise 1 (a record lost in other clones).

Fixed: ``left_by_run`` takes only a plain, non-executable file as the run's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from tests.helpers import (
    KILLED_RESOLVE,
    discovered,
    git_out,
    killed_after,
    make_library,
    pending_listed,
)


@pytest.mark.parametrize("how", ["chmod", "symlink"])
def test_a_users_mode_or_symlink_change_is_not_committed(tmp_path: Path, how: str) -> None:
    make_library(tmp_path / "lib", 4)
    root = discovered(tmp_path, tmp_path / "lib")
    killed_after(root, KILLED_RESOLVE)
    rel = next(p for p in pending_listed(root, "photos/") if (root / p).exists())
    if how == "chmod":
        os.chmod(root / rel, 0o755)
    else:
        notes = tmp_path / "notes"
        notes.mkdir()
        (root / rel).rename(notes / "keep.json")
        (root / rel).symlink_to(notes / "keep.json")

    rerun = Archive(root)
    rerun.lock()
    rerun.close()

    mode = git_out(root, "ls-tree", "HEAD", "--", rel).split()[0]
    assert mode == "100644", f"recovery committed {rel} as mode {mode} (the user's change)"
