"""Red-team: ``photosync visibility set PHOTO public`` asks before widening; with no
answer to read (stdin closed: a script, cron, ``</dev/null``) it prints "Aborted!" and
exits 1 -- "internal error (a bug: please report it)" in the README's exit codes --
where answering "n" exits 0 ("nothing changed") and ``resolve --interactive`` on the
same closed stdin stops cleanly (exit 0). Expected: not exit 1 (0 as for "n", or 3).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_library

SRC = Path(__file__).resolve().parents[2] / "src"


def _photosync(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "PHOTOSYNC_CONFIG_DIR": str(cwd.parent / "cfg"),
        "PHOTOSYNC_KEYRING": "file",
    }
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        cwd=cwd,
        env=env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        check=False,
    )


def test_visibility_set_with_no_answer_is_not_a_bug_exit(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 1)
    root = tmp_path / "arch"
    assert _photosync(tmp_path, "init", str(root)).returncode == 0
    assert (
        _photosync(
            root, "service", "add", "lib", "--type", "local", "--path", str(tmp_path / "lib")
        ).returncode
        == 0
    )
    assert _photosync(root, "discover").returncode == 0
    photo = next((root / "photos").rglob("*.json")).stem

    declined = _photosync(root, "visibility", "set", photo[:8], "public", stdin="n\n")
    assert declined.returncode == 0, declined.stdout + declined.stderr

    no_answer = _photosync(root, "visibility", "set", photo[:8], "public", stdin="")
    assert "Traceback" not in no_answer.stderr
    assert no_answer.returncode == 3, (no_answer.returncode, no_answer.stdout + no_answer.stderr)
    assert "no answer" in no_answer.stderr
    record = next((root / "photos").rglob("*.json")).read_text()
    assert '"canonical": "private"' in record or '"canonical":"private"' in record
