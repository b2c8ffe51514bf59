"""The interface every blob store implements (local folder, S3, B2, ...).

Blobs are addressed by the hex SHA-256 of their bytes. A store never replaces
an existing blob with different bytes and photosync never deletes one, so the
interface has no delete.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from photosync.errors import BlobError, NotRegularFile
from photosync.model import bare_digest

CHUNK_SIZE = 1024 * 1024
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
#: where named objects live in every store, beside ``sha256/`` (never listed as blobs)
NAMED_PREFIX = "archive/"


#: a well-formed digest no content has (for describing a store, never stored)
ZERO_DIGEST = "0" * 64


def check_digest(digest: str) -> str:
    """Accept ``sha256:<hex>`` or ``<hex>``; return the bare lowercase hex (the
    record's rule, ``model.bare_digest``)."""
    return bare_digest(digest)


def check_name(name: str) -> str:
    """A named object's name: letters, digits, ``.``, ``_``, ``-``; no path, no hidden file."""
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        raise ValueError(f"not a valid object name: {name!r}")
    return name


def blob_key(digest: str) -> str:
    """Relative key of a blob, the same in every store: ``sha256/ab/<hex>``."""
    bare = check_digest(digest)
    return f"sha256/{bare[:2]}/{bare}"


def open_regular(path: Path) -> io.BufferedReader:
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


def hash_stream(handle: io.BufferedReader) -> tuple[str, int]:
    """SHA-256 of what is left in a file opened for reading: (hex digest, size read)."""
    start = handle.tell()
    digest = hashlib.file_digest(handle, "sha256").hexdigest()
    return digest, handle.tell() - start


def hash_file(path: Path) -> tuple[str, int]:
    """Streamed SHA-256 of a regular file: (hex digest, size)."""
    with open_regular(path) as handle:
        return hash_stream(handle)


class BlobReader:
    """One copy's bytes, a chunk at a time, so that copies can be read side by side.

    ``read(size)`` returns ``size`` bytes unless the copy ends first (it reads on until
    it has them): fewer means the end, so copies read with the same sizes stay
    aligned chunk for chunk. A failure raises OSError or the store's BlobError.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream

    def read(self, size: int) -> bytes | bytearray:
        chunk = self._stream.read(size)
        if 0 < len(chunk) < size:
            parts = [chunk]
            got = len(chunk)
            while got < size and (more := self._stream.read(size - got)):
                parts.append(more)
                got += len(more)
            chunk = b"".join(parts)
        return chunk

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FileReader(BlobReader):
    """A local file of a chunk or more is read into one buffer, reused: no fresh megabyte
    per chunk, whose page faults cost about as much system time as the reading itself.
    What ``read`` returns is then that buffer: valid until the next ``read``. A smaller
    file is read as it is (a buffer of a chunk would cost more than its bytes)."""

    def __init__(self, file: io.FileIO) -> None:
        super().__init__(file)
        self._file = file
        self._buffer = bytearray()

    def read(self, size: int) -> bytes | bytearray:
        if len(self._buffer) != size:
            if os.fstat(self._file.fileno()).st_size < size:  # chooses the way only
                return super().read(size)
            self._buffer = bytearray(size)
        view = memoryview(self._buffer)
        got = 0
        while got < size and (count := self._file.readinto(view[got:])):
            got += count
        view.release()
        return self._buffer if got == size else self._buffer[:got]


class Batch(Protocol):
    """Blobs stored together (``BlobStore.batch``): each ``put_file`` leaves complete
    bytes unnamed; ``publish`` makes every one so far durable and named, or raises
    OSError and lists them in ``lost``; ``close`` drops what was not published."""

    lost: dict[str, str]

    def put_file(self, path: Path, digest: str) -> bool: ...

    def publish(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BlobStat:
    digest: str
    size: int


class BlobStore(ABC):
    """One location that holds originals."""

    #: short name from ``blob_storage`` in user-preferences.json
    name: str

    # declared capabilities: the workflow asks these flags, never the class --------------
    #: the blobs are files on this machine (``path_for``): read in place, no download
    local_files = False
    #: one listing gives every blob's size (``iter_stats``), not only its digest
    lists_sizes = False
    #: ``iter_digests``/``iter_stats`` give blobs in ascending digest order (a local folder
    #: by construction, S3 by key order), so a pass reads the listing alongside the digests
    #: it wants; another store's listing is sorted on disk first (``blobsync._Listing``)
    lists_in_order = False
    #: ``put_new_file`` stores a blob a listing just showed absent without asking again
    puts_new = False
    #: ``replace_corrupt`` overwrites a blob whose bytes are wrong with verified ones
    replaces_corrupt = False
    #: ``quarantine`` moves a corrupt blob aside (never deleted) so a good copy can go in
    quarantines = False
    #: ``batch`` gives a ``BlobBatch``: many blobs written without an fsync each, made
    #: durable and named together by its ``publish`` (one filesystem sync)
    batches = False

    def path_for(self, digest: str) -> Path:
        """The local file holding the blob (``local_files``)."""
        raise BlobError(f"{self.name} keeps no local files")

    def folder(self) -> Path:
        """The folder the blobs are in (``local_files``)."""
        raise BlobError(f"{self.name} keeps no local files")

    def batch(self) -> Batch:
        """A ``Batch`` of writes made durable together (``batches``)."""
        raise BlobError(f"{self.name} cannot store blobs in batches")

    def sweep_tmp(self) -> int:
        """Remove what killed copies left half-written; how many. Nothing to do for a
        store whose writes appear whole or not at all (S3), so every store answers."""
        return 0

    def iter_stats(self) -> Iterator[BlobStat]:
        """Every blob with its size: from one listing where the store can (``lists_sizes``),
        else one ``stat`` per blob listed."""
        for digest in self.iter_digests():
            stat = self.stat(digest)
            if stat is not None:
                yield stat

    def put_new_file(self, path: Path, digest: str, *, confirm: bool = True) -> bool:
        """Store a blob known to be absent (``puts_new``); ``confirm=False``: a later
        listing confirms it instead of a request now."""
        raise BlobError(f"{self.name} cannot store without asking first")

    def replace_corrupt(self, path: Path, digest: str) -> bool:
        """Overwrite a corrupt blob with the verified file (``replaces_corrupt``)."""
        raise BlobError(f"{self.name} cannot replace a corrupt blob")

    def quarantine(self, digest: str) -> Path | None:
        """Move a corrupt blob aside, never deleting it (``quarantines``); None if absent."""
        raise BlobError(f"{self.name} cannot quarantine a blob")

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

    @property
    def place(self) -> str:
        """Where the location points (a folder, a bucket and prefix): a location whose
        name stays while it is pointed elsewhere is another place, and what a copy
        journal says of the old one does not hold there."""
        return self.locator(ZERO_DIGEST)

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

    def reader(self, digest: str) -> BlobReader:
        """The blob's bytes for reading side by side with other copies (``BlobReader``)."""
        return BlobReader(self.open(digest))

    def verify(self, digest: str) -> bool:
        """Re-read the bytes and compare with the digest."""
        bare = check_digest(digest)
        hasher = hashlib.sha256()
        with self.reader(bare) as reader:
            while chunk := reader.read(CHUNK_SIZE):
                hasher.update(chunk)
        return hasher.hexdigest() == bare
