"""One writer at a time: an advisory lock on the archive.

``flock`` is released by the kernel when its holder dies, even by SIGKILL, so a
stale lock from a killed run never blocks the next one; the pid file only says
who holds a live lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from photosync.errors import ArchiveLocked

#: how long to wait for leftovers of a dead holder to let go of the lock
STRAGGLER_GRACE_S = 10.0


class ArchiveLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        #: True when the previous holder died without releasing cleanly
        self.recovered_stale = False
        #: who that was ("pid N on HOST"), for the note the user sees
        self.previous_holder = ""

    def acquire(self) -> ArchiveLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + STRAGGLER_GRACE_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                # the run that took the lock is dead but something it started still
                # shares the lock for a moment (a child on its way out): wait for it
                if _holder_is_dead(holder) and time.monotonic() < deadline:
                    time.sleep(0.05)
                    continue
                os.close(fd)
                raise ArchiveLocked(
                    f"another photosync run holds this archive ({holder})",
                    hint="Wait for it to finish; a killed run releases the lock by itself.",
                ) from None
        previous = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
        self.recovered_stale = bool(previous)
        self.previous_holder = previous
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)  # a clean exit leaves an empty lock file
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ArchiveLock:
        return self.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()


def _holder_is_dead(holder: str) -> bool:
    """True when the lock file names a process on this host that no longer exists."""
    parts = holder.split()
    if (
        len(parts) != 4
        or parts[0] != "pid"
        or not parts[1].isdigit()
        or parts[3] != socket.gethostname()
    ):
        return False
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
