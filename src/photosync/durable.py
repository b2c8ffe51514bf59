"""Durable writes, one way for every file photosync must not lose or tear.

``atomic_write``: a temp file beside the target, written whole, fsynced, renamed
over the target, and (``sync_dir``) the folder fsynced so the rename itself
survives a power cut: a crash leaves the old file or the new one, never half.
``AppendJournal``: one fsynced line per entry, a torn last line ignored on read.

``sync_filesystem``: one ``syncfs`` for a batch of files written without an fsync
each (records before a commit, a discover batch's blobs before they are named).

Used by records and config (``archive.jsonio``), the credential file, the Google
upload-intent journal and the blob-copy journal. No other layer: it imports
nothing from photosync.
"""

from __future__ import annotations

import ctypes
import json
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any


def temp_name(path: Path) -> Path:
    """The temp file ``atomic_write`` uses for ``path``: hidden, ``.tmp``, one per
    process and thread (``archive`` and ``check`` recognise a killed run's leftovers)."""
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def fsync_file(path: Path) -> None:
    """Make a file's bytes (or, for a folder, the names in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make renames and new names inside ``path`` durable."""
    fsync_file(path)


def _syncfs() -> Callable[[int], int] | None:
    """The C library's syncfs(2), None where it does not exist."""
    try:
        return ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None


def sync_filesystem(path: Path) -> None:
    """Flush every file written on ``path``'s filesystem (one call per batch, not per file)."""
    syncfs = _syncfs()
    if syncfs is not None:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            fd = None
        if fd is not None:
            try:
                if syncfs(fd) == 0:
                    return
            finally:
                os.close(fd)
    os.sync()


class FilesystemSync:
    """``syncfs`` of one filesystem through a descriptor opened once, before the files it
    is to make durable are written: the kernel reports a write-back error to every
    descriptor opened before it happened, so a failed write of any of them fails
    ``sync`` (OSError) instead of passing unseen, as an fsync of each would have.
    Where syncfs(2) does not exist ``sync`` returns False: the caller fsyncs each file.
    """

    def __init__(self, path: Path) -> None:
        self._syncfs = _syncfs()
        self._fd: int | None = os.open(path, os.O_RDONLY)

    def sync(self) -> bool:
        if self._syncfs is None:
            return False
        assert self._fd is not None, "closed"
        if self._syncfs(self._fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, f"cannot make files durable: {os.strerror(code)}")
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def atomic_write(
    path: Path,
    data: bytes,
    *,
    fsync: bool = True,
    mode: int | None = None,
    sync_dir: bool = False,
) -> None:
    """Replace ``path`` with ``data`` whole or not at all.

    ``fsync``: the bytes are on disk before the rename (off only for files that may
    be lost, like a run log's summary); ``mode``: the new file's permissions from
    its first byte (0o600 for secrets); ``sync_dir``: the folder too, so the new
    name survives a power cut (what a journal or a credential needs).
    """
    tmp = temp_name(path)
    create = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(tmp, create, 0o644 if mode is None else mode)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, create, 0o644 if mode is None else mode)
    try:
        try:
            if mode is not None:
                os.fchmod(fd, mode)  # whatever the umask: a secret is never readable by others
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(path.parent)


class AppendJournal:
    """An append-only file of JSON lines, each fsynced before ``append`` returns.

    A line cut short by a crash (the last one) is skipped by ``entries``; nothing
    already written is ever rewritten.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every whole entry, in the order written."""
        try:
            with open(self.path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue
                    if isinstance(entry, dict):
                        yield entry
        except FileNotFoundError:
            return

    def append(self, entry: dict[str, Any]) -> None:
        self.extend([entry])

    def extend(self, entries: list[dict[str, Any]]) -> None:
        """Append several entries with one write and one fsync (a group commit)."""
        if not entries:
            return
        line = "".join(json.dumps(e, sort_keys=True) + "\n" for e in entries).encode("utf-8")
        with self._lock:
            created = not self.path.exists()
            if created:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn last line stays alone, skipped on read
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            if created:
                fsync_dir(self.path.parent)
