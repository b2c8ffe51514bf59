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
