"""The conformance suite and S3-only behaviour (multipart resume, errors) on a moto server."""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.blobstore.base import BlobStore, blob_key
from photosync.blobstore.s3 import MiB, S3BlobStore
from photosync.credentials import CredentialStore
from photosync.errors import BlobError, ChecksumMismatch

from .conformance import (
    BlobStoreConformance,
    caused_by_injection,
    fail_on_open,
    read_all,
    write_blob,
)


def make_store(endpoint: str, bucket: str, **options: Any) -> S3BlobStore:
    options.setdefault("addressing_style", "path")
    options.setdefault("region", "us-east-1")
    return S3BlobStore(options.pop("name", "s3"), bucket, endpoint_url=endpoint, **options)


class TestS3BlobStore(BlobStoreConformance):
    @pytest.fixture
    def store(self, s3_endpoint: str, s3_bucket: str) -> BlobStore:
        return make_store(s3_endpoint, s3_bucket, prefix="archive/originals")

    def twin(self, store: BlobStore) -> BlobStore:
        assert isinstance(store, S3BlobStore)
        return make_store(str(store.endpoint_url), store.bucket, prefix=store.prefix)

    def corrupt(self, store: BlobStore, digest: str, data: bytes) -> None:
        assert isinstance(store, S3BlobStore)
        store.client.put_object(Bucket=store.bucket, Key=store.key_for(digest), Body=data)


class TestS3BlobStoreMultipart(BlobStoreConformance):
    """The whole suite again with every blob over the threshold: all multipart."""

    @pytest.fixture
    def store(self, s3_endpoint: str, s3_bucket: str) -> BlobStore:
        return make_store(s3_endpoint, s3_bucket, multipart_threshold=1, multipart_chunk=5 * MiB)

    def twin(self, store: BlobStore) -> BlobStore:
        assert isinstance(store, S3BlobStore)
        return make_store(
            str(store.endpoint_url), store.bucket, multipart_threshold=1, multipart_chunk=5 * MiB
        )

    def corrupt(self, store: BlobStore, digest: str, data: bytes) -> None:
        assert isinstance(store, S3BlobStore)
        store.client.put_object(Bucket=store.bucket, Key=store.key_for(digest), Body=data)


# -- layout ------------------------------------------------------------------


def test_keys_locator_and_foreign_objects(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any, tmp_path: Path
) -> None:
    store = make_store(s3_endpoint, s3_bucket, prefix="/photos/archive/")
    path, digest = write_blob(tmp_path, b"hello blob")
    store.put_file(path, digest)
    key = f"photos/archive/{blob_key(digest)}"
    assert store.locator(digest) == f"s3://{s3_bucket}/{key}"
    head = s3_admin.head_object(Bucket=s3_bucket, Key=key, ChecksumMode="ENABLED")
    assert head["Metadata"]["sha256"] == digest
    assert head["ChecksumSHA256"] == base64.b64encode(bytes.fromhex(digest)).decode()
    # objects that are not blobs of this prefix are not listed
    for junk in (
        f"{blob_key(digest)}",  # same blob without the prefix
        "photos/archive/sha256/zz/" + "a" * 64,
        "photos/archive/sha256/ab/" + "c" * 64,  # wrong fan-out folder
        "photos/archive/sha256/ab/notadigest",
        "photos/archive/readme.txt",
    ):
        s3_admin.put_object(Bucket=s3_bucket, Key=junk, Body=b"junk")
    assert list(store.iter_digests()) == [digest]


def test_listing_pages_through_many_objects(
    s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    digests = set()
    for index in range(35):
        data = index.to_bytes(4, "big")
        digest = hashlib.sha256(data).hexdigest()
        digests.add(digest)
        s3_admin.put_object(Bucket=s3_bucket, Key=blob_key(digest), Body=data)
    store = make_store(s3_endpoint, s3_bucket)
    store.list_page_size = 10  # four pages
    pages = []
    store.client.meta.events.register(
        "provide-client-params.s3.ListObjectsV2", lambda params, **_: pages.append(params)
    )
    assert set(store.iter_digests()) == digests
    assert {s.size for s in store.iter_stats()} == {4}
    assert len(pages) == 8


# -- existing objects ----------------------------------------------------------


def test_existing_wrong_object_is_never_overwritten(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_endpoint, s3_bucket)
    data = os.urandom(5000)
    path, digest = write_blob(tmp_path, data)
    store.client.put_object(Bucket=s3_bucket, Key=store.key_for(digest), Body=b"x" * 5000)
    with pytest.raises(BlobError, match="does not match"):
        store.put_file(path, digest)
    with pytest.raises(BlobError, match="does not match"):
        store.put_new_file(path, digest)
    assert read_all(store, digest) == b"x" * 5000
    # repair is the only way to replace it, and only with bytes that hash right
    bad, _ = write_blob(tmp_path / "bad", b"y" * 5000)
    with pytest.raises(ChecksumMismatch):
        store.replace_corrupt(bad, digest)
    assert store.replace_corrupt(path, digest) is True
    assert read_all(store, digest) == data
    assert store.replace_corrupt(path, digest) is False  # good now: left alone


def test_object_from_another_tool_is_checked_by_content(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_endpoint, s3_bucket)
    data = os.urandom(4000)
    path, digest = write_blob(tmp_path, data)
    # no checksum, no metadata: as rclone or the console would leave it
    store.client.put_object(Bucket=s3_bucket, Key=store.key_for(digest), Body=data)
    assert store.put_file(path, digest) is False
    other = os.urandom(4000)
    path2, digest2 = write_blob(tmp_path / "two", other)
    store.client.put_object(Bucket=s3_bucket, Key=store.key_for(digest2), Body=os.urandom(4000))
    with pytest.raises(BlobError):
        store.put_file(path2, digest2)


def test_put_new_file_never_overwrites_an_object_that_appeared(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    store = make_store(s3_endpoint, s3_bucket)
    data = os.urandom(3000)
    path, digest = write_blob(tmp_path, data)
    store.client.put_object(
        Bucket=s3_bucket,
        Key=store.key_for(digest),
        Body=data,
        Metadata={"sha256": digest, "origin": "other"},
    )
    assert store.put_new_file(path, digest, confirm=False) is False
    head = store.client.head_object(Bucket=s3_bucket, Key=store.key_for(digest))
    assert head["Metadata"]["origin"] == "other"
    path2, digest2 = write_blob(tmp_path / "new", os.urandom(3000))
    assert store.put_new_file(path2, digest2, confirm=False) is True
    assert store.verify(digest2)


def test_neighbouring_digests_upload_side_by_side(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """Blobs whose digests share their first hex digits (neighbours in a sorted list,
    uploaded by parallel workers at once) do not wait for each other's upload."""
    store = make_store(s3_endpoint, s3_bucket)
    _path, firsts = write_blob(tmp_path / "a", b"first")
    index = 0
    while True:
        data = f"neighbour {index}".encode()
        digest = hashlib.sha256(data).hexdigest()
        if digest[:2] == firsts[:2] and digest[-2:] != firsts[-2:]:
            break
        index += 1
    path, _ = write_blob(tmp_path / "b", data)
    finished = threading.Event()

    def upload() -> None:
        store.put_new_file(path, digest, confirm=False)
        finished.set()

    with store._lock(firsts):  # an upload of the first one in progress
        worker = threading.Thread(target=upload, daemon=True)
        worker.start()
        assert finished.wait(timeout=20), "the neighbour waited for the first one's lock"
    worker.join()
    assert store.verify(digest)


# -- multipart -------------------------------------------------------------------


def _multipart_store(endpoint: str, bucket: str) -> S3BlobStore:
    return make_store(
        endpoint, bucket, multipart_threshold=5 * MiB, multipart_chunk=5 * MiB, max_concurrency=2
    )


def _count_part_uploads(store: S3BlobStore) -> list[int]:
    uploaded: list[int] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        uploaded.append(int(params["PartNumber"]))

    store.client.meta.events.register("provide-client-params.s3.UploadPart", record)
    return uploaded


def test_multipart_upload_round_trip(s3_endpoint: str, s3_bucket: str, tmp_path: Path) -> None:
    store = _multipart_store(s3_endpoint, s3_bucket)
    data = os.urandom(11 * MiB + 17)
    path, digest = write_blob(tmp_path, data)
    parts = _count_part_uploads(store)
    assert store.put_file(path, digest) is True
    assert sorted(parts) == [1, 2, 3]
    head = store.client.head_object(Bucket=s3_bucket, Key=store.key_for(digest))
    assert head["ContentLength"] == len(data) and head["Metadata"]["sha256"] == digest
    assert read_all(store, digest) == data
    assert store.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_multipart_resume_reuses_uploaded_parts(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    store = _multipart_store(s3_endpoint, s3_bucket)
    data = os.urandom(11 * MiB)
    path, digest = write_blob(tmp_path, data)
    # the one opening hashes and uploads it: die inside part 2
    with fail_on_open(path, 1, fail_at=6 * MiB), pytest.raises(BlobError) as caught:
        store.put_file(path, digest)
    assert caused_by_injection(caught.value)
    assert not store.has(digest)
    assert list(store.iter_digests()) == []
    uploads = store.client.list_multipart_uploads(Bucket=s3_bucket)["Uploads"]
    assert [u["Key"] for u in uploads] == [store.key_for(digest)]
    listed = store.client.list_parts(
        Bucket=s3_bucket, Key=store.key_for(digest), UploadId=uploads[0]["UploadId"]
    )
    assert [p["PartNumber"] for p in listed["Parts"]] == [1]

    resumed = _multipart_store(s3_endpoint, s3_bucket)  # as a new process would
    parts = _count_part_uploads(resumed)
    assert resumed.put_file(path, digest) is True
    assert sorted(parts) == [2, 3]
    assert read_all(resumed, digest) == data
    assert resumed.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


def test_multipart_resume_replaces_a_bad_part(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    store = _multipart_store(s3_endpoint, s3_bucket)
    data = os.urandom(10 * MiB + 5)
    path, digest = write_blob(tmp_path, data)
    key = store.key_for(digest)
    started = store.client.create_multipart_upload(
        Bucket=s3_bucket, Key=key, ChecksumAlgorithm="SHA256"
    )
    garbage = os.urandom(5 * MiB)
    store.client.upload_part(
        Bucket=s3_bucket,
        Key=key,
        UploadId=started["UploadId"],
        PartNumber=1,
        Body=garbage,
        ChecksumAlgorithm="SHA256",
        ChecksumSHA256=base64.b64encode(hashlib.sha256(garbage).digest()).decode(),
    )
    parts = _count_part_uploads(store)
    assert store.put_file(path, digest) is True
    assert sorted(parts) == [1, 2, 3]
    assert read_all(store, digest) == data
    assert store.verify(digest)


def test_file_changing_during_multipart_upload_stores_nothing(
    s3_endpoint: str, s3_bucket: str, tmp_path: Path
) -> None:
    """The file is hashed while its parts go out (one read): bytes that are not the
    digest's, whenever they changed, abort the upload and nothing becomes visible."""
    store = _multipart_store(s3_endpoint, s3_bucket)
    data = os.urandom(10 * MiB + 5)
    path, digest = write_blob(tmp_path, data)
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # edited after it was named
    with pytest.raises(ChecksumMismatch, match="changed"):
        store.put_file(path, digest)
    assert not store.has(digest)
    assert store.client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []


# -- errors a user can act on ------------------------------------------------------


def test_missing_bucket_is_reported(s3_endpoint: str, tmp_path: Path) -> None:
    store = make_store(s3_endpoint, "no-such-bucket-here")
    with pytest.raises(BlobError, match="does not exist"):
        store.has(hashlib.sha256(b"x").hexdigest())
    path, digest = write_blob(tmp_path, b"x")
    with pytest.raises(BlobError, match="does not exist"):
        store.put_file(path, digest)


@contextmanager
def _refused_port() -> Iterator[int]:
    """A port that refuses connections: bound (so no other test or worker can take it) but
    never listening, for as long as the test needs it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_unreachable_endpoint_is_reported() -> None:
    # its own keys: it found none when it ran before any test had started the moto server
    # (alone, or first on a parallel worker) and failed on "no credentials"
    keys = {"aws_access_key_id": "AKIDLOCALTEST", "aws_secret_access_key": "local-test-secret"}
    with _refused_port() as port:
        store = make_store(
            f"http://127.0.0.1:{port}",
            "bucket",
            max_attempts=1,
            connect_timeout=2,
            credentials=keys,
        )
        with pytest.raises(BlobError, match="cannot reach"):
            store.has(hashlib.sha256(b"x").hexdigest())


@pytest.mark.parametrize(
    "query",
    [
        "?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE&X-Amz-Signature=abcdef0123456789abcdef",
        "?password=hunter2x",
        "#access_token=Fragment0Token",
    ],
)
@pytest.mark.parametrize("path", ["/", ""], ids=["slash", "no-path"])
def test_a_bad_endpoint_is_reported_without_its_query(query: str, path: str) -> None:
    """botocore quotes the endpoint word for word ("Custom endpoint `...` was not a valid
    URI"); the message showed it raw, an access key in its query included."""
    keys = {"aws_access_key_id": "AKIDLOCALTEST", "aws_secret_access_key": "local-test-secret"}
    with _refused_port() as port:
        store = make_store(
            f"http://127.0.0.1:{port}{path}{query}",
            "bucket",
            max_attempts=1,
            connect_timeout=2,
            credentials=keys,
        )
        with pytest.raises(BlobError) as caught:
            store.has(hashlib.sha256(b"x").hexdigest())
    shown = f"{caught.value} {caught.value.hint or ''}"
    for value in ("AKIAIOSFODNN7EXAMPLE", "abcdef0123456789abcdef", "hunter2x", "Fragment0Token"):
        assert value not in shown


def test_no_credentials_is_reported(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    store = make_store(s3_endpoint, s3_bucket)
    with pytest.raises(BlobError, match="no credentials") as caught:
        store.has(hashlib.sha256(b"x").hexdigest())
    assert caught.value.hint and "AWS_ACCESS_KEY_ID" in caught.value.hint


def test_credentials_from_the_credential_store(
    s3_endpoint: str, s3_bucket: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys = {
        "aws_access_key_id": os.environ["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": os.environ["AWS_SECRET_ACCESS_KEY"],
    }
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    credentials = CredentialStore(tmp_path / "cfg", backend="file")
    credentials.set("b2", keys)
    store = make_store(s3_endpoint, s3_bucket, credentials=credentials.get("b2"))
    path, digest = write_blob(tmp_path, b"with stored keys")
    assert store.put_file(path, digest) is True


def test_unknown_profile_is_reported() -> None:
    with pytest.raises(BlobError, match="profile"):
        S3BlobStore("b2", "bucket", profile="no-such-profile-anywhere")


@pytest.mark.parametrize(
    "options",
    [{"multipart_chunk": MiB}, {"addressing_style": "sideways"}, {"max_concurrency": 0}],
)
def test_bad_options_are_rejected(options: dict[str, Any]) -> None:
    with pytest.raises(BlobError):
        S3BlobStore("s3", "bucket", endpoint_url="http://127.0.0.1:9", **options)


class _DenyAll(http.server.BaseHTTPRequestHandler):
    """An S3 look-alike that refuses every request, as a bucket with the wrong key does."""

    def _deny(self) -> None:
        body = (
            b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
            b"<Message>Access Denied</Message></Error>"
        )
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(403)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", "0" if self.command == "HEAD" else str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_HEAD = _deny

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def deny_endpoint() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DenyAll)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_access_denied_is_reported(deny_endpoint: str, tmp_path: Path) -> None:
    store = make_store(deny_endpoint, "bucket", max_attempts=1)
    path, digest = write_blob(tmp_path, b"secret photo")
    with pytest.raises(BlobError, match="access denied"):
        store.put_new_file(path, digest)
    with pytest.raises(BlobError, match="access denied"):
        list(store.iter_digests())
    with pytest.raises(BlobError, match="access denied"):
        store.open(digest)


@settings(max_examples=50, deadline=None)
@given(st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1)))
def test_listing_timestamps_read_as_botocore_reads_them(moment: datetime) -> None:
    """A listing's LastModified goes through ``datetime``, not dateutil: the same value."""
    from botocore.utils import parse_timestamp

    from photosync.blobstore.s3 import _timestamp

    listed = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    assert _timestamp(listed) == parse_timestamp(listed)
    header = moment.strftime("%a, %d %b %Y %H:%M:%S GMT")  # a HEAD's Last-Modified
    assert _timestamp(header) == parse_timestamp(header)
