"""``check``'s cache (.photosync/check.sqlite): what git says changed is read again, and
a check with the cache says exactly what a check without it says.

Each test changes a cached archive the way it happens in life (a committed hand edit,
a ``git reset``, an uncommitted edit, a damaged or deleted cache, a read-only one) and
compares the JSON report with the report of a check that has no cache to start from.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.archive.jsonio import canonical_bytes
from photosync.workflow import checkderive, checkfacts
from photosync.workflow.check import check_archive
from tests.helpers import make_library, run_cli
from tests.workflow.test_check import _archive, _git, _ok

CACHE = Path(".photosync") / "check.sqlite"


def _check(root: Path) -> dict[str, Any]:
    result = run_cli("--archive", str(root), "check", "--json")
    report: dict[str, Any] = json.loads(result.stdout)
    assert result.exit_code == (0 if report["ok"] else 6), result.output
    return report


def _uncached(root: Path, tmp_path: Path) -> dict[str, Any]:
    """The report of a check of a copy of the archive that has no cache."""
    copy = tmp_path / "uncached"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(root, copy, symlinks=True)
    checkfacts.remove_cache(Archive(copy))
    report = _check(copy)
    assert (copy / CACHE).exists()
    return json.loads(json.dumps(report).replace(str(copy), str(root)))


def _same_as_uncached(root: Path, tmp_path: Path) -> dict[str, Any]:
    cached = _check(root)
    assert cached == _uncached(root, tmp_path)
    return cached


def _kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def _records(root: Path) -> list[Path]:
    return sorted((root / "photos").rglob("*.json"))


def _cached_files(root: Path) -> int:
    with sqlite3.connect(root / CACHE) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM files").fetchone()[0])


def test_a_committed_hand_edit_that_breaks_a_record_is_found_through_the_cache(
    tmp_path: Path,
) -> None:
    root = _archive(tmp_path, 4)
    assert _check(root)["ok"]
    assert _cached_files(root) == 4
    broken = _records(root)[0]
    record = json.loads(broken.read_text())
    del record["media"]
    broken.write_bytes(canonical_bytes(record))
    _git(root, "commit", "-qam", "a hand edit")
    report = _same_as_uncached(root, tmp_path)
    assert _kinds(report) == {"invalid_record"}, report["problems"]
    (invalid,) = [p for p in report["problems"] if p["kind"] == "invalid_record"]
    assert invalid["detail"].startswith(str(broken.relative_to(root)))
    _git(root, "revert", "--no-edit", "HEAD")
    assert _same_as_uncached(root, tmp_path)["ok"]


def test_a_copied_record_committed_is_a_duplicate_through_the_cache(tmp_path: Path) -> None:
    root = _archive(tmp_path, 4)
    assert _check(root)["ok"]
    original = _records(root)[0]
    twin = original.parent / "copy" / original.name
    twin.parent.mkdir()
    shutil.copy(original, twin)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a copy by hand")
    report = _same_as_uncached(root, tmp_path)
    assert "duplicate_photo_id" in _kinds(report)


def test_a_git_reset_is_followed(tmp_path: Path) -> None:
    root = _archive(tmp_path, count=2)
    assert _check(root)["ok"]
    make_library(tmp_path / "lib", 5)  # more photos in the folder
    _ok("--archive", str(root), "discover")
    assert _same_as_uncached(root, tmp_path)["counts"]["records"] == 5
    _git(root, "reset", "-q", "--hard", "HEAD~1")
    report = _same_as_uncached(root, tmp_path)
    assert report["counts"]["records"] == 2
    assert _cached_files(root) == 2


def test_uncommitted_edits_are_read_from_the_working_tree(tmp_path: Path) -> None:
    root = _archive(tmp_path, 4)
    assert _check(root)["ok"]
    first, second, third = _records(root)[:3]
    first.write_text("{ not json")
    record = json.loads(second.read_text())
    record["photo_id"] = json.loads(third.read_text())["photo_id"]
    second.write_bytes(canonical_bytes(record))
    (root / "photos" / "stray.json").write_text("{}")
    report = _same_as_uncached(root, tmp_path)
    kinds = [p["kind"] for p in report["problems"]]
    assert kinds.count("invalid_record") == 2
    assert "duplicate_photo_id" in kinds and "uncommitted_edit" in kinds
    _git(root, "checkout", "-q", "HEAD", "--", "photos")
    (root / "photos" / "stray.json").unlink()
    assert _same_as_uncached(root, tmp_path)["ok"]


def test_an_assume_unchanged_file_is_read_from_the_working_tree(tmp_path: Path) -> None:
    root = _archive(tmp_path, 4)
    assert _check(root)["ok"]
    edited = _records(root)[0]
    rel = str(edited.relative_to(root))
    _git(root, "update-index", "--assume-unchanged", rel)
    edited.write_text("[]")
    report = _same_as_uncached(root, tmp_path)
    # git status does not see it; check reads it as it is on disk (as a walk would)
    (invalid,) = [p for p in report["problems"] if p["kind"] == "invalid_record"]
    assert invalid["detail"].startswith(rel)
    assert "uncommitted_edit" not in _kinds(report)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "deleted", "wrong rows"])
def test_a_damaged_or_deleted_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    root = _archive(tmp_path, 4)
    clean = _check(root)
    assert clean["ok"]
    cache = root / CACHE
    if damage == "garbage":
        cache.write_bytes(b"not a database at all" * 100)
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[:1500])
    elif damage == "deleted":
        cache.unlink()
    else:  # the tables are there but another version's: rebuilt from scratch
        with sqlite3.connect(cache) as conn:
            conn.execute("UPDATE meta SET value='0:old' WHERE key='version'")
            conn.execute("DELETE FROM facts")
    assert _check(root) == clean
    assert _cached_files(root) == 4
    assert _check(root) == clean


def test_a_cache_that_cannot_be_written_reads_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _archive(tmp_path, 4)
    broken = _records(root)[1]
    broken.write_text("{}")
    _git(root, "commit", "-qam", "a hand edit")
    expected = _uncached(root, tmp_path)
    checkfacts.remove_cache(Archive(root))
    connect = checkfacts._connect

    def read_only(path: Path, *, kept: bool) -> sqlite3.Connection:
        if kept:
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return connect(path, kept=kept)

    monkeypatch.setattr(checkfacts, "_connect", read_only)
    report = check_archive(Archive(root)).to_json()
    assert report == expected
    assert not (root / CACHE).exists()


def test_a_cache_locked_by_another_writer_midway_falls_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _archive(tmp_path, 4)
    expected = _uncached(root, tmp_path)
    refresh = checkfacts.CheckCache.refresh

    def failing(self: checkfacts.CheckCache, advance: Any) -> None:
        if self.kept:
            raise sqlite3.OperationalError("database is locked")
        refresh(self, advance)

    monkeypatch.setattr(checkfacts.CheckCache, "refresh", failing)
    assert check_archive(Archive(root)).to_json() == expected


def test_a_check_of_the_same_files_reuses_what_it_derived_and_no_other_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tables the checks across records read are kept under the key of this run's
    files; the same files (even with an uncommitted edit on top) reuse them, any other
    files (an edit changed again, a commit) derive them anew: each report is the same as
    a check without cache."""
    root = _archive(tmp_path, 4)
    first = _same_as_uncached(root, tmp_path)
    edited = _records(root)[0]
    edited.write_bytes(edited.read_bytes().replace(b'"processing_state"', b'"processing_state" '))
    with_edit = _same_as_uncached(root, tmp_path)
    assert "uncommitted_edit" in _kinds(with_edit)
    with monkeypatch.context() as patched:  # the same files: nothing may be derived again
        again = ("SELECT RAISE(ABORT, 'derived again')",)
        patched.setattr(checkderive, "_DERIVE_ALL", again)
        patched.setattr(checkderive, "_DERIVE_CHANGED", again)
        assert _check(root) == with_edit
    edited.write_bytes(edited.read_bytes().replace(b'"processing_state" ', b'"processing_state"'))
    assert _same_as_uncached(root, tmp_path) == first
    _make_a_duplicate = _records(root)[1]
    copy = root / "photos" / "2031" / "01"
    copy.mkdir(parents=True)
    shutil.copy(_make_a_duplicate, copy / _make_a_duplicate.name)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a copy of a record")
    assert "duplicate_photo_id" in _kinds(_same_as_uncached(root, tmp_path))
