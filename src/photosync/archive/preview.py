"""A dry run's view of the archive: reads go through, writes stay in memory.

``resolve --list`` and ``resolve --auto-resolve simple --dry-run`` run the very
code of a real resolve against this view, so a preview shows exactly what the
real run would do, and nothing reaches the record files or git.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from photosync.archive.archive import Archive
from photosync.archive.state import StateDB
from photosync.errors import InternalError
from photosync.model import Record


class RecordAccess(Protocol):
    """What the resolve phase needs from an archive (the real one or a preview)."""

    @property
    def state(self) -> StateDB: ...

    def preferences(self) -> dict[str, Any]: ...

    def iter_records(self) -> Iterator[Record]: ...

    def load_record(self, photo_id: str) -> Record: ...

    def write_record(self, record: Record, *, durable: bool = False) -> bool: ...

    def remove_record(self, photo_id: str) -> None: ...

    def is_user_changed(self, photo_id: str) -> bool: ...

    def record_path(self, photo_id: str) -> Path | None: ...

    def commit(self, message: str, *, everything: bool = False) -> str | None: ...


class PreviewArchive:
    """Records as a run would leave them, kept in memory; ``commit`` does nothing."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.written: dict[str, Record] = {}
        self.removed: set[str] = set()

    @property
    def state(self) -> StateDB:
        return self.archive.state  # read for counts only: the preview writes no index rows

    def preferences(self) -> dict[str, Any]:
        return self.archive.preferences()

    def iter_records(self) -> Iterator[Record]:
        for record in self.archive.iter_records():
            photo_id = record["photo_id"]
            if photo_id not in self.removed:
                yield copy.deepcopy(self.written.get(photo_id, record))

    def load_record(self, photo_id: str) -> Record:
        if photo_id in self.removed:
            raise InternalError(f"no photo with id {photo_id} in the preview (merged away)")
        if photo_id in self.written:
            return copy.deepcopy(self.written[photo_id])
        return self.archive.load_record(photo_id)

    def write_record(self, record: Record, *, durable: bool = False) -> bool:
        self.written[record["photo_id"]] = copy.deepcopy(record)
        self.removed.discard(record["photo_id"])
        return True

    def remove_record(self, photo_id: str) -> None:
        self.removed.add(photo_id)
        self.written.pop(photo_id, None)

    def is_user_changed(self, photo_id: str) -> bool:
        return self.archive.is_user_changed(photo_id)

    def record_path(self, photo_id: str) -> Path | None:
        return None if photo_id in self.removed else self.archive.record_path(photo_id)

    def commit(self, message: str, *, everything: bool = False) -> str | None:
        return None
