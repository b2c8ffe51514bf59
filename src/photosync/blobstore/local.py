"""Blob store in a local folder: ``<root>/sha256/ab/<hex>``, read-only files.

Writes go to ``<root>/tmp/`` first, are fsynced, made read-only and renamed into
place, so a blob that exists under its name is complete. Ingest copies and
hashes in one pass (``BlobWriter``) so that a new original is read once and
written once.

A ``BlobBatch`` (discover's many small files) keeps that rule with one filesystem
sync for many blobs instead of an fsync each: its blobs stay complete temp files
until ``publish`` syncs them all, names them, and syncs again, so a name is still
only ever given to bytes already on disk.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

from photosync.blobstore.base import (
    CHUNK_SIZE,
    NAMED_PREFIX,
    BlobStat,
    BlobStore,
    FileReader,
    blob_key,
    check_digest,
    check_name,
    hash_stream,
)
from photosync.durable import FilesystemSync, fsync_dir, fsync_file
from photosync.errors import BlobError, ChecksumMismatch

_TMP_NAMES = itertools.count()
#: a temp file untouched this long is a leftover whatever process now has its pid
_STALE_TMP_S = 24 * 3600
#: a blob's file name: 64 lowercase hex digits (anything else in a folder is not a blob)
_BLOB_NAME = re.compile(r"[0-9a-f]{64}")


def _process_mark(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, from /proc): with the pid it
    names one process, so a pid given to another process later (a container, a reboot)
    does not pass for the run that wrote a temp file. None without /proc."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


#: this process's mark in its temp files' names (``ingest-PID-MARK-N``)
_RUN_TOKEN = _process_mark(os.getpid()) or secrets.token_hex(4)


class BlobWriter:
    """Streams bytes into a temp file while hashing; ``commit`` files it under its hash."""

    def __init__(self, store: LocalBlobStore, batch: BlobBatch | None = None) -> None:
        self.store = store
        self.batch = batch
        self.tmp_path = store.tmp_dir / f"ingest-{os.getpid()}-{_RUN_TOKEN}-{next(_TMP_NAMES)}"
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
        # an unbuffered write may take part of the chunk (a disk filling up): the rest
        # goes after it, or its error is raised; never a short file under a whole hash
        view = memoryview(chunk).cast("B")
        size = view.nbytes
        while view:
            written = self._handle.write(view)
            if not written:
                raise OSError(errno.ENOSPC, f"could not write to {self.tmp_path}")
            view = view[written:]
        self.size += size

    def copy_from(self, stream: BinaryIO) -> None:
        # read() sizes each buffer to what is there: a small photo costs no 1 MiB buffer
        while chunk := stream.read(CHUNK_SIZE):
            self.write(chunk)

    @property
    def digest(self) -> str:
        return self._hasher.hexdigest()

    def commit(self, *, durable: bool = True) -> tuple[str, bool]:
        """(digest, True if newly stored); an existing identical blob wins.

        A batch's writer leaves the blob a complete temp file, named at the batch's
        ``publish`` (True: this writer's bytes are the ones that will be named).
        """
        assert self._handle is not None
        if self.batch is not None:
            os.fchmod(self._handle.fileno(), 0o444)
        elif durable:
            os.fsync(self._handle.fileno())
        self._handle.close()
        self._handle = None
        digest = self.digest
        if self.batch is not None:
            if not self.store.holds(digest, self.size) and self.batch.add(
                digest, self.tmp_path, self.size
            ):
                return digest, True
            self.tmp_path.unlink(missing_ok=True)  # stored, or another file of the batch has it
            return digest, False
        return digest, self.store.file_tmp(self.tmp_path, digest, self.size)

    def abort(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        self.tmp_path.unlink(missing_ok=True)


class BlobBatch:
    """Blobs written now and named together: one filesystem sync for the batch.

    ``writer()`` gives writers whose bytes stay a complete, read-only temp file in
    ``tmp/``; ``publish`` makes every blob written so far durable (one ``syncfs``),
    names them (the same checks as a single write: an identical blob wins, a torn
    one is quarantined) and makes the names durable (a second ``syncfs``), so that
    nothing may name a blob before ``publish`` returns. Until then a blob is not in
    the store (``has`` is False); a killed run leaves temp files, which the next
    run's ``sweep_tmp`` removes. Writers may run in many threads; ``close`` when done.

    The syncs go through one descriptor opened before the first blob is written, so a
    write-back error of any blob fails ``publish`` (``durable.FilesystemSync``); where
    syncfs(2) does not exist each blob and folder is fsynced instead.
    """

    def __init__(self, store: LocalBlobStore) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[Path, int]] = {}
        self._fs: FilesystemSync | None = None
        #: digests a failed ``publish`` took (their bytes gone, or their names not made
        #: durable) -> why: whoever waits for them must not count them stored
        self.lost: dict[str, str] = {}

    def writer(self) -> BlobWriter:
        writer = BlobWriter(self.store, self)  # makes tmp/ if needed
        if self._fs is None:
            with self._lock:
                if self._fs is None:
                    self._fs = FilesystemSync(self.store.tmp_dir)
        return writer

    def add(self, digest: str, tmp_path: Path, size: int) -> bool:
        """Keep a written temp file for ``publish``; False if the batch has these bytes."""
        with self._lock:
            if digest in self._pending:
                return False
            self._pending[digest] = (tmp_path, size)
            return True

    def __len__(self) -> int:
        return len(self._pending)

    def put_file(self, path: Path, digest: str) -> bool:
        """``LocalBlobStore.put_file`` into the batch: the file is copied and hashed into a
        complete read-only temp file (no fsync), named at ``publish``. True: these bytes
        will be the blob once ``publish`` returns; False: the store (or the batch) holds
        them already. Raises ChecksumMismatch (nothing kept) when they do not hash to
        ``digest``."""
        return _copy_in(self.store.has, self.writer, path, digest)

    def publish(self) -> int:
        """Every blob written so far durable and under its name; returns how many.

        A blob a writer adds while this runs waits for the next ``publish``. An error
        (a failed write-back) leaves the batch's blobs unnamed and raises.
        """
        with self._lock:
            taken, self._pending = self._pending, {}
        if not taken:
            return 0
        assert self._fs is not None  # opened by the first writer
        try:
            if not self._fs.sync():  # the bytes, before any of them has a name
                for tmp_path, _size in taken.values():
                    fsync_file(tmp_path)
        except OSError as error:  # not durable, never named: the bytes go (the source has them)
            for tmp_path, _size in taken.values():
                tmp_path.unlink(missing_ok=True)
            self._lose(taken, error)
            raise
        try:
            for digest, (tmp_path, size) in taken.items():
                self.store.file_tmp(tmp_path, digest, size, read_only=True)
            if not self._fs.sync():  # the names, before anything names them
                for folder in {self.store.path_for(digest).parent for digest in taken}:
                    fsync_dir(folder)
                fsync_dir(self.store.root / "sha256")
        except OSError as error:  # named, maybe not durably: nothing may say they are stored
            self._lose(taken, error)
            raise
        return len(taken)

    def _lose(self, taken: Mapping[str, object], error: OSError) -> None:
        with self._lock:
            for digest in taken:
                self.lost[digest] = f"not made durable in {self.store.name}: {error}"

    def discard(self) -> None:
        """Drop what was not published (a run that stopped before naming it)."""
        with self._lock:
            taken, self._pending = self._pending, {}
        for tmp_path, _size in taken.values():
            tmp_path.unlink(missing_ok=True)

    def close(self) -> None:
        """``discard``, and the sync descriptor closed."""
        self.discard()
        if self._fs is not None:
            self._fs.close()
            self._fs = None


class LocalBlobStore(BlobStore):
    local_files = True
    quarantines = True
    batches = True
    lists_in_order = True  # iter_digests: sorted folders of sorted names (prefix + name)

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

    def batch(self) -> BlobBatch:
        return BlobBatch(self)

    def holds(self, digest: str, size: int) -> bool:
        """Is blob ``digest`` here, whole and intact? Asked when good bytes are in hand
        (a file stored again, a duplicate): a copy of the right size is read and hashed
        before those bytes are thrown away, so rot of the same size is replaced, not
        trusted."""
        if self.stat_size(digest) != size:
            return False
        try:
            with open(self.path_for(digest), "rb") as stored:
                return hashlib.file_digest(stored, "sha256").hexdigest() == check_digest(digest)
        except OSError:
            return False

    def stat_size(self, digest: str) -> int | None:
        try:
            return os.stat(self.path_for(digest)).st_size
        except FileNotFoundError:
            return None

    def file_tmp(self, tmp_path: Path, digest: str, size: int, *, read_only: bool = False) -> bool:
        """Name a complete temp file (already durable) as blob ``digest``: True if it
        is the blob now, False if an identical one was there (the temp file goes).
        ``read_only``: the temp file was made read-only when written."""
        final = self.path_for(digest)
        if self.holds(digest, size):
            tmp_path.unlink(missing_ok=True)
            return False
        if self.stat_size(digest) is not None:  # torn (a power cut) or rotten: kept aside
            self.quarantine(digest)
        if not read_only:
            os.chmod(tmp_path, 0o444)
        try:
            os.replace(tmp_path, final)
        except FileNotFoundError:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_path, final)
        return True

    def has(self, digest: str) -> bool:
        return self.path_for(digest).is_file()

    def stat(self, digest: str) -> BlobStat | None:
        bare = check_digest(digest)
        try:  # a string path: asked once per blob by every listing (a million at a time)
            return BlobStat(bare, os.stat(f"{self.root}/sha256/{bare[:2]}/{bare}").st_size)
        except OSError:  # absent, or nothing that can be read (a symlink loop): not held
            return None

    def put_file(self, path: Path, digest: str) -> bool:
        return _copy_in(self.has, self.writer, path, digest)

    def open(self, digest: str) -> BinaryIO:
        try:
            return open(self.path_for(digest), "rb")
        except FileNotFoundError as error:
            raise BlobError(f"blob {check_digest(digest)} is missing from {self.name}") from error

    def reader(self, digest: str) -> FileReader:
        try:
            return FileReader(open(self.path_for(digest), "rb", buffering=0))
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
            yield from [
                name
                for name in sorted(os.listdir(folder))
                if name[:2] == prefix and _BLOB_NAME.fullmatch(name)
            ]

    def locator(self, digest: str) -> str:
        return f"{self.name}:{blob_key(digest)}"

    @property
    def place(self) -> str:
        return str(self.root.resolve())

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
            if _stale(leftover):
                leftover.unlink(missing_ok=True)
                removed += 1
        return removed

    def quarantine(self, digest: str) -> Path | None:
        """Move a corrupt blob aside (never delete) so a good copy can take its place."""
        path = self.path_for(digest)
        if not path.exists():
            return None
        folder = self.root / "quarantine"
        folder.mkdir(parents=True, exist_ok=True)
        base = f"{check_digest(digest)}.{os.getpid()}"
        for count in itertools.count():
            # a name of its own: a rename would replace a bad copy kept aside before
            # (the same blob gone bad again, in a run with the same pid: a container's)
            target = folder / (base if count == 0 else f"{base}.{count}")
            try:
                os.link(path, target)  # never over an existing file
            except FileExistsError:
                continue
            except OSError:  # a filesystem without hard links
                if target.exists() or target.is_symlink():
                    continue
                shutil.move(str(path), target)
                return target
            path.unlink()
            return target
        raise AssertionError("unreachable")  # pragma: no cover


def _copy_in(
    has: Callable[[str], bool], writer_of: Callable[[], BlobWriter], path: Path, digest: str
) -> bool:
    """``put_file`` of a store or a batch: the file copied and hashed through a writer
    of its own; False when ``has`` says it is there already."""
    bare = check_digest(digest)
    if has(bare):
        return False
    writer = writer_of()
    try:
        with open(path, "rb") as source:
            writer.copy_from(source)
        if writer.digest != bare:
            raise ChecksumMismatch(f"{path} does not hash to {bare}")
        return writer.commit()[1]
    except BaseException:
        writer.abort()
        raise


def _stale(leftover: Path) -> bool:
    """A temp file no running ingest writes: written by another process than the one
    that has its pid now (or none has it), or untouched for a day."""
    parts = leftover.name.split("-")
    pid = parts[1] if len(parts) > 1 else ""
    if not pid.isdigit():
        return False
    mark = parts[2] if len(parts) > 3 else None  # ingest-PID-N: written before marks
    if int(pid) == os.getpid():
        return mark != _RUN_TOKEN
    now = _process_mark(int(pid))
    if now is not None:
        return mark != now
    if not pid_alive(int(pid)):
        return True
    try:
        return time.time() - leftover.stat().st_mtime > _STALE_TMP_S
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
