"""Found by the red-team pass: resolve keeps ``.photosync/pending-paths`` open for its
appends (``Archive._intend``). When the file is removed while the run goes on (a user
clearing ``.photosync/``, a cleanup script), every path listed after that went to the
unlinked file: a run then killed left records no listing named, and the next run took
photosync's own writes for the user's uncommitted edits -- left alone (never committed,
never resolved), unlike a run that was never killed. The listing is made again, whole,
when its file is gone.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.helpers import (
    assert_check_clean,
    comparable,
    discovered,
    git_clean,
    killed_after,
    make_library,
    resolved,
)

KILLED = """
import photosync.archive.archive as module
from photosync.workflow.resolve import auto_resolve
real_write = module.Archive.write_record
writes = {"n": 0, "removed": False}

def write_record(self, *args, **kwargs):
    written = real_write(self, *args, **kwargs)
    writes["n"] += 1
    listing = self.root / module.PENDING_FILE
    # removed while the run goes on, once it lists something (writes are listed a
    # batch at a time, as the batch is handed to a writer thread)
    if writes["n"] >= 2 and not writes["removed"] and listing.exists():
        listing.unlink()
        writes["removed"] = True
        (self.root.parent / "listing-removed").touch()  # for the test: it happened
    return written

def commit(self, *args, **kwargs):  # killed with every record written, before the commit
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.write_record = write_record
module.Archive.commit = commit
auto_resolve(archive)
"""


def _discovered(tmp: Path) -> Path:
    make_library(tmp / "lib", 40)  # more than one batch of record writes (16)
    return discovered(tmp, tmp / "lib")


def test_pending_paths_removed_then_killed_resumes_as_unkilled(tmp_path: Path) -> None:
    root = _discovered(tmp_path)
    clean = tmp_path / "clean"
    shutil.copytree(root, clean / "archive", symlinks=True)
    resolved(clean / "archive")

    killed_after(root, KILLED)
    assert (root.parent / "listing-removed").exists()
    resolved(root)

    assert git_clean(root), "photosync's own writes were left as if the user's"
    assert comparable(root) == comparable(clean / "archive")
    assert_check_clean(root)
