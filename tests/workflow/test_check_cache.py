"""``check``'s cache (.photosync/check.sqlite): what git says changed is read again, and
a check with the cache says exactly what a check without it says.

Each test changes a cached archive the way it happens in life (a committed hand edit,
a ``git reset``, an uncommitted edit, a damaged or deleted cache, a read-only one) and
compares the JSON report with the report of a check that has no cache to start from.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from photosync.archive.archive import Archive
from photosync.archive.jsonio import canonical_bytes
from photosync.model import Record, photo_id_for, record_relpath
from photosync.workflow import check, checkderive, checkfacts
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


# the tables derived in place ---------------------------------------------------------------------
#: what one step of a random sequence does to the archive's working tree
_EDITS = (
    "caption",  # the same record, other bytes
    "remove",
    "copy",  # the same record at a second path: its photo_id and hashes twice
    "move",  # a record at a path its content does not say
    "break",  # not JSON
    "unschema",  # JSON, not a record, the hashes it seems to hold still count
    "share_hash",  # another record holds this one's hash
    "same_id",  # this record takes another's photo_id
    "sidecar",  # a sidecar blob, shared with other records
    "location",  # blob_locations names a location (or none)
    "new_photo",
    "stray",  # an untracked file that is no record
    "symlink",  # a record file replaced by a link to another
    "older",  # every record as it was one commit ago
    "reset",  # git reset --hard HEAD~1
    "discard",  # every uncommitted change dropped
)
_SIDECARS = tuple("sha256:" + hashlib.sha256(b"xmp %d" % i).hexdigest() for i in range(3))
_STEP = st.tuples(st.sampled_from(_EDITS), st.integers(0, 50), st.integers(0, 50), st.booleans())


def _reports(root: Path) -> tuple[dict[str, Any], dict[str, Any], str]:
    """(report with the kept cache, report with a throw-away one, how the kept cache's
    tables came to this run's files: kept, updated in place or derived anew)."""
    how: list[str] = []

    def spy(cache: checkfacts.CheckCache) -> str:
        how.append(checkderive.derive(cache))
        return how[-1]

    with pytest.MonkeyPatch.context() as patched:
        patched.setattr(check, "derive", spy)
        kept = check_archive(Archive(root)).to_json()
        throw_away = functools.partial(checkfacts.open_cache, keep=False)
        patched.setattr(check, "open_cache", lambda archive, keep=False: throw_away(archive))
        fresh = check_archive(Archive(root)).to_json()
    assert how[1:] == ["derived"]
    return kept, fresh, how[0]


def _record(path: Path) -> dict[str, Any] | None:
    """The record in this file when it is one enough to edit."""
    try:
        value = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get("metadata"), dict):
        return None
    instances = value.get("instances")
    if not isinstance(instances, dict) or not all(instances.values()):
        return None
    return value


def _instance(record: dict[str, Any]) -> dict[str, Any]:
    instance: dict[str, Any] = next(iter(record["instances"].values()))[0]
    return instance


def _edit(root: Path, base: str, edit: str, a: int, b: int) -> None:
    """One edit of the working tree, the way a hand, git or a killed run makes it."""
    if edit in ("older", "reset", "discard"):
        if edit == "older" and _git(root, "rev-list", "--count", f"{base}..HEAD").strip() != "0":
            _git(root, "checkout", "-q", "HEAD~1", "--", "photos")
        elif edit == "reset" and _git(root, "rev-list", "--count", f"{base}..HEAD").strip() != "0":
            _git(root, "reset", "-q", "--hard", "HEAD~1")
        elif edit == "discard":
            _git(root, "checkout", "-q", "HEAD", "--", "photos")
            _git(root, "clean", "-q", "-f", "-d", "--", "photos")
        return
    if edit == "stray":
        (root / "photos" / f"stray-{b % 3}.json").write_text("{}" if a % 2 else "[]")
        return
    files = _records(root)
    if not files:
        return
    path, other_path = files[a % len(files)], files[b % len(files)]
    record, other = _record(path), _record(other_path)
    if edit == "remove":
        path.unlink()
        return
    if edit == "copy":
        target = root / "photos" / "copies" / str(b % 3) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            shutil.copyfile(path, target)
        return
    if edit == "move":
        target = root / "photos" / "moved" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            path.rename(target)
        return
    if edit == "break":
        path.unlink()
        path.write_text("{ not json")
        return
    if edit == "symlink":
        if path != other_path:
            path.unlink()
            path.symlink_to(os.path.relpath(other_path, path.parent))
        return
    if record is None:
        return
    if edit == "caption":
        record["metadata"]["caption"] = f"caption {a} {b}"
    elif edit == "unschema":
        record.pop("media", None)
    elif edit == "share_hash" and other is not None:
        _instance(other)["content_hash"] = record["content_hash"]
        record, path = other, other_path
    elif edit == "same_id" and other is not None:
        record["photo_id"] = other["photo_id"]
    elif edit == "sidecar":
        sidecar = {"name": "photo.xmp", "content_hash": _SIDECARS[b % 3], "size": 10 + a % 2}
        _instance(record)["sidecars"] = [sidecar]
    elif edit == "location":
        store = ("local", "nas", "gone")[b % 3]  # gone: a location no longer configured
        when = "2024-01-01T00:00:00Z"
        record["blob_locations"] = (
            [{"store": store, "locator": "x", "verified_at": when}] if a % 3 else []
        )
    elif edit == "new_photo":
        content_hash = "sha256:" + hashlib.sha256(b"new %d %d" % (a, b)).hexdigest()
        record["content_hash"] = _instance(record)["content_hash"] = content_hash
        record["photo_id"] = photo_id_for(content_hash)
        if "media" in record:
            path = root / record_relpath(cast(Record, record))
            path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # a link is replaced by a file, not written through
    path.write_bytes(canonical_bytes(record))


@pytest.fixture(scope="module")
def edited_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five photos discovered, a second location (empty: a record naming it lacks its
    blob there), checked once (the cache kept); each example edits a copy."""
    tmp = tmp_path_factory.mktemp("edits")
    root = _archive(tmp, 5)
    _ok(
        "--archive",
        str(root),
        "storage",
        "add",
        "nas",
        "--type",
        "local",
        "--path",
        str(tmp / "nas"),
    )
    assert check_archive(Archive(root)).ok
    return root


@given(steps=st.lists(_STEP, min_size=1, max_size=6))
@example(steps=[("location", 1, 1, True), ("location", 2, 1, False), ("location", 6, 1, True)])
@example(steps=[("location", 1, 2, False), ("same_id", 0, 1, True), ("discard", 0, 0, False)])
@example(steps=[("sidecar", 1, 0, True), ("sidecar", 2, 0, False), ("remove", 1, 0, True)])
@example(steps=[("copy", 1, 0, True), ("share_hash", 2, 1, False), ("move", 1, 0, True)])
@example(steps=[("unschema", 2, 0, True), ("symlink", 3, 2, True), ("reset", 0, 0, False)])
@settings(max_examples=30)
def test_tables_updated_in_place_say_what_tables_derived_anew_say(
    edited_archive: Path, steps: list[tuple[str, int, int, bool]]
) -> None:
    """Random edits (committed or not, reset, links, copies, broken records, shared
    hashes and sidecars): after each one the check with the tables kept and updated in
    place reports exactly what a check without any cache does."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "archive"
        shutil.copytree(edited_archive, root, symlinks=True)
        base = _git(root, "rev-parse", "HEAD").strip()
        for step, (edit, a, b, commit) in enumerate(steps):
            _edit(root, base, edit, a, b)
            if commit:
                _git(root, "add", "-A", "--", "photos")
                if _git(root, "diff", "--cached", "--name-only"):
                    _git(root, "commit", "-qm", f"step {step}: {edit}")
            kept, fresh, how = _reports(root)
            assert kept == fresh, steps[: step + 1]
            assert how in ("updated", "kept"), steps[: step + 1]


def test_many_changed_files_or_an_unknown_old_tree_derive_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _archive(tmp_path, 4)
    assert _reports(root)[2] == "derived"
    for path in _records(root)[:2]:
        _edit(root, "", "caption", 1, 2)
        _edit(root, "", "copy", _records(root).index(path), 1)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "three files")
    with monkeypatch.context() as patched:
        patched.setattr(checkderive, "MAX_CHANGES", 2)
        kept, fresh, how = _reports(root)
    assert (kept, how) == (fresh, "derived")
    _edit(root, "", "same_id", 0, 1)
    with sqlite3.connect(root / ".photosync" / checkfacts.DERIVED_NAME) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'tree'", ("0" * 40,))
    kept, fresh, how = _reports(root)
    assert (kept, how) == (fresh, "derived")
    assert "duplicate_photo_id" in _kinds(kept)
    assert _reports(root)[2] == "kept"


_DIE = """
import os, signal, sys
from pathlib import Path
from photosync.archive.archive import Archive
from photosync.workflow import check, checkderive, checkfacts

root, where, at = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
connect = checkfacts._connect

def dying(path, *, kept):
    conn = connect(path, kept=kept)
    conn.create_function("die", 0, lambda: os.kill(os.getpid(), signal.SIGKILL))
    conn.execute("PRAGMA derived.cache_size = 1")  # pages reach the file before the commit
    return conn

checkfacts._connect = dying
if where == "_DERIVE_ALL":
    checkderive.MAX_CHANGES = 0
statements = list(getattr(checkderive, where))
statements.insert(at, "SELECT die()")
setattr(checkderive, where, tuple(statements))
check.check_archive(Archive(root))
"""


@pytest.mark.parametrize(
    ("where", "at"),
    [
        ("_DERIVE_CHANGED", 7),
        ("_DERIVE_CHANGED", 15),
        ("_DERIVE_CHANGED", len(checkderive._DERIVE_CHANGED)),
        ("_DERIVE_ALL", 4),
        ("_DERIVE_ALL", len(checkderive._DERIVE_ALL)),
    ],
)
def test_a_check_killed_while_it_updates_the_tables_leaves_them_right(
    tmp_path: Path, where: str, at: int
) -> None:
    """kill -9 in the middle of an update in place (or of a derivation of everything):
    the journal takes the tables back to the key they were derived for, and the next
    check says what a check without cache says."""
    root = _archive(tmp_path, 5)
    assert _reports(root)[2] == "derived"
    files = _records(root)
    shutil.copyfile(files[0], files[1].with_name("copy.json"))
    files[3].unlink()  # its hashes go: a partition that is no more
    _edit(root, "", "sidecar", 2, 0)
    _edit(root, "", "share_hash", 4, 1)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "edits by hand")
    died = subprocess.run([sys.executable, "-c", _DIE, str(root), where, str(at)], check=False)
    assert died.returncode == -signal.SIGKILL
    journal = root / ".photosync" / f"{checkfacts.DERIVED_NAME}-journal"
    assert journal.exists()  # what it wrote is undone when the tables are next opened
    kept, fresh, how = _reports(root)
    assert not journal.exists()
    assert kept == fresh
    assert {"duplicate_photo_id", "duplicate_hash"} <= _kinds(kept)
    assert how == ("updated" if where == "_DERIVE_CHANGED" else "derived")


def test_the_facts_of_blobs_no_file_holds_any_more_go(tmp_path: Path) -> None:
    """A committed edit or removal drops the old blob's facts, a working-tree edit
    edited again or dropped drops what was read of it; the facts of HEAD's files stay."""

    def kept_blobs() -> tuple[set[str], set[str]]:
        with sqlite3.connect(root / CACHE) as conn:
            facts = {str(oid) for (oid,) in conn.execute("SELECT oid FROM facts")}
            files = {str(oid) for (oid,) in conn.execute("SELECT oid FROM files")}
        return facts, files

    root = _archive(tmp_path, 4)
    assert _check(root)["ok"]
    _edit(root, "", "caption", 0, 1)
    _records(root)[1].unlink()
    _git(root, "commit", "-qam", "an edit and a removal")
    _same_as_uncached(root, tmp_path)
    facts, files = kept_blobs()
    assert facts == files and len(files) == 3
    for caption in (2, 3):  # read from the working tree, twice
        _edit(root, "", "caption", 2, caption)
        _same_as_uncached(root, tmp_path)
    assert len(kept_blobs()[0] - files) == 1
    _git(root, "checkout", "-q", "HEAD", "--", "photos")
    assert _same_as_uncached(root, tmp_path)["ok"]
    assert kept_blobs() == (files, files)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "an earlier version's"])
def test_damaged_or_earlier_tables_are_derived_anew(tmp_path: Path, damage: str) -> None:
    root = _archive(tmp_path, 4)
    _edit(root, "", "copy", 0, 0)
    clean = _check(root)
    tables = root / ".photosync" / checkfacts.DERIVED_NAME
    if damage == "garbage":
        tables.write_bytes(b"not a database at all" * 100)
    elif damage == "truncated":
        tables.write_bytes(tables.read_bytes()[:3000])
    else:  # an earlier layout: everything derived again, and the unjournalled file goes
        with sqlite3.connect(tables) as conn:
            conn.execute("UPDATE meta SET value = '0' WHERE key = 'layout'")
        shutil.copyfile(tables, root / ".photosync" / "check-derived.sqlite")
    kept, fresh, how = _reports(root)
    assert kept == fresh == clean
    assert how == "derived"
    assert not (root / ".photosync" / "check-derived.sqlite").exists()
    assert _reports(root)[2] == "kept"
