"""The tables ``check``'s checks across records read, derived from this run's files.

This run's record files (``cur``: path -> git blob id) joined with each blob's facts
(``checkfacts``) say who holds which photo_id (``recs``: a photo_id twice, a record at
the wrong path), which content hash (``held``, ``owners``: a hash held twice), which
original each digest is and where it should be (``blobs``, ``named``, ``stores``),
which files are no valid record (``bad``, ``invalid_values``). Deriving them from a
million files takes half a minute, so they are kept in ``.photosync/check-tables.sqlite``
under ``scan_key`` with the files they were derived from (HEAD's tree, the files read
from the working tree on top):

- the same files (nothing committed or edited since): kept as they are;
- a few files changed (git names them: ``git diff-tree`` between that tree and HEAD's,
  and the files read from the working tree then and now): only what those files
  touch is derived again, in place. Every table is a set of partitions (by photo_id,
  by digest, by path), and a file's old and new version name the partitions it was
  and is in: their photo_ids, then the digests of every hash of every record of
  those photo_ids;
- anything else (nothing kept, another facts version or layout, git no longer knows
  the old tree, an old blob's facts are gone, many files changed): all derived again.

It is a cache, never the truth: any doubt derives everything. Every write happens
inside the check cache's transaction and the database has a rollback journal, so a
check killed at any moment leaves the tables with the key they were derived for: as
they were (the journal is rolled back when next opened) or as the check wrote them.
"""

from __future__ import annotations

import sqlite3

from photosync.errors import PhotosyncError
from photosync.workflow.checkfacts import CheckCache, is_record_file

#: bump when a table below changes shape or meaning: everything is derived again
LAYOUT = "1"
#: more changed files than this derive everything. At 1,000,000 records in place costs
#: about 0.35 ms of CPU a file (10,000 files: 3.5 s), everything about 35 s
MAX_CHANGES = 10_000
#: every table kept, but ``meta`` (the key)
TABLES = ("recs", "held", "owners", "bad", "invalid_values", "blobs", "named", "stores", "read")

_TABLES = (
    # each valid record; rn > 1: its photo_id is held by a record at an earlier path
    "CREATE TABLE derived.recs (photo_id TEXT NOT NULL, rel TEXT NOT NULL, oid TEXT NOT NULL, "
    "expected TEXT, rn INTEGER NOT NULL, first_rel TEXT NOT NULL, PRIMARY KEY (photo_id, rel)) "
    "WITHOUT ROWID",
    # each hash (kind 0) and sidecar (kind 1) of each first record of its photo_id; owner:
    # the photo_id of the first (by path) record holding it
    "CREATE TABLE derived.held (digest TEXT NOT NULL, kind INTEGER NOT NULL, "
    "value TEXT NOT NULL, rel TEXT NOT NULL, seq INTEGER NOT NULL, oid TEXT NOT NULL, "
    "photo_id TEXT NOT NULL, size INTEGER, owner TEXT NOT NULL, owner_rel TEXT NOT NULL, "
    "PRIMARY KEY (digest, kind, value, rel, seq)) WITHOUT ROWID",
    "CREATE TABLE derived.owners (value TEXT PRIMARY KEY, photo_id TEXT, ambiguous INTEGER) "
    "WITHOUT ROWID",
    # each file that is no valid record, and the hashes it seems to hold
    "CREATE TABLE derived.bad (rel TEXT PRIMARY KEY, oid TEXT NOT NULL) WITHOUT ROWID",
    "CREATE TABLE derived.invalid_values (value TEXT NOT NULL, rel TEXT NOT NULL, "
    "PRIMARY KEY (value, rel)) WITHOUT ROWID",
    # each original (and sidecar) once, with the record it is reported under
    "CREATE TABLE derived.blobs (digest TEXT PRIMARY KEY, photo_id TEXT, rel TEXT, "
    "size INTEGER, oid TEXT) WITHOUT ROWID",
    "CREATE TABLE derived.named (digest TEXT NOT NULL, store TEXT NOT NULL, "
    "PRIMARY KEY (digest, store)) WITHOUT ROWID",
    # each location the records' blob_locations name: how many (first) records do
    "CREATE TABLE derived.stores (store TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID",
    # the files read from the working tree on top of the tree derived from
    "CREATE TABLE derived.read (rel TEXT PRIMARY KEY, oid TEXT) WITHOUT ROWID",
)
_INDEXES = (
    "CREATE INDEX derived.recs_twice ON recs (rel) WHERE rn > 1",
    "CREATE INDEX derived.recs_misplaced ON recs (rel) WHERE rn = 1 AND expected != rel",
    "CREATE INDEX derived.held_twice ON held (rel, seq) WHERE kind = 0 AND photo_id != owner",
)
#: everything from this run's files (``cur``), in the order each table's key sorts
_DERIVE_ALL = (
    "INSERT INTO derived.recs (photo_id, rel, oid, expected, rn, first_rel) "
    "SELECT f.photo_id, c.rel, c.oid, f.expected, ROW_NUMBER() OVER w, FIRST_VALUE(c.rel) OVER w "
    "FROM cur c JOIN facts f ON f.oid = c.oid WHERE f.valid = 1 "
    "WINDOW w AS (PARTITION BY f.photo_id ORDER BY c.rel)",
    "INSERT INTO derived.bad SELECT c.rel, c.oid FROM cur c JOIN facts f ON f.oid = c.oid "
    "WHERE f.valid = 0",
    "INSERT OR IGNORE INTO derived.invalid_values SELECT h.value, b.rel FROM derived.bad b "
    "JOIN hashes h ON h.oid = b.oid WHERE h.kind = 2",
    "INSERT INTO derived.held "
    "SELECT h.digest, h.kind, h.value, r.rel, h.seq, r.oid, r.photo_id, h.size, "
    "FIRST_VALUE(r.photo_id) OVER w, FIRST_VALUE(r.rel) OVER w "
    "FROM derived.recs r JOIN hashes h ON h.oid = r.oid WHERE r.rn = 1 AND h.kind IN (0, 1) "
    "WINDOW w AS (PARTITION BY h.digest, h.kind, h.value ORDER BY r.rel, h.seq)",
    "INSERT INTO derived.owners SELECT value, owner, MAX(photo_id != owner) FROM derived.held "
    "WHERE kind = 0 GROUP BY value",
    "INSERT INTO derived.blobs SELECT digest, photo_id, rel, size, oid FROM ("
    "SELECT digest, photo_id, rel, size, oid, "
    "ROW_NUMBER() OVER (PARTITION BY digest ORDER BY rel, seq) AS n "
    "FROM derived.held WHERE kind = 1 OR photo_id = owner) WHERE n = 1",
    "INSERT OR IGNORE INTO derived.named SELECT h.digest, p.store FROM derived.held h "
    "JOIN places p ON p.oid = h.oid WHERE h.kind = 1 OR h.photo_id = h.owner",
    "INSERT INTO derived.stores SELECT p.store, COUNT(*) FROM derived.recs r "
    "JOIN places p ON p.oid = r.oid WHERE r.rn = 1 GROUP BY p.store",
)
#: the same, again for the partitions the files in ``temp.changed`` (path, old blob,
#: new blob) touch; the old rows come from the tables themselves, the new ones from cur
_DERIVE_CHANGED = (
    # the photo_ids either version of a changed file holds
    "CREATE TEMP TABLE d_ids (photo_id TEXT PRIMARY KEY) WITHOUT ROWID",
    "INSERT OR IGNORE INTO d_ids SELECT f.photo_id FROM changed c JOIN facts f ON f.oid = c.old "
    "WHERE f.valid = 1",
    "INSERT OR IGNORE INTO d_ids SELECT f.photo_id FROM changed c JOIN facts f ON f.oid = c.new "
    "WHERE f.valid = 1",
    # their records before and after (every other record of theirs is unchanged)
    "CREATE TEMP TABLE d_old AS SELECT rel, oid, rn FROM derived.recs "
    "WHERE photo_id IN (SELECT photo_id FROM d_ids)",
    "CREATE TEMP TABLE d_new AS SELECT photo_id, rel, oid, expected, "
    "ROW_NUMBER() OVER w AS rn, FIRST_VALUE(rel) OVER w AS first_rel FROM ("
    "SELECT photo_id, rel, oid, expected FROM derived.recs "
    "WHERE photo_id IN (SELECT photo_id FROM d_ids) AND rel NOT IN (SELECT rel FROM changed) "
    "UNION ALL SELECT f.photo_id, c.rel, c.new, f.expected FROM changed c "
    "JOIN facts f ON f.oid = c.new WHERE f.valid = 1) "
    "WINDOW w AS (PARTITION BY photo_id ORDER BY rel)",
    "DELETE FROM derived.recs WHERE photo_id IN (SELECT photo_id FROM d_ids)",
    "INSERT INTO derived.recs (photo_id, rel, oid, expected, rn, first_rel) "
    "SELECT photo_id, rel, oid, expected, rn, first_rel FROM d_new",
    # the locations first records name, counted out and in
    "INSERT INTO derived.stores SELECT p.store, SUM(x.n) FROM ("
    "SELECT oid, -1 AS n FROM d_old WHERE rn = 1 UNION ALL "
    "SELECT oid, 1 FROM d_new WHERE rn = 1) x JOIN places p ON p.oid = x.oid "
    "WHERE true GROUP BY p.store ON CONFLICT (store) DO UPDATE SET n = n + excluded.n",
    "DELETE FROM derived.stores WHERE n = 0",
    # every digest the first records of those photo_ids held or hold: those partitions
    # are derived again from their unchanged rows and the new first records' hashes
    "CREATE TEMP TABLE d_digests (digest TEXT PRIMARY KEY) WITHOUT ROWID",
    "INSERT OR IGNORE INTO d_digests SELECT h.digest FROM hashes h WHERE h.kind IN (0, 1) "
    "AND h.oid IN (SELECT oid FROM d_old WHERE rn = 1 UNION SELECT oid FROM d_new WHERE rn = 1)",
    "CREATE TEMP TABLE d_held AS SELECT digest, kind, value, rel, seq, oid, photo_id, size, "
    "FIRST_VALUE(photo_id) OVER w AS owner, FIRST_VALUE(rel) OVER w AS owner_rel FROM ("
    "SELECT digest, kind, value, rel, seq, oid, photo_id, size FROM derived.held "
    "WHERE digest IN (SELECT digest FROM d_digests) "
    "AND rel NOT IN (SELECT rel FROM d_old UNION SELECT rel FROM d_new) "
    "UNION ALL SELECT h.digest, h.kind, h.value, r.rel, h.seq, r.oid, r.photo_id, h.size "
    "FROM d_new r JOIN hashes h ON h.oid = r.oid WHERE r.rn = 1 AND h.kind IN (0, 1)) "
    "WINDOW w AS (PARTITION BY digest, kind, value ORDER BY rel, seq)",
    "DELETE FROM derived.owners WHERE value IN (SELECT value FROM derived.held "
    "WHERE digest IN (SELECT digest FROM d_digests) AND kind = 0)",
    "DELETE FROM derived.held WHERE digest IN (SELECT digest FROM d_digests)",
    "INSERT INTO derived.held SELECT * FROM d_held ORDER BY digest, kind, value, rel, seq",
    "INSERT INTO derived.owners SELECT value, owner, MAX(photo_id != owner) FROM d_held "
    "WHERE kind = 0 GROUP BY value",
    "DELETE FROM derived.blobs WHERE digest IN (SELECT digest FROM d_digests)",
    "INSERT INTO derived.blobs SELECT digest, photo_id, rel, size, oid FROM ("
    "SELECT digest, photo_id, rel, size, oid, "
    "ROW_NUMBER() OVER (PARTITION BY digest ORDER BY rel, seq) AS n "
    "FROM d_held WHERE kind = 1 OR photo_id = owner) WHERE n = 1",
    "DELETE FROM derived.named WHERE digest IN (SELECT digest FROM d_digests)",
    "INSERT OR IGNORE INTO derived.named SELECT h.digest, p.store FROM d_held h "
    "JOIN places p ON p.oid = h.oid WHERE h.kind = 1 OR h.photo_id = h.owner",
    # the files that are no valid record, by path
    "DELETE FROM derived.invalid_values WHERE (value, rel) IN (SELECT h.value, c.rel "
    "FROM changed c JOIN facts f ON f.oid = c.old JOIN hashes h ON h.oid = c.old "
    "WHERE f.valid = 0 AND h.kind = 2)",
    "DELETE FROM derived.bad WHERE rel IN (SELECT rel FROM changed)",
    "INSERT INTO derived.bad SELECT c.rel, c.new FROM changed c JOIN facts f ON f.oid = c.new "
    "WHERE f.valid = 0",
    "INSERT OR IGNORE INTO derived.invalid_values SELECT h.value, c.rel FROM changed c "
    "JOIN facts f ON f.oid = c.new JOIN hashes h ON h.oid = c.new "
    "WHERE f.valid = 0 AND h.kind = 2",
)
_SCRATCH = ("changed", "d_ids", "d_old", "d_new", "d_digests", "d_held")


def derive(cache: CheckCache) -> str:
    """Bring the derived tables to this run's files (``cur``), inside the cache's open
    write transaction; says how: ``kept``, ``updated`` (in place) or ``derived``."""
    conn = cache.conn
    tree = cache.tree()
    cleared = False
    while True:
        key = cache.scan_key()
        kept = _kept(conn, cache.version())
        if key is not None and kept is not None and kept[0] == key:
            return "kept"
        changes = _changes(cache, kept[1]) if key is not None and kept is not None else None
        if changes is not None:
            _update(conn, changes)
            _remember(conn, key, tree)
            return "updated"
        if not cleared and _tables(conn):
            # dropped and committed first: the pages they free are then reused by the new
            # tables without a copy in the journal (a fresh page needs none)
            _clear(conn)
            conn.execute("COMMIT")
            conn.execute("BEGIN IMMEDIATE")
            cleared = True
            if cache.tree() != tree:
                # another check moved the cache to another HEAD meanwhile (and may have
                # dropped facts this run's files need): this run keeps nothing
                raise sqlite3.OperationalError("the check cache moved under this check")
            continue
        _clear(conn)
        _derive_all(conn)
        _remember(conn, key, tree)
        return "derived"


def _kept(conn: sqlite3.Connection, version: str) -> tuple[str, str] | None:
    """(key, tree) of the tables kept, when they are of this layout and facts version."""
    meta = dict(conn.execute("SELECT key, value FROM derived.meta"))
    if meta.get("layout") != LAYOUT or meta.get("version") != version:
        return None
    if meta.get("scan") is None or meta.get("tree") is None:
        return None
    return str(meta["scan"]), str(meta["tree"])


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM derived.sqlite_master WHERE type = 'table' AND name != 'meta'"
    )
    return [str(name) for (name,) in rows]


def _clear(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM derived.meta")
    for table in _tables(conn):
        conn.execute(f'DROP TABLE derived."{table}"')


def _derive_all(conn: sqlite3.Connection) -> None:
    for statement in (*_TABLES, *_DERIVE_ALL, *_INDEXES):
        conn.execute(statement)


def _remember(conn: sqlite3.Connection, key: str | None, tree: str) -> None:
    """The key last, in the same transaction as the tables: no key, nothing kept (a
    file that could not be read: the next check derives everything again)."""
    conn.execute("DELETE FROM derived.read")
    conn.execute("INSERT INTO derived.read SELECT rel, oid FROM temp.overlay")
    conn.execute("DELETE FROM derived.meta")
    if key is None:
        return
    conn.executemany(
        "INSERT INTO derived.meta VALUES (?, ?)",
        (("layout", LAYOUT), ("version", key.split(" ", 1)[0]), ("tree", tree), ("scan", key)),
    )


def _changes(cache: CheckCache, tree: str) -> list[tuple[str, str | None, str | None]] | None:
    """(path, blob before, blob now) of each file that differs between the files the
    tables were derived from and this run's; None when git cannot say, when too many
    differ, or when an old blob's facts are gone (nothing tells what it held then)."""
    conn = cache.conn
    moved: dict[str, str | None] = {}
    if tree != cache.tree():
        if not tree or not cache.tree():
            return None
        try:
            diff = cache.archive.git.tree_changes(tree, cache.tree())
        except PhotosyncError:  # the old tree is gone (gc)
            return None
        if len(diff) > MAX_CHANGES:
            return None
        moved = {"photos/" + c.path: c.old_oid for c in diff if is_record_file(c.path)}
    before = {str(rel): oid for rel, oid in conn.execute("SELECT rel, oid FROM derived.read")}
    now = {str(rel): oid for rel, oid in conn.execute("SELECT rel, oid FROM temp.overlay")}

    def committed(rel: str) -> str | None:
        row = conn.execute("SELECT oid FROM main.files WHERE rel = ?", (rel,)).fetchone()
        return None if row is None else str(row[0])

    changes = []
    for rel in sorted(moved.keys() | before.keys() | now.keys()):
        old = before[rel] if rel in before else moved[rel] if rel in moved else committed(rel)
        new = now[rel] if rel in now else committed(rel)
        if old != new:
            changes.append((rel, old, new))
    if len(changes) > MAX_CHANGES:
        return None
    for _rel, old, _new in changes:
        if old is not None and not cache.known(old):
            return None
    return changes


def _update(conn: sqlite3.Connection, changes: list[tuple[str, str | None, str | None]]) -> None:
    for table in _SCRATCH:
        conn.execute(f"DROP TABLE IF EXISTS temp.{table}")
    conn.execute("CREATE TEMP TABLE changed (rel TEXT PRIMARY KEY, old TEXT, new TEXT)")
    conn.executemany("INSERT INTO temp.changed VALUES (?, ?, ?)", changes)
    for statement in _DERIVE_CHANGED:
        conn.execute(statement)
    for table in _SCRATCH:
        conn.execute(f"DROP TABLE temp.{table}")
