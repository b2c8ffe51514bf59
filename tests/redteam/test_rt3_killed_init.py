"""Red-team rt3: ``photosync init`` killed after it wrote the archive's files and before
its first commit (``Archive.init`` writes README, config, schemas... without listing
them in ``.photosync/pending-paths``).

Re-running ``photosync init PATH`` refuses ("already a photosync archive"); every
writing command refuses ("the archive has no commit yet", with a hint about orphan
branches); ``check`` calls photosync's own files "added by hand". Nothing finishes the
init: promise 2 (a run killed at any moment, re-run, ends as if never killed).

Fixed: ``init`` finishes an init killed before its commit (``_unfinished_init``: a
repository with no commit holding only init's own files, whole or cut short).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import git_out, photosync_run

KILLED_INIT = """
import os, signal, sys
from pathlib import Path
import photosync.archive.archive as module

def commit(self, *args, **kwargs):  # killed with every file written, before the commit
    os.kill(os.getpid(), signal.SIGKILL)

module.Archive.commit = commit
module.Archive.init(Path(sys.argv[1]))
"""


def test_init_killed_before_its_commit_can_be_run_again(tmp_path: Path) -> None:
    path = tmp_path / "archive"
    done = subprocess.run([sys.executable, "-c", KILLED_INIT, str(path)], check=False)
    assert done.returncode == -9
    config = tmp_path / "cfg"

    again = photosync_run(tmp_path, "init", str(path), config=config)
    discover = photosync_run(tmp_path, "--archive", str(path), "discover", config=config)
    check = photosync_run(tmp_path, "--archive", str(path), "check", config=config)

    head = subprocess.run(
        ["git", "-C", str(path), "rev-parse", "--verify", "-q", "HEAD"], capture_output=True
    )
    assert head.returncode == 0 and check.returncode == 0, (
        f"init again: {again.returncode} {again.stderr.strip()}\n"
        f"discover: {discover.returncode} {discover.stderr.strip()}\n"
        f"check: {check.returncode} {check.stdout.strip()[:600]}\n"
        + git_out(path, "status", "--short")
    )


@pytest.mark.parametrize("extra", ["a user's file", "an edited config"])
def test_a_commitless_folder_with_anything_else_is_not_taken_for_an_unfinished_init(
    tmp_path: Path, extra: str
) -> None:
    """Only init's own files, whole or cut short, are written again: anything else in a
    repository with no commit stops init, and nothing in it is touched."""
    path = tmp_path / "archive"
    done = subprocess.run([sys.executable, "-c", KILLED_INIT, str(path)], check=False)
    assert done.returncode == -9
    if extra == "a user's file":
        mine, text = path / "notes.txt", "my notes\n"
    else:
        mine, text = path / "config" / "services.json", '{"mine": true}\n'
    mine.write_text(text)

    again = photosync_run(tmp_path, "init", str(path), config=tmp_path / "cfg")

    assert again.returncode == 3, again.stderr
    assert mine.read_text() == text
    head = subprocess.run(["git", "-C", str(path), "rev-parse", "-q", "--verify", "HEAD"])
    assert head.returncode != 0  # nothing committed
