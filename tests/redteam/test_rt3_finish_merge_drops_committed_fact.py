"""Red-team rt3: a killed resolve joined photo B into survivor A (A rewritten, B's
record removed; both listed). Before the re-run the user puts B back and gives it a
caption, and commits that (by hand, or it arrives by ``git pull`` from another clone,
which needs B back first: git refuses to pull over an uncommitted removal).

Recovery commits A (the run's own state) and then "finishes the merge"
(``_finish_merges``): B is removed because every *instance* of B is in A. The caption
the user committed in B is in no record at HEAD; the commit that drops it says only
"merge(s) cut short ... were completed". Promise 1 (never lose a fact) and promise 2
(the re-run does not end as if never killed: a never-killed run followed by the user's
edit would have kept the caption, or refused).

Fixed: ``_finish_merges`` removes a merged record only when no commit since photosync's
last one (``index_head``) changed it; otherwise both stay (a duplicate, never a loss).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.archive.jsonio import canonical_bytes
from tests.helpers import (
    KILLED_RESOLVE,
    git_out,
    join_pair,
    killed_after,
    pending_listed,
)


def _captions_in_head(root: Path) -> set[str]:
    found = set()
    for rel in git_out(root, "ls-files", "photos").splitlines():
        if rel.endswith(".json"):
            record = json.loads(git_out(root, "show", f"HEAD:{rel}"))
            found.add(str(record["metadata"].get("caption")))
            for variant in record.get("variants") or []:
                found.add(str((variant.get("metadata") or {}).get("caption")))
    return found


@pytest.mark.parametrize("how", ["committed-by-hand", "pulled"])
def test_a_fact_committed_in_the_removed_half_survives_recovery(tmp_path: Path, how: str) -> None:
    root = join_pair(tmp_path)
    other = tmp_path / "other"
    git_out(tmp_path, "clone", "-q", str(root), str(other))

    killed_after(root, KILLED_RESOLVE)
    pending = pending_listed(root, "photos/")
    gone = next(p for p in pending if not (root / p).exists())

    if how == "committed-by-hand":
        git_out(root, "checkout", "--", gone)
        record = json.loads((root / gone).read_text())
        record["metadata"]["caption"] = "Grandma's 90th"
        (root / gone).write_bytes(canonical_bytes(record))
        git_out(root, "commit", "-qm", "caption", "--", gone)
    else:
        record = json.loads((other / gone).read_text())
        record["metadata"]["caption"] = "Grandma's 90th"
        (other / gone).write_bytes(canonical_bytes(record))
        git_out(other, "commit", "-qam", "caption from the laptop")
        git_out(root, "checkout", "--", gone)  # git pull refuses over the removal
        git_out(root, "pull", "-q", "--no-rebase", str(other), "HEAD")
    assert "Grandma's 90th" in _captions_in_head(root)

    rerun = Archive(root)
    notes = rerun.lock()
    rerun.close()

    assert "Grandma's 90th" in _captions_in_head(root), (
        "the committed caption is in no record at HEAD: "
        + git_out(root, "log", "--format=%s", "-1", "--stat")
        + f"\nnotes: {notes}"
    )
