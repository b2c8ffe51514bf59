"""Red-team: recovery after a killed run committed the user's uncommitted changes to
files the killed run had listed in ``.photosync/pending-paths``, when the change was
not "a record in a form photosync never writes":

- a config file the killed run wrote (``config/sync-state.json``) that the user then
  edited by hand;
- a record the killed run wrote that the user then deleted (``git rm``-less ``rm``);
- a record the killed run wrote that the user then edited with a tool writing sorted
  keys, 2-space indent and a trailing newline (photosync's own form).

The last two were known limits until each pending line carried the state the run
gave the file (``left_by_run``): a file in another state is the user's.

README: "A record or config file you changed by hand and have not committed is left
alone and named on every run until you commit or discard it."
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.archive.jsonio import canonical_bytes
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import git_out, killed_after, make_library, new_archive, pending_listed

KILLED_RESOLVE = """
from photosync.workflow.resolve import auto_resolve
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed with every record written, before the commit
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
auto_resolve(archive)
"""

KILLED_DISCOVER = """
from photosync.workflow.discover import discover
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed with the checkpoint written, before its commit
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.commit_in_background = commit
discover(archive)
"""


def _archive(tmp_path: Path, *, discovered: bool) -> Path:
    make_library(tmp_path / "lib", 4)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    if discovered:
        archive.lock()
        discover(archive)
        archive.close()
    return archive.root


def _rerun(root: Path, *, resolve: bool) -> None:
    archive = Archive(root)
    archive.lock()
    try:
        if resolve:
            auto_resolve(archive)
        else:
            discover(archive)
    finally:
        archive.close()


def test_hand_edit_of_pending_config_is_not_committed(tmp_path: Path) -> None:
    root = _archive(tmp_path, discovered=False)
    killed_after(root, KILLED_DISCOVER)
    pending = pending_listed(root, "config/")
    assert "config/sync-state.json" in pending, pending
    rel = "config/sync-state.json"
    state = json.loads((root / rel).read_text())
    # the user sets the last full listing back a year (to force a full listing next time)
    state["services"]["lib"]["last_discover"] = "2001-01-01T00:00:00Z"
    (root / rel).write_text(json.dumps(state, indent=4) + "\n")

    _rerun(root, resolve=False)

    committed = git_out(root, "show", f"HEAD:{rel}")
    assert "2001-01-01" not in committed, (
        "recovery committed the user's hand edit of a config file: "
        + git_out(root, "log", "--format=%s", "-4", "--", rel)
    )


def test_removal_of_pending_record_is_not_committed(tmp_path: Path) -> None:
    root = _archive(tmp_path, discovered=True)
    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    assert pending, "the killed resolve wrote records"
    rel = pending[0]
    assert git_out(root, "ls-files", rel).strip() == rel  # a tracked record
    (root / rel).unlink()  # the user deletes it (uncommitted)

    _rerun(root, resolve=True)

    assert git_out(root, "ls-files", rel).strip() == rel, (
        "recovery committed the user's uncommitted removal of a record: "
        + git_out(root, "log", "--format=%s", "-3", "--", rel)
    )


def test_canonical_hand_edit_of_pending_record_is_not_committed(tmp_path: Path) -> None:
    root = _archive(tmp_path, discovered=True)
    killed_after(root, KILLED_RESOLVE)
    rel = pending_listed(root, "photos/")[0]
    record = json.loads((root / rel).read_text())
    record["metadata"]["caption"] = "MY HAND EDIT"
    (root / rel).write_bytes(canonical_bytes(record))  # e.g. `jq -S --indent 2`

    _rerun(root, resolve=True)

    committed = git_out(root, "show", f"HEAD:{rel}")
    if "MY HAND EDIT" in committed:
        pytest.fail(
            "recovery committed a canonically formatted hand edit of a pending record: "
            + git_out(root, "log", "--format=%s", "-3", "--", rel)
        )
