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
    monkeypatch.setattr(local_module, "sync_filesystem", lambda path: events.append("sync"))
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
    batch.discard()
    assert not list(store.tmp_dir.iterdir()) and len(batch) == 0
    assert not store.has(hashlib.sha256(b"three").hexdigest())


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
