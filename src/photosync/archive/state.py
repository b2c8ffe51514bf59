"""Local, rebuildable state beside the git history: caches, indexes and journals.

Lives in ``.photosync/state.sqlite`` (ignored by git). Nothing here is the
truth: the seen-cache only saves re-reading unchanged files, the indexes are
derived from the records (and rebuilt when git HEAD moved without us), and the
journals make replicate resumable.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS seen (
    service TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    version TEXT NOT NULL,
    content_hash TEXT,
    PRIMARY KEY (service, instance_id)
);
CREATE TABLE IF NOT EXISTS hash_index (
    content_hash TEXT PRIMARY KEY,
    photo_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hash_index_photo ON hash_index (photo_id);
CREATE TABLE IF NOT EXISTS record_paths (
    photo_id TEXT PRIMARY KEY,
    path TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS refused (
    service TEXT NOT NULL,
    instance_id TEXT NOT NULL,
    version TEXT NOT NULL,
    name TEXT NOT NULL,
    reason TEXT NOT NULL,
    hint TEXT,
    since TEXT NOT NULL,
    PRIMARY KEY (service, instance_id)
);
CREATE TABLE IF NOT EXISTS journal (
    operation TEXT NOT NULL,
    photo_id TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    detail TEXT,
    PRIMARY KEY (operation, photo_id, target)
);
"""


@dataclass(frozen=True)
class SeenEntry:
    version: str
    content_hash: str | None


@dataclass(frozen=True)
class RefusedItem:
    """An item a service refused for good, as discover last saw it."""

    service: str
    instance_id: str
    version: str
    name: str
    reason: str
    hint: str | None
    since: str


class StateDB:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute(
            "PRAGMA synchronous=FULL"
        )  # a committed journal entry survives power loss
        self.conn.executescript(_SCHEMA)
        self._pending_paths: dict[str, str] = {}
        self._pending_hashes: dict[str, str] = {}
        #: ``prefetch_hashes``' and ``prefetch_paths``' answers, until the index is written
        self._looked_up: dict[str, str | None] = {}
        self._looked_up_paths: dict[str, str | None] = {}

    def close(self) -> None:
        self.flush()
        self.conn.close()

    def _tx(self) -> None:
        """Writes gather in one transaction until ``flush`` (one commit per batch, not per row)."""
        if not self.conn.in_transaction:
            self.conn.execute("BEGIN")

    def flush(self) -> None:
        self._write_pending()
        if self.conn.in_transaction:
            self.conn.execute("COMMIT")

    # items a service refuses for good (discover: no bytes, so no record to note it on)
    def refused_for_service(self, service: str) -> dict[str, RefusedItem]:
        rows = self.conn.execute(
            "SELECT instance_id, version, name, reason, hint, since FROM refused WHERE service=?",
            (service,),
        )
        return {row[0]: RefusedItem(service, *row) for row in rows}

    def all_refused(self) -> list[RefusedItem]:
        rows = self.conn.execute(
            "SELECT service, instance_id, version, name, reason, hint, since FROM refused "
            "ORDER BY service, name, instance_id"
        )
        return [RefusedItem(*row) for row in rows]

    def set_refused(self, item: RefusedItem) -> None:
        self._tx()
        self.conn.execute(
            "INSERT OR REPLACE INTO refused VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                item.service,
                item.instance_id,
                item.version,
                item.name,
                item.reason,
                item.hint,
                item.since,
            ),
        )

    def forget_refused(self, service: str, instance_id: str) -> None:
        self._tx()
        self.conn.execute(
            "DELETE FROM refused WHERE service=? AND instance_id=?", (service, instance_id)
        )

    # meta ---------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None or row[0] is None else str(row[0])

    def set_meta(self, key: str, value: str | None) -> None:
        self._tx()
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # seen cache -----------------------------------------------------------
    def seen_for_service(self, service: str) -> dict[str, SeenEntry]:
        """The whole seen-cache of one service in one query (a dict lookup per item after)."""
        rows = self.conn.execute(
            "SELECT instance_id, version, content_hash FROM seen WHERE service=?", (service,)
        )
        return {row[0]: SeenEntry(row[1], row[2]) for row in rows}

    def has_seen(self, service: str) -> bool:
        """This clone listed ``service`` before (its folder was on this machine then)."""
        row = self.conn.execute("SELECT 1 FROM seen WHERE service=? LIMIT 1", (service,))
        return row.fetchone() is not None

    def seen_hashes(self) -> set[str]:
        """Every content hash this clone's seen-cache holds: what it discovered itself."""
        rows = self.conn.execute("SELECT DISTINCT content_hash FROM seen")
        return {str(row[0]) for row in rows if row[0]}

    def record_seen(self, service: str, entries: Iterable[tuple[str, str, str | None]]) -> None:
        self._tx()
        self.conn.executemany(
            "INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?)",
            ((service, iid, version, digest) for iid, version, digest in entries),
        )
        self.flush()

    def keep_seen_only(self, held: set[tuple[str, str, str]]) -> int:
        """Drop seen rows whose (service, instance, content hash) no record holds; returns how many."""
        ids = {(service, iid) for service, iid, _digest in held}
        stale = [
            (service, iid)
            for service, iid, digest in self.conn.execute(
                "SELECT service, instance_id, content_hash FROM seen"
            )
            if ((service, iid, digest) not in held if digest else (service, iid) not in ids)
        ]
        if stale:
            self._tx()
            self.conn.executemany("DELETE FROM seen WHERE service=? AND instance_id=?", stale)
            self.flush()
        return len(stale)

    # indexes ------------------------------------------------------------------
    # New rows wait in ``_pending`` until ``flush`` (one transaction per batch);
    # everything else is one primary-key lookup: nothing proportional to the
    # archive is held in memory (a million records would be 300 MB of sets).
    def photo_for_hash(self, content_hash: str) -> str | None:
        if content_hash in self._pending_hashes:
            return self._pending_hashes[content_hash]
        if content_hash in self._looked_up:
            return self._looked_up[content_hash]
        row = self.conn.execute(
            "SELECT photo_id FROM hash_index WHERE content_hash=?", (content_hash,)
        ).fetchone()
        return None if row is None else str(row[0])

    def prefetch_hashes(self, content_hashes: Iterable[str]) -> None:
        """Look these up in one query, for the ``photo_for_hash`` calls that follow.

        Each query releases the GIL and waits to take it back from the worker threads
        (hashing, storing): one query for a handful of items, not one each. Only the
        last prefetch is kept (bounded), and any write of the index drops it.
        """
        self._looked_up = self._lookup_many(
            "SELECT content_hash, photo_id FROM hash_index WHERE content_hash IN ({})",
            [h for h in dict.fromkeys(content_hashes) if h not in self._pending_hashes],
        )

    def prefetch_paths(self, photo_ids: Iterable[str]) -> None:
        """``prefetch_hashes`` for ``path_for_photo`` (a batch's records, before they are written)."""
        self._looked_up_paths = self._lookup_many(
            "SELECT photo_id, path FROM record_paths WHERE photo_id IN ({})",
            [p for p in dict.fromkeys(photo_ids) if p not in self._pending_paths],
        )

    def _lookup_many(self, query: str, keys: list[str]) -> dict[str, str | None]:
        found: dict[str, str | None] = dict.fromkeys(keys)
        for start in range(0, len(keys), 500):
            part = keys[start : start + 500]
            for key, value in self.conn.execute(query.format(",".join("?" * len(part))), part):
                found[str(key)] = str(value)
        return found

    def path_for_photo(self, photo_id: str) -> str | None:
        if photo_id in self._pending_paths:
            return self._pending_paths[photo_id]
        if photo_id in self._looked_up_paths:
            return self._looked_up_paths[photo_id]
        row = self.conn.execute(
            "SELECT path FROM record_paths WHERE photo_id=?", (photo_id,)
        ).fetchone()
        return None if row is None else str(row[0])

    def index_record(self, photo_id: str, path: str, hashes: Iterable[str]) -> None:
        self._pending_paths[photo_id] = path
        for content_hash in hashes:
            self._pending_hashes[content_hash] = photo_id

    def _write_pending(self) -> None:
        self._looked_up, self._looked_up_paths = {}, {}
        if not self._pending_paths and not self._pending_hashes:
            return
        self._tx()
        self.conn.executemany(
            "INSERT OR REPLACE INTO record_paths VALUES (?, ?)", self._pending_paths.items()
        )
        self.conn.executemany(
            "INSERT OR REPLACE INTO hash_index VALUES (?, ?)", self._pending_hashes.items()
        )
        self._pending_paths.clear()
        self._pending_hashes.clear()

    def index_many(self, rows: Iterable[tuple[str, str, Iterable[str]]]) -> None:
        for photo_id, path, hashes in rows:
            self.index_record(photo_id, path, hashes)
        self.flush()

    def forget_record(self, photo_id: str) -> None:
        self._write_pending()
        self._tx()
        self.conn.execute("DELETE FROM record_paths WHERE photo_id=?", (photo_id,))
        self.conn.execute("DELETE FROM hash_index WHERE photo_id=?", (photo_id,))

    def clear_indexes(self) -> None:
        self._looked_up, self._looked_up_paths = {}, {}
        self._pending_paths.clear()
        self._pending_hashes.clear()
        self._tx()
        self.conn.execute("DELETE FROM hash_index")
        self.conn.execute("DELETE FROM record_paths")

    def all_record_paths(self) -> Iterator[tuple[str, str]]:
        self._write_pending()
        yield from self.conn.execute("SELECT photo_id, path FROM record_paths ORDER BY path")

    def snapshot_record_paths(self, chunk: int = 2000) -> Iterator[tuple[str, str]]:
        """Every (photo_id, path) as the index holds them now, read a chunk at a time
        through a read transaction of its own (WAL: a snapshot), so the caller may write
        records meanwhile without the listing moving under it and without holding a
        million paths in memory."""
        self.flush()  # what this connection wrote is in the snapshot
        reader = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            reader.execute("BEGIN")
            rows = reader.execute("SELECT photo_id, path FROM record_paths ORDER BY path")
            while batch := rows.fetchmany(chunk):
                yield from batch
        finally:
            reader.close()

    def count_records(self) -> int:
        self._write_pending()
        return int(self.conn.execute("SELECT COUNT(*) FROM record_paths").fetchone()[0])

    # journal ---------------------------------------------------------------------
    def journal_get(
        self, operation: str, photo_id: str, target: str
    ) -> tuple[str, str | None] | None:
        row = self.conn.execute(
            "SELECT state, detail FROM journal WHERE operation=? AND photo_id=? AND target=?",
            (operation, photo_id, target),
        ).fetchone()
        return None if row is None else (str(row[0]), row[1])

    def journal_set(
        self, operation: str, photo_id: str, target: str, state: str, detail: str | None = None
    ) -> None:
        """Durable before the action it describes (synchronous commit)."""
        self._tx()
        self.conn.execute(
            "INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?)",
            (operation, photo_id, target, state, detail),
        )
        self.flush()

    def journal_entries(
        self, operation: str, state: str | None = None
    ) -> list[tuple[str, str, str, str | None]]:
        query = "SELECT photo_id, target, state, detail FROM journal WHERE operation=?"
        params: tuple[str, ...] = (operation,)
        if state is not None:
            query += " AND state=?"
            params += (state,)
        return [(row[0], row[1], row[2], row[3]) for row in self.conn.execute(query, params)]

    def journal_delete(self, operation: str, photo_id: str, target: str) -> None:
        self._tx()
        self.conn.execute(
            "DELETE FROM journal WHERE operation=? AND photo_id=? AND target=?",
            (operation, photo_id, target),
        )

    def journal_clear(self, operation: str, state: str) -> None:
        self._tx()
        self.conn.execute("DELETE FROM journal WHERE operation=? AND state=?", (operation, state))
