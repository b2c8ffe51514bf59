"""Red-team rt4: ``_finish_merges`` finishes a join killed between writing the survivor
and removing the merged record only when ``index_head`` (photosync's last commit) is
known. It is None whenever the user has *any* uncommitted edit (``ensure_index`` and
``_after_commit`` never record a HEAD while ``user_changed``), or when
``.photosync/state.sqlite`` was deleted/rebuilt.

So: a user has an unrelated uncommitted caption edit in record C; ``resolve`` joins B
into A and is killed before removing B. The re-run's recovery commits the survivor A
(now holding B's copies) *and keeps B* — HEAD has two records for one photo, and
``check`` reports ``duplicate_hash`` (fix: "move the instances of one into the other by
hand, then git rm it"), a problem beyond the user's own edit. Nothing in recovery or
any writing run but a later ``resolve`` ever joins them again (``discover``, ``status``,
``verify --repair`` leave it). Promise 2: the re-run does not end as if never killed,
``check`` is not clean apart from the user's own uncommitted edit.

B was never changed by any commit (no fact of the user's in it): the join was safe to
finish. Same with ``state.sqlite`` removed (second test).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from photosync.archive.jsonio import canonical_bytes
from photosync.workflow.discover import discover
from tests.helpers import git_out, killed_after, new_archive, photosync_run, write_jpeg

KILLED_BEFORE_REMOVE = """
from photosync.workflow.resolve import auto_resolve
import photosync.archive.archive as module

def remove_record(self, photo_id):  # the survivor is written; killed before B goes
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.remove_record = remove_record
auto_resolve(archive)
"""


@pytest.mark.parametrize("why", ["unrelated-uncommitted-edit", "state-db-removed"])
def test_join_cut_short_is_finished_by_the_rerun(tmp_path: Path, why: str) -> None:
    lib = tmp_path / "lib"
    taken = datetime(2022, 5, 5, 12, 0, 0)
    write_jpeg(lib / "small.jpg", seed=3, size=(96, 64), taken=taken)
    write_jpeg(lib / "large.jpg", seed=3, size=(192, 128), taken=taken)
    write_jpeg(lib / "other.jpg", seed=9, size=(96, 64), taken=datetime(2021, 1, 1))
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    discover(archive)
    archive.close()
    root = archive.root
    cfg = tmp_path / "cfg"

    unrelated = next(
        p for p in git_out(root, "ls-files", "photos/2021").split() if p.endswith(".json")
    )
    if why == "unrelated-uncommitted-edit":
        record = json.loads((root / unrelated).read_text())
        record["metadata"]["caption"] = "my own, not yet committed"
        (root / unrelated).write_bytes(canonical_bytes(record))
    killed_after(root, KILLED_BEFORE_REMOVE)
    if why == "state-db-removed":
        (root / ".photosync" / "state.sqlite").unlink()

    rerun = photosync_run(root, "--archive", str(root), "discover", config=cfg)
    check = photosync_run(root, "--archive", str(root), "check", config=cfg)

    assert rerun.returncode == 0, rerun.stderr
    assert "duplicate_hash" not in check.stdout, check.stdout[-1500:]
