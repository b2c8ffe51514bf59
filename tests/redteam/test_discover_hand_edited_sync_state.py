"""Found by the red-team pass (not new with the deferred run-start status: the lock
taken the old way does the same): a hand edit of ``config/sync-state.json`` (not
committed) was reported "left alone", and then discover read the edited file, wrote it
back with its own cursor and committed it: the user's uncommitted edit of a config file
went into photosync's commit. A config file the user changed is theirs like a record:
discover leaves it alone (its cursor is not saved) and says so with exit 4.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.chaos.harness import git, run
from tests.helpers import make_library, new_archive, records

pytestmark = pytest.mark.timeout(300)


def test_discover_does_not_commit_a_hand_edit_of_sync_state(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    make_library(library, 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    root = archive.root
    archive.close()
    run(root, "discover")
    path = root / "config" / "sync-state.json"
    state = json.loads(path.read_text())
    state["services"]["lib"]["last_full_listing_count"] = 12345  # the user's edit
    edited = json.dumps(state, indent=2) + "\n"
    path.write_text(edited)
    make_library(library, 2, start_seed=40)

    result = run(root, "discover", expect=4)
    assert "sync-state.json" in result.stderr
    assert len(records(root)) == 5  # the new photos are archived
    assert "12345" not in git(root, "log", "-p", "--", "config").stdout
    assert path.read_text() == edited
    assert git(root, "status", "--porcelain").stdout.split() == ["M", "config/sync-state.json"]
