"""Red-team rt4: ``photosync init`` killed while its commit's ``git add`` runs (kill -9
of the process group, a power cut) leaves ``.git/index.lock`` beside init's files.

Every other writing run moves a stale git lock aside (``Git.clear_stale_locks`` in
``Archive.lock``); ``init`` run again to finish the unfinished init does not: it stops
with "another git command is working in this archive (git's index.lock)", and every
other command says "the archive has no commit yet". The re-run does not end as if
never killed (promise 2): the user must find and delete a file inside .git by hand.

Expected: ``init`` again finishes (exit 0, a first commit), ``check`` clean.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import photosync_run

KILLED_INIT = """
import os, signal, sys
from pathlib import Path
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed as git add takes the index lock
    (self.root / ".git" / "index.lock").write_bytes(b"")
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.init(Path(sys.argv[1]))
"""


def test_init_killed_in_git_add_is_finished_by_init_again(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    done = subprocess.run([sys.executable, "-c", KILLED_INIT, str(path)], check=False)
    assert done.returncode == -9
    config = tmp_path / "cfg"

    again = photosync_run(tmp_path, "init", str(path), config=config)
    check = photosync_run(tmp_path, "--archive", str(path), "check", config=config)

    assert again.returncode == 0 and check.returncode == 0, (
        f"init again: {again.returncode} {again.stderr.strip()}\n"
        f"check: {check.returncode} {check.stdout.strip()[-400:]}"
    )
