"""Red-team: a record a killed run of photosync was writing (listed in
``.photosync/pending-paths``) and that the user then edits by hand before the next run
is committed by recovery as photosync's own leftover ("recover: changes left by an
interrupted run"): the hand edit is neither left alone nor named, as the README promises
for "a record ... you changed by hand and have not committed". The edited file is not
even in photosync's canonical form (``check`` calls exactly that "changed by hand (not
the way photosync writes)"), so recovery could tell it is not what the killed run wrote.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import (
    discovered,
    git_out,
    killed_after,
    make_library,
    pending_listed,
    resolved,
    run_cli,
)

KILLED = """
from photosync.workflow.resolve import auto_resolve
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed with every record written, before the commit
    self._drain_writes()
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
auto_resolve(archive)
"""


def test_hand_edit_after_a_killed_run_is_not_committed_by_recovery(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 4)
    root = discovered(tmp_path, tmp_path / "lib")

    killed_after(root, KILLED)
    pending = pending_listed(root, "photos/")
    assert pending, "the killed resolve wrote records"
    rel = pending[0]

    # the user edits that record by hand (their own editor's formatting) before any run
    record = json.loads((root / rel).read_text())
    record["metadata"]["caption"] = "MY HAND EDIT"
    (root / rel).write_text(json.dumps(record, indent=4) + "\n")
    edited = (root / rel).read_bytes()
    # check (a reader: it recovers nothing) names it an edit by hand, as recovery will
    checked = run_cli("--archive", str(root), "check")
    assert f"{rel}: changed by hand" in checked.output, checked.output

    resolved(root)

    assert (root / rel).read_bytes() == edited, "the hand edit was overwritten"
    committed = git_out(root, "show", f"HEAD:{rel}")
    assert "MY HAND EDIT" not in committed, (
        "recovery committed the user's uncommitted hand edit as photosync's: "
        + git_out(root, "log", "--format=%s", "-3", "--", rel)
    )
    assert rel in git_out(root, "status", "--porcelain"), "the hand edit is left uncommitted"
