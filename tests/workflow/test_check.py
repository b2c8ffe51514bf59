"""``photosync check``: clean on what photosync produces, and it FINDS each kind of problem.

Every finding is provoked the way it happens in life (a blob deleted by hand, an S3
object overwritten, a record copied, a `git reset`, a hand edit), on a real archive
with real git, real files and an S3 location on a moto server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.jsonio import canonical_bytes
from tests.helpers import assert_check_clean, killed_after, make_library, records, run_cli

PREFIX = "photos"


def _ok(*args: str) -> None:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _archive(tmp_path: Path, count: int = 3) -> Path:
    root = tmp_path / "archive"
    _ok("init", str(root))
    make_library(tmp_path / "lib", count)
    _ok(
        "--archive",
        str(root),
        "service",
        "add",
        "phone",
        "--type",
        "local",
        "--path",
        str(tmp_path / "lib"),
    )
    _ok("--archive", str(root), "discover")
    return root


def _add_s3(root: Path, endpoint: str, bucket: str) -> None:
    _ok(
        "--archive", str(root), "storage", "add", "cloud", "--type", "s3", "--bucket", bucket,
        "--prefix", PREFIX, "--endpoint", endpoint, "--region", "us-east-1",
        "--addressing-style", "path",
    )  # fmt: skip


def _check(root: Path, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("--archive", str(root), "check", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _kinds(report: dict[str, Any]) -> set[str]:
    return {p["kind"] for p in report["problems"]}


def _only(root: Path, kind: str, *args: str) -> list[dict[str, Any]]:
    """check exits 6 and every problem it names is of this kind; returns them."""
    code, report = _check(root, *args)
    assert code == 6 and not report["ok"], report
    assert _kinds(report) == {kind}, report["problems"]
    for problem in report["problems"]:
        assert problem["detail"] and problem["fix"]
    return list(report["problems"])


def _snapshot(root: Path) -> dict[str, str]:
    """Every file under the archive (.git and .photosync included) -> hash of its bytes;
    but check's own rebuildable cache (.photosync/check.sqlite and what it derived from
    the files, check-tables.sqlite), the files it writes."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.name.startswith(("check.sqlite", "check-tables.sqlite")):
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _blob(root: Path, content_hash: str) -> Path:
    bare = content_hash.removeprefix("sha256:")
    return root / "blobs" / "sha256" / bare[:2] / bare


def _record_path(root: Path) -> Path:
    return sorted((root / "photos").rglob("*.json"))[0]


def test_clean_archive_is_clean_and_check_writes_nothing(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    _ok("--archive", str(root), "resolve", "--auto-resolve", "simple")
    _ok("--archive", str(root), "replicate", "--execute")
    before = _snapshot(root)
    report = assert_check_clean(root, "--read-data")
    assert report["counts"]["records"] == 3
    assert report["counts"]["originals"] == 3
    assert report["counts"]["blob_copies_read"] == 3
    assert report["counts"]["seen_entries"] == 3
    assert _snapshot(root) == before


def test_deleted_blob_is_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    lost = records(root)[0]["content_hash"]
    os.chmod(_blob(root, lost), stat.S_IRUSR | stat.S_IWUSR)
    _blob(root, lost).unlink()
    (problem,) = _only(root, "blob_missing")
    assert lost.removeprefix("sha256:") in problem["detail"]
    assert "discover --full-scan" in problem["fix"]  # no other copy anywhere
    _ok("--archive", str(root), "discover", "--full-scan")
    assert_check_clean(root)


def test_wrong_size_blob_in_s3_is_found(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root = _archive(tmp_path)
    _add_s3(root, s3_endpoint, s3_bucket)
    _ok("--archive", str(root), "replicate", "--execute")
    assert_check_clean(root)
    digest = records(root)[1]["content_hash"].removeprefix("sha256:")
    key = f"{PREFIX}/sha256/{digest[:2]}/{digest}"
    body = s3_admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=body[: len(body) // 2])
    (problem,) = _only(root, "blob_wrong_size")
    assert "cloud" in problem["detail"] and digest in problem["detail"]
    assert "verify --read-data --repair" in problem["fix"]
    _ok("--archive", str(root), "verify", "--read-data", "--repair")
    assert_check_clean(root, "--read-data")


def test_same_size_corruption_is_found_only_by_read_data(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root = _archive(tmp_path, count=2)
    _add_s3(root, s3_endpoint, s3_bucket)
    _ok("--archive", str(root), "replicate", "--execute")
    digest = records(root)[0]["content_hash"].removeprefix("sha256:")
    key = f"{PREFIX}/sha256/{digest[:2]}/{digest}"
    data = bytearray(s3_admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))
    assert _check(root)[0] == 0
    (problem,) = _only(root, "blob_corrupt", "--read-data")
    assert digest in problem["detail"]


def test_duplicate_photo_id_is_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    original = _record_path(root)
    twin = original.parent / "copy" / original.name  # same content, another file
    twin.parent.mkdir()
    shutil.copy(original, twin)
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "a copy by hand")
    code, report = _check(root)
    assert code == 6
    assert "duplicate_photo_id" in _kinds(report)
    assert _kinds(report) <= {"duplicate_photo_id", "misplaced_record", "index_disagrees"}


def test_invalid_and_misplaced_records_are_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    broken = _record_path(root)
    record = json.loads(broken.read_text())
    del record["media"]
    broken.write_bytes(canonical_bytes(record))
    moved = sorted((root / "photos").rglob("*.json"))[1]
    target = root / "photos" / "1999" / "01" / moved.name
    target.parent.mkdir(parents=True)
    _git(root, "mv", str(moved.relative_to(root)), str(target.relative_to(root)))
    _git(root, "commit", "-qam", "hand edits")
    code, report = _check(root)
    assert code == 6
    kinds = [p["kind"] for p in report["problems"]]
    assert sorted(kinds) == ["invalid_record", "misplaced_record"], report["problems"]
    assert any(str(moved.relative_to(root)) in p["fix"] for p in report["problems"])


def test_detached_head_is_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    _git(root, "checkout", "-q", "--detach")
    (problem,) = _only(root, "git_detached_head")
    assert "git switch" in problem["fix"]
    _git(root, "checkout", "-q", "main")
    assert_check_clean(root)


def test_merge_in_progress_and_stale_git_lock_are_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    head = _git(root, "rev-parse", "HEAD").strip()
    (root / ".git" / "MERGE_HEAD").write_text(head + "\n")
    (problem,) = _only(root, "git_operation_in_progress")
    assert "git merge --abort" in problem["fix"]
    (root / ".git" / "MERGE_HEAD").unlink()
    (root / ".git" / "index.lock").write_text("")
    _only(root, "git_stale_lock")
    _ok("--archive", str(root), "verify", "--repair")  # a writer moves the stale lock aside
    assert_check_clean(root)


def test_seen_cache_entry_without_record_is_found_when_the_cache_claims_head(
    tmp_path: Path,
) -> None:
    """A seen-cache entry whose record is gone while the cache says it was checked at
    this HEAD: discover would skip the file."""
    root = _archive(tmp_path, count=2)
    make_library(tmp_path / "lib", 2, start_seed=50)
    _ok("--archive", str(root), "discover")
    assert len(records(root)) == 4
    _git(root, "reset", "-q", "--hard", "HEAD~1")
    assert len(records(root)) == 2
    head = _git(root, "rev-parse", "HEAD").strip()
    with sqlite3.connect(root / ".photosync" / "state.sqlite") as conn:  # cache claims HEAD
        conn.execute("UPDATE meta SET value = ? WHERE key = 'index_head'", (head,))
    code, report = _check(root)
    assert code == 6 and _kinds(report) == {"seen_without_record", "index_disagrees"}
    problems = [p for p in report["problems"] if p["kind"] == "seen_without_record"]
    assert len(problems) == 2
    assert all("discover --service phone --full-scan" in p["fix"] for p in problems)
    index_fix = next(p["fix"] for p in report["problems"] if p["kind"] == "index_disagrees")
    assert "DELETE FROM meta WHERE key='index_head'" in index_fix
    with sqlite3.connect(root / ".photosync" / "state.sqlite") as conn:  # its fix, as told
        conn.execute("DELETE FROM meta WHERE key='index_head'")
    _ok("--archive", str(root), "discover", "--full-scan")
    assert len(records(root)) == 4
    assert_check_clean(root)


def test_revert_of_a_discover_leaves_check_clean_and_discover_reads_again(
    tmp_path: Path,
) -> None:
    """README: after `git revert` check is clean; the seen-cache is revalidated when HEAD
    moved, so its entries for the reverted photos are not "skipped by discover"."""
    root = _archive(tmp_path, count=2)
    _git(root, "revert", "--no-edit", "HEAD")
    assert records(root) == []
    report = assert_check_clean(root)
    assert any("discover will read 2 file(s) again" in note for note in report["notes"])
    _ok("--archive", str(root), "discover")
    assert len(records(root)) == 2
    assert_check_clean(root)


def test_uncommitted_hand_edit_and_leftover_are_told_apart(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    path = _record_path(root)
    record = json.loads(path.read_text())
    record["metadata"]["caption"] = "edited by hand"
    path.write_bytes(canonical_bytes(record))  # photosync's format, but updated_at untouched
    (problem,) = _only(root, "uncommitted_edit")
    assert "by hand" in problem["detail"] and "git diff" in problem["fix"]
    subprocess.run(["git", "-C", str(root), "checkout", "--", str(path.relative_to(root))])
    killed_after(  # photosync's own write, then a kill before its commit
        root,
        f"record = archive.load_record({record['photo_id']!r})\n"
        "record['metadata']['caption'] = 'written by photosync'\n"
        "archive.write_record(record)",
    )
    (problem,) = _only(root, "uncommitted_leftover")
    assert "interrupted photosync run" in problem["detail"]
    _ok("--archive", str(root), "verify", "--repair")  # a writer commits the leftover
    assert_check_clean(root)


def test_config_hand_edit_is_found(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    prefs = root / "config" / "user-preferences.json"
    prefs.write_text(prefs.read_text().replace('"commit_every": 2000', '"commit_every":  10'))
    (problem,) = _only(root, "uncommitted_edit")
    assert "config/user-preferences.json" in problem["detail"]


@pytest.mark.parametrize(
    ("rel", "breakage"),
    [
        ("config/services.json", "truncated"),
        ("config/sync-state.json", "truncated"),
        ("config/sync-state.json", "wrong shape"),
        ("config/user-preferences.json", "truncated"),
        ("config/user-preferences.json", "wrong shape"),
    ],
)
def test_a_broken_committed_config_file_is_found(tmp_path: Path, rel: str, breakage: str) -> None:
    """A config file the commands refuse (exit 3) made check say all was good."""
    root = _archive(tmp_path, count=1)
    path = root / rel
    good = path.read_bytes()
    if breakage == "truncated":
        path.write_bytes(good[:20])
    else:
        path.write_text('{"services": [], "sync_preferences": 7}')
    _git(root, "commit", "-qam", f"hand edit: {rel} broken")
    for command in ("discover", "status"):
        assert run_cli("--archive", str(root), command).exit_code == 3, command
    (problem,) = _only(root, "config_invalid")
    assert rel in problem["detail"] and f"git log -p -- {rel}" in problem["fix"]
    path.write_bytes(good)  # the fix it names: restore the last good version
    _git(root, "commit", "-qam", f"{rel} restored")
    _ok("--archive", str(root), "status")
    assert_check_clean(root)


def test_a_stale_lock_of_photosyncs_own_git_index_is_found_and_taken_over(tmp_path: Path) -> None:
    """A git killed while committing through photosync's own index left its lock: every
    later discover stopped with exit 3 (found by the discover crash tests)."""
    root = _archive(tmp_path, count=2)
    lock = root / ".git" / "photosync-index.lock"
    lock.write_bytes(b"")
    os.utime(lock, (1_000_000_000, 1_000_000_000))  # long unchanged: its git is gone
    (problem,) = _only(root, "git_stale_lock")
    assert "photosync-index.lock" in problem["detail"]
    make_library(tmp_path / "lib", 2, start_seed=70)
    _ok("--archive", str(root), "discover")
    assert len(records(root)) == 4 and not lock.exists()
    assert_check_clean(root)
