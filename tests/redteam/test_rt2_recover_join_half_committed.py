"""Red-team: recovery commits half of a join a killed resolve left.

A killed ``resolve`` had joined photo B into survivor A: it wrote A (now holding B's
copies) and removed B's record, both listed in ``.photosync/pending-paths``. Before the
re-run the user opens A in an editor and saves it (any change, editor formatting).
Recovery leaves A alone as the user's edit (right) but commits the removal of B as its
own: HEAD now has neither B's record nor B's copies in A. The README's answer to a hand
edit is "commit or discard them"; the user discards (``git checkout -- A``), and B's
copies are in no record at all. A ``discover`` reads the file again only while the
source still holds it: once the source is gone (a card wiped after archiving, a Takeout
deleted), B's photo is in no record though its original is in ``blobs/``.
"""

from __future__ import annotations

import json
from pathlib import Path

from photosync.archive.archive import Archive
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import (
    KILLED_RESOLVE,
    git_out,
    join_pair,
    killed_after,
    pending_listed,
)


def _ids(root: Path) -> set[str]:
    held = set()
    for path in (root / "photos").rglob("*.json"):
        record = json.loads(path.read_text())
        for copies in record["instances"].values():
            held.update(copy["id"] for copy in copies)
    return held


def test_discarding_an_edit_of_a_half_recovered_join_loses_no_copy(tmp_path: Path) -> None:
    root = join_pair(tmp_path)
    lib = tmp_path / "lib"
    before = _ids(root)
    assert len(list((root / "photos").rglob("*.json"))) == 2

    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    kept = [p for p in pending if (root / p).exists()]
    gone = [p for p in pending if not (root / p).exists()]
    assert kept and gone, ("the killed resolve joined the two photos", pending)

    survivor = kept[0]
    record = json.loads((root / survivor).read_text())
    record["metadata"]["caption"] = "looked at it"
    (root / survivor).write_text(json.dumps(record, indent=4) + "\n")  # the user's editor

    rerun = Archive(root)
    rerun.lock()
    try:
        auto_resolve(rerun)
    finally:
        rerun.close()

    git_out(root, "checkout", "--", survivor)  # the user discards their edit
    for path in lib.iterdir():  # the card is wiped once archived: the archive holds it now
        path.unlink()
    again = Archive(root)  # and runs discover, which reads again what went away
    again.lock()
    try:
        discover(again)
    finally:
        again.close()
    assert _ids(root) >= before, (
        "a copy is in no record after the user discarded their edit: "
        + git_out(root, "log", "--format=%s", "-3")
    )
