"""The interface every blob store implements (local folder, S3, B2, ...).

Blobs are addressed by the hex SHA-256 of their bytes. A store never replaces
an existing blob with different bytes and photosync never deletes one, so the
interface has no delete.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    """Accept ``sha256:<hex>`` or ``<hex>``; return the bare lowercase hex."""
    bare = digest.removeprefix("sha256:").lower()
    if not _HEX_DIGEST.match(bare):
        raise ValueError(f"not a SHA-256 digest: {digest!r}")
    return bare


def blob_key(digest: str) -> str:
    """Relative key of a blob, the same in every store: ``sha256/ab/<hex>``."""
    bare = check_digest(digest)
    return f"sha256/{bare[:2]}/{bare}"


def hash_file(path: Path) -> tuple[str, int]:
    """Streamed SHA-256 of a file: (hex digest, size)."""
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_SIZE):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


@dataclass(frozen=True)
class BlobStat:
    digest: str
    size: int


class BlobStore(ABC):
    """One location that holds originals."""

    #: short name from ``blob_storage`` in user-preferences.json
    name: str

    @abstractmethod
    def has(self, digest: str) -> bool: ...

    @abstractmethod
    def stat(self, digest: str) -> BlobStat | None: ...

    @abstractmethod
    def put_file(self, path: Path, digest: str) -> bool:
        """Store a local file under its digest, verifying it; False if already there."""

    @abstractmethod
    def open(self, digest: str) -> BinaryIO:
        """A stream of the blob's bytes (raises BlobError when absent)."""

    @abstractmethod
    def iter_digests(self) -> Iterator[str]: ...

    @abstractmethod
    def locator(self, digest: str) -> str:
        """Where the blob is, for people and for ``source_of_truth_path``."""

    def verify(self, digest: str) -> bool:
        """Re-read the bytes and compare with the digest."""
        bare = check_digest(digest)
        hasher = hashlib.sha256()
        with self.open(bare) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
        return hasher.hexdigest() == bare
