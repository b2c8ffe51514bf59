"""A damaged credentials file is a user's problem to fix, said plainly: exit 3 with the
file named and its content never shown, not a JSONDecodeError traceback (exit 1), and
nothing in the archive changed (red team)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import assert_check_clean, git_log, make_library, new_archive


def test_a_damaged_credentials_file_is_a_clear_user_error(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    before = git_log(archive.root)
    credentials = Path(os.environ["PHOTOSYNC_CONFIG_DIR"]) / "credentials.json"
    credentials.parent.mkdir(parents=True, exist_ok=True)
    credentials.write_text('{"secret-token-abc": {bad json')
    ran = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive.root), "discover"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 3, ran.stderr
    assert "Traceback" not in ran.stderr
    assert str(credentials) in ran.stderr
    assert "secret-token-abc" not in ran.stderr + ran.stdout
    assert git_log(archive.root) == before
    credentials.unlink()
    assert_check_clean(archive.root)
