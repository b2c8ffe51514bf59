"""Found by the red-team pass: ``.photosync/summary.sqlite`` is a cache ("rebuildable,
never the truth") that ``status``, ``replicate --execute`` (settled locations) and
``resolve --list`` read. A damaged one (a torn copy of .photosync/, a disk error) made
each of them die with a traceback (``sqlite3.DatabaseError``, exit 1); it is built
again from git instead, as ``check`` does with its own cache."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from photosync.cli import cli
from tests.helpers import archive_with_nas, assert_check_clean, run_cli


def _settled(tmp_path: Path) -> Path:
    archive = archive_with_nas(tmp_path, 3, replicated=True)
    archive.close()
    return archive.root


def _damage(root: Path) -> None:
    cache = root / ".photosync" / "summary.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{cache}{suffix}").unlink(missing_ok=True)
    cache.write_bytes(b"this is no sqlite database, the cache was damaged\n" * 20)


@pytest.mark.parametrize(
    "args",
    [("replicate", "--execute"), ("status",), ("resolve", "--list")],
    ids=["replicate-execute", "status", "resolve-list"],
)
def test_a_damaged_summary_cache_is_rebuilt_not_a_traceback(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    root = _settled(tmp_path)
    _damage(root)
    result = CliRunner().invoke(cli, ["--archive", str(root), *args])
    assert result.exit_code == 0, (result.exit_code, result.output, repr(result.exception))
    assert_check_clean(root)


def test_held_check_with_a_damaged_check_cache(tmp_path: Path) -> None:
    """held: check's own cache damaged the same way: rebuilt, clean report."""
    root = _settled(tmp_path)
    (root / ".photosync" / "check.sqlite").write_bytes(b"garbage\n" * 100)
    assert_check_clean(root)
    assert run_cli("--archive", str(root), "check").exit_code == 0
