"""Red-team rt4: finishing an init killed before its first commit (``Archive.init`` with
``_unfinished_init``) commits with ``git add -A -- photos config schemas ...`` and a plain
``git commit`` of the whole index.

1. An init killed inside ``atomic_write`` leaves its temp file
   (``config/.services.json.<pid>.<n>.tmp``). ``_unfinished_init`` accepts it as init's
   own (``is_own_temp``) but nothing removes it: ``init`` again commits the torn temp
   file into the archive's first commit. ``check`` then reports it (added by hand / an
   unknown file) forever -- promise 2.
2. A repository with no commit where the user staged a file (``git add notes.txt``) and
   then took it out of the folder: only ``.git`` is left, so ``init`` goes ahead and its
   first commit holds the user's staged ``notes.txt`` -- promise 3 (the user's
   uncommitted change is committed by photosync). (The old code had this too: it also
   accepted a folder holding only ``.git``.)
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import git_out, photosync_run

KILLED_INIT = """
import os, signal, sys
from pathlib import Path
import photosync.archive.archive as module

def commit(self, *args, **kwargs):
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.init(Path(sys.argv[1]))
"""


def test_temp_file_of_a_killed_init_is_not_committed(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    done = subprocess.run([sys.executable, "-c", KILLED_INIT, str(path)], check=False)
    assert done.returncode == -9
    # what atomic_write of config/services.json left when killed mid-write
    (path / "config" / ".services.json.4242.1.tmp").write_bytes(b'{"schema_ver')
    config = tmp_path / "cfg"

    again = photosync_run(tmp_path, "init", str(path), config=config)
    check = photosync_run(tmp_path, "--archive", str(path), "check", config=config)

    assert again.returncode == 0, again.stderr
    tracked = git_out(path, "ls-files").split()
    assert not [t for t in tracked if t.endswith(".tmp")], tracked
    assert check.returncode == 0, check.stdout[-800:]


def test_users_staged_file_is_not_committed_by_init(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    path.mkdir()
    git_out(path, "init", "-q")
    (path / "notes.txt").write_text("my private notes\n")
    git_out(path, "add", "notes.txt")
    (path / "notes.txt").unlink()  # staged, then taken out of the folder

    init = photosync_run(tmp_path, "init", str(path), config=tmp_path / "cfg")

    if init.returncode == 0:
        assert "notes.txt" not in git_out(path, "ls-tree", "-r", "--name-only", "HEAD").split()
