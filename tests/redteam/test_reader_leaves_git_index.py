"""Found by the red-team pass (round 6): ``resolve --list`` (a reader) rewrote .git/index.

A reader asks git once whether photos/ and config/ are as committed
(``Archive.committed_as_is``), with a plain ``git status``, which refreshes the index's
stat cache and so writes ``.git/index`` (taking ``index.lock`` while it does: a ``git
commit`` of the user's at that moment fails). ``check`` already passes
``--no-optional-locks`` for this reason; a reader's ``dirty_paths`` does too now.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from tests.helpers import archive_with_nas, run_cli


def test_resolve_list_leaves_the_git_index_as_it_was(tmp_path: Path) -> None:
    archive = archive_with_nas(tmp_path, 3, replicated=True)
    archive.close()
    root = archive.root
    later = time.time() + 5
    for path in (root / "photos").rglob("*.json"):
        os.utime(path, (later, later))  # same bytes, new times: git's stat cache is stale
    index = root / ".git" / "index"
    before = index.read_bytes()
    for args in (("resolve", "--list"), ("resolve", "--list", "--json"), ("status",)):
        shown = run_cli("--archive", str(root), *args)
        assert shown.exit_code == 0, shown.output
        assert index.read_bytes() == before, args
