"""Copying blobs between locations, verifying and repairing them (local folder and moto S3)."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from photosync.blobstore.base import BlobStore
from photosync.blobstore.blobsync import (
    BlobSyncReport,
    JsonlJournal,
    _journalled,
    copy_missing_blobs,
    repair_blobs,
    verify_blobs,
)
from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.s3 import S3BlobStore

from .conformance import fail_on_open, read_all, write_blob


def fill(store: LocalBlobStore, count: int, tmp: Path) -> dict[str, bytes]:
    blobs = {}
    for index in range(count):
        data = os.urandom(1000 + index)
        path, digest = write_blob(tmp, data, f"in{index}")
        store.put_file(path, digest)
        blobs[digest] = data
    return blobs


def corrupt_local(store: LocalBlobStore, digest: str) -> None:
    path = store.path_for(digest)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(b"rotten" + path.read_bytes()[6:])


@pytest.fixture
def local(tmp_path: Path) -> LocalBlobStore:
    return LocalBlobStore(tmp_path / "local", name="local")


@pytest.fixture
def s3(s3_endpoint: str, s3_bucket: str) -> S3BlobStore:
    return S3BlobStore(
        "b2",
        s3_bucket,
        prefix="p",
        endpoint_url=s3_endpoint,
        region="us-east-1",
        addressing_style="path",
    )


def test_copy_to_s3_and_local_then_nothing_left_to_do(
    local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path
) -> None:
    blobs = fill(local, 30, tmp_path / "in")
    mirror = LocalBlobStore(tmp_path / "mirror", name="mirror")
    ticks: list[int] = []
    report = copy_missing_blobs(list(blobs), local, [s3, mirror], workers=4, progress=ticks.append)
    assert report.ok
    assert sorted(report.copied["b2"]) == sorted(blobs) == sorted(report.copied["mirror"])
    assert sum(ticks) == 60
    for digest, data in blobs.items():
        assert read_all(s3, digest) == data and read_all(mirror, digest) == data
    again = copy_missing_blobs(list(blobs), local, [s3, mirror], workers=4)
    assert again.copied_count == 0 and again.present == {"b2": 30, "mirror": 30}


def test_copy_from_s3_down_to_local(local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path) -> None:
    blobs = fill(local, 5, tmp_path / "in")
    copy_missing_blobs(list(blobs), local, [s3], workers=2)
    fresh = LocalBlobStore(tmp_path / "restore", name="restore")
    report = copy_missing_blobs(list(blobs), s3, [fresh], workers=2, tmp_dir=tmp_path)
    assert report.ok and len(report.copied["restore"]) == 5
    assert all(read_all(fresh, d) == data for d, data in blobs.items())
    assert [p.name for p in tmp_path.glob("blob-*")] == []  # staging files cleaned up


def test_failures_are_isolated_and_sources_tried_in_order(
    local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path
) -> None:
    blobs = fill(local, 4, tmp_path / "in")
    digests = list(blobs)
    other = LocalBlobStore(tmp_path / "other", name="other")
    extra_path, extra = write_blob(tmp_path / "x", b"only in the other store")
    other.put_file(extra_path, extra)
    corrupt_local(local, digests[0])
    other.put_file(*write_blob(tmp_path / "good0", blobs[digests[0]]))
    absent = hashlib.sha256(b"nowhere").hexdigest()
    report = copy_missing_blobs([*digests, extra, absent], [local, other], [s3], workers=3)
    assert not report.ok
    assert set(report.failed["b2"]) == {absent}
    assert "no good copy" in report.failed["b2"][absent]
    assert sorted(report.copied["b2"]) == sorted([*digests, extra])
    assert read_all(s3, digests[0]) == blobs[digests[0]]  # from the good copy, not the rotten one


def test_journal_makes_a_rerun_skip_finished_copies(local: LocalBlobStore, tmp_path: Path) -> None:
    blobs = fill(local, 6, tmp_path / "in")
    target = LocalBlobStore(tmp_path / "t", name="t")
    journal_path = tmp_path / "journal.jsonl"
    journal = JsonlJournal(journal_path)
    first = list(blobs)[:3]
    copy_missing_blobs(first, local, [target], workers=2, journal=journal)
    with open(journal_path, "a", encoding="utf-8") as handle:
        handle.write('{"location": "t", "dig')  # torn line from a crash
    reloaded = JsonlJournal(journal_path)
    assert all(reloaded.is_done(_journalled(target), d) for d in first)
    report = copy_missing_blobs(list(blobs), local, [target], workers=2, journal=reloaded)
    assert sorted(report.copied["t"]) == sorted(list(blobs)[3:])
    assert report.present["t"] == 3
    # the lines written after the torn one are whole: a third run knows all six
    assert all(JsonlJournal(journal_path).is_done(_journalled(target), d) for d in blobs)


def test_a_location_pointed_elsewhere_is_not_taken_for_holding_what_the_journal_says(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    """The copy journal (kept across a run that stopped) was keyed by the location's
    name only: pointed at a new disk meanwhile, the location was said to hold blobs
    it never received."""
    blobs = fill(local, 4, tmp_path / "in")
    journal_path = tmp_path / "journal.jsonl"
    old = LocalBlobStore(tmp_path / "old-disk", name="nas")
    copy_missing_blobs(list(blobs), local, [old], workers=2, journal=JsonlJournal(journal_path))
    new = LocalBlobStore(tmp_path / "new-disk", name="nas")
    report = copy_missing_blobs(
        list(blobs), local, [new], workers=2, journal=JsonlJournal(journal_path)
    )
    assert sorted(report.copied["nas"]) == sorted(blobs) and report.present["nas"] == 0
    assert sorted(new.iter_digests()) == sorted(blobs)


def test_journal_is_group_committed(
    local: LocalBlobStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One fsync per group of copies, not one per blob; every copy is in it afterwards."""
    blobs = fill(local, 40, tmp_path / "in")
    target = LocalBlobStore(tmp_path / "t", name="t")
    journal_path = tmp_path / "journal.jsonl"
    synced: list[str] = []
    real_fsync = os.fsync

    def counting(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting)
    report = copy_missing_blobs(
        list(blobs), local, [target], workers=4, journal=JsonlJournal(journal_path)
    )
    monkeypatch.undo()
    assert len(report.copied["t"]) == 40
    assert synced.count(str(journal_path)) == 1
    assert all(JsonlJournal(journal_path).is_done(_journalled(target), d) for d in blobs)


@pytest.mark.parametrize("size", [2000, 6 * 1024 * 1024], ids=["single", "multipart"])
def test_a_local_original_is_read_once_per_upload(
    local: LocalBlobStore, s3_endpoint: str, s3_bucket: str, tmp_path: Path, size: int
) -> None:
    """The target hashes what it sends: no separate pass over the file before."""
    path, digest = write_blob(tmp_path / "in", os.urandom(size))
    local.put_file(path, digest)
    s3 = S3BlobStore(
        "b2",
        s3_bucket,
        endpoint_url=s3_endpoint,
        region="us-east-1",
        addressing_style="path",
        multipart_threshold=5 * 1024 * 1024,
        multipart_chunk=5 * 1024 * 1024,
    )
    with fail_on_open(local.path_for(digest), 0, fail_at=0) as seen:
        report = copy_missing_blobs([digest], [local, s3], [local, s3], workers=1)
    assert report.ok and report.copied["b2"] == [digest]
    assert seen[0] == 1
    assert s3.verify(digest)


def test_a_rotten_local_original_is_not_sent_and_a_good_copy_is(
    local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path
) -> None:
    """Sending the file unhashed never stores bad bytes: the target refuses them, and
    then the sources are hashed in order and the good copy goes out."""
    blobs = fill(local, 2, tmp_path / "in")
    digests = sorted(blobs)
    other = LocalBlobStore(tmp_path / "other", name="other")
    for digest in digests:
        other.put_file(*write_blob(tmp_path / "good", blobs[digest], digest[:8]))
    corrupt_local(local, digests[0])
    report = copy_missing_blobs(digests, [local, other], [s3], workers=2)
    assert report.ok and sorted(report.copied["b2"]) == digests
    assert all(read_all(s3, d) == blobs[d] for d in digests)
    only = LocalBlobStore(tmp_path / "only", name="only")
    report = copy_missing_blobs(digests[:1], local, [only], workers=1)
    assert "no good copy" in report.failed["only"][digests[0]]
    assert not only.has(digests[0])


def test_verify_reports_missing_corrupt_and_orphans(
    local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path
) -> None:
    blobs = fill(local, 6, tmp_path / "in")
    digests = sorted(blobs)
    copy_missing_blobs(digests[:5], local, [s3], workers=2)
    corrupt_local(local, digests[1])
    s3.client.put_object(Bucket=s3.bucket, Key=s3.key_for(digests[2]), Body=b"bitrot")
    orphan_path, orphan = write_blob(tmp_path / "o", b"unreferenced")
    s3.put_file(orphan_path, orphan)
    report = verify_blobs(digests, [local, s3], workers=3)
    assert not report.ok
    assert list(report.locations["local"].corrupt) == [digests[1]]
    assert report.locations["local"].missing == []
    assert list(report.locations["b2"].corrupt) == [digests[2]]
    assert report.locations["b2"].missing == [digests[5]]
    assert report.locations["b2"].orphans == [orphan]
    shallow = verify_blobs(digests, [local, s3], deep=False)
    assert not shallow.locations["b2"].corrupt and shallow.locations["b2"].missing == [digests[5]]


def test_repair_restores_from_good_copies_and_never_deletes(
    local: LocalBlobStore, s3: S3BlobStore, tmp_path: Path
) -> None:
    blobs = fill(local, 5, tmp_path / "in")
    digests = sorted(blobs)
    copy_missing_blobs(digests[:4], local, [s3], workers=2)
    corrupt_local(local, digests[0])  # only S3 has it right
    s3.client.put_object(Bucket=s3.bucket, Key=s3.key_for(digests[1]), Body=b"bitrot")
    corrupt_local(local, digests[2])
    s3.client.put_object(Bucket=s3.bucket, Key=s3.key_for(digests[2]), Body=b"both bad")
    found = verify_blobs(digests, [local, s3])
    repaired = repair_blobs(found, [local, s3], tmp_dir=tmp_path)
    assert repaired.restored["local"] == [digests[0]]
    assert repaired.quarantined["local"] == [digests[0]]
    assert sorted(repaired.restored["b2"]) == sorted([digests[1], digests[4]])
    # no good copy anywhere: refused, both bad copies left as they were
    assert set(repaired.refused["local"]) == {digests[2]}
    assert set(repaired.refused["b2"]) == {digests[2]}
    assert read_all(s3, digests[2]) == b"both bad"
    assert read_all(local, digests[2]).startswith(b"rotten")
    # the rotten local file was moved aside, not deleted
    quarantined = list((local.root / "quarantine").iterdir())
    assert len(quarantined) == 1 and quarantined[0].read_bytes().startswith(b"rotten")
    after = verify_blobs(digests, [local, s3])
    assert list(after.locations["local"].corrupt) == [digests[2]]
    assert list(after.locations["b2"].corrupt) == [digests[2]]
    assert after.locations["b2"].missing == []


class _Unlistable(LocalBlobStore):
    """A store whose listing fails: the copy falls back to asking per blob."""

    def iter_digests(self) -> Any:
        from photosync.errors import BlobError

        raise BlobError("listing refused")


def test_copy_works_without_a_listing(local: LocalBlobStore, tmp_path: Path) -> None:
    blobs = fill(local, 3, tmp_path / "in")
    target: BlobStore = _Unlistable(tmp_path / "u", name="u")
    report = copy_missing_blobs(list(blobs), local, [target], workers=2)
    assert report.ok and len(report.copied["u"]) == 3
    again = copy_missing_blobs(list(blobs), local, [target], workers=2)
    assert again.copied_count == 0 and again.present["u"] == 3


def test_each_digest_is_told_settled_once_on_the_callers_thread(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    """``on_done`` lets the caller write a record per digest while other copies go on."""
    import threading

    blobs = fill(local, 6, tmp_path / "in")
    digests = sorted(blobs)
    target = LocalBlobStore(tmp_path / "t", name="t")
    copy_missing_blobs(digests[:2], local, [target], workers=1)  # two already there
    told: list[tuple[str, bool, bool]] = []

    def settled(digest: str, report: BlobSyncReport) -> None:
        there = digest in report.copied["t"] or target.has(digest)
        told.append((digest, there, threading.current_thread() is threading.main_thread()))

    copy_missing_blobs(digests, local, [target], workers=3, on_done=settled)
    assert sorted(d for d, _, _ in told) == digests
    assert all(there and main for _, there, main in told)


class _FullStore(LocalBlobStore):
    """A local folder on a disk that is full: every copy into it fails with ENOSPC."""

    def batch(self) -> Any:
        batch = super().batch()

        def full(*_args: Any, **_kwargs: Any) -> bool:
            raise OSError(28, "No space left on device")

        batch.put_file = full  # type: ignore[method-assign]
        return batch


def test_a_full_target_is_named_as_where_the_copy_failed(
    local: LocalBlobStore, tmp_path: Path
) -> None:
    """A full target disk was reported as "cannot read the original": the user would
    look at the source, which is fine, instead of freeing space where copies go."""
    blobs = fill(local, 2, tmp_path / "in")
    full = _FullStore(tmp_path / "full", name="full")
    roomy = LocalBlobStore(tmp_path / "roomy", name="roomy")
    report = copy_missing_blobs(list(blobs), [local], [full, roomy], workers=2)
    assert set(report.failed["full"]) == set(blobs)
    for why in report.failed["full"].values():
        assert why.startswith("cannot write the copy") and "No space left" in why, why
    assert sorted(report.copied["roomy"]) == sorted(blobs)  # the other target is not held back
