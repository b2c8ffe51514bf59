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
from photosync.workflow.config import add_location
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, make_library, new_archive, run_cli


def _settled(tmp_path: Path) -> Path:
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    add_location(archive, {"name": "nas", "type": "local", "path": str(tmp_path / "nas")})
    archive.commit("config: a storage location")
    discover(archive)
    auto_resolve(archive)
    replicate(archive, execute=True)
    replicate(archive, execute=True)
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
