"""Red-team rt3: a pending list written by an older photosync (lines without a state).
The fallback is "a file in photosync's own form is the run's"; a listed path that is
*no file at all* is taken as the run's too (``hand_formatted`` of a missing file is
False), so the user's removal of a record the killed run had rewritten (not removed) is
committed by recovery: the record is gone from HEAD and nothing names the removal.
Promise 3 (the user's uncommitted changes are never committed by photosync).

Fixed by ``_unheld_removals``: a record removal no committed record makes up for is
undone from HEAD, whatever the list's format.
"""

from __future__ import annotations

from pathlib import Path

from photosync.archive.archive import PENDING_FILE, Archive, parse_pending
from tests.helpers import KILLED_RESOLVE, discovered, git_out, killed_after, make_library


def test_old_format_list_does_not_commit_a_users_removal(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 4)
    root = discovered(tmp_path, tmp_path / "lib")
    killed_after(root, KILLED_RESOLVE)
    listed = parse_pending((root / PENDING_FILE).read_text())
    # the same list as an older photosync wrote it: paths only
    (root / PENDING_FILE).write_text("".join(f"{rel}\n" for rel in sorted(listed)))
    rel = next(r for r in sorted(listed) if r.startswith("photos/") and (root / r).exists())
    assert git_out(root, "ls-files", rel).strip() == rel  # rewritten, not removed, by the run
    (root / rel).unlink()  # the user deletes it (uncommitted)

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    assert git_out(root, "ls-files", rel).strip() == rel, (
        "recovery committed the user's removal of a record: "
        + git_out(root, "log", "--format=%s", "-1")
        + f"\nnotes: {notes}"
    )
