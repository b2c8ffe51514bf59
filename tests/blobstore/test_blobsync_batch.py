"""Copies to a local folder made durable a batch at a time (one filesystem sync, not an
fsync per blob), and nothing says a copy is there before its bytes and name are durable."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

import photosync.blobstore.blobsync as blobsync
import photosync.blobstore.local as local_module
from photosync.blobstore.blobsync import JsonlJournal, Settled, copy_sorted_blobs
from photosync.blobstore.local import LocalBlobStore


def _source(tmp: Path, count: int) -> tuple[LocalBlobStore, list[str]]:
    source = LocalBlobStore(tmp / "source", name="source")
    digests = []
    for index in range(count):
        data = f"photo {index} ".encode() * (index + 1)
        path = tmp / f"in-{index}"
        path.write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        source.put_file(path, digest)
        digests.append(digest)
    return source, sorted(digests)


def _named(store: LocalBlobStore) -> set[str]:
    return set(store.iter_digests())


def test_copies_to_a_local_folder_are_named_and_told_only_after_one_sync_per_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, digests = _source(tmp_path, 7)
    target = LocalBlobStore(tmp_path / "target", name="nas")
    journal = JsonlJournal(tmp_path / "journal.jsonl")
    monkeypatch.setattr(blobsync, "PUBLISH_BLOBS", 3, raising=False)
    told: list[str] = []
    #: at each sync: (blobs named in the target, digests told, copies journalled)
    seen: list[tuple[int, int, int]] = []
    durable: set[str] = set()  # named, and the names synced since
    real_sync = local_module.FilesystemSync.sync

    def sync(self: local_module.FilesystemSync) -> bool:
        journalled = {e["digest"] for e in journal._journal.entries()}
        # nothing told or journalled before its name was synced (an earlier batch's
        # digests may be told while the next batch syncs: they are durable already)
        assert set(told) <= durable and journalled <= durable
        seen.append((len(_named(target)), len(told), len(journalled)))
        names_now = _named(target)
        done = real_sync(self)
        if len(seen) % 2 == 0:  # a publish's second sync: the names
            durable.update(names_now)
        return done

    monkeypatch.setattr(local_module.FilesystemSync, "sync", sync)
    fsynced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        fsynced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)

    def on_done(settled: Settled) -> None:
        assert settled.digest in durable  # told only once durable under its name
        told.append(settled.digest)

    report = copy_sorted_blobs(
        ((d, None) for d in digests),
        [source],
        [target],
        workers=2,
        journal=journal,
        on_done=on_done,
        tmp_dir=tmp_path,
    )
    assert report.ok and sorted(report.copied["nas"]) == digests
    assert sorted(told) == digests
    assert _named(target) == set(digests)
    assert all(target.verify(d) for d in digests)
    # no fsync of any blob: a sync of the bytes, then one of the names, per batch of 3
    # (or more: a batch names every blob written when it is published)
    assert not [p for p in fsynced if str(target.root) in p]
    assert 2 <= len(seen) <= 2 * 3 and len(seen) % 2 == 0
    for at_bytes in seen[::2]:
        assert at_bytes[1] <= at_bytes[0]  # nothing told that was not named before
    assert seen[0] == (0, 0, 0)
    assert not list(target.tmp_dir.iterdir())
    assert {e["digest"] for e in journal._journal.entries()} == set(digests)


def test_a_batch_that_cannot_be_made_durable_is_failed_not_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, digests = _source(tmp_path, 4)
    target = LocalBlobStore(tmp_path / "target", name="nas")
    journal = JsonlJournal(tmp_path / "journal.jsonl")

    def failed(self: local_module.FilesystemSync) -> bool:
        raise OSError(errno.EIO, "cannot make files durable: Input/output error")

    with monkeypatch.context() as patched:
        patched.setattr(local_module.FilesystemSync, "sync", failed)
        told: list[Settled] = []
        report = copy_sorted_blobs(
            ((d, None) for d in digests), [source], [target], journal=journal, on_done=told.append
        )
    assert sorted(report.failed["nas"]) == digests and not report.copied["nas"]
    assert all("durable" in why for why in report.failed["nas"].values())
    assert sorted(s.digest for s in told) == digests  # told: settled, as failed
    assert not _named(target) and not list(target.tmp_dir.iterdir())
    assert not list(journal._journal.entries())
    # the next run copies them
    again = copy_sorted_blobs(((d, None) for d in digests), [source], [target], journal=journal)
    assert again.ok and sorted(again.copied["nas"]) == digests
    assert all(target.verify(d) for d in digests)


def test_without_syncfs_each_copy_is_fsynced_before_it_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, digests = _source(tmp_path, 3)
    target = LocalBlobStore(tmp_path / "target", name="nas")
    monkeypatch.setattr(local_module.FilesystemSync, "sync", lambda self: False)
    events: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    report = copy_sorted_blobs(((d, None) for d in digests), [source], [target])
    assert report.ok and sorted(report.copied["nas"]) == digests
    blobs = [e for e in events if Path(e).parent == target.tmp_dir]
    assert len(blobs) == len(digests)  # each blob's bytes, in tmp/, before its name
    assert {str(target.path_for(d).parent) for d in digests} <= set(events)
