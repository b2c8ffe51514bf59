"""Found by the red-team pass: odd entries in a local blob location.

- a self-referencing symlink named like a blob made ``check`` abort (``stat`` raised
  ELOOP, only FileNotFoundError was caught: exit 3 and no report of anything else); it
  is now a blob the location does not hold, reported with the rest.
- held: an untracked record file in a brand-new folder photos/2031/05/ is seen by a
  writing run as the user's (left alone, said so) and reported by check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import archive_with_nas, run_cli


def _settled(tmp_path: Path) -> Path:
    archive = archive_with_nas(tmp_path, 2, replicated=True)
    archive.close()
    return archive.root


def _check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "check", "--json"],
        capture_output=True,
        text=True,
    )


def test_a_symlink_loop_in_a_location_is_reported_not_fatal(tmp_path: Path) -> None:
    root = _settled(tmp_path)
    name = "ab" + "c" * 62
    folder = tmp_path / "nas" / "sha256" / "ab"
    folder.mkdir(parents=True, exist_ok=True)
    os.symlink(name, folder / name)  # points at itself
    # and a real problem check must still report
    lost = next(p for p in (tmp_path / "nas" / "sha256").rglob("*") if p.is_file())
    lost.chmod(0o644)
    lost.unlink()
    out = _check(root)
    assert out.returncode == 6, (out.returncode, out.stdout, out.stderr)
    kinds = json.loads(out.stdout)["problem_kinds"]
    assert kinds.get("blob_missing") == 1, kinds


def test_held_an_untracked_record_in_a_new_folder_is_the_users(tmp_path: Path) -> None:
    """held"""
    root = _settled(tmp_path)
    record = sorted((root / "photos").rglob("*.json"))[0]
    copy = root / "photos" / "2031" / "05" / record.name
    copy.parent.mkdir(parents=True)
    shutil.copy(record, copy)
    result = run_cli("--archive", str(root), "replicate", "--execute")
    assert result.exit_code == 0, result.output
    assert "left alone" in result.output and "photos/2031/05/" in result.output
    assert copy.exists()
    kinds = json.loads(_check(root).stdout)["problem_kinds"]
    assert kinds == {"uncommitted_edit": 1, "duplicate_photo_id": 1}
