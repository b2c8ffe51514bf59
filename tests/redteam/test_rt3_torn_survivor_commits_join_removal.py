"""Red-team rt3: a killed resolve joined photo B into survivor A (wrote A, removed B's
record, both listed in ``.photosync/pending-paths``). Before the re-run, A is not valid
JSON: the user's editor saved it half-way (a stray comma), or the write was torn.

``left_by_run`` calls any listed non-JSON file "torn", the run's: recovery quarantines A
and restores HEAD's A (which does not hold B's copies). The removal of B is "as the run
left it" and is committed. ``left_to_user`` is 0 (A was not counted as the user's), so
the guard that undoes the other half of a join never runs: HEAD holds B's copies in no
record. Promise 1 (never leave a photo in no record: half of a join committed).

Fixed by ``_unheld_removals``: B's removal is undone, since A as committed (HEAD's,
restored) does not hold B's copies.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from tests.helpers import (
    KILLED_RESOLVE,
    git_out,
    ids_in_head,
    join_pair,
    killed_after,
    pending_listed,
)


@pytest.mark.parametrize("how", ["editor-half-saved", "torn"])
def test_a_non_json_survivor_does_not_commit_the_other_half_of_a_join(
    tmp_path: Path, how: str
) -> None:
    root = join_pair(tmp_path)
    before = ids_in_head(root)
    assert len(before) == 2

    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    kept = [p for p in pending if (root / p).exists()]
    gone = [p for p in pending if not (root / p).exists()]
    assert kept and gone, ("the killed resolve joined the two photos", pending)
    survivor = kept[0]
    data = (root / survivor).read_bytes()
    if how == "torn":
        (root / survivor).write_bytes(data[: len(data) // 2])
    else:
        text = data.decode()
        (root / survivor).write_text(text.replace('"metadata": {', '"metadata": {,', 1))

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    assert ids_in_head(root) >= before, (
        "a copy is in no committed record after recovery: "
        + git_out(root, "log", "--format=%s", "-2")
        + f"\nnotes: {notes}"
    )
