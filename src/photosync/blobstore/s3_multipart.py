"""The resumable multipart upload of one S3 object (files over ``multipart_threshold``).

An unfinished upload of the same key is found with ListMultipartUploads and
continued: a part already there whose checksum (or, without one, MD5 ETag)
matches the file's bytes is not sent again, so a run killed in the middle of a
20 GB video resumes where it was. The file is read once: each part is hashed
(SHA-256, for the server to check) while the whole file's SHA-256 is
computed, and bytes that do not hash to the key abort the upload before it
completes, so an unfinished or wrong object never becomes visible. Parts go
out ``max_concurrency`` at a time (``photosync.parallel``), never more in
memory than that.

The store (``blobstore.s3``) decides when to upload and confirms the object
afterwards; this module only moves the bytes.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.exceptions as bexc

from photosync.errors import BlobError, ChecksumMismatch
from photosync.parallel import bounded_map

MiB = 1024 * 1024
MIN_PART_SIZE = 5 * MiB  # S3's minimum for every part but the last
MAX_PARTS = 10_000


def sha256_b64(raw: bytes) -> str:
    """The base64 form S3 uses for checksums."""
    return base64.b64encode(raw).decode("ascii")


@dataclass(frozen=True)
class UploadedPart:
    """A part an unfinished upload already holds, as ListParts describes it."""

    number: int
    size: int
    etag: str
    checksum: str | None


@dataclass(frozen=True)
class _Piece:
    """One part of the file as read: its bytes, their SHA-256, what the server holds."""

    number: int
    data: bytes
    raw: bytes
    previous: UploadedPart | None


class MultipartUploader:
    """Sends one file as a multipart upload through a store's client and error mapping."""

    def __init__(
        self,
        call: Callable[..., Any],
        client: Any,
        bucket: str,
        *,
        chunk: int,
        max_concurrency: int,
        server_checksums: bool,
    ) -> None:
        #: the store's ``_call``: one S3 request, botocore failures as BlobError
        self._call = call
        self.client = client
        self.bucket = bucket
        self.chunk = chunk
        self.max_concurrency = max_concurrency
        self.server_checksums = server_checksums

    def part_size(self, size: int) -> int:
        """``chunk``, doubled until the file fits S3's 10,000 parts."""
        part = self.chunk
        while -(-size // part) > MAX_PARTS:
            part *= 2
        return part

    def find(self, key: str) -> tuple[str | None, dict[int, UploadedPart]]:
        """The newest unfinished multipart upload of ``key`` and its parts, if any."""
        answer = self._call(
            "listing multipart uploads",
            self.client.list_multipart_uploads,
            Bucket=self.bucket,
            Prefix=key,
        )
        uploads = [u for u in answer.get("Uploads", []) if u.get("Key") == key]
        if not uploads:
            return None, {}
        upload = max(uploads, key=lambda u: str(u.get("Initiated", "")))
        upload_id = str(upload["UploadId"])
        parts: dict[int, UploadedPart] = {}
        marker = 0
        while True:
            page = self._call(
                "listing parts",
                self.client.list_parts,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                PartNumberMarker=marker,
            )
            for item in page.get("Parts", []):
                number = int(item["PartNumber"])
                parts[number] = UploadedPart(
                    number, int(item.get("Size", -1)), str(item["ETag"]), item.get("ChecksumSHA256")
                )
            if not page.get("IsTruncated"):
                break
            marker = int(page.get("NextPartNumberMarker", 0))
        return upload_id, parts

    @staticmethod
    def reusable(part: UploadedPart | None, data: bytes, raw: bytes) -> bool:
        """Does the server's part hold exactly these bytes?"""
        if part is None or part.size != len(data):
            return False
        if part.checksum:
            return bool(part.checksum == sha256_b64(raw))
        # no checksum in the listing: a plain ETag is the part's MD5
        return part.etag.strip('"') == hashlib.md5(data, usedforsecurity=False).hexdigest()

    def send(self, path: Path, bare: str, key: str, size: int) -> str | None:
        """Upload ``path`` as ``key`` and complete it; the composite SHA-256 the server
        should report (None without server checksums).

        Raises ChecksumMismatch (upload aborted, nothing stored) when the file does
        not hash to ``bare``; a completion another writer of the same blob beat us
        to (NoSuchUpload) is not an error: the caller judges the object.
        """
        upload_id, existing = self.find(key)
        if upload_id is None:
            extra: dict[str, Any] = {"ChecksumAlgorithm": "SHA256"} if self.server_checksums else {}
            created = self._call(
                "starting a multipart upload",
                self.client.create_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                ContentType="application/octet-stream",
                Metadata={"sha256": bare},
                **extra,
            )
            upload_id = str(created["UploadId"])
        whole = hashlib.sha256()
        part_digests: list[bytes] = []

        def pieces() -> Iterator[_Piece]:
            part_size = self.part_size(size)
            with open(path, "rb") as handle:
                number = 0
                while data := handle.read(part_size):
                    number += 1
                    whole.update(data)
                    raw = hashlib.sha256(data).digest()
                    part_digests.append(raw)
                    yield _Piece(number, data, raw, existing.get(number))

        def one(piece: _Piece) -> dict[str, Any]:
            if self.reusable(piece.previous, piece.data, piece.raw):
                assert piece.previous is not None
                return self.part_entry(piece.number, piece.previous.etag, piece.raw)
            return self.upload_part(key, str(upload_id), piece.number, piece.data, piece.raw)

        try:
            parts = list(
                bounded_map(
                    one,
                    pieces(),
                    workers=self.max_concurrency,
                    name="s3-part",
                    window_per_worker=1,
                )
            )
        except OSError as error:
            raise BlobError(f"cannot read {path}: {error.strerror or error}") from error
        if whole.hexdigest() != bare or len(part_digests) != len(parts):
            # the file changed while it was uploaded: nothing becomes visible
            self._call(
                "aborting a multipart upload",
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )
            raise ChecksumMismatch(
                f"{path} does not hash to {bare} (changed before or while it was uploaded); "
                "nothing was stored"
            )
        try:
            self._call(
                "completing a multipart upload",
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BlobError as error:
            cause = error.__cause__
            # another writer completed the same upload first: judge its result
            if not (
                isinstance(cause, bexc.ClientError)
                and cause.response.get("Error", {}).get("Code") == "NoSuchUpload"
            ):
                raise
        if not self.server_checksums:
            return None
        return sha256_b64(hashlib.sha256(b"".join(part_digests)).digest())

    def part_entry(self, number: int, etag: str, raw: bytes) -> dict[str, Any]:
        entry: dict[str, Any] = {"PartNumber": number, "ETag": etag}
        if self.server_checksums:
            entry["ChecksumSHA256"] = sha256_b64(raw)
        return entry

    def upload_part(
        self, key: str, upload_id: str, number: int, data: bytes, raw: bytes
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {}
        if self.server_checksums:
            extra = {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": sha256_b64(raw)}
        answer = self._call(
            f"uploading part {number}",
            self.client.upload_part,
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=data,
            **extra,
        )
        echoed = answer.get("ChecksumSHA256")
        if echoed is not None and echoed != sha256_b64(raw):
            raise ChecksumMismatch(f"part {number} of {key}: the server stored different bytes")
        return self.part_entry(number, str(answer["ETag"]), raw)
