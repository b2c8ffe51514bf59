"""Copies of a blob re-read side by side: one hashed, the others compared with it.

Each case is one a shortcut would get wrong: trusting the copies equal to a reference
without hashing it, trusting the reference for copies that differ, forking a parted
copy's hash at the wrong point, reading a copy's tail (shorter, longer, endless) wrong,
or losing a copy's verdict when another copy fails mid-stream.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import botocore.exceptions as bexc
import pytest

from photosync.blobstore.base import BlobStore
from photosync.blobstore.blobsync import copy_missing_blobs, verify_blobs
from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.readback import MISMATCH, CopyCheck, check_copies
from photosync.blobstore.s3 import S3BlobStore
from photosync.errors import BlobError

from .conformance import write_blob

CHUNK = 64  # many chunks per blob: where copies part matters
DATA = os.urandom(1000)
DIGEST = hashlib.sha256(DATA).hexdigest()
GOOD = CopyCheck()
BAD = CopyCheck(corrupt=MISMATCH)


class _Stream(io.RawIOBase):
    """Serves ``data`` (then zeros for ever with ``endless``) at most ``most`` bytes a read,
    as a socket does, failing once ``fail_at`` bytes are out."""

    def __init__(
        self, data: bytes, fail_at: int | None, endless: bool, served: list[int], most: int
    ) -> None:
        self._data = data
        self._pos = 0
        self._fail_at = fail_at
        self._endless = endless
        self._served = served
        self._most = most

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_at is not None and self._pos >= self._fail_at:
            raise OSError(5, "Input/output error")
        want = min(len(buffer), self._most)
        if self._fail_at is not None:
            want = min(want, self._fail_at - self._pos)
        piece = self._data[self._pos : self._pos + want]
        if self._endless:  # the blob's bytes, then zeros for ever
            piece += bytes(want - len(piece))
        buffer[: len(piece)] = piece
        self._pos += len(piece)
        self._served[0] += len(piece)
        return len(piece)


class MemoryStore(BlobStore):
    """One blob's bytes as this copy holds them, however wrong; counts what it serves."""

    def __init__(
        self,
        name: str,
        data: bytes | None,
        *,
        fail_at: int | None = None,
        endless: bool = False,
        trickle: int | None = None,
    ) -> None:
        self.name = name
        self.data = data
        self.fail_at = fail_at
        self.endless = endless
        self.trickle = trickle  # bytes a read at most, unbuffered: short reads mid-blob
        self.served = [0]

    def has(self, digest: str) -> bool:
        return self.data is not None

    def stat(self, digest: str) -> Any:
        return None

    def put_file(self, path: Path, digest: str) -> bool:
        raise BlobError("read only")

    def open(self, digest: str) -> BinaryIO:
        if self.data is None:
            raise BlobError(f"blob {digest} is missing from {self.name}")
        stream = _Stream(
            self.data, self.fail_at, self.endless, self.served, self.trickle or len(self.data) + 1
        )
        if self.trickle:
            return stream  # type: ignore[return-value]
        return io.BufferedReader(stream, buffer_size=16)  # type: ignore[return-value]

    def iter_digests(self) -> Iterator[str]:
        return iter([DIGEST] if self.data is not None else [])

    def locator(self, digest: str) -> str:
        return f"memory://{self.name}/{digest}"


def flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :]


def check(*stores: BlobStore, chunk: int = CHUNK) -> list[CopyCheck]:
    return check_copies(DIGEST, stores, chunk=chunk)


@pytest.mark.parametrize("chunk", [CHUNK, 1000, 1 << 20])  # many chunks, exactly one, less
def test_good_copies_are_intact(chunk: int) -> None:
    assert check(MemoryStore("a", DATA), MemoryStore("b", DATA), chunk=chunk) == [GOOD, GOOD]


def test_short_reads_mid_blob_are_not_its_end() -> None:
    # a socket hands over what has arrived: a chunk is read until it is whole
    trickling = [MemoryStore("a", DATA, trickle=7), MemoryStore("b", DATA, trickle=5)]
    assert check(*trickling) == [GOOD, GOOD]
    assert check(
        MemoryStore("a", DATA, trickle=7), MemoryStore("b", flip(DATA, 999), trickle=3)
    ) == [
        GOOD,
        BAD,
    ]


@pytest.mark.parametrize("at", [0, 63, 64, 500, 999])
def test_a_copy_that_differs_from_a_good_reference_is_corrupt(at: int) -> None:
    assert check(MemoryStore("a", DATA), MemoryStore("b", flip(DATA, at))) == [GOOD, BAD]


@pytest.mark.parametrize("at", [0, 63, 64, 500, 999])
def test_a_good_copy_is_intact_however_the_reference_is_rotten(at: int) -> None:
    # its hash is taken on from the reference's at the chunk where they part
    assert check(MemoryStore("a", flip(DATA, at)), MemoryStore("b", DATA)) == [BAD, GOOD]


def test_copies_equal_to_a_rotten_reference_are_rotten_too() -> None:
    rotten = flip(DATA, 321)
    assert check(MemoryStore("a", rotten), MemoryStore("b", rotten)) == [BAD, BAD]


def test_copies_rotten_each_in_its_own_way_are_all_corrupt() -> None:
    stores = [MemoryStore("a", flip(DATA, 700)), MemoryStore("b", flip(DATA, 10))]
    assert check(*stores) == [BAD, BAD]


@pytest.mark.parametrize(
    "length", [0, 1, 63, 64, 128, 999, 1001, 1024, 5000], ids=lambda n: f"{n}B"
)
def test_a_copy_shorter_or_longer_than_a_good_reference_is_corrupt(length: int) -> None:
    wrong = (DATA * 6)[:length]
    assert check(MemoryStore("a", DATA), MemoryStore("b", wrong)) == [GOOD, BAD]
    # and the other way round: the good copy is told apart from a truncated/padded reference
    assert check(MemoryStore("a", wrong), MemoryStore("b", DATA)) == [BAD, GOOD]


def test_an_endless_copy_is_not_read_past_a_good_reference() -> None:
    endless = MemoryStore("b", DATA, endless=True)
    assert check(MemoryStore("a", DATA), endless) == [GOOD, BAD]
    assert endless.served[0] <= len(DATA) + 2 * CHUNK + 16


def test_a_copy_that_fails_mid_stream_is_an_error_and_the_others_still_judged() -> None:
    broken = MemoryStore("b", DATA, fail_at=300)
    result = check(MemoryStore("a", DATA), broken, MemoryStore("c", flip(DATA, 900)))
    assert result[0] == GOOD and result[2] == BAD
    assert result[1].error == "Input/output error" and result[1].corrupt is None


@pytest.mark.parametrize("fail_at", [0, 100, 640])
def test_a_reference_that_fails_mid_stream_hands_its_hash_to_the_others(fail_at: int) -> None:
    reference = MemoryStore("a", DATA, fail_at=fail_at)
    result = check(reference, MemoryStore("b", DATA), MemoryStore("c", flip(DATA, 800)))
    assert result[0].error == "Input/output error"
    assert result[1:] == [GOOD, BAD]


def test_a_copy_that_cannot_be_opened_is_an_error_and_the_next_one_is_the_reference() -> None:
    result = check(MemoryStore("a", None), MemoryStore("b", flip(DATA, 5)), MemoryStore("c", DATA))
    assert result[0].error is not None and "missing" in result[0].error
    assert result[1:] == [BAD, GOOD]
    assert check(MemoryStore("a", None))[0].error is not None


def test_one_sha256_per_digest_when_the_copies_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = [0]
    real = hashlib.sha256

    class Counting:
        def __init__(self) -> None:
            self._inner = real()

        def update(self, data: Any) -> None:
            hashed[0] += len(data)
            self._inner.update(data)

        def copy(self) -> Any:
            raise AssertionError("no copy parted")

        def hexdigest(self) -> str:
            return self._inner.hexdigest()

    import photosync.blobstore.readback as readback

    monkeypatch.setattr(readback.hashlib, "sha256", Counting)
    stores = [MemoryStore(n, DATA) for n in "abc"]
    assert check(*stores) == [GOOD, GOOD, GOOD]
    assert hashed[0] == len(DATA)
    assert all(s.served[0] == len(DATA) for s in stores)


def test_a_local_reference_reuses_its_buffer_and_still_compares_right(tmp_path: Path) -> None:
    local = LocalBlobStore(tmp_path / "local")
    path, digest = write_blob(tmp_path / "in", DATA)
    local.put_file(path, digest)
    for other, want in ((DATA, GOOD), (flip(DATA, 130), BAD), (DATA[:-1], BAD)):
        assert check(local, MemoryStore("m", other)) == [GOOD, want]
        assert check(MemoryStore("m", other), local) == [want, GOOD]


# the same through verify_blobs, with a local folder and a real S3 server (moto) --------------


@pytest.fixture
def pair(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> tuple[LocalBlobStore, S3BlobStore]:
    s3 = S3BlobStore(
        "cloud", s3_bucket, endpoint_url=s3_endpoint, region="us-east-1", addressing_style="path"
    )
    return LocalBlobStore(tmp_path / "local"), s3


def _put_rotten(store: LocalBlobStore, digest: str, data: bytes) -> None:
    path = store.path_for(digest)
    os.chmod(path, 0o600)
    path.write_bytes(data)


def test_verify_blobs_judges_each_location_by_its_own_bytes(
    pair: tuple[LocalBlobStore, S3BlobStore], tmp_path: Path
) -> None:
    local, s3 = pair
    blobs = {}
    for index in range(6):
        data = os.urandom(3 * 1024 * 1024 + index)  # several chunks each
        path, digest = write_blob(tmp_path / "in", data, f"b{index}")
        local.put_file(path, digest)
        blobs[digest] = data
    digests = sorted(blobs)
    copy_missing_blobs(digests, local, [s3], workers=2)
    rotten_local, rotten_cloud, both, same, shorter, longer = digests
    key = s3.key_for
    _put_rotten(local, rotten_local, flip(blobs[rotten_local], 2_000_000))
    s3.client.put_object(
        Bucket=s3.bucket, Key=key(rotten_cloud), Body=flip(blobs[rotten_cloud], 1_500_000)
    )
    _put_rotten(local, both, flip(blobs[both], 10))
    s3.client.put_object(Bucket=s3.bucket, Key=key(both), Body=flip(blobs[both], 3_000_000))
    _put_rotten(local, same, flip(blobs[same], 1_048_576))
    s3.client.put_object(Bucket=s3.bucket, Key=key(same), Body=flip(blobs[same], 1_048_576))
    s3.client.put_object(Bucket=s3.bucket, Key=key(shorter), Body=blobs[shorter][:-1])
    s3.client.put_object(Bucket=s3.bucket, Key=key(longer), Body=blobs[longer] + b"\0")

    report = verify_blobs(digests, [s3, local], workers=3)  # the local copy is hashed
    assert sorted(report.locations["local"].corrupt) == sorted([rotten_local, both, same])
    assert sorted(report.locations["cloud"].corrupt) == sorted(
        [rotten_cloud, both, same, shorter, longer]
    )
    assert report.locations["local"].read == report.locations["cloud"].read == 6
    assert report.locations["local"].present == 3 and report.locations["cloud"].present == 1


def test_a_download_that_breaks_is_an_error_there_not_corruption(
    pair: tuple[LocalBlobStore, S3BlobStore], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    local, s3 = pair
    data = os.urandom(2 * 1024 * 1024 + 5)
    path, digest = write_blob(tmp_path / "in", data)
    local.put_file(path, digest)
    copy_missing_blobs([digest], local, [s3], workers=1)
    real_open = s3.open

    class Breaking:
        def __init__(self, body: Any) -> None:
            self._body = body
            self._read = 0

        def read(self, size: int) -> bytes:
            if self._read >= 1024 * 1024:
                raise bexc.ResponseStreamingError(error="connection reset by peer")
            chunk: bytes = self._body.read(size)
            self._read += len(chunk)
            return chunk

        def close(self) -> None:
            self._body.close()

    monkeypatch.setattr(s3, "open", lambda digest: Breaking(real_open(digest)))
    report = verify_blobs([digest], [local, s3])
    assert report.locations["local"].ok and report.locations["local"].present == 1
    cloud = report.locations["cloud"]
    assert not cloud.corrupt and cloud.present == 0
    assert cloud.errors[digest].startswith(f"reading {s3.locator(digest)} failed")
