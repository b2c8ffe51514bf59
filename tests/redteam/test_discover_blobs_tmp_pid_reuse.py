"""Found by the red-team pass, discover's batched blobs: temp files a killed run leaves in
blobs/tmp/ (up to a whole batch of them).

Temp names were ``ingest-<pid>-<n>`` and a leftover was swept only when no live process
had its pid: a new run given the killed run's pid back (a container, a reboot) never swept
them and its own names collided ("File exists" for every item, run after run), and
leftovers whose pid another process now has stayed for ever. Names now carry when their
process started (``ingest-<pid>-<mark>-<n>``), and a leftover whose mark is not the one
of the process that has its pid now is swept.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

import photosync.blobstore.local as local
from tests.helpers import assert_check_clean, make_library, new_archive, run_cli, set_prefs

N = 6


def _killed_run_leftovers(tmp_path: Path) -> tuple[Path, list[Path]]:
    """An archive whose first discover was SIGKILLed just before its first publish:
    the batch's blobs are complete temp files in blobs/tmp/ (what a kill -9 leaves)."""
    make_library(tmp_path / "lib", N)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, commit_every=100, hash_workers=2)
    archive.close()
    script = (
        "import os, signal, sys\n"
        "from photosync.durable import FilesystemSync\n"
        "def die(self):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "FilesystemSync.sync = die\n"
        "from photosync.cli import cli\n"
        "cli.main(args=['--archive', sys.argv[1], '-q', 'discover'], prog_name='photosync')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(archive.root)], check=False)
    assert done.returncode == -9
    leftovers = sorted((archive.root / "blobs" / "tmp").glob("ingest-*"))
    assert len(leftovers) >= N, leftovers
    return archive.root, leftovers


def test_a_run_that_gets_the_killed_runs_pid_back_archives_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, leftovers = _killed_run_leftovers(tmp_path)
    # the next run has the killed run's pid (as a container's entrypoint does every time):
    # its leftovers carry this process's pid, and its temp names start again at 0
    for leftover in leftovers:
        rest = "-".join(leftover.name.split("-")[2:])  # the killed run's mark, its number
        leftover.rename(leftover.with_name(f"ingest-{os.getpid()}-{rest}"))
    monkeypatch.setattr(local, "_TMP_NAMES", itertools.count())
    result = run_cli("--archive", str(root), "discover")
    # what happens: exit 4, every photo "failed (retried next run) IMG_0000x.jpg: File exists",
    # and the next run of the same pid fails the same way
    assert result.exit_code == 0, result.output
    assert "File exists" not in result.output
    assert len(list((root / "photos").rglob("*.json"))) == N
    assert_check_clean(root)


def test_leftovers_of_a_pid_now_taken_by_another_process_are_swept(tmp_path: Path) -> None:
    root, leftovers = _killed_run_leftovers(tmp_path)
    # after the power cut the killed run's pid belongs to some long-lived process
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        for leftover in leftovers:
            rest = "-".join(leftover.name.split("-")[2:])
            leftover.rename(leftover.with_name(f"ingest-{other.pid}-{rest}"))
        result = run_cli("--archive", str(root), "discover")
        assert result.exit_code == 0, result.output
        assert_check_clean(root)
        # what happens: every leftover (a whole batch of originals' bytes) is still there
        # after the run and after check, and nothing said so
        left = sorted(p.name for p in (root / "blobs" / "tmp").glob("ingest-*"))
        assert left == [], left
    finally:
        other.kill()
        other.wait()
