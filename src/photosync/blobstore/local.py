"""Blob store in a local folder: ``<root>/sha256/ab/<hex>``, read-only files.

Writes go to ``<root>/tmp/`` first, are fsynced, made read-only and renamed into
place, so a blob that exists under its name is complete. Ingest copies and
hashes in one pass (``BlobWriter``) so that a new original is read once and
written once.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from photosync.blobstore.base import (
    CHUNK_SIZE,
    NAMED_PREFIX,
    BlobStat,
    BlobStore,
    blob_key,
    check_digest,
    check_name,
    hash_stream,
)
from photosync.durable import fsync_dir
from photosync.errors import BlobError, ChecksumMismatch

_TMP_NAMES = itertools.count()


class BlobWriter:
    """Streams bytes into a temp file while hashing; ``commit`` files it under its hash."""

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store
        self.tmp_path = store.tmp_dir / f"ingest-{os.getpid()}-{next(_TMP_NAMES)}"
        try:
            fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileNotFoundError:
            store.tmp_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._handle: BinaryIO | None = os.fdopen(fd, "wb", buffering=0)
        self._hasher = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes | memoryview) -> None:
        assert self._handle is not None
        self._hasher.update(chunk)
        self._handle.write(chunk)
        self.size += len(chunk)

    def copy_from(self, stream: BinaryIO) -> None:
        # read() sizes each buffer to what is there: a small photo costs no 1 MiB buffer
        while chunk := stream.read(CHUNK_SIZE):
            self.write(chunk)

    @property
    def digest(self) -> str:
        return self._hasher.hexdigest()

    def commit(self, *, durable: bool = True) -> tuple[str, bool]:
        """(digest, True if newly stored); an existing identical blob wins."""
        assert self._handle is not None
        if durable:
            os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        digest = self.digest
        final = self.store.path_for(digest)
        try:
            existing = os.stat(final).st_size
        except FileNotFoundError:
            existing = None
        if existing == self.size:
            self.tmp_path.unlink(missing_ok=True)
            return digest, False
        if existing is not None:  # a torn copy (power cut before it reached the disk)
            self.store.quarantine(digest)
        os.chmod(self.tmp_path, 0o444)
        try:
            os.replace(self.tmp_path, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.tmp_path, final)
        return digest, True

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.tmp_path.unlink(missing_ok=True)


class LocalBlobStore(BlobStore):
    local_files = True
    quarantines = True

    def __init__(self, root: Path, name: str = "local") -> None:
        self.root = root
        self.name = name

    @property
    def tmp_dir(self) -> Path:
        return self.root / "tmp"

    def path_for(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def folder(self) -> Path:
        return self.root

    def writer(self) -> BlobWriter:
        return BlobWriter(self)

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def stat(self, digest: str) -> BlobStat | None:
        try:
            return BlobStat(check_digest(digest), self.path_for(digest).stat().st_size)
        except FileNotFoundError:
            return None

    def put_file(self, path: Path, digest: str) -> bool:
        bare = check_digest(digest)
        if self.has(bare):
            return False
        writer = self.writer()
        try:
            with open(path, "rb") as source:
                writer.copy_from(source)
            if writer.digest != bare:
                raise ChecksumMismatch(f"{path} does not hash to {bare}")
            return writer.commit()[1]
        except BaseException:
            writer.abort()
            raise

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path_for(digest), "rb")
        except FileNotFoundError as error:
            raise BlobError(f"blob {check_digest(digest)} is missing from {self.name}") from error

    def iter_digests(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for prefix in sorted(os.listdir(base)):
            folder = base / prefix
            if not folder.is_dir():
                continue
            for name in sorted(os.listdir(folder)):
                if len(name) == 64 and name.startswith(prefix):
                    yield name

    def iter_stats(self) -> Iterator[BlobStat]:
        """``iter_digests`` with each size, one ``scandir`` per folder: no path object per
        blob (a million blobs are listed in seconds, not tens of them)."""
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for prefix in sorted(os.listdir(base)):
            try:
                with os.scandir(base / prefix) as entries:
                    found = sorted(
                        (entry.name, entry)
                        for entry in entries
                        if len(entry.name) == 64 and entry.name.startswith(prefix)
                    )
            except (NotADirectoryError, FileNotFoundError):
                continue
            for name, entry in found:
                try:
                    yield BlobStat(name, entry.stat().st_size)
                except FileNotFoundError:
                    continue  # gone since the folder was read

    def locator(self, digest: str) -> str:
        return f"{self.name}:{blob_key(digest)}"

    # named objects ---------------------------------------------------------------
    def named_path(self, name: str) -> Path:
        return self.root / NAMED_PREFIX / check_name(name)

    def put_named(self, name: str, path: Path) -> bool:
        """Copied and hashed into tmp/, fsynced, then linked under its name (``link``
        never replaces an existing file, so a racing writer cannot be overwritten)."""
        final = self.named_path(name)
        writer = self.writer()
        try:
            with open(path, "rb") as source:
                writer.copy_from(source)
            assert writer._handle is not None
            os.fsync(writer._handle.fileno())
            writer._handle.close()
            writer._handle = None
            os.chmod(writer.tmp_path, 0o444)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(writer.tmp_path, final)
            except FileExistsError:
                with open(final, "rb") as existing:
                    digest, _size = hash_stream(existing)
                if digest != writer.digest:
                    raise BlobError(
                        f"{self.name}:{NAMED_PREFIX}{name} exists with different bytes; "
                        "photosync never overwrites it"
                    ) from None
                return False
            fsync_dir(final.parent)
            return True
        finally:
            writer.abort()

    def open_named(self, name: str) -> BinaryIO:
        try:
            return open(self.named_path(name), "rb")
        except FileNotFoundError as error:
            raise BlobError(f"{NAMED_PREFIX}{name} is missing from {self.name}") from error

    def iter_named(self) -> Iterator[tuple[str, int]]:
        folder = self.root / NAMED_PREFIX
        try:
            names = sorted(os.listdir(folder))
        except FileNotFoundError:
            return
        for name in names:
            try:
                check_name(name)
                info = os.stat(folder / name)
            except (ValueError, FileNotFoundError):
                continue
            yield name, info.st_size

    def sweep_tmp(self) -> int:
        """Remove temp files of ingests whose process is gone (a killed run); never blobs."""
        removed = 0
        try:
            leftovers = list(self.tmp_dir.glob("ingest-*-*"))
        except OSError:
            return 0
        for leftover in leftovers:
            pid = leftover.name.split("-")[1]
            if pid.isdigit() and int(pid) != os.getpid() and not pid_alive(int(pid)):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def quarantine(self, digest: str) -> Path | None:
        """Move a corrupt blob aside (never delete) so a good copy can take its place."""
        path = self.path_for(digest)
        if not path.exists():
            return None
        target = self.root / "quarantine" / f"{check_digest(digest)}.{os.getpid()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(path), target)
        return target


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
