"""The interface every blob store implements (local folder, S3, B2, ...).

Blobs are addressed by the hex SHA-256 of their bytes. A store never replaces
an existing blob with different bytes and photosync never deletes one, so the
interface has no delete.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from photosync.errors import BlobError, NotRegularFile

CHUNK_SIZE = 1024 * 1024
_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
#: where named objects live in every store, beside ``sha256/`` (never listed as blobs)
NAMED_PREFIX = "archive/"


def check_digest(digest: str) -> str:
    """Accept ``sha256:<hex>`` or ``<hex>``; return the bare lowercase hex."""
    bare = digest.removeprefix("sha256:").lower()
    if not _HEX_DIGEST.match(bare):
        raise ValueError(f"not a SHA-256 digest: {digest!r}")
    return bare


def check_name(name: str) -> str:
    """A named object's name: letters, digits, ``.``, ``_``, ``-``; no path, no hidden file."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name


def blob_key(digest: str) -> str:
    """Relative key of a blob, the same in every store: ``sha256/ab/<hex>``."""
    bare = check_digest(digest)
    return f"sha256/{bare[:2]}/{bare}"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading, never blocking on what was swapped in under its name.

    ``O_NONBLOCK`` makes opening a FIFO or device return at once, ``O_NOFOLLOW``
    refuses a symlink, and ``fstat`` on the open descriptor (not a ``stat`` before
    it: the name can change in between) decides; for a regular file ``O_NONBLOCK``
    changes nothing.
    """
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as error:
        if os.path.islink(path):
            raise NotRegularFile(f"{path} is a symlink: skipped") from error
        raise
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotRegularFile(f"{path} is {_file_kind(mode)}, not a photo file: skipped")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def hash_stream(handle: BinaryIO) -> tuple[str, int]:
    """Streamed SHA-256 of what is left in ``handle``: (hex digest, size)."""
    digest = hashlib.sha256()
    size = 0
    while chunk := handle.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def hash_file(path: Path) -> tuple[str, int]:
    """Streamed SHA-256 of a regular file: (hex digest, size)."""
    with open_regular(path) as handle:
        return hash_stream(handle)


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

    # named objects: the archive's own copy (git bundles and their manifests) ----------
    #
    # Kept under ``archive/<name>`` beside the blobs, with the same promises: an
    # object is stored whole and verified by SHA-256 or not at all, is never
    # replaced by different bytes, and is never deleted.

    def put_named(self, name: str, path: Path) -> bool:
        """Store a file as ``archive/<name>``, verified; False if identical bytes are there.

        Raises BlobError when the name holds different bytes (never overwritten).
        """
        raise BlobError(f"{self.name} cannot keep named objects")

    def open_named(self, name: str) -> BinaryIO:
        """A stream of a named object's bytes (BlobError when absent)."""
        raise BlobError(f"{self.name} cannot keep named objects")

    def iter_named(self) -> Iterator[tuple[str, int]]:
        """Every named object as (name, size), from one listing."""
        raise BlobError(f"{self.name} cannot keep named objects")

    def verify(self, digest: str) -> bool:
        """Re-read the bytes and compare with the digest."""
        bare = check_digest(digest)
        hasher = hashlib.sha256()
        with self.open(bare) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                hasher.update(chunk)
        return hasher.hexdigest() == bare
