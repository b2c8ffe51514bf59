"""The archive: layout, finding it, canonical JSON, validation, atomic writes, recovery, lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from photosync.archive.archive import BASE_LINE, Archive
from photosync.archive.jsonio import atomic_write, canonical_dumps
from photosync.emulators.samples import write_jpeg
from photosync.errors import (
    ArchiveLocked,
    ArchiveNotFound,
    ConfigError,
    PhotosyncError,
    RecordInvalid,
)
from photosync.model import new_record, record_relpath
from photosync.workflow.discover import discover
from tests.helpers import assert_check_clean, git_clean, git_log, new_archive, records


def _record(seed: str = "a", taken: str | None = "2024-03-05T12:15:30+01:00") -> dict:
    record = new_record(
        content_hash="sha256:" + (seed * 64)[:64],
        size=10,
        media={"kind": "photo"},
        canonical_source="test:1",
        source_of_truth_path=None,
    )
    record["metadata"]["taken_date"] = taken
    return record


def test_init_lays_out_the_archive(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    for rel in (
        "README.md",
        ".gitignore",
        "config/services.json",
        "config/sync-state.json",
        "config/user-preferences.json",
        "schemas/photo-metadata.schema.json",
        "schemas/service-config.schema.json",
    ):
        assert (archive.root / rel).is_file(), rel
    assert (archive.root / "blobs").is_dir()
    assert "/blobs/" in (archive.root / ".gitignore").read_text()
    assert git_log(archive.root) == ["init: new photosync archive"]
    assert git_clean(archive.root)
    prefs = archive.preferences()
    assert prefs["default_visibility"] == "private"
    assert_check_clean(archive.root)


def test_init_refuses_non_empty_folder_and_existing_archive(tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    with pytest.raises(PhotosyncError, match="not empty"):
        Archive.init(tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    Archive.init(tmp_path / "a")
    with pytest.raises(PhotosyncError, match="already"):
        Archive.init(tmp_path / "a")


def test_archive_is_found_like_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = Archive.init(tmp_path / "a")
    deep = archive.root / "photos" / "2024"
    deep.mkdir(parents=True)
    assert Archive.find(start=deep).root == archive.root
    assert Archive.find(explicit=archive.root).root == archive.root
    monkeypatch.setenv("PHOTOSYNC_ARCHIVE", str(archive.root))
    assert Archive.find(start=tmp_path).root == archive.root
    monkeypatch.delenv("PHOTOSYNC_ARCHIVE")
    with pytest.raises(ArchiveNotFound):
        Archive.find(start=tmp_path)
    with pytest.raises(ArchiveNotFound, match="not a photosync archive"):
        Archive.find(explicit=tmp_path)
    assert_check_clean(archive.root)


def test_records_are_canonical_validated_and_placed_by_date(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    record = _record()
    assert archive.write_record(record) is True
    path = archive.root / "photos/2024/03" / f"{record['photo_id']}.json"
    text = path.read_text(encoding="utf-8")
    assert text == canonical_dumps(record)
    assert list(json.loads(text)) == sorted(json.loads(text))
    assert archive.write_record(record) is False  # same content: no rewrite, no diff
    undated = _record("b", taken=None)
    assert record_relpath(undated).startswith("photos/undated/")
    bad = _record("c")
    bad["visibility"]["canonical"] = "everyone"
    with pytest.raises(RecordInvalid, match="visibility/canonical"):
        archive.write_record(bad)
    assert not (archive.root / record_relpath(bad)).exists()
    # a new date moves the file, leaving no stale copy
    record["metadata"]["taken_date"] = "2019-07-01T10:00:00"
    archive.write_record(record)
    assert not path.exists()
    assert (archive.root / "photos/2019/07" / f"{record['photo_id']}.json").exists()
    archive.close()  # (records with made-up hashes and no blobs: no archive check here)


def test_atomic_write_keeps_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "x.json"
    target.write_text("old")

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError):
        atomic_write(target, b"new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_broken_config_gives_a_clear_error(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    (archive.root / "config/services.json").write_text("{not json")
    with pytest.raises(ConfigError, match="not valid JSON"):
        archive.services()
    (archive.root / "config/services.json").write_text(
        json.dumps(
            {
                "services": {
                    "x": {"type": "local", "enabled": True, "target": False, "api_secret": "s"}
                }
            }
        )
    )
    with pytest.raises(ConfigError, match="not valid"):
        archive.services()
    subprocess.run(  # restored as the hint says: the archive is whole again
        ["git", "-C", str(archive.root), "checkout", "--", "config/services.json"], check=True
    )
    assert_check_clean(archive.root)


def test_recovery_keeps_valid_leftovers_and_quarantines_torn_records(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    good = _record("d")
    archive.write_record(good)
    archive.commit("test: one record")
    kept = _record("e")
    archive.write_record(kept)  # left uncommitted, as by a killed run
    good["metadata"]["caption"] = "rewritten by the run that was killed"
    archive.write_record(good)
    torn_rel = record_relpath(good)
    (archive.root / torn_rel).write_text('{"photo_id": "trunc')  # its write torn (power cut)
    (archive.root / "photos/2024/03/stray.json").write_text("{")  # not photosync's file
    archive.close()

    again = Archive(archive.root)
    notes = again.lock()
    assert any("damaged" in note for note in notes)
    assert json.loads((archive.root / torn_rel).read_text())["photo_id"] == good["photo_id"]
    assert len(list((archive.root / ".photosync/quarantine").iterdir())) == 1
    assert (archive.root / record_relpath(kept)).exists()
    assert git_log(archive.root)[0].startswith("recover:")
    # a file photosync did not write is the user's: reported, left where it is, never committed
    assert any("left alone" in note and "stray.json" in note for note in notes)
    assert (archive.root / "photos/2024/03/stray.json").read_text() == "{"
    status = subprocess.run(
        ["git", "-C", str(archive.root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status.splitlines() == ["?? photos/2024/03/stray.json"]
    again.close()  # (records with made-up hashes and no blobs: no archive check here)


def test_second_writer_is_refused_and_a_killed_holder_releases(tmp_path: Path) -> None:
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    other = Archive(archive.root)
    with pytest.raises(ArchiveLocked, match="another photosync run"):
        other.lock()
    archive.close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys,time;from photosync.archive.archive import Archive;"
            "a=Archive(__import__('pathlib').Path(sys.argv[1]));a.lock();print('locked',flush=True);time.sleep(60)",
            str(archive.root),
        ],
        stdout=subprocess.PIPE,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == b"locked"
    with pytest.raises(ArchiveLocked):
        Archive(archive.root).lock()
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    survivor = Archive(archive.root)
    survivor.lock()  # the kernel released the dead holder's lock
    survivor.close()
    assert_check_clean(archive.root)


def test_schemas_written_by_an_older_photosync_are_brought_up_to_date(tmp_path: Path) -> None:
    from photosync.archive.archive import Archive
    from photosync.archive.schema import schema_text

    archive = Archive.init(tmp_path / "archive")
    archive.close()
    old = tmp_path / "archive" / "schemas" / "photo-metadata.schema.json"
    old.write_text('{"type": "object"}\n', encoding="utf-8")
    subprocess.run(
        ["git", "-C", str(old.parent.parent), "commit", "-qam", "an older photosync"], check=True
    )
    archive = Archive(tmp_path / "archive")
    notes = archive.lock()
    assert any("schemas" in note for note in notes)
    assert old.read_text(encoding="utf-8") == schema_text("photo-metadata.schema.json")
    assert git_log(archive.root)[0] == "schemas: updated to the ones this photosync writes"
    assert git_clean(archive.root)
    archive.close()
    again = Archive(tmp_path / "archive")
    assert again.lock() == []  # up to date: no note, no commit
    again.close()
    assert_check_clean(archive.root)


def test_parallel_writes_are_read_back_and_all_committed(tmp_path: Path) -> None:
    """Records replaced by the writer threads (resolve's one pass) read back as written,
    a moved record goes at once, and the commit holds every one of them."""
    for i in range(3):
        write_jpeg(
            tmp_path / "lib" / f"IMG_{i}.jpg", seed=i, size=(96, 72), taken=datetime(2021, 1, 1 + i)
        )
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    ids = sorted(r["photo_id"] for r in records(archive.root))
    with archive.parallel_writes():
        for n, photo_id in enumerate(ids):
            record = archive.load_record(photo_id)
            record["metadata"]["caption"] = f"caption {n}"
            if n == 0:  # a new date: the file moves, written at once
                record["metadata"]["taken_date"] = "2019-07-01T10:00:00"
            assert archive.write_record(record) is True
            assert archive.load_record(photo_id)["metadata"]["caption"] == f"caption {n}"
    archive.commit("test: captions")
    assert git_clean(archive.root)
    by_id = {r["photo_id"]: r for r in records(archive.root)}
    assert [by_id[i]["metadata"]["caption"] for i in ids] == ["caption 0", "caption 1", "caption 2"]
    assert archive.record_path(ids[0]) == archive.root / "photos/2019/07" / f"{ids[0]}.json"
    archive.close()
    assert_check_clean(archive.root)


def test_pending_paths_opened_once_per_version_and_listed_before_each_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The list of paths being written is opened once, not once per record; each path is
    in it before its file is written, and after a commit the next path goes to the new
    list (only what was written since)."""
    archive = new_archive(tmp_path)
    archive.lock()
    pending = archive.root / ".photosync" / "pending-paths"
    opened = [0]
    real_open = os.open

    def counting_open(path: object, *args: object, **kwargs: object) -> int:
        opened[0] += str(path) == str(pending)
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    real_write = atomic_write

    def checking_write(path: Path, data: bytes, **kwargs: object) -> None:
        if path.suffix == ".json" and "photos" in path.parts:
            assert str(path.relative_to(archive.root)) in archive.pending_paths()
        real_write(path, data, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", counting_open)
    monkeypatch.setattr("photosync.archive.jsonio.atomic_write", checking_write)
    first = [_record(seed) for seed in "abcd"]
    for record in first:
        archive.write_record(record)
    assert opened[0] == 1
    archive.commit("test: four records")
    assert not pending.exists()
    later = _record("e")
    archive.write_record(later)
    assert opened[0] == 2
    assert set(archive.pending_paths()) == {record_relpath(later)}
    monkeypatch.undo()
    archive.commit("test: one more")
    archive.close()
    assert_check_clean(archive.root)


@pytest.mark.parametrize("first", [False, True], ids=["appended", "new-file"])
def test_a_full_disk_leaves_no_half_line_in_pending_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, first: bool
) -> None:
    """An append to the pending-paths list cut short by a full disk left half a line:
    the next path went onto it, unlisted, so a run killed then left its record to be
    taken for the user's hand edit (never committed by photosync)."""
    archive = Archive.init(tmp_path / "a")
    records_ = [_record(seed) for seed in "bcd"]
    if not first:
        archive.write_record(records_[0])
    real_write = os.write
    cut = []

    def short_write(fd: int, data: bytes) -> int:  # a disk with room for 5 bytes
        if not cut and b".json\t" in data:
            cut.append(data)
            return real_write(fd, data[:5])
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", short_write)
    with pytest.raises(OSError, match="No space left"):
        archive.write_record(records_[1])
    monkeypatch.setattr(os, "write", real_write)
    assert cut
    archive.write_record(records_[2])
    archive.write_record(records_[1])  # asked again: listed this time
    wanted = {record_relpath(r) for r in (records_ if not first else records_[1:])}
    text = (archive.root / ".photosync" / "pending-paths").read_text()
    lines = [line for line in text.splitlines() if not line.startswith(BASE_LINE)]
    assert {line.split("\t")[0] for line in lines} == wanted
    assert text.endswith("\n") and all("\t" in line for line in lines)
    assert set(archive.pending_paths()) == wanted
    archive.commit("records")
    archive.close()
    assert git_clean(archive.root)
