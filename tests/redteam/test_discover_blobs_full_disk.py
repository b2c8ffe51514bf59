"""Found by the red-team pass, discover on a really full disk (a small tmpfs, so root
only): every failed item's log line also failed to be written to the run's log on the
same disk, and Python's logging printed a traceback for each. The run log now drops a
line it cannot write; photosync's own message says the disk is full (exit 3). Nothing is
lost: a re-run with space ends clean.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import assert_check_clean, new_archive, set_prefs

PHOTOS = Path("/work/shared/testdata/photos")

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not PHOTOS.is_dir(), reason="mounts a tmpfs; real photos"
)


@pytest.fixture
def small_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_is_a_message_not_tracebacks(tmp_path: Path, small_disk: Path) -> None:
    for folder in ("camera", "gps", "derived", "orientation"):  # ~7 MB: more than the disk
        shutil.copytree(PHOTOS / folder, tmp_path / "lib" / folder)
    archive = new_archive(small_disk, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, commit_every=1000, hash_workers=2)
    archive.close()
    root = archive.root
    run = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", "discover"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert run.returncode in (3, 4), run.stderr
    said = run.stderr + run.stdout
    assert "No space left on device" in said or "disk is full" in said, said
    # what happens: "--- Logging error ---" and "Traceback (most recent call last):"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    # held: with room again, a re-run archives everything and check is clean
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    again = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", "discover"],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    assert again.returncode == 0, again.stderr
    assert_check_clean(root)
