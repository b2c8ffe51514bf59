"""A dry run's view of the archive: reads go through, writes stay in memory.

``resolve --list`` and ``resolve --auto-resolve simple --dry-run`` run the very
code of a real resolve against this view, so a preview shows exactly what the
real run would do, and nothing reaches the record files or git.
"""

from __future__ import annotations

import copy
import json
import sqlite3
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

from photosync.archive.archive import Archive, ReadRecord
from photosync.archive.state import StateDB
from photosync.errors import InternalError
from photosync.model import Record, record_from_json, record_to_json
from photosync.parallel import bounded_map

Out = TypeVar("Out")


class RecordAccess(Protocol):
    """What the resolve phase needs from an archive (the real one or a preview)."""

    @property
    def state(self) -> StateDB: ...

    def preferences(self) -> dict[str, Any]: ...

    def iter_records(self) -> Iterator[Record]: ...

    def map_records(
        self,
        work: Callable[[ReadRecord], Out],
        *,
        workers: int = 1,
        chunk: int = 32,
        name: str = "record-read",
    ) -> Iterator[Out]: ...

    def load_record(self, photo_id: str) -> Record: ...

    def write_record(
        self, record: Record, *, durable: bool = False, was: ReadRecord | None = None
    ) -> bool: ...

    def remove_record(self, photo_id: str) -> None: ...

    def is_user_changed(self, photo_id: str) -> bool: ...

    def record_path(self, photo_id: str) -> Path | None: ...

    def commit(self, message: str, *, everything: bool = False) -> str | None: ...


class _Spill:
    """Records a preview wrote, by photo_id, in a throw-away sqlite file.

    A dry run of a first resolve writes every record: held as dictionaries, a million
    of them would take gigabytes. The file is SQLite's private temporary database, in
    the system's temporary folder (``SQLITE_TMPDIR``, ``TMPDIR``), never in the archive
    (a preview writes nothing there, and may run on a read-only one): SQLite removes its
    name as soon as it is opened, so a preview killed (kill -9) leaves nothing behind.
    The last few records are also kept parsed, as a pass reads back what it just wrote.
    """

    CACHED = 256

    def __init__(self) -> None:
        self._db = sqlite3.connect("")  # "": private, on disk, unlinked once open
        self._db.execute("PRAGMA journal_mode = OFF")
        self._db.execute("PRAGMA synchronous = OFF")
        # data NULL: the record was removed (merged away) in the preview
        self._db.execute("CREATE TABLE written (photo_id TEXT PRIMARY KEY, data BLOB)")
        self._cache: OrderedDict[str, str] = OrderedDict()

    def put(self, record: Record) -> None:
        photo_id = record["photo_id"]
        data = json.dumps(record_to_json(record), ensure_ascii=False)
        self._db.execute("INSERT OR REPLACE INTO written VALUES (?, ?)", (photo_id, data))
        self._remember(photo_id, data)

    def get(self, photo_id: str) -> Record | None:
        """A fresh copy of what was written (each caller may change its own)."""
        data = self._cache.get(photo_id)
        if data is None:
            row = self._db.execute(
                "SELECT data FROM written WHERE photo_id = ?", (photo_id,)
            ).fetchone()
            if row is None or row[0] is None:
                return None
            data = row[0]
            self._remember(photo_id, data)
        return record_from_json(json.loads(data))

    def remove(self, photo_id: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO written VALUES (?, NULL)", (photo_id,))
        self._cache.pop(photo_id, None)

    def is_removed(self, photo_id: str) -> bool:
        if photo_id in self._cache:
            return False
        row = self._db.execute(
            "SELECT 1 FROM written WHERE photo_id = ? AND data IS NULL", (photo_id,)
        )
        return row.fetchone() is not None

    def _remember(self, photo_id: str, data: str) -> None:
        self._cache[photo_id] = data
        self._cache.move_to_end(photo_id)
        while len(self._cache) > self.CACHED:
            self._cache.popitem(last=False)

    def close(self) -> None:
        self._db.close()


class PreviewArchive:
    """Records as a run would leave them, kept aside (``_Spill``); ``commit`` does nothing."""

    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self._spill = _Spill()

    def close(self) -> None:
        """Drop what the preview wrote (its temporary file)."""
        self._spill.close()

    def __enter__(self) -> PreviewArchive:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def state(self) -> StateDB:
        return self.archive.state  # read for counts only: the preview writes no index rows

    def preferences(self) -> dict[str, Any]:
        return self.archive.preferences()

    def iter_records(self) -> Iterator[Record]:
        for record in self.archive.iter_records():
            photo_id = record["photo_id"]
            if self._spill.is_removed(photo_id):
                continue
            written = self._spill.get(photo_id)
            yield written if written is not None else copy.deepcopy(record)

    def map_records(
        self,
        work: Callable[[ReadRecord], Out],
        *,
        workers: int = 1,
        chunk: int = 32,
        name: str = "record-read",
    ) -> Iterator[Out]:
        """``Archive.map_records`` over the preview's records (read here, as
        ``iter_records`` gives them; ``work`` on the threads)."""
        return bounded_map(
            lambda record: work(ReadRecord(record)),
            self.iter_records(),
            workers=workers,
            name=name,
        )

    def load_record(self, photo_id: str) -> Record:
        if self._spill.is_removed(photo_id):
            raise InternalError(f"no photo with id {photo_id} in the preview (merged away)")
        written = self._spill.get(photo_id)
        return written if written is not None else self.archive.load_record(photo_id)

    def write_record(
        self, record: Record, *, durable: bool = False, was: ReadRecord | None = None
    ) -> bool:
        self._spill.put(record)
        return True

    def remove_record(self, photo_id: str) -> None:
        self._spill.remove(photo_id)

    def is_user_changed(self, photo_id: str) -> bool:
        return self.archive.is_user_changed(photo_id)

    def record_path(self, photo_id: str) -> Path | None:
        if self._spill.is_removed(photo_id):
            return None
        return self.archive.record_path(photo_id)

    def commit(self, message: str, *, everything: bool = False) -> str | None:
        return None
