"""A fault-injecting disk for in-process runs: the Nth write-like call in photosync fails.

It replaces the ``os``/``open``/``tempfile`` names that photosync's writing
modules use with proxies that count write-like calls (write, replace, link,
fsync, fdopen'd file writes, open for writing, mkstemp) and raise
``OSError(errno)`` from the ``fail_at``-th one on, as a full disk or a
read-only folder would, until ``remove()``.
"""

from __future__ import annotations

import builtins
import errno as errno_codes
import os
import tempfile
import threading
from types import ModuleType
from typing import Any

import pytest

#: modules that write to the archive, the blob store or a target folder
WRITERS = (
    "photosync.durable",
    "photosync.archive.jsonio",
    "photosync.blobstore.local",
    "photosync.services.local",
    "photosync.blobstore.blobsync",
    "photosync.workflow.blobreplicate",
    "photosync.workflow.verify",
    "photosync.archive.archive",
)
_COUNTED_OS = ("write", "replace", "rename", "link", "fsync", "open", "mkdir", "makedirs")


class DiskFaults:
    def __init__(self, error: int, fail_at: int) -> None:
        self.error = error
        self.fail_at = fail_at
        self.calls = 0
        self.raised = 0
        self.active = True
        self._lock = threading.Lock()

    def tick(self, what: str, target: Any = None) -> None:
        with self._lock:
            if not self.active:
                return
            self.calls += 1
            if self.calls < self.fail_at:
                return
            self.raised += 1
        where = target if isinstance(target, str | os.PathLike) else None
        raise OSError(self.error, f"{os.strerror(self.error)} (injected at {what})", where)

    def remove(self) -> None:
        self.active = False

    def install(self, monkeypatch: pytest.MonkeyPatch) -> DiskFaults:
        import importlib

        for name in WRITERS:
            module = importlib.import_module(name)
            if "os" in vars(module):
                monkeypatch.setattr(module, "os", _FaultyOs(self))
            if "tempfile" in vars(module):
                monkeypatch.setattr(module, "tempfile", _FaultyTempfile(self))
            monkeypatch.setattr(module, "open", _faulty_open(self), raising=False)
        return self


class _FaultyFile:
    """A file object whose writes count (and fail) like the disk's."""

    def __init__(self, inner: Any, faults: DiskFaults, name: Any) -> None:
        self._inner = inner
        self._faults = faults
        self._name = name

    def write(self, data: Any) -> Any:
        self._faults.tick("write", self._name)
        return self._inner.write(data)

    def __enter__(self) -> _FaultyFile:
        self._inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> Any:
        return self._inner.__exit__(*exc)

    def __iter__(self) -> Any:
        return iter(self._inner)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _faulty_open(faults: DiskFaults) -> Any:
    def faulty_open(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        handle = builtins.open(file, mode, *args, **kwargs)  # noqa: SIM115 - returned to the caller
        if any(flag in mode for flag in "wax+"):
            return _FaultyFile(
                handle, faults, os.fspath(file) if isinstance(file, str | os.PathLike) else None
            )
        return handle

    return faulty_open


class _FaultyOs(ModuleType):
    def __init__(self, faults: DiskFaults) -> None:
        super().__init__("os")
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        real = getattr(os, name)
        faults = self._faults
        if name == "fdopen":

            def fdopen(fd: int, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
                handle = os.fdopen(fd, mode, *args, **kwargs)
                return (
                    _FaultyFile(handle, faults, None) if any(f in mode for f in "wax+") else handle
                )

            return fdopen
        if name == "open":

            def os_open(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
                if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
                    faults.tick("open", path)
                return os.open(path, flags, *args, **kwargs)

            return os_open
        if name in _COUNTED_OS:

            def counted(*args: Any, **kwargs: Any) -> Any:
                faults.tick(name, args[0] if args and not isinstance(args[0], int) else None)
                return real(*args, **kwargs)

            return counted
        return real


class _FaultyTempfile(ModuleType):
    def __init__(self, faults: DiskFaults) -> None:
        super().__init__("tempfile")
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        real = getattr(tempfile, name)
        if name in ("mkstemp", "NamedTemporaryFile", "mkdtemp"):
            faults = self._faults

            def counted(*args: Any, **kwargs: Any) -> Any:
                faults.tick(name, kwargs.get("dir"))
                return real(*args, **kwargs)

            return counted
        return real


ENOSPC = errno_codes.ENOSPC
EACCES = errno_codes.EACCES
EROFS = errno_codes.EROFS
