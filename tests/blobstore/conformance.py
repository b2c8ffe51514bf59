"""The rules every blob store must keep, as one suite each backend runs.

A backend's test module subclasses ``BlobStoreConformance`` and provides:

- fixture ``store``: an empty store for one test;
- ``twin(store)``: a second, independent instance on the same location (as
  another process would have), for concurrent writers;
- ``corrupt(store, digest, data)``: replace a stored blob's bytes behind the
  store's back.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photosync.blobstore.base import BlobStore
from photosync.errors import BlobError, ChecksumMismatch, PhotosyncError

HOSTILE_DIGESTS = [
    "",
    "sha256:",
    "../../../../etc/passwd",
    "a" * 63,
    "a" * 65,
    "g" * 64,
    "sha256/ab/" + "a" * 64,
    "ab/" + "a" * 61,
    "a" * 32 + "/" + "a" * 31,
    "a" * 63 + "\n",
    "a" * 63 + "\x00",
    " " + "a" * 64,
    "md5:" + "a" * 64,
    "\u0661" * 64,  # Arabic-Indic digits: "digits", but not hex
]


class InjectedFailure(OSError):
    """Raised from inside a read to simulate a crash or lost disk mid-upload."""


def caused_by_injection(error: BaseException) -> bool:
    """True when ``error`` is the injected failure, or a store's error wrapping it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, InjectedFailure):
            return True
        seen = seen.__cause__
    return False


def write_blob(folder: Path, data: bytes, name: str = "blob.bin") -> tuple[Path, str]:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    return path, hashlib.sha256(data).hexdigest()


def read_all(store: BlobStore, digest: str) -> bytes:
    with store.open(digest) as stream:
        return stream.read()


class _FailingReader(io.RawIOBase):
    """Reads a file but raises ``InjectedFailure`` once ``fail_at`` bytes have been read."""

    def __init__(self, path: Path, fail_at: int) -> None:
        self._inner = builtins.open(path, "rb", buffering=0)  # noqa: SIM115
        self._fail_at = fail_at
        self._pos = 0

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        raise io.UnsupportedOperation("no fd: force copies through read()")

    def tell(self) -> int:
        return self._pos  # as a file opened for reading says (no seeking though)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._pos + len(view) > self._fail_at:
            allowed = self._fail_at - self._pos
            if allowed <= 0:
                raise InjectedFailure("injected failure mid-read")
            view = view[:allowed]
        count = self._inner.readinto(view) or 0
        self._pos += count
        return count

    def close(self) -> None:
        self._inner.close()
        super().close()


@contextmanager
def fail_on_open(path: Path, nth: int, fail_at: int) -> Iterator[list[int]]:
    """Make the ``nth`` opening of ``path`` fail after ``fail_at`` bytes.

    Yields a one-item list with the number of openings seen so far.
    """
    real_open = builtins.open
    seen = [0]
    target = os.path.abspath(path)

    def patched(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == target and "r" in mode:
            seen[0] += 1
            if seen[0] == nth:
                return io.BufferedReader(_FailingReader(Path(file), fail_at))
        return real_open(file, mode, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(builtins, "open", patched)
    patch.setattr(io, "open", patched)
    try:
        yield seen
    finally:
        patch.undo()


class BlobStoreConformance:
    """Subclass in a test module; see the module docstring for what to provide."""

    @pytest.fixture
    def store(self) -> BlobStore:
        raise NotImplementedError

    def twin(self, store: BlobStore) -> BlobStore:
        raise NotImplementedError

    def corrupt(self, store: BlobStore, digest: str, data: bytes) -> None:
        raise NotImplementedError

    # -- basic contract ------------------------------------------------------

    def test_empty_store(self, store: BlobStore) -> None:
        digest = hashlib.sha256(b"nothing here").hexdigest()
        assert not store.has(digest)
        assert store.stat(digest) is None
        assert list(store.iter_digests()) == []
        with pytest.raises(BlobError):
            store.open(digest)
        with pytest.raises(BlobError):
            store.verify(digest)

    def test_put_then_read_back(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(150_000)
        path, digest = write_blob(tmp_path, data)
        assert store.put_file(path, digest) is True
        assert store.has(digest)
        stat = store.stat(digest)
        assert stat is not None and stat.digest == digest and stat.size == len(data)
        assert read_all(store, digest) == data
        assert list(store.iter_digests()) == [digest]
        assert store.verify(digest)
        assert digest in store.locator(digest)
        # the ``sha256:`` form and upper case name the same blob
        assert store.has(f"sha256:{digest.upper()}")

    def test_open_streams_in_chunks(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(300_000)
        path, digest = write_blob(tmp_path, data)
        store.put_file(path, digest)
        pieces = []
        with store.open(digest) as stream:
            while piece := stream.read(65_536):
                assert len(piece) <= 65_536
                pieces.append(piece)
        assert b"".join(pieces) == data

    def test_empty_blob(self, store: BlobStore, tmp_path: Path) -> None:
        path, digest = write_blob(tmp_path, b"")
        assert store.put_file(path, digest) is True
        assert store.stat(digest) is not None
        assert read_all(store, digest) == b""
        assert store.verify(digest)

    def test_put_twice_is_a_noop(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(10_000)
        path, digest = write_blob(tmp_path, data)
        assert store.put_file(path, digest) is True
        assert store.put_file(path, digest) is False
        other, _ = write_blob(tmp_path / "again", data)
        assert store.put_file(other, digest) is False
        assert list(store.iter_digests()) == [digest]
        assert read_all(store, digest) == data

    def test_many_blobs_listed(self, store: BlobStore, tmp_path: Path) -> None:
        digests = set()
        for index in range(40):
            path, digest = write_blob(tmp_path, os.urandom(100 + index), f"b{index}")
            store.put_file(path, digest)
            digests.add(digest)
        assert sorted(store.iter_digests()) == sorted(digests)

    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(data=st.binary(max_size=3000))
    def test_any_bytes_round_trip(self, store: BlobStore, tmp_path: Path, data: bytes) -> None:
        path, digest = write_blob(tmp_path / os.urandom(6).hex(), data)
        store.put_file(path, digest)
        assert read_all(store, digest) == data
        stat = store.stat(digest)
        assert stat is not None and stat.size == len(data)

    # -- what must be refused ------------------------------------------------

    def test_checksum_mismatch_is_rejected_and_leaves_nothing(
        self, store: BlobStore, tmp_path: Path
    ) -> None:
        path, _ = write_blob(tmp_path, b"the real bytes")
        claimed = hashlib.sha256(b"other bytes").hexdigest()
        with pytest.raises(ChecksumMismatch):
            store.put_file(path, claimed)
        assert not store.has(claimed)
        assert list(store.iter_digests()) == []
        assert path.read_bytes() == b"the real bytes"  # the source is untouched

    def test_missing_source_file_is_a_blob_error(self, store: BlobStore, tmp_path: Path) -> None:
        digest = hashlib.sha256(b"x").hexdigest()
        with pytest.raises((BlobError, FileNotFoundError)):
            store.put_file(tmp_path / "absent.bin", digest)
        assert not store.has(digest)

    @pytest.mark.parametrize("digest", HOSTILE_DIGESTS)
    def test_hostile_digests_are_rejected(
        self, store: BlobStore, tmp_path: Path, digest: str
    ) -> None:
        path, _ = write_blob(tmp_path, b"payload")
        before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
        for call in (
            lambda: store.has(digest),
            lambda: store.stat(digest),
            lambda: store.open(digest),
            lambda: store.put_file(path, digest),
            lambda: store.locator(digest),
        ):
            with pytest.raises((ValueError, PhotosyncError)):
                call()
        assert list(store.iter_digests()) == []
        assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before

    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(digest=st.text(max_size=80))
    def test_any_non_digest_is_rejected(self, store: BlobStore, digest: str) -> None:
        bare = digest.removeprefix("sha256:").lower()
        if len(bare) == 64 and all(c in "0123456789abcdef" for c in bare):
            return  # a real digest: nothing to reject
        with pytest.raises((ValueError, PhotosyncError)):
            store.has(digest)
        with pytest.raises((ValueError, PhotosyncError)):
            store.locator(digest)

    # -- crashes and races ---------------------------------------------------

    def test_interrupted_upload_leaves_no_partial_blob(
        self, store: BlobStore, tmp_path: Path
    ) -> None:
        injected = 0
        for nth in (1, 2, 3):
            data = os.urandom(400_000)
            path, digest = write_blob(tmp_path / f"try{nth}", data)
            with fail_on_open(path, nth, fail_at=len(data) // 2):
                try:
                    store.put_file(path, digest)
                except (OSError, PhotosyncError) as error:
                    assert caused_by_injection(error), error
                    injected += 1
                    assert not store.has(digest)
                    assert digest not in set(store.iter_digests())
                    # a later attempt stores it whole
                    assert store.put_file(path, digest) is True
            assert read_all(store, digest) == data
        assert injected >= 1, "the failure was never injected: the test tested nothing"

    def test_concurrent_writers_end_with_one_good_blob(
        self, store: BlobStore, tmp_path: Path
    ) -> None:
        data = os.urandom(200_000)
        digest = hashlib.sha256(data).hexdigest()
        stores = [store, self.twin(store)]
        barrier = threading.Barrier(8)
        results: list[bool] = []
        errors: list[BaseException] = []

        def write(index: int) -> None:
            copy, _ = write_blob(tmp_path / f"w{index}", data)
            barrier.wait(timeout=30)
            try:
                results.append(stores[index % 2].put_file(copy, digest))
            except BaseException as error:  # collected, the test fails below
                errors.append(error)

        threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not errors, errors
        assert len(results) == 8 and any(results)
        assert list(store.iter_digests()) == [digest]
        assert read_all(store, digest) == data
        assert store.verify(digest)

    # -- verification --------------------------------------------------------

    def test_verify_detects_a_corrupted_blob(self, store: BlobStore, tmp_path: Path) -> None:
        data = os.urandom(50_000)
        path, digest = write_blob(tmp_path, data)
        store.put_file(path, digest)
        assert store.verify(digest)
        flipped = bytearray(data)
        flipped[1234] ^= 0x01
        self.corrupt(store, digest, bytes(flipped))
        assert not store.verify(digest)
        assert store.has(digest)  # corrupt, not gone: nothing deletes it

    # -- named objects (the archive's own copy: git bundles, manifests) ---------------

    def test_named_objects_round_trip_beside_the_blobs(
        self, store: BlobStore, tmp_path: Path
    ) -> None:
        assert list(store.iter_named()) == []
        data = os.urandom(70_000)
        path, digest = write_blob(tmp_path, data, "bundle")
        blob, blob_digest = write_blob(tmp_path, b"a photo", "photo")
        store.put_file(blob, blob_digest)
        assert store.put_named("bundle-x.bundle", path) is True
        assert store.put_named("bundle-x.bundle", path) is False  # identical: a no-op
        assert list(store.iter_named()) == [("bundle-x.bundle", len(data))]
        with store.open_named("bundle-x.bundle") as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == digest
        # named objects are never taken for blobs, nor blobs for named objects
        assert list(store.iter_digests()) == [blob_digest]
        with pytest.raises(BlobError):
            store.open_named("absent.json")

    def test_a_named_object_is_never_overwritten(self, store: BlobStore, tmp_path: Path) -> None:
        first, _ = write_blob(tmp_path / "a", b"version one")
        second, _ = write_blob(tmp_path / "b", b"version two, other bytes")
        assert store.put_named("manifest-1.json", first) is True
        with pytest.raises(BlobError):
            store.put_named("manifest-1.json", second)
        with store.open_named("manifest-1.json") as stream:
            assert stream.read() == b"version one"
        assert list(store.iter_named()) == [("manifest-1.json", len(b"version one"))]

    @pytest.mark.parametrize("name", ["", "../x", "a/b", ".hidden", "a\x00b", "x" * 201, "a..b"])
    def test_hostile_names_are_rejected(self, store: BlobStore, tmp_path: Path, name: str) -> None:
        path, _ = write_blob(tmp_path, b"payload")
        with pytest.raises((ValueError, PhotosyncError)):
            store.put_named(name, path)
        with pytest.raises((ValueError, PhotosyncError)):
            store.open_named(name)
        assert list(store.iter_named()) == []

    def test_interrupted_named_upload_leaves_nothing(
        self, store: BlobStore, tmp_path: Path
    ) -> None:
        data = os.urandom(300_000)
        path, _ = write_blob(tmp_path, data)
        injected = 0
        for nth in (1, 2):
            with fail_on_open(path, nth, fail_at=len(data) // 2):
                try:
                    store.put_named("bundle.bundle", path)
                except (OSError, PhotosyncError) as error:
                    assert caused_by_injection(error), error
                    injected += 1
                    assert list(store.iter_named()) == []
        assert injected >= 1, "the failure was never injected"
        store.put_named("bundle.bundle", path)
        with store.open_named("bundle.bundle") as stream:
            assert stream.read() == data
