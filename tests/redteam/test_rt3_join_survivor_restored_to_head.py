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

import json
from datetime import datetime
from pathlib import Path

from photosync.archive.archive import Archive
from photosync.workflow.discover import discover
from tests.helpers import git_out, killed_after, new_archive, pending_listed, write_jpeg

KILLED_RESOLVE = """
from photosync.workflow.resolve import auto_resolve
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed with every record written, before the commit
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.commit_in_background = commit
auto_resolve(archive)
"""


def _ids_in_head(root: Path) -> set[str]:
    held = set()
    for rel in git_out(root, "ls-files", "photos").splitlines():
        if rel.endswith(".json"):
            record = json.loads(git_out(root, "show", f"HEAD:{rel}"))
            for copies in record["instances"].values():
                held.update(copy["id"] for copy in copies)
    return held


def test_restoring_the_survivor_does_not_commit_the_other_half(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    taken = datetime(2022, 5, 5, 12, 0, 0)
    write_jpeg(lib / "small.jpg", seed=3, size=(96, 64), taken=taken)
    write_jpeg(lib / "large.jpg", seed=3, size=(192, 128), taken=taken)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    discover(archive)
    archive.close()
    root = archive.root
    before = _ids_in_head(root)

    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    survivor = next(p for p in pending if (root / p).exists())
    git_out(root, "checkout", "--", survivor)  # the user puts it back as committed

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    assert _ids_in_head(root) >= before, (
        "a copy is in no committed record: "
        + git_out(root, "log", "--format=%s", "-1", "--stat")
        + f"\nnotes: {notes}"
    )
