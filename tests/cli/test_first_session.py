"""Issue 11's small ones: what a first session shows when there is nothing to do, and how it ends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import assert_check_clean, new_archive


def _photosync(*args: str, columns: int = 100) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": str(columns)},
        timeout=300,
    )


def test_nothing_to_do_is_said_in_words_not_shown_as_an_empty_table(tmp_path: Path) -> None:
    archive = new_archive(tmp_path)
    root = str(archive.root)
    archive.close()
    said = {
        "discover": "nothing to discover: no source service is configured",
        "resolve --list": "no open conflicts",
        "replicate --dry-run": "nothing to replicate",
        "audit --visibility-check": "no visibility discrepancies",
        "status": "no services yet",
        "service list": "no services yet",
        "status --estimated-dates": "no estimated dates",
    }
    for command, words in said.items():
        out = _photosync("--archive", root, *command.split())
        assert out.returncode == 0, out.stderr
        assert words in out.stdout, (command, out.stdout)
        if command != "status":  # status keeps its counts table
            assert "┏" not in out.stdout and "┌" not in out.stdout, (command, out.stdout)
    assert_check_clean(archive.root)


def test_status_shows_a_long_archive_path_whole_on_a_narrow_terminal(tmp_path: Path) -> None:
    deep = tmp_path / "a-rather-long-folder-name-for-photos" / "and-another-one-below-it"
    archive = new_archive(deep)
    archive.close()
    out = _photosync("--archive", str(archive.root), "status", columns=40)
    assert out.returncode == 0, out.stderr
    assert str(archive.root) in out.stdout.splitlines()
    assert_check_clean(archive.root)


def test_the_demo_ends_on_a_line_that_says_it_went_well(tmp_path: Path) -> None:
    out = _photosync("demo", "--no-services", "--keep", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr
    last = [line for line in out.stdout.splitlines() if line.strip()][-1]
    assert last == "demo finished: every step ran as expected"
    assert_check_clean(tmp_path / "demo" / "archive")
