"""Red-team rt3: a run killed after it moved a record (a new date: written at the new
path, removed at the old, both listed) and before its commit. The user then takes away
the new, untracked file the killed run left (``git clean -f``, or moves it out to look
at it): a removal of a listed file, which is the user's.

Recovery never looks at the listed new path: it is neither in ``git status`` (gone) nor
an existing untracked file (``_pending_unseen``). So nothing counts as "left to the
user", and the removal at the old path, "as the run left it", is committed: HEAD holds
the photo in no record. The guard written for joins (undo a removal whose other half is
the user's) does not see a removed new file. Promise 1 (never leave a photo in no
record) and promise 3 (the user's removal decided nothing, yet a removal is committed).

Fixed by ``_unheld_removals``: the old path's removal is undone, since no committed
record holds its copies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from tests.helpers import discovered, git_out, killed_after, make_library

MOVE = """
photo_id = sys.argv[2]
record = archive.load_record(photo_id)
record["metadata"]["taken_date"] = "2001-02-03T04:05:06+00:00"  # a new date: a new path
archive.write_record(record)
"""


@pytest.mark.parametrize("how", ["git-clean", "moved-out"])
def test_removing_the_new_file_of_a_killed_move_keeps_the_photo(tmp_path: Path, how: str) -> None:
    make_library(tmp_path / "lib", 2)
    root = discovered(tmp_path, tmp_path / "lib")
    rels = [r for r in git_out(root, "ls-files", "photos").splitlines() if r.endswith(".json")]
    old = rels[0]
    photo_id = Path(old).stem
    code = MOVE.replace("sys.argv[2]", repr(photo_id))
    killed_after(root, code)
    status = git_out(root, "status", "--porcelain", "--untracked-files=all").splitlines()
    assert f" D {old}" in status, status
    new = next(line[3:] for line in status if line.startswith("??"))
    assert new.startswith("photos/2001/")

    if how == "git-clean":
        git_out(root, "clean", "-fdq", "--", "photos")
    else:
        (root / new).rename(tmp_path / "looking-at-it.json")

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    in_head = {
        Path(r).stem
        for r in git_out(root, "ls-tree", "-r", "--name-only", "HEAD", "photos").splitlines()
    }
    assert photo_id in in_head, (
        f"photo {photo_id} is in no committed record: "
        + git_out(root, "log", "--format=%s", "-1", "--stat")
        + f"\nnotes: {notes}"
    )
