"""Found by the red-team pass: ``BlobWriter`` writes through an unbuffered file, whose
``write`` may write only part of a chunk and say so by its return value (a disk that
fills up: the bytes that fit are written, the next write fails with ENOSPC). The count
was ignored, so the hash (taken of the whole chunk) and the size matched the source
while the file held less: a truncated copy was named as the blob. Seen with
``replicate --execute`` to a local-folder location on a small tmpfs that filled up
(``verify --read-data``: "corrupt in nas ... size 12288 bytes, expected 24724"); the
archive's own store is written by the same writer (discover's ingest).
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
from pathlib import Path
from typing import Any

import pytest

from photosync.blobstore.local import LocalBlobStore


class _FillingDisk:
    """A raw file on a disk with ``room`` bytes left: a write takes what fits (a short
    count), the next one fails with ENOSPC."""

    def __init__(self, inner: Any, room: int) -> None:
        self._inner = inner
        self._room = room

    def write(self, data: Any) -> int:
        if self._room <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = memoryview(data)[: self._room]
        written = int(self._inner.write(view))
        self._room -= written
        return written

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


class _ShortWrites(_FillingDisk):
    """A raw file whose every write takes at most ``room`` bytes (a signal, a pipe-like
    filesystem): short counts, no error."""

    def write(self, data: Any) -> int:
        return int(self._inner.write(memoryview(data)[: self._room]))


def _write(store: LocalBlobStore, wrap: type[_FillingDisk], data: bytes, room: int) -> str:
    writer = store.writer()
    writer._handle = wrap(writer._handle, room)  # type: ignore[assignment]
    try:
        writer.copy_from(io.BytesIO(data))
        return writer.commit()[0]
    except BaseException:
        writer.abort()
        raise


def test_a_disk_filling_up_never_names_a_truncated_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(300_000)
    with pytest.raises(OSError):
        _write(store, _FillingDisk, data, room=100_000)
    digest = hashlib.sha256(data).hexdigest()
    assert not store.has(digest), "a truncated copy was named as the blob"


def test_short_writes_still_store_every_byte(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store")
    data = os.urandom(300_000)
    digest = _write(store, _ShortWrites, data, room=4096)
    assert store.path_for(digest).read_bytes() == data
