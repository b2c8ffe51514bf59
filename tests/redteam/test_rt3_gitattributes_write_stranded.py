"""Red-team rt3: a run killed after it added photosync's merge lines to
``.gitattributes`` (an archive made before they existed) and before its commit leaves
``.gitattributes`` modified and uncommitted forever.

The path is listed in ``.photosync/pending-paths`` with the state it was given, but
recovery only looks at what ``git status`` names under photos/ config/ schemas/ (and
untracked files the run listed): a tracked ``.gitattributes`` is never among them, so
the run's own change is not committed. ``_ensure_merge_driver`` then finds the lines
present and does nothing. The run's change stays uncommitted on every later run:
promise 2 (a killed run, re-run, ends as if never killed).

Fixed: ``_pending_unseen`` also asks git about listed tracked paths outside photos/
config/ schemas/, so the run's own ``.gitattributes`` is committed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from photosync.archive.archive import Archive
from tests.helpers import git_clean, git_out, new_archive

KILLED_LOCK = """
import os, signal, sys
from pathlib import Path
import photosync.archive.archive as module

original = module.Archive.commit

def commit(self, message, *args, **kwargs):
    if "gitattributes" in message:
        os.kill(os.getpid(), signal.SIGKILL)  # killed before the commit
    return original(self, message, *args, **kwargs)

module.Archive.commit = commit
archive = module.Archive(Path(sys.argv[1]))
archive.lock()
"""


def test_a_killed_gitattributes_update_is_committed_by_the_next_run(tmp_path: Path) -> None:
    archive = new_archive(tmp_path)
    root = archive.root
    # an archive from before photosync named its merge driver in .gitattributes
    (root / ".gitattributes").write_text("*.jpg binary\n")
    git_out(root, "commit", "-qam", "older photosync")
    done = subprocess.run([sys.executable, "-c", KILLED_LOCK, str(root)], check=False)
    assert done.returncode == -9
    assert "merge=photosync" in (root / ".gitattributes").read_text()
    assert ".gitattributes" in (root / ".photosync" / "pending-paths").read_text()

    for _ in range(2):  # the next runs
        rerun = Archive(root)
        rerun.lock()
        rerun.close()

    assert "merge=photosync" in git_out(root, "show", "HEAD:.gitattributes")
    assert git_clean(root), git_out(root, "status", "--porcelain")
