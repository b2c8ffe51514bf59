"""Canonical JSON and atomic writes.

Canonical JSON (sorted keys, two-space indent, UTF-8, one trailing newline) makes
git diffs show only real changes; the atomic write (temp file, fsync, rename)
means a crash leaves either the old file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def canonical_dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def atomic_write(path: Path, data: bytes, *, fsync: bool = True, mode: int | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            if fsync:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any, *, fsync: bool = True, known_new: bool = False) -> bool:
    """Write canonical JSON unless the file already holds exactly that; True if written."""
    data = canonical_dumps(value).encode("utf-8")
    if not known_new:
        try:
            if path.read_bytes() == data:
                return False
        except FileNotFoundError:
            pass
    atomic_write(path, data, fsync=fsync)
    return True


def read_json(path: Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def fsync_dir(path: Path) -> None:
    """Make renames inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
