"""What ``check`` knows of each record file, kept under the file's git blob id.

Everything ``check`` derives from one record file depends only on its bytes: valid
or why not, its photo_id, the path its content says it belongs at, the hashes it
holds (with sizes), its sidecars and the locations its ``blob_locations`` names.
So those facts are kept in ``.photosync/check.sqlite`` (rebuildable, never the
truth) under the git blob id of the bytes, and the record files of ``HEAD:photos``
under the tree id they were listed from. A ``check`` whose ``HEAD:photos`` is
another tree reads only the files ``git diff-tree`` names between the two (a
discover, a pull, a reset, a committed hand edit): git says what changed, the cache
never decides it. The files ``git status`` names (uncommitted, untracked, ignored)
are read from the working tree on every run, on top; every other file is the
committed one, byte for byte, and is read by one ``git cat-file --batch`` when its
facts are not known yet.

The cross-record checks then run as SQL over tables derived from the files of this
run (``checkderive``), streamed, so memory does not grow with the archive. When the
cache cannot be opened or written (a read-only archive) or is damaged, the same
tables are built in a throw-away database in the temp folder: everything is read, as
it would be the first time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from photosync.archive.archive import Archive
from photosync.archive.git import blob_id, list_tree, read_blobs
from photosync.archive.schema import PHOTO_SCHEMA, is_valid, schema_errors, schema_text
from photosync.blobstore.base import check_digest
from photosync.errors import PhotosyncError
from photosync.model import (
    Record,
    record_from_json,
    record_hashes,
    record_relpath,
    record_sidecars,
)

#: bump when a file's facts change meaning; the photo schema's text is part of it too
VERSION = "1"
CACHE_NAME = "check.sqlite"
#: the tables derived from one run's files (``checkderive``), kept for the next run
DERIVED_NAME = "check-tables.sqlite"
#: where an earlier version kept them, unjournalled: never trusted, removed
_OLD_DERIVED_NAME = "check-derived.sqlite"
#: a hash the record holds (``record_hashes``), a sidecar, a hash an invalid record seems to hold
HASH, SIDECAR, INVALID = 0, 1, 2
_REGULAR = ("100644", "100755")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS files (rel TEXT PRIMARY KEY, oid TEXT NOT NULL,
    odd INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_odd ON files (rel) WHERE odd = 1;
CREATE TABLE IF NOT EXISTS facts (oid TEXT PRIMARY KEY, valid INTEGER NOT NULL, detail TEXT,
    photo_id TEXT, expected TEXT) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS hashes (oid TEXT NOT NULL, seq INTEGER NOT NULL, value TEXT NOT NULL,
    digest TEXT, size INTEGER, kind INTEGER NOT NULL, PRIMARY KEY (oid, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS places (oid TEXT NOT NULL, store TEXT NOT NULL,
    PRIMARY KEY (oid, store)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS loose (oid TEXT PRIMARY KEY) WITHOUT ROWID;
"""


@dataclass
class Facts:
    """What one record file's bytes say, for ``check``."""

    valid: bool
    detail: str | None = None  # why it is no valid record
    photo_id: str | None = None
    expected: str | None = None  # record_relpath
    hashes: list[tuple[str, str | None, int | None, int]] = field(default_factory=list)
    places: list[str] = field(default_factory=list)  # blob_locations' stores


def facts_of(body: bytes) -> Facts:
    """The facts of one record file's bytes (the rules ``check`` reports by)."""
    try:
        value = json.loads(body)
    except ValueError as error:
        return Facts(False, f"not valid JSON: {error}")
    if not isinstance(value, dict) or not is_valid(PHOTO_SCHEMA, value):
        problems = schema_errors(PHOTO_SCHEMA, value) or ["does not match the photo schema"]
        facts = Facts(False, "; ".join(problems[:3]))
        # its photos are not gone: the seen-cache entries pointing at it are not problems
        with contextlib.suppress(KeyError, TypeError, AttributeError):  # read defensively
            facts.hashes = [(v, None, None, INVALID) for v in record_hashes(cast(Record, value))]
        return facts
    record = record_from_json(value)
    facts = Facts(True, None, record["photo_id"], record_relpath(record))
    own = check_digest(record["content_hash"])
    for item in record_hashes(record):
        digest = check_digest(item)
        facts.hashes.append(
            (item, digest, int(record["media"]["size"]) if digest == own else None, HASH)
        )
    for item, size in record_sidecars(record).items():
        facts.hashes.append((item, check_digest(item), size, SIDECAR))
    facts.places = sorted({loc["store"] for loc in record.get("blob_locations", [])})
    return facts


def is_record_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(".json") and not name.startswith(".")


class CheckCache:
    """The facts of every record file of HEAD (kept) and of this run's working tree."""

    def __init__(self, archive: Archive, conn: sqlite3.Connection, kept: bool) -> None:
        self.archive = archive
        self.conn = conn
        self.kept = kept  # False: a throw-away database (nothing kept for the next run)
        self.read = 0  # record files read this run (by git or from the working tree)
        # blobs committed files held before ``refresh`` moved them: their facts may go
        # (``prune``); None: not known (everything was listed again)
        self.dropped: set[str] | None = set()
        self.unreadable: list[tuple[str, str]] = []  # (rel, why) of files that cannot be read

    def close(self) -> None:
        self.conn.close()

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def version(self) -> str:
        """What a file's facts mean: this module's version and the photo schema's text."""
        schema = hashlib.sha1(schema_text(PHOTO_SCHEMA).encode(), usedforsecurity=False)
        return f"{VERSION}:{schema.hexdigest()}"

    def tree(self) -> str:
        """The tree of ``HEAD:photos`` that ``files`` lists ('' when HEAD has none)."""
        return self._meta("tree") or ""

    # HEAD ---------------------------------------------------------------------------------
    def refresh(self, advance: Any) -> None:
        """Bring ``files`` to ``HEAD:photos`` and know the facts of each of its blobs."""
        root = self.archive.root
        tree = self.archive.git.run("rev-parse", "-q", "--verify", "HEAD:photos", check=False)
        tree = tree.strip()
        version = self.version()
        cached = self._meta("tree") if self._meta("version") == version else None
        changes: Iterable[tuple[str, str | None, str | None, str]]
        if cached is None:
            for table in ("meta", "files", "facts", "hashes", "places", "loose"):
                self.conn.execute(f"DELETE FROM {table}")
            changes = self._listing(tree) if tree else ()
        elif cached == tree:
            return
        else:
            try:
                changes = self._changes(cached, tree)
            except PhotosyncError:  # the old tree is gone (gc): list everything again
                self.conn.execute("DELETE FROM files")
                self.dropped = None
                changes = self._listing(tree) if tree else ()
        wanted: list[str] = []
        for rel, old, oid, mode in changes:
            if not is_record_file(rel):
                continue
            rel = "photos/" + rel
            if old is not None and self.dropped is not None:
                self.dropped.add(old)
            if oid is None:
                self.conn.execute("DELETE FROM files WHERE rel=?", (rel,))
                continue
            odd = int(mode not in _REGULAR)  # a symlink: its bytes are read where it points
            self.conn.execute("INSERT OR REPLACE INTO files VALUES (?, ?, ?)", (rel, oid, odd))
            if not odd and not self.known(oid):
                wanted.append(oid)
        for _rel, oid, body in read_blobs(root, ((oid, oid) for oid in dict.fromkeys(wanted))):
            advance()
            self.read += 1
            if oid is not None and body is not None and not self.known(oid):
                self._store(oid, facts_of(body))
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (version,))
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES ('tree', ?)", (tree,))

    def known(self, oid: str) -> bool:
        """Whether the facts of this blob are kept."""
        return self.conn.execute("SELECT 1 FROM facts WHERE oid=?", (oid,)).fetchone() is not None

    def prune(self) -> None:
        """Drop the facts of blobs no file of this run holds: the ones committed files
        held before ``refresh`` and the ones read from the working tree before (``loose``),
        asked of ``files`` in one pass. Only after the tables are derived: an update in
        place reads what the files it replaces held (``checkderive``)."""
        if not self.kept:
            return
        conn = self.conn
        here = "SELECT oid FROM temp.overlay WHERE oid IS NOT NULL"
        if self.dropped is None:  # not known: every blob no file holds
            for table in ("facts", "hashes", "places"):
                conn.execute(
                    f"DELETE FROM {table} WHERE oid NOT IN (SELECT oid FROM files UNION ALL {here})"
                )
            conn.execute(f"DELETE FROM loose WHERE oid NOT IN ({here})")
            self.dropped = set()
            return
        conn.execute("DROP TABLE IF EXISTS temp.gone")
        conn.execute("CREATE TEMP TABLE gone (oid TEXT PRIMARY KEY) WITHOUT ROWID")
        conn.executemany("INSERT OR IGNORE INTO temp.gone VALUES (?)", ((o,) for o in self.dropped))
        conn.execute(f"INSERT OR IGNORE INTO temp.gone SELECT oid FROM loose EXCEPT {here}")
        conn.execute(f"DELETE FROM temp.gone WHERE oid IN ({here})")
        self.dropped = set()
        if conn.execute("SELECT 1 FROM temp.gone LIMIT 1").fetchone() is None:
            return
        conn.execute(
            "DELETE FROM temp.gone WHERE oid IN (SELECT oid FROM files "
            "WHERE oid IN (SELECT oid FROM temp.gone))"
        )
        for table in ("facts", "hashes", "places"):
            conn.execute(f"DELETE FROM {table} WHERE oid IN (SELECT oid FROM temp.gone)")
        conn.execute(f"DELETE FROM loose WHERE oid NOT IN ({here})")

    def _store(self, oid: str, facts: Facts) -> None:
        self.conn.execute(
            "INSERT OR REPLACE INTO facts VALUES (?, ?, ?, ?, ?)",
            (oid, int(facts.valid), facts.detail, facts.photo_id, facts.expected),
        )
        self.conn.execute("DELETE FROM hashes WHERE oid=?", (oid,))
        self.conn.executemany(
            "INSERT INTO hashes VALUES (?, ?, ?, ?, ?, ?)",
            ((oid, seq, *item) for seq, item in enumerate(facts.hashes)),
        )
        self.conn.execute("DELETE FROM places WHERE oid=?", (oid,))
        self.conn.executemany(
            "INSERT INTO places VALUES (?, ?)", ((oid, store) for store in facts.places)
        )

    def _listing(self, tree: str) -> Iterator[tuple[str, str | None, str | None, str]]:
        for mode, oid, rel in list_tree(self.archive.root, tree):
            yield rel, None, oid, mode

    def _changes(self, old: str, new: str) -> list[tuple[str, str | None, str | None, str]]:
        """(path under photos/, old blob or None, new blob or None, new mode) of each file
        git says differs."""
        if not new:  # photos/ is gone from HEAD: every record goes
            rows = self.conn.execute("SELECT rel, oid FROM files").fetchall()
            return [(str(rel).removeprefix("photos/"), str(oid), None, "") for rel, oid in rows]
        return [
            (c.path, c.old_oid, c.new_oid, c.new_mode)
            for c in self.archive.git.tree_changes(old, new)
        ]

    # this run's files ---------------------------------------------------------------------
    def overlay(self, dirty: Iterable[str], advance: Any) -> None:
        """The files of this run: HEAD's, but each path ``git status`` names (and each
        symlink) as it is in the working tree now (read from disk, or gone)."""
        conn = self.conn
        conn.execute("DROP TABLE IF EXISTS temp.overlay")
        conn.execute("CREATE TEMP TABLE overlay (rel TEXT PRIMARY KEY, oid TEXT)")
        odd = [str(rel) for (rel,) in conn.execute("SELECT rel FROM files WHERE odd = 1")]
        for rel in sorted({*dirty, *odd}):
            if not rel.startswith("photos/") or not is_record_file(rel):
                continue
            path = self.archive.root / rel
            oid: str | None = None
            try:
                if path.is_file():  # a symlink to a file is read where it points
                    advance()
                    self.read += 1
                    body = path.read_bytes()
                    oid = blob_id(body)
                    if not self.known(oid):
                        self._store(oid, facts_of(body))
                    if self.kept:  # its facts go once no file holds it (``prune``)
                        conn.execute("INSERT OR IGNORE INTO loose VALUES (?)", (oid,))
            except OSError as error:
                self.unreadable.append((rel, str(error.strerror or error)))
            conn.execute("INSERT OR REPLACE INTO overlay VALUES (?, ?)", (rel, oid))
        conn.execute("DROP VIEW IF EXISTS temp.cur")
        conn.execute(
            "CREATE TEMP VIEW cur AS "
            "SELECT rel, oid FROM main.files WHERE rel NOT IN (SELECT rel FROM overlay) "
            "UNION ALL SELECT rel, oid FROM overlay WHERE oid IS NOT NULL"
        )

    def scan_key(self) -> str | None:
        """What this run's files are, as one key: the facts' version, the tree of HEAD and
        every file read from the working tree on top (path and blob id). The same key
        means the same files, byte for byte; None when a file could not be read."""
        if self.unreadable:
            return None
        said = hashlib.sha256()
        for rel, oid in self.conn.execute("SELECT rel, oid FROM overlay ORDER BY rel"):
            said.update(f"{rel}\0{oid or ''}\n".encode("utf-8", "surrogateescape"))
        return f"{self.version()} {self._meta('tree')} {said.hexdigest()}"


def open_cache(archive: Archive, *, keep: bool = True) -> CheckCache:
    """The kept cache in ``.photosync/``; a throw-away one when it cannot be used."""
    if keep:
        path = archive.root / ".photosync" / CACHE_NAME
        for attempt in range(2):
            try:
                return CheckCache(archive, _connect(path, kept=True), True)
            except sqlite3.DatabaseError as error:
                if attempt or isinstance(error, sqlite3.OperationalError):
                    break  # read-only, locked, no room: nothing kept this run
                remove_cache(archive)  # damaged: it is only a cache
            except OSError:
                break
    scratch = Path(tempfile.mkdtemp(prefix="photosync-check-"))
    conn = _connect(scratch / CACHE_NAME, kept=False)
    # the file may go at once: the open connection keeps it until it closes
    with contextlib.suppress(OSError):
        os.unlink(scratch / CACHE_NAME)
        os.unlink(scratch / DERIVED_NAME)
        os.rmdir(scratch)
    return CheckCache(archive, conn, False)


def remove_cache(archive: Archive) -> None:
    for name in (CACHE_NAME, DERIVED_NAME, _OLD_DERIVED_NAME):
        base = archive.root / ".photosync" / name
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(f"{base}{suffix}")


def _connect(path: Path, *, kept: bool) -> sqlite3.Connection:
    if kept:
        path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, timeout=3600)
    try:
        if kept:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: lost work is redone
        else:
            conn.execute("PRAGMA journal_mode=OFF")
            conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA temp_store=FILE")
        conn.executescript(_SCHEMA)
        conn.execute("SELECT COUNT(*) FROM meta").fetchone()
        # what check derives from the files (``checkderive``) lives beside, in a database
        # of its own (a million rows written without the WAL's second copy); kept, it is
        # updated in place, so it has a rollback journal: a check killed midway leaves
        # the journal, and the tables are rolled back to their key when next opened.
        # Not synced: a cache, and a killed process loses nothing it wrote
        conn.execute("ATTACH DATABASE ? AS derived", (str(path.with_name(DERIVED_NAME)),))
        conn.execute(f"PRAGMA derived.journal_mode={'DELETE' if kept else 'OFF'}")
        conn.execute("PRAGMA derived.synchronous=OFF")
        conn.execute("CREATE TABLE IF NOT EXISTS derived.meta (key TEXT PRIMARY KEY, value TEXT)")
        if kept:  # an earlier version's tables, kept without a journal
            for suffix in ("", "-journal"):
                with contextlib.suppress(OSError):
                    os.unlink(path.with_name(_OLD_DERIVED_NAME + suffix))
    except BaseException:
        conn.close()
        raise
    return conn
