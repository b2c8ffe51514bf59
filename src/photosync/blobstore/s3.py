"""Blob store in an S3 bucket (AWS S3, Backblaze B2's S3 API, MinIO, ...).

Objects live at ``<prefix>sha256/ab/<hex>``. Every upload carries the SHA-256
of its bytes (``x-amz-checksum-sha256`` for the server to check, per part for
multipart uploads, and ``x-amz-meta-sha256`` for later audits), and is read
back with HEAD before ``put_file`` says it is stored. Objects are never
deleted; an existing object is replaced only by ``replace_corrupt`` with bytes
that hash to the key.

Files over ``multipart_threshold`` go up as resumable multipart uploads
(``blobstore.s3_multipart``). Unfinished uploads are invisible to readers; on AWS
a lifecycle rule ``AbortIncompleteMultipartUpload`` keeps abandoned ones from
costing money forever.

Credentials come from the caller (a dict from ``CredentialStore``), a named
AWS profile or botocore's default chain (environment, config files, instance
role) - never from the archive.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar, cast
from urllib.parse import urlsplit

import botocore.exceptions as bexc
import botocore.loaders
import botocore.session
import botocore.utils
from botocore.config import Config

from photosync.blobstore.base import (
    NAMED_PREFIX,
    BlobReader,
    BlobStat,
    BlobStore,
    blob_key,
    check_digest,
    check_name,
    hash_stream,
)
from photosync.blobstore.s3_multipart import MIN_PART_SIZE, MiB, MultipartUploader, sha256_b64
from photosync.errors import BlobError, ChecksumMismatch, shown_url
from photosync.redaction import shown_error

__all__ = ["DEFAULT_MULTIPART_THRESHOLD", "MiB", "S3BlobStore", "sha256_b64"]
#: one PUT up to this size (sent from memory, the SHA-256 checked by the server): a
#: multipart upload costs a request per part plus three, which a photo-sized original
#: does not repay (rclone's cutoff is 200 MiB); larger files go in resumable parts
DEFAULT_MULTIPART_THRESHOLD = 32 * MiB
AddressingStyle = Literal["auto", "path", "virtual"]
_KEY_TAIL = re.compile(r"^sha256/([0-9a-f]{2})/([0-9a-f]{64})$")
_T = TypeVar("_T")

#: names accepted in a credentials dict, mapped to botocore client arguments
_CREDENTIAL_ALIASES = {
    "aws_access_key_id": "aws_access_key_id",
    "access_key_id": "aws_access_key_id",
    "key_id": "aws_access_key_id",  # B2 application key id
    "application_key_id": "aws_access_key_id",
    "aws_secret_access_key": "aws_secret_access_key",
    "secret_access_key": "aws_secret_access_key",
    "application_key": "aws_secret_access_key",  # B2 application key
    "aws_session_token": "aws_session_token",
    "session_token": "aws_session_token",
}
_DENIED = {
    "AccessDenied",
    "AllAccessDisabled",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "TokenRefreshRequired",
    "UnauthorizedAccess",
    "403",
}
_UNREACHABLE = (
    bexc.EndpointConnectionError,
    bexc.ConnectTimeoutError,
    bexc.ReadTimeoutError,
    bexc.ConnectionClosedError,
)


_LOADER_LOCK = threading.Lock()
_LOADER: list[botocore.loaders.Loader] = []


def _shared_loader() -> botocore.loaders.Loader:
    with _LOADER_LOCK:
        if not _LOADER:
            _LOADER.append(botocore.loaders.create_loader())
        return _LOADER[0]


def _timestamp(value: Any) -> Any:
    """A listing's ``LastModified``, one per object: ISO 8601 read by ``datetime`` (botocore's
    default goes through dateutil, 14% of a size-only ``verify``); the HTTP date of a GET's
    or HEAD's ``Last-Modified`` by ``email.utils`` (5 us, not dateutil's 130 us: one per
    blob ``verify --read-data`` reads); other forms still go to botocore's parser."""
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
        try:
            return email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            pass
    return botocore.utils.parse_timestamp(value)


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_endpoint(name: str, endpoint_url: str | None, allow_insecure_http: bool) -> None:
    """TLS cannot be switched off silently: plain HTTP only to this machine or when asked for."""
    if endpoint_url is None:
        return
    parts = urlsplit(endpoint_url)
    if parts.scheme == "https" and parts.hostname:
        return
    if (
        parts.scheme == "http"
        and parts.hostname
        and (parts.hostname in _LOOPBACK or allow_insecure_http)
    ):
        return
    raise BlobError(
        f"S3 location {name!r}: endpoint {shown_url(endpoint_url)} must be an https:// URL",
        hint="plain http is only accepted for 127.0.0.1, or with allow_insecure_http: true "
        "in the location (keys and photos then cross the network unencrypted)",
    )


class _Download(BlobReader):
    """A GET's body whose failures (botocore's, the socket's) are a BlobError saying where."""

    def __init__(self, body: BinaryIO, failed: str, clean: Callable[[BaseException], str]) -> None:
        super().__init__(body)
        self._failed = failed
        self._clean = clean

    def read(self, size: int) -> bytes | bytearray:
        try:
            return super().read(size)
        except (bexc.BotoCoreError, OSError) as error:
            raise BlobError(f"{self._failed}: {self._clean(error)}") from error


class _AlreadyThere(Exception):
    """A conditional PUT found the key taken."""


def _code(error: BaseException) -> str:
    """The S3 error code behind a BlobError raised by ``_call`` ("" if none)."""
    cause = error.__cause__
    if isinstance(cause, bexc.ClientError):
        return str(cause.response.get("Error", {}).get("Code", ""))
    return ""


class S3BlobStore(BlobStore):
    """Content-addressed blobs in one bucket under an optional prefix."""

    lists_sizes = True
    lists_in_order = True  # ListObjectsV2: UTF-8 binary key order, sha256/ab/<hex> keys
    puts_new = True
    replaces_corrupt = True

    def __init__(
        self,
        name: str,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: AddressingStyle = "auto",
        profile: str | None = None,
        credentials: Mapping[str, Any] | None = None,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        multipart_chunk: int = 8 * MiB,
        max_concurrency: int = 8,
        verify_after_put: bool = True,
        server_checksums: bool = True,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_attempts: int = 5,
        allow_insecure_http: bool = False,
    ) -> None:
        _check_endpoint(name, endpoint_url, allow_insecure_http)
        if not bucket or "/" in bucket:
            raise BlobError(f"S3 location {name!r}: invalid bucket name {bucket!r}")
        if addressing_style not in ("auto", "path", "virtual"):
            raise BlobError(
                f"S3 location {name!r}: addressing_style must be auto, path or virtual, "
                f"not {addressing_style!r}"
            )
        if multipart_chunk < MIN_PART_SIZE:
            raise BlobError(f"S3 location {name!r}: multipart_chunk must be at least 5 MiB")
        if multipart_threshold < 1 or max_concurrency < 1:
            raise BlobError(
                f"S3 location {name!r}: multipart_threshold and max_concurrency must be positive"
            )
        self.name = name
        self.bucket = bucket
        clean = prefix.strip("/")
        self.prefix = f"{clean}/" if clean else ""
        self.endpoint_url = endpoint_url
        self.multipart_threshold = multipart_threshold
        self.multipart_chunk = multipart_chunk
        self.max_concurrency = max_concurrency
        self.verify_after_put = verify_after_put
        self.server_checksums = server_checksums
        self._secrets = dict(credentials or {})
        self._locks = [threading.Lock() for _ in range(256)]
        self._bucket_checked = False
        self._conditional_ok = True
        self.list_page_size = 1000
        client_args: dict[str, Any] = {}
        for field, value in self._secrets.items():
            target = _CREDENTIAL_ALIASES.get(field)
            if target and value:
                client_args[target] = value
        config = Config(
            max_pool_connections=max(10, 2 * max_concurrency),
            retries={"max_attempts": max_attempts, "mode": "standard"},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            s3={"addressing_style": addressing_style},
            # checksums are added explicitly (SHA-256), not CRC32 on every request,
            # which some S3-compatible servers reject
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        try:
            session = botocore.session.Session(profile=profile or None)
            # the parsed API models are the slow part of a new session: share them
            session.register_component("data_loader", _shared_loader())
            session.get_component("response_parser_factory").set_parser_defaults(
                timestamp_parser=_timestamp
            )
            self.client: Any = session.create_client(
                "s3", endpoint_url=endpoint_url, region_name=region, config=config, **client_args
            )
        except bexc.ProfileNotFound as error:
            raise BlobError(
                f"S3 location {name!r}: AWS profile {profile!r} is not configured",
                hint="create it with `aws configure --profile NAME` or set profile to null",
            ) from error
        except (bexc.BotoCoreError, ValueError) as error:
            raise BlobError(f"S3 location {name!r}: {self._clean(error)}") from error
        self.multipart = MultipartUploader(
            self._call,
            self.client,
            bucket,
            chunk=multipart_chunk,
            max_concurrency=max_concurrency,
            server_checksums=server_checksums,
        )

    # -- helpers -----------------------------------------------------------

    def key_for(self, digest: str) -> str:
        return self.prefix + blob_key(self._bare(digest))

    def _bare(self, digest: str) -> str:
        try:
            return check_digest(digest)
        except (ValueError, AttributeError, TypeError) as error:
            raise BlobError(
                f"invalid blob digest {digest!r}: expected 64 hexadecimal characters"
            ) from error

    def _clean(self, error: BaseException | str) -> str:
        """botocore's text as a message may carry it: it quotes the endpoint, query and all."""
        return shown_error(error, self._secrets)

    def _lock(self, bare: str) -> threading.Lock:
        """One writer per key at a time. Striped by the digest's last hex digits: the
        first ones are the key's folder, shared by neighbours in a sorted list of
        digests, which are exactly the blobs uploaded side by side."""
        return self._locks[int(bare[-4:], 16) % len(self._locks)]

    def _call(self, action: str, fn: Callable[..., _T], **kwargs: Any) -> _T:
        """Run one S3 call; turn botocore failures into a BlobError a user can act on."""
        where = f"S3 location {self.name!r} (bucket {self.bucket!r})"
        try:
            return fn(**kwargs)
        except bexc.NoCredentialsError as error:
            raise BlobError(
                f"{where}: no credentials found for {action}",
                hint="set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, configure a profile, "
                "or store keys with photosync's credential store",
            ) from error
        except bexc.PartialCredentialsError as error:
            raise BlobError(f"{where}: incomplete credentials: {self._clean(error)}") from error
        except _UNREACHABLE as error:
            raise BlobError(
                f"{where}: cannot reach endpoint "
                f"{shown_url(self.endpoint_url) if self.endpoint_url else 'AWS S3'} during {action}: "
                f"{self._clean(error)}"
            ) from error
        except bexc.ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            message = self._clean(str(error.response.get("Error", {}).get("Message", "")))
            if code == "NoSuchBucket":
                raise BlobError(
                    f"{where}: the bucket does not exist", hint="create it or fix 'bucket'"
                ) from error
            if code in _DENIED:
                raise BlobError(
                    f"{where}: access denied during {action} ({code})",
                    hint="check the key's permissions and that the key belongs to this bucket",
                ) from error
            raise BlobError(f"{where}: {action} failed: {code} {message}".rstrip()) from error
        except bexc.BotoCoreError as error:
            raise BlobError(f"{where}: {action} failed: {self._clean(error)}") from error

    def _check_bucket(self) -> None:
        """Tell "no such bucket" apart from "no such object" once (HEAD 404s look alike)."""
        if self._bucket_checked:
            return
        try:
            self._call("checking the bucket", self.client.head_bucket, Bucket=self.bucket)
        except BlobError as error:
            cause = error.__cause__
            if isinstance(cause, bexc.ClientError):
                code = str(cause.response.get("Error", {}).get("Code", ""))
                if code in ("404", "NoSuchBucket", "NotFound"):
                    raise BlobError(
                        f"S3 location {self.name!r}: bucket {self.bucket!r} does not exist",
                        hint="create it or fix 'bucket'",
                    ) from cause
                # keys limited to object access may not HEAD the bucket: carry on
            else:
                raise
        self._bucket_checked = True

    def _head(self, key: str) -> dict[str, Any] | None:
        self._check_bucket()
        try:
            return dict(
                self._call(
                    "HEAD",
                    self.client.head_object,
                    Bucket=self.bucket,
                    Key=key,
                    ChecksumMode="ENABLED",
                )
            )
        except BlobError as error:
            cause = error.__cause__
            if isinstance(cause, bexc.ClientError) and str(
                cause.response.get("Error", {}).get("Code")
            ) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    @staticmethod
    def _judge(
        head: Mapping[str, Any], bare: str, size: int, composite: str | None = None
    ) -> Literal["match", "mismatch", "unknown"]:
        """Compare a HEAD answer with what the blob must be."""
        if int(head.get("ContentLength", -1)) != size:
            return "mismatch"
        meta = {k.lower(): v for k, v in (head.get("Metadata") or {}).items()}
        stored = meta.get("sha256")
        if stored is not None and stored.lower() != bare:
            return "mismatch"
        checksum = head.get("ChecksumSHA256")
        multipart = "-" in str(head.get("ETag", ""))
        if checksum:
            value = str(checksum).split("-")[0]
            if not multipart:
                if value != sha256_b64(bytes.fromhex(bare)):
                    return "mismatch"
                return "match"
            if composite is not None:
                return "match" if value == composite else "mismatch"
        return "match" if stored is not None else "unknown"

    # -- BlobStore ---------------------------------------------------------

    def has(self, digest: str) -> bool:
        return self._head(self.key_for(digest)) is not None

    def stat(self, digest: str) -> BlobStat | None:
        bare = self._bare(digest)
        head = self._head(self.key_for(bare))
        return None if head is None else BlobStat(bare, int(head.get("ContentLength", 0)))

    def open(self, digest: str) -> BinaryIO:
        bare = self._bare(digest)
        self._check_bucket()
        try:
            answer = self._call(
                "GET", self.client.get_object, Bucket=self.bucket, Key=self.key_for(bare)
            )
        except BlobError as error:
            cause = error.__cause__
            if isinstance(cause, bexc.ClientError) and str(
                cause.response.get("Error", {}).get("Code")
            ) in ("404", "NoSuchKey", "NotFound"):
                raise BlobError(f"blob {bare} is missing from {self.name}") from cause
            raise
        return cast(BinaryIO, answer["Body"])

    def iter_stats(self) -> Iterator[BlobStat]:
        """Every blob under the prefix with its size, from listings only (no HEADs)."""
        self._check_bucket()
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(
                "listing",
                self.client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=self.prefix + "sha256/",
                MaxKeys=self.list_page_size,
                **extra,
            )
            for item in page.get("Contents", []):
                match = _KEY_TAIL.match(str(item["Key"])[len(self.prefix) :])
                if match and match.group(2).startswith(match.group(1)):
                    yield BlobStat(match.group(2), int(item.get("Size", 0)))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    def iter_digests(self) -> Iterator[str]:
        for item in self.iter_stats():
            yield item.digest

    def locator(self, digest: str) -> str:
        return f"s3://{self.bucket}/{self.key_for(digest)}"

    @property
    def place(self) -> str:
        return f"{self.endpoint_url or ''} s3://{self.bucket}/{self.prefix}"

    def reader(self, digest: str) -> BlobReader:
        """The object's bytes as they download (``verify`` hashes them); a missing blob
        raises BlobError, and so does a download that fails on the way."""
        bare = self._bare(digest)
        return _Download(self.open(bare), f"reading {self.locator(bare)} failed", self._clean)

    def put_file(self, path: Path, digest: str) -> bool:
        """Upload ``path`` as blob ``digest``; False when an identical object is there."""
        bare = self._bare(digest)
        key = self.key_for(bare)
        with self._lock(bare):
            size = self._local_size(path)
            head = self._head(key)
            if head is not None:
                return self._existing(head, bare, size)
            self._upload(path, bare, key, size)
            return True

    def put_new_file(self, path: Path, digest: str, *, confirm: bool = True) -> bool:
        """``put_file`` for a caller whose fresh listing lacked the blob.

        Skips the HEAD before the upload (one request less per blob) and sends
        the PUT with ``If-None-Match: *``, so an object that appeared meanwhile
        is still never overwritten: the server refuses and it is judged as in
        ``put_file``. With ``confirm=False`` the HEAD after a small upload is
        skipped too when the server answered with the SHA-256 it checked the
        received bytes against (S3 stores an object durably before it answers,
        and reads after writes are consistent); without that echo it still HEADs.
        """
        bare = self._bare(digest)
        key = self.key_for(bare)
        with self._lock(bare):
            size = self._local_size(path)
            if size > self.multipart_threshold or not self._conditional_ok:
                head = self._head(key)
                if head is not None:
                    return self._existing(head, bare, size)
                self._upload(path, bare, key, size)
                return True
            self._check_bucket()
            try:
                self._put_single(path, bare, key, size, conditional=True, confirm=confirm)
            except _AlreadyThere:
                head = self._head(key)
                if head is None:
                    raise BlobError(
                        f"{self.locator(bare)}: the server reported it present, then absent"
                    ) from None
                return self._existing(head, bare, size)
            return True

    def _existing(self, head: Mapping[str, Any], bare: str, size: int) -> bool:
        verdict = self._judge(head, bare, size)
        if verdict == "unknown":
            verdict = "match" if self.verify(bare) else "mismatch"
        if verdict == "match":
            return False
        raise BlobError(
            f"{self.locator(bare)} exists but does not match its digest",
            hint="run `photosync verify --repair` to restore it from a good copy",
        )

    def replace_corrupt(self, path: Path, digest: str) -> bool:
        """Overwrite an object that fails verification with bytes that hash to its key.

        The only way photosync ever replaces an object; refuses when the object
        is present and correct (returns False) and never deletes anything.
        """
        bare = self._bare(digest)
        key = self.key_for(bare)
        with self._lock(bare):
            size = self._local_size(path)
            head = self._head(key)
            if (
                head is not None
                and self._judge(head, bare, size) != "mismatch"
                and self.verify(bare)
            ):
                return False
            self._upload(path, bare, key, size)
            return True

    # -- named objects -------------------------------------------------------

    def named_key(self, name: str) -> str:
        return self.prefix + NAMED_PREFIX + check_name(name)

    def put_named(self, name: str, path: Path) -> bool:
        """One PUT with the file's SHA-256 for the server to check, ``If-None-Match: *``
        (an object already there is judged, never overwritten), then a HEAD."""
        key = self.named_key(name)
        digest, size = self._hash_path(path)
        if size > 5 * 1024 * MiB:
            raise BlobError(f"{path} is larger than one S3 PUT takes (5 GiB)")
        head = self._head(key)
        if head is None:
            extra: dict[str, Any] = {}
            if self.server_checksums:
                extra = {
                    "ChecksumAlgorithm": "SHA256",
                    "ChecksumSHA256": sha256_b64(bytes.fromhex(digest)),
                }
            if self._conditional_ok:
                extra["IfNoneMatch"] = "*"
            try:
                with open(path, "rb") as handle:
                    # small objects from memory (what was hashed is what is sent);
                    # a large bundle streams from the file, the server checks the SHA-256
                    body: Any = handle.read() if size <= 64 * MiB else handle
                    self._call(
                        "upload",
                        self.client.put_object,
                        Bucket=self.bucket,
                        Key=key,
                        Body=body,
                        ContentLength=size,
                        ContentType="application/octet-stream",
                        Metadata={"sha256": digest},
                        **extra,
                    )
            except OSError as error:
                raise BlobError(f"cannot read {path}: {error.strerror or error}") from error
            except BlobError as error:
                code = _code(error)
                if code in ("NotImplemented", "501") and "IfNoneMatch" in extra:
                    self._conditional_ok = False  # no conditional writes here: HEAD decided
                    return self.put_named(name, path)
                if code not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                    raise
            head = self._head(key)
            if head is None:
                raise BlobError(f"s3://{self.bucket}/{key} is not visible after upload")
            if self._judge(head, digest, size) == "match":
                return True
            raise ChecksumMismatch(f"s3://{self.bucket}/{key}: the stored object does not match")
        if self._judge(head, digest, size) == "match":
            return False
        raise BlobError(
            f"s3://{self.bucket}/{key} exists with different bytes; photosync never overwrites it"
        )

    def open_named(self, name: str) -> BinaryIO:
        key = self.named_key(name)
        self._check_bucket()
        try:
            answer = self._call("GET", self.client.get_object, Bucket=self.bucket, Key=key)
        except BlobError as error:
            if _code(error) in ("404", "NoSuchKey", "NotFound"):
                raise BlobError(f"{NAMED_PREFIX}{name} is missing from {self.name}") from error
            raise
        return cast(BinaryIO, answer["Body"])

    def iter_named(self) -> Iterator[tuple[str, int]]:
        self._check_bucket()
        start = self.prefix + NAMED_PREFIX
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = self._call(
                "listing",
                self.client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=start,
                MaxKeys=self.list_page_size,
                **extra,
            )
            for item in page.get("Contents", []):
                name = str(item["Key"])[len(start) :]
                try:
                    check_name(name)
                except ValueError:
                    continue
                yield name, int(item.get("Size", 0))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    # -- uploads -----------------------------------------------------------

    @staticmethod
    def _local_size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError as error:
            raise BlobError(f"cannot read {path}: {error.strerror or error}") from error

    def _upload(self, path: Path, bare: str, key: str, size: int) -> None:
        if size <= self.multipart_threshold:
            self._put_single(path, bare, key, size)
        else:
            self._put_multipart(path, bare, key, size)

    def _put_single(
        self,
        path: Path,
        bare: str,
        key: str,
        size: int,
        *,
        conditional: bool = False,
        confirm: bool = True,
    ) -> None:
        try:
            with open(path, "rb") as handle:
                data = handle.read(size + 1)
        except OSError as error:
            raise BlobError(f"cannot read {path}: {error.strerror or error}") from error
        raw = hashlib.sha256(data).digest()
        if raw.hex() != bare or len(data) != size:
            raise ChecksumMismatch(f"{path} does not hash to {bare} (it hashes to {raw.hex()})")
        extra: dict[str, Any] = {}
        if self.server_checksums:
            extra = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": sha256_b64(raw)}
        if conditional:
            extra["IfNoneMatch"] = "*"
        try:
            answer = self._call(
                "upload",
                self.client.put_object,
                Bucket=self.bucket,
                Key=key,
                Body=data,
                ContentType="application/octet-stream",
                Metadata={"sha256": bare},
                **extra,
            )
        except BlobError as error:
            code = _code(error)
            if conditional and code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise _AlreadyThere from error
            if conditional and code in ("NotImplemented", "501"):
                # this server has no conditional writes: fall back to HEAD first
                self._conditional_ok = False
                if self._head(key) is not None:
                    raise _AlreadyThere from error
                self._put_single(path, bare, key, size)
                return
            raise
        echoed = answer.get("ChecksumSHA256")
        if echoed is not None and echoed != sha256_b64(raw):
            raise ChecksumMismatch(f"{self.locator(bare)}: the server stored different bytes")
        if echoed is None or (confirm and self.verify_after_put):
            self._confirm(bare, key, size, None)

    def _confirm(self, bare: str, key: str, size: int, composite: str | None) -> None:
        head = self._head(key)
        if head is None:
            raise BlobError(f"{self.locator(bare)} is not visible after upload")
        verdict = self._judge(head, bare, size, composite)
        if verdict == "unknown":
            verdict = "match" if self.verify(bare) else "mismatch"
        if verdict != "match":
            raise ChecksumMismatch(
                f"{self.locator(bare)}: the stored object does not match after upload"
            )

    def _put_multipart(self, path: Path, bare: str, key: str, size: int) -> None:
        """Resumable parts (``s3_multipart``), then the object judged as a whole."""
        try:
            composite = self.multipart.send(path, bare, key, size)
            self._confirm(bare, key, size, composite)
        except ChecksumMismatch:
            raise
        except BlobError:
            # a concurrent writer of the same blob may have completed (or aborted) the
            # upload we joined: its finished object is as good as ours
            if not self._finished_by_another_writer(bare, key, size):
                raise

    def _finished_by_another_writer(self, bare: str, key: str, size: int) -> bool:
        """Only after a failure: read the object back rather than trust its metadata."""
        head = self._head(key)
        return (
            head is not None and self._judge(head, bare, size) != "mismatch" and self.verify(bare)
        )

    @staticmethod
    def _hash_path(path: Path) -> tuple[str, int]:
        try:
            with open(path, "rb") as handle:
                return hash_stream(handle)
        except OSError as error:
            raise BlobError(f"cannot read {path}: {error.strerror or error}") from error
