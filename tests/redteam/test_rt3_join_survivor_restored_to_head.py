"""Red-team rt3: a killed resolve joined photo B into survivor A (A rewritten to hold
B's copies, B's record removed; both listed). Before the re-run the user puts A back as
HEAD has it (``git checkout -- A`` / ``git restore A``: a change of a listed file, the
user's).

A is then clean, so recovery never looks at it and counts nothing as "left to the
user"; B's removal is "as the run left it" and is committed. HEAD holds B's copies in
no record (A at HEAD never had them). Promise 1 (half of a join committed) and
promise 3 (the user's change, undoing the rewrite, is overridden by committing the
other half).

Fixed: a removal is committed only beside a committed record holding every copy the
removed one held (``_unheld_removals``); otherwise it is undone from HEAD.
"""

from __future__ import annotations

from pathlib import Path

from photosync.archive.archive import Archive
from tests.helpers import (
    KILLED_RESOLVE,
    git_out,
    ids_in_head,
    join_pair,
    killed_after,
    pending_listed,
)


def test_restoring_the_survivor_does_not_commit_the_other_half(tmp_path: Path) -> None:
    root = join_pair(tmp_path)
    before = ids_in_head(root)

    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    survivor = next(p for p in pending if (root / p).exists())
    git_out(root, "checkout", "--", survivor)  # the user puts it back as committed

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    assert ids_in_head(root) >= before, (
        "a copy is in no committed record: "
        + git_out(root, "log", "--format=%s", "-1", "--stat")
        + f"\nnotes: {notes}"
    )
