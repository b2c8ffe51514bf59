"""Discover on local folders: hashing, dedupe, blob store, seen-cache, cursors, bad input."""

from __future__ import annotations

import contextlib
import json
import os
import stat
import threading
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import photosync.workflow.discover as discover_module
from photosync.archive.archive import Archive
from photosync.blobstore.base import hash_file
from photosync.blobstore.local import LocalBlobStore
from photosync.emulators.samples import write_xmp_sidecar
from photosync.errors import ConfigError
from photosync.services.base import ListingReport, RemoteItem
from photosync.services.local import LocalFolderService
from photosync.workflow.discover import discover
from tests.helpers import (
    assert_check_clean,
    git_clean,
    git_log,
    make_library,
    new_archive,
    records,
    run_cli,
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
    assert_check_clean(archive.root)


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
    monkeypatch.setattr(discover_module, "open_regular", must_not_read)
    monkeypatch.setattr(LocalBlobStore, "writer", must_not_read)
    report = discover(archive)
    assert report.services[0].unchanged == 8 and report.new == 0
    assert git_log(archive.root) == head  # nothing changed, no commit
    archive.close()
    assert_check_clean(archive.root)


def test_full_scan_rereads_but_adds_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_library(tmp_path / "lib", 5)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    hashed: list[object] = []
    real = discover_module.hash_stream
    monkeypatch.setattr(discover_module, "hash_stream", lambda f: hashed.append(f) or real(f))
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
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


def test_a_record_is_written_only_once_its_blob_is_synced_and_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's originals are synced once, not fsynced each, yet never named by a
    record (nor a sidecar entry) before their bytes and their names are on disk."""
    import photosync.blobstore.local as local_module

    library = make_library(tmp_path / "lib", 25)
    write_xmp_sidecar(library[0].with_suffix(".xmp"), caption="a sidecar is a blob too")
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, commit_every=10)
    archive.lock()
    store = LocalBlobStore(archive.root / "blobs")
    synced: set[str] = set()  # blobs whose names were made durable
    blob_fsyncs: list[str] = []
    real_fsync = os.fsync

    real_sync = local_module.FilesystemSync.sync

    def sync(self: local_module.FilesystemSync) -> bool:
        synced.update(store.iter_digests())
        return real_sync(self)

    def fsync(fd: int) -> None:
        where = os.readlink(f"/proc/self/fd/{fd}")
        if where.startswith(str(archive.root / "blobs")):
            blob_fsyncs.append(where)
        real_fsync(fd)

    monkeypatch.setattr(local_module.FilesystemSync, "sync", sync)
    monkeypatch.setattr(os, "fsync", fsync)
    real_write = archive.write_record
    written = 0

    def write_record(record: Any, **kwargs: Any) -> bool:
        nonlocal written
        for digest in [record["content_hash"]] + [
            sidecar["content_hash"]
            for instance in record["instances"]["lib"]
            for sidecar in instance.get("sidecars", [])
        ]:
            assert digest.removeprefix("sha256:") in synced
        written += 1
        return real_write(record, **kwargs)

    monkeypatch.setattr(archive, "write_record", write_record)
    report = discover(archive)
    assert report.new == 25 and report.failed == 0 and written == 25
    assert blob_fsyncs == []  # no fsync per blob: one sync per batch
    assert any(s.get("sidecars") for r in records(archive.root) for s in r["instances"]["lib"])
    assert not list((archive.root / "blobs" / "tmp").iterdir())
    archive.close()
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


def test_missing_folder_is_an_error_not_an_empty_library(tmp_path: Path) -> None:
    """A folder added on this machine that is gone is a missing drive: an error."""
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "gone")})
    archive.save_added_here("lib")
    archive.lock()
    with pytest.raises(ConfigError, match="does not exist"):
        discover(archive)
    archive.close()
    assert records(archive.root) == []
    assert_check_clean(archive.root)


def test_a_folder_never_seen_here_is_skipped_not_read_as_empty(tmp_path: Path) -> None:
    """A folder configured elsewhere (a clone, a hand edit) is skipped with the locate command."""
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "gone")})
    archive.lock()
    report = discover(archive)
    archive.close()
    assert "photosync service locate lib" in report.not_here["lib"]
    assert records(archive.root) == []
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


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
    assert_check_clean(archive.root)


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


class _SwapsInFifo(LocalFolderService):
    """A folder where a FIFO replaces one photo between its listing and its reading."""

    def __init__(self, name: str, settings: dict[str, Any], victim: str) -> None:
        super().__init__(name, settings)
        self.victim = victim

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        for item in super().list_items(since=since, cursor=cursor, report=report):
            if item.filename == self.victim and item.local_path is not None:
                item.local_path.unlink()
                os.mkfifo(item.local_path)
            yield item


def test_a_fifo_swapped_in_under_a_photo_name_is_skipped_not_waited_on(tmp_path: Path) -> None:
    library = make_library(tmp_path / "lib", 4)
    os.mkfifo(tmp_path / "lib" / "already-a-pipe.jpg")  # there before the listing, too
    victim = library[1]
    source = _SwapsInFifo("lib", {"path": str(tmp_path / "lib")}, victim.name)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    outcome: list[Any] = []
    worker = threading.Thread(
        target=lambda: outcome.append(discover(archive, sources={"lib": source})), daemon=True
    )
    worker.start()
    worker.join(timeout=120)
    if worker.is_alive():  # a reader blocked in open(): give it a writer that hangs up
        for pipe in (victim, tmp_path / "lib" / "already-a-pipe.jpg"):
            with contextlib.suppress(OSError):
                os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(timeout=30)
        pytest.fail("discover waited on a FIFO")
    report = outcome[0].services[0]
    # listed as a photo, unreadable when read: failed (exit 4, retried), saying why
    (failed,) = report.failed
    assert victim.name in failed and "FIFO" in failed and report.new == 3 and report.adds_up()
    assert any("already-a-pipe.jpg" in w for w in report.warnings), report.warnings
    assert sorted(r["metadata"]["filename"] for r in records(archive.root)) == sorted(
        p.name for p in library if p != victim
    )
    archive.close()
    assert_check_clean(archive.root)


def test_symlinks_are_skipped_and_said(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    outside = make_library(tmp_path / "elsewhere", 2, start_seed=50)
    (tmp_path / "lib" / "linked.jpg").symlink_to(outside[0])
    (tmp_path / "lib" / "linked-folder").symlink_to(outside[0].parent, target_is_directory=True)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    report = discover(archive).services[0]
    assert report.new == 2 and report.failed == []
    said = [w for w in report.warnings if "symlink" in w]
    assert any("linked.jpg" in w for w in said) and any("linked-folder" in w for w in said)
    archive.close()
    assert_check_clean(archive.root)


def test_a_name_that_is_not_utf8_is_archived_with_its_raw_bytes(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    source = make_library(tmp_path / "seed", 1)[0]
    raw_folder, raw_name = b"vacances \xe9t\xe9", b"plage \xff.jpg"  # Latin-1, not UTF-8
    folder = lib / os.fsdecode(raw_folder)
    folder.mkdir(parents=True)
    (folder / os.fsdecode(raw_name)).write_bytes(source.read_bytes())
    write_xmp_sidecar(folder / os.fsdecode(raw_name + b".xmp"), caption="from the sidecar")
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    report = discover(archive)
    assert report.new == 1 and report.failed == 0
    (record,) = records(archive.root)
    (instance,) = record["instances"]["lib"]
    assert bytes.fromhex(instance["extra"]["raw_path_hex"]) == raw_folder + b"/" + raw_name
    assert instance["id"] == "vacances \\xe9t\\xe9/plage \\xff.jpg"
    assert record["metadata"]["filename"] == "plage \\xff.jpg"
    assert record["metadata"]["caption"] == "from the sidecar"  # its sidecar was found
    assert LocalBlobStore(archive.root / "blobs").has(record["content_hash"])
    again = discover(archive)  # the escaped id is stable: nothing read twice, nothing new
    assert again.new == 0 and again.updated == 0 and again.services[0].unchanged == 1
    archive.close()
    assert_check_clean(archive.root)


def test_thousands_of_identical_files_cost_one_record_write_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    copies, batch = 2000, 500
    lib = tmp_path / "lib"
    data = make_library(tmp_path / "seed", 1)[0].read_bytes()
    lib.mkdir()
    for index in range(copies):
        (lib / f"copy_{index:04d}.jpg").write_bytes(data)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    set_prefs(archive, commit_every=batch)
    writes: list[str] = []
    loads: list[str] = []
    real_write, real_load = Archive.write_record, Archive.load_record

    def counted_write(self: Archive, record: dict[str, Any]) -> bool:
        writes.append(record["photo_id"])
        return real_write(self, record)

    def counted_load(self: Archive, photo_id: str) -> dict[str, Any]:
        loads.append(photo_id)
        return real_load(self, photo_id)

    monkeypatch.setattr(Archive, "write_record", counted_write)
    monkeypatch.setattr(Archive, "load_record", counted_load)
    archive.lock()
    report = discover(archive)
    (only,) = report.services
    assert (only.new, only.duplicate, only.failed) == (1, copies - 1, [])
    (record,) = records(archive.root)
    assert len(record["instances"]["lib"]) == copies
    # each file used to parse, validate and rewrite the whole record: 2,000 x 2,000 instances
    assert len(writes) <= copies // batch + 1, len(writes)
    assert len(loads) <= copies // batch + 1, len(loads)
    archive.close()
    assert_check_clean(archive.root)


def test_every_file_of_the_breadth_folder_is_archived_or_named(
    tmp_path: Path, testdata: Path
) -> None:
    """242 real files of many makes and formats: each one recorded or named as left out."""
    folder = testdata / "breadth" / "photos"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert len(files) == 242
    archive = new_archive(tmp_path, breadth={"type": "local", "path": str(folder)})
    archive.lock()
    report = discover(archive)
    assert report.failed == 0
    recorded = {
        i["id"]
        for r in records(archive.root)
        for i in r["instances"]["breadth"]
        if i.get("status", "present") == "present"
    }
    (service,) = report.services
    named = {line.split(": ", 1)[0] for line in service.left_out}
    assert recorded | named == set(files) and not recorded & named
    # the raw and odd formats a listing by extension used to leave out are archived
    for name in (
        "raw/CanonRaw.crw",
        "raw/Sigma.x3f",
        "raw/Minolta.mrw",
        "raw/PhaseOne.iiq",
        "raw/KyoceraRaw.raw",
        "video/Red.r3d",
        "other/Lytro.lfp",
        "other/Photoshop.psd",
        "other/balloon.jp2",
        "other/BPG.bpg",
        "other/PhotoCD.pcd",
        "video/ASF.wmv",
        "video/MXF.mxf",
        "video/sample_mpeg2.m2v",
        "video/DV.dv",
    ):
        assert name in recorded, name
    kinds = {
        i["id"]: r["media"]["kind"]
        for r in records(archive.root)
        for i in r["instances"]["breadth"]
    }
    assert kinds["video/DV.dv"] == "video" and kinds["raw/Sigma.x3f"] == "photo"
    assert named == {"other/PLIST.aae"}  # a MIE file is a photo's metadata and its data
    archive.close()
    status_json = run_cli("--archive", str(archive.root), "status", "--json")
    assert status_json.exit_code == 0, status_json.output
    left = json.loads(status_json.output)["left_out"]["breadth"]
    assert {line.split(": ", 1)[0] for line in left["left_out"]} == named
    assert_check_clean(archive.root)


def test_still_formats_of_the_builtin_reader_are_discovered_with_their_dates(
    tmp_path: Path, testdata: Path
) -> None:
    """BPG, Lytro, MIE, Photo CD and X3F files: archived bit-exact, dated and named by camera
    without exiftool (one without its extension, found by its content)."""
    folder = testdata / "breadth" / "photos"
    library = tmp_path / "lib"
    library.mkdir()
    for name in ("other/BPG.bpg", "other/Lytro.lfp", "other/PhotoCD.pcd", "raw/Sigma.x3f"):
        (library / Path(name).name).write_bytes((folder / name).read_bytes())
    (library / "metadata-0001").write_bytes((folder / "other/MIE.mie").read_bytes())
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    prefs = archive.preferences()
    prefs["metadata"] = {"reader": "builtin"}  # no exiftool, whether installed or not
    archive.save_preferences(prefs)
    archive.commit("config: the built-in reader alone")
    archive.lock()
    report = discover(archive)
    (service,) = report.services
    assert (report.failed, service.new, service.left_out) == (0, 5, [])
    found = {
        r["metadata"]["filename"]: (
            r["metadata"]["taken_date_source"],
            r["metadata"]["camera_info"]["model"],
            r["media"]["kind"],
        )
        for r in records(archive.root)
    }
    assert found == {
        "BPG.bpg": ("exif:DateTimeOriginal", "Canon EOS DIGITAL REBEL", "photo"),
        "Lytro.lfp": ("lytro:DateTimeOriginal", "F01", "photo"),
        "PhotoCD.pcd": ("photocd:CreateDate", None, "photo"),
        "Sigma.x3f": ("sigma:DateTimeOriginal", "SIGMA SD10", "photo"),
        "metadata-0001": ("mie:DateTimeOriginal", "FinePix2400Zoom", "photo"),
    }
    archive.close()
    assert_check_clean(archive.root)


def test_a_photo_without_a_known_extension_is_found_by_its_content(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_library(lib, 2)
    jpeg = next(lib.rglob("*.jpg"))
    jpeg.rename(lib / "scan-0001")  # no extension at all
    (lib / "notes.txt").write_text("shopping list\n")
    (lib / "orphan.xmp").write_text("<x:xmpmeta/>")
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    report = discover(archive)
    assert report.new == 2
    ids = {i["id"] for r in records(archive.root) for i in r["instances"]["lib"]}
    assert "scan-0001" in ids
    (service,) = report.services
    assert sorted(line.split(": ", 1)[0] for line in service.left_out) == [
        "notes.txt",
        "orphan.xmp",
    ]
    archive.close()
    assert_check_clean(archive.root)


def test_include_and_exclude_patterns_of_a_folder(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    make_library(lib, 4)
    (lib / "edit.AAE").write_text("<plist/>")
    (lib / "Screenshots").mkdir()
    make_library(lib / "Screenshots", 1, start_seed=50)
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(lib), "include": ["*.aae"], "exclude": ["screenshots/*"]},
    )
    archive.lock()
    report = discover(archive)
    ids = {i["id"] for r in records(archive.root) for i in r["instances"]["lib"]}
    assert "edit.AAE" in ids and not any(i.startswith("Screenshots/") for i in ids)
    assert report.new == 5
    (service,) = report.services
    assert service.excluded == 1 and service.left_out == []
    archive.close()
    assert_check_clean(archive.root)


def test_small_files_are_ingested_at_most_one_per_core_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight workers, two cores: a third small file's parsing never runs beside two
    others (more only adds GIL hand-offs). A barrier of three breaks (times out) when
    the slots hold; without them eight workers pass it and the test fails."""
    make_library(tmp_path / "lib", 24)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, hash_workers=8)
    monkeypatch.setattr(discover_module.os, "cpu_count", lambda: 2)
    three_at_once = threading.Barrier(3, timeout=2)
    passed: list[int] = []
    real_extract = discover_module.extract_media_info

    def extract(*args: Any, **kwargs: Any) -> Any:
        with contextlib.suppress(threading.BrokenBarrierError):
            passed.append(three_at_once.wait())
        return real_extract(*args, **kwargs)

    monkeypatch.setattr(discover_module, "extract_media_info", extract)
    archive.lock()
    report = discover(archive)
    assert report.new == 24 and report.failed == 0
    assert passed == []
    archive.close()
    assert_check_clean(archive.root)
