"""The README's first session, as a new user runs it, on the shared real photos.

The same flow the project's pre-stop hook runs: every step must exit 0 (done) or
4 (done, some items need attention), never 1 (a bug) or 3 (blamed on the user).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import assert_check_clean


def _step(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive), *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "PHOTOSYNC_NO_PROMPT": "1"},
        timeout=300,
        check=False,
    )


def test_first_session_on_the_shared_photos(testdata: Path, tmp_path: Path) -> None:
    phone, nas, archive = tmp_path / "phone", tmp_path / "nas", tmp_path / "arch"
    shutil.copytree(testdata / "photos", phone)
    nas.mkdir()
    init = subprocess.run(
        [sys.executable, "-m", "photosync", "init", str(archive)],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert init.returncode == 0, init.stderr
    steps = [
        ("service", "add", "phone", "--type", "local", "--path", str(phone)),
        ("service", "add", "nas", "--type", "local", "--path", str(nas), "--target", "--no-source"),
        ("discover",),
        ("resolve", "--auto-resolve", "simple", "--dry-run"),  # the preview merges, too
        ("resolve", "--auto-resolve", "simple"),
        ("replicate", "--execute"),
        ("status",),
        ("verify", "--read-data"),
    ]
    for args in steps:
        done = _step(archive, *args)
        assert done.returncode in (0, 4), (
            f"photosync {' '.join(args)} -> exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
    assert any(nas.rglob("*.jpg")), "nothing reached the folder target"
    assert_check_clean(archive)
