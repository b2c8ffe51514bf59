"""The conformance suite against the local folder store."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from photosync.blobstore.base import BlobStore
from photosync.blobstore.local import LocalBlobStore

from .conformance import BlobStoreConformance


class TestLocalBlobStore(BlobStoreConformance):
    @pytest.fixture
    def store(self, tmp_path: Path) -> BlobStore:
        return LocalBlobStore(tmp_path / "store", name="local")

    def twin(self, store: BlobStore) -> BlobStore:
        assert isinstance(store, LocalBlobStore)
        return LocalBlobStore(store.root, name=store.name)

    def corrupt(self, store: BlobStore, digest: str, data: bytes) -> None:
        assert isinstance(store, LocalBlobStore)
        path = store.path_for(digest)
        os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
        path.write_bytes(data)


def test_a_batch_names_its_blobs_only_after_one_sync_of_their_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib

    import photosync.blobstore.local as local_module

    store = LocalBlobStore(tmp_path / "store")
    events: list[str] = []
    real_sync = local_module.FilesystemSync.sync

    def sync(self: local_module.FilesystemSync) -> bool:
        events.append("sync")
        return real_sync(self)

    monkeypatch.setattr(local_module.FilesystemSync, "sync", sync)
    real_file_tmp = store.file_tmp

    def file_tmp(tmp: Path, digest: str, size: int, *, read_only: bool = False) -> bool:
        events.append("name")
        return real_file_tmp(tmp, digest, size, read_only=read_only)

    monkeypatch.setattr(store, "file_tmp", file_tmp)
    batch = store.batch()
    stored = []
    for data in (b"one", b"two", b"one"):  # the same bytes twice in a batch: one blob
        writer = batch.writer()
        writer.write(data)
        stored.append(writer.commit())
    assert [now for _digest, now in stored] == [True, True, False]
    one = hashlib.sha256(b"one").hexdigest()
    assert not store.has(one) and len(batch) == 2  # not named before publish
    assert len(list(store.tmp_dir.iterdir())) == 2
    assert batch.publish() == 2
    # bytes synced before any name, names synced before publish returns
    assert events == ["sync", "name", "name", "sync"]
    assert store.path_for(one).read_bytes() == b"one"
    assert not store.path_for(one).stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert not list(store.tmp_dir.iterdir())
    assert batch.publish() == 0 and events[-1] == "sync"  # nothing pending: no sync
    # bytes already stored are not written again; a discarded batch leaves nothing
    writer = batch.writer()
    writer.write(b"one")
    assert writer.commit() == (one, False)
    writer = batch.writer()
    writer.write(b"three")
    assert writer.commit()[1] is True
    batch.close()
    assert not list(store.tmp_dir.iterdir()) and len(batch) == 0
    assert not store.has(hashlib.sha256(b"three").hexdigest())


def test_a_batch_whose_bytes_did_not_reach_the_disk_names_none_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno
    import hashlib

    import photosync.blobstore.local as local_module

    store = LocalBlobStore(tmp_path / "store")
    batch = store.batch()
    writer = batch.writer()
    writer.write(b"lost in write-back")
    digest, _now = writer.commit()

    def failed(self: local_module.FilesystemSync) -> bool:
        raise OSError(errno.EIO, "cannot make files durable: Input/output error")

    monkeypatch.setattr(local_module.FilesystemSync, "sync", failed)
    with pytest.raises(OSError):
        batch.publish()
    assert not store.has(digest)
    batch.close()
    assert hashlib.sha256(b"lost in write-back").hexdigest() == digest


def test_without_syncfs_a_batch_fsyncs_each_blob_before_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import photosync.blobstore.local as local_module

    store = LocalBlobStore(tmp_path / "store")
    events: list[str] = []
    monkeypatch.setattr(local_module.FilesystemSync, "sync", lambda self: False)
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        events.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    batch = store.batch()
    digests = []
    for data in (b"a", b"b"):
        writer = batch.writer()
        writer.write(data)
        digests.append(writer.commit()[0])
    batch.publish()
    batch.close()
    # each blob's bytes, then the folders that hold the names
    assert [Path(e).parent for e in events[:2]] == [store.tmp_dir, store.tmp_dir]
    assert set(events[2:]) == {str(store.path_for(d).parent) for d in digests} | {
        str(store.root / "sha256")
    }
    assert all(store.path_for(d).exists() for d in digests)


def test_a_batch_replaces_a_torn_blob_at_publish(tmp_path: Path) -> None:
    import hashlib

    store = LocalBlobStore(tmp_path / "store")
    digest = hashlib.sha256(b"whole bytes").hexdigest()
    torn = store.path_for(digest)
    torn.parent.mkdir(parents=True)
    torn.write_bytes(b"whole")  # a power cut before the bytes reached the disk
    batch = store.batch()
    writer = batch.writer()
    writer.write(b"whole bytes")
    assert writer.commit() == (digest, True)
    batch.publish()
    assert store.path_for(digest).read_bytes() == b"whole bytes"
    assert [p.read_bytes() for p in (store.root / "quarantine").iterdir()] == [b"whole"]
