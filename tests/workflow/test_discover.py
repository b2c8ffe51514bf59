"""Discover on local folders: hashing, dedupe, blob store, seen-cache, cursors, bad input."""

from __future__ import annotations

import os
import stat
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import photosync.workflow.discover as discover_module
from photosync.blobstore.base import hash_file
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import ConfigError
from photosync.workflow.discover import discover
from tests.helpers import (
    assert_check_clean,
    git_clean,
    git_log,
    make_library,
    new_archive,
    records,
    set_prefs,
)


def test_discover_records_each_photo_and_stores_originals(tmp_path: Path) -> None:
    library = make_library(tmp_path / "lib", 12)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    report = discover(archive)
    assert report.new == 12 and report.failed == 0
    assert git_log(archive.root)[0] == "discover: 12 new, 0 updated from lib"
    assert git_clean(archive.root)
    store = LocalBlobStore(archive.root / "blobs")
    for record in records(archive.root):
        digest = record["content_hash"].removeprefix("sha256:")
        blob = store.path_for(digest)
        assert blob.name == digest and hash_file(blob)[0] == digest
        assert not blob.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
        assert record["visibility"]["canonical"] == "private"
        assert record["metadata"]["taken_date_source"] == "exif:DateTimeOriginal"
        assert record["source_of_truth_path"] == f"local:sha256/{digest[:2]}/{digest}"
    assert sorted(r["metadata"]["filename"] for r in records(archive.root)) == sorted(
        p.name for p in library
    )
    assert not list((archive.root / "blobs" / "tmp").iterdir())
    archive.close()


def test_byte_identical_files_are_one_record_with_several_instances(tmp_path: Path) -> None:
    make_library(tmp_path / "a", 3)
    (tmp_path / "b").mkdir()
    for path in (tmp_path / "a").rglob("*.jpg"):
        (tmp_path / "b" / f"copy-{path.name}").write_bytes(path.read_bytes())
    archive = new_archive(
        tmp_path,
        a={"type": "local", "path": str(tmp_path / "a")},
        b={"type": "local", "path": str(tmp_path / "b")},
    )
    archive.lock()
    report = discover(archive)
    # the second folder's copies are duplicates of photos just recorded, not updates
    assert report.new == 3 and report.duplicate == 3 and report.updated == 0
    assert all(s.adds_up() for s in report.services)
    for record in records(archive.root):
        assert sorted(record["instances"]) == ["a", "b"]
    assert len(list(LocalBlobStore(archive.root / "blobs").iter_digests())) == 3
    archive.close()
    assert_check_clean(archive.root)


def test_unchanged_folder_is_rediscovered_without_reading_a_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_library(tmp_path / "lib", 8)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    head = git_log(archive.root)

    def must_not_read(*args: object, **kwargs: object) -> None:
        raise AssertionError("an unchanged file was read")

    monkeypatch.setattr(discover_module, "extract_media_info", must_not_read)
    monkeypatch.setattr(discover_module, "hash_file", must_not_read)
    monkeypatch.setattr(LocalBlobStore, "writer", must_not_read)
    report = discover(archive)
    assert report.services[0].unchanged == 8 and report.new == 0
    assert git_log(archive.root) == head  # nothing changed, no commit
    archive.close()


def test_full_scan_rereads_but_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_library(tmp_path / "lib", 5)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    hashed: list[Path] = []
    real = discover_module.hash_file
    monkeypatch.setattr(discover_module, "hash_file", lambda p: hashed.append(p) or real(p))
    report = discover(archive, full_scan=True)
    assert len(hashed) == 5 and report.new == 0 and report.updated == 0
    # every re-read item is counted: the columns add up to what was listed
    (only,) = report.services
    assert only.listed == only.unchanged == 5 and only.adds_up()
    archive.close()
    assert_check_clean(archive.root)


def test_changed_file_becomes_a_new_version_and_the_old_one_is_kept(tmp_path: Path) -> None:
    paths = make_library(tmp_path / "lib", 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    old_hash = "sha256:" + hash_file(paths[0])[0]
    paths[0].write_bytes(paths[1].read_bytes()[:-2] + b"\xff\xd9")  # edited in place
    report = discover(archive)
    assert report.services[0].unchanged == 1
    by_hash = {r["content_hash"]: r for r in records(archive.root)}
    assert old_hash in by_hash  # the old version's record (and blob) stay
    old_instance = by_hash[old_hash]["instances"]["lib"][0]
    assert old_instance["status"] == "superseded"
    assert LocalBlobStore(archive.root / "blobs").has(old_hash)
    archive.close()


def test_corrupt_truncated_and_empty_files_are_recorded_with_a_problem(tmp_path: Path) -> None:
    paths = make_library(tmp_path / "lib", 2)
    data = paths[0].read_bytes()
    (tmp_path / "lib" / "cut.jpg").write_bytes(data[: len(data) // 3])
    (tmp_path / "lib" / "empty.jpg").write_bytes(b"")
    (tmp_path / "lib" / "noise.heic").write_bytes(os.urandom(3000))
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    report = discover(archive)
    assert report.failed == 0 and report.new == 5
    by_name = {r["metadata"]["filename"]: r for r in records(archive.root)}
    for name in ("cut.jpg", "empty.jpg", "noise.heic"):
        assert by_name[name]["problems"], name
        assert LocalBlobStore(archive.root / "blobs").has(by_name[name]["content_hash"])
    assert not by_name[paths[1].name]["problems"]
    archive.close()


def test_since_only_looks_at_recent_files_and_cursor_is_committed_with_the_photos(
    tmp_path: Path,
) -> None:
    paths = make_library(tmp_path / "lib", 4)
    old = (datetime.now(UTC) - timedelta(days=60)).timestamp()
    for path in paths[:3]:
        os.utime(path, (old, old))
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    report = discover(archive, since=datetime.now(UTC) - timedelta(days=7))
    assert report.new == 1
    state = archive.sync_state()["services"]["lib"]
    assert state["last_discover"]
    assert git_clean(archive.root)  # sync-state went into the same commit
    assert discover(archive).new == 3
    archive.close()


def test_checkpoints_commit_in_batches(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 25)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, commit_every=10)
    archive.lock()
    discover(archive)
    log = git_log(archive.root)
    assert log[:3] == [
        "discover: 5 new, 0 updated from lib",
        "discover: 10 new, 0 updated from lib (checkpoint, run continues)",
        "discover: 10 new, 0 updated from lib (checkpoint, run continues)",
    ]
    archive.close()


def test_a_source_that_suddenly_lists_far_fewer_photos_is_reported_not_deleted(
    tmp_path: Path,
) -> None:
    paths = make_library(tmp_path / "lib", 12)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    for path in paths[2:]:
        path.rename(tmp_path / path.name)
    report = discover(archive)
    assert any("listed 2 items, 12 last time" in w for w in report.services[0].warnings)
    again = discover(archive)  # the shrunken listing must not become the new normal
    assert any("listed 2 items, 12 last time" in w for w in again.services[0].warnings)
    assert len(records(archive.root)) == 12
    assert all(r["instances"]["lib"][0]["status"] == "present" for r in records(archive.root))
    archive.close()


def test_missing_folder_is_an_error_not_an_empty_library(tmp_path: Path) -> None:
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "gone")})
    archive.lock()
    with pytest.raises(ConfigError, match="does not exist"):
        discover(archive)
    archive.close()


def test_large_files_are_streamed_not_loaded(tmp_path: Path) -> None:
    (tmp_path / "lib").mkdir()
    big = tmp_path / "lib" / "big.mp4"
    with open(big, "wb") as handle:
        handle.write(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom")
        for _ in range(48):
            handle.write(os.urandom(1 << 20))
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    tracemalloc.start()
    report = discover(archive)
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.new == 1
    assert peak < 12 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB for a 48 MB file"
    archive.close()


def test_hostile_file_names_are_recorded_as_they_are(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    names = ["new\nline.jpg", "ünïcödé 写真.jpg", "x" * 200 + ".jpg", "-rf.jpg", "a;b$(echo).jpg"]
    seed_files = make_library(tmp_path / "seed", len(names))
    lib.mkdir()
    for name, source in zip(names, seed_files, strict=True):
        (lib / name).write_bytes(source.read_bytes())
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    report = discover(archive)
    assert report.new == len(names) and report.failed == 0
    assert sorted(r["metadata"]["filename"] for r in records(archive.root)) == sorted(names)
    archive.close()


def test_an_exact_duplicate_in_a_brand_new_archive_is_a_duplicate_not_an_update(
    tmp_path: Path,
) -> None:
    (first,) = make_library(tmp_path / "lib", 1)
    (tmp_path / "lib" / "copy of it.jpg").write_bytes(first.read_bytes())
    make_library(tmp_path / "lib", 2, start_seed=10)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    report = discover(archive)
    (only,) = report.services
    assert (only.listed, only.new, only.duplicate, only.updated) == (4, 3, 1, 0)
    assert only.adds_up()
    assert git_log(archive.root)[0] == (
        "discover: 3 new, 1 duplicate(s) of photos already recorded, 0 updated from lib"
    )
    (twice,) = [r for r in records(archive.root) if len(r["instances"]["lib"]) == 2]
    assert sorted(i["id"] for i in twice["instances"]["lib"])[0] == "copy of it.jpg"
    archive.close()
    assert_check_clean(archive.root)
