"""The archive's summary for ``status``, kept up to date by git's own tree ids.

Reading a million records takes minutes; ``status`` must answer in a second. So
each committed record's share of the counts is kept in
``.photosync/summary.sqlite`` (rebuildable, never the truth) under the git blob
id it was read from, and the totals under the tree id of ``HEAD:photos`` they
add up to. A ``status`` whose ``HEAD:photos`` is another tree (a discover, a
``git pull``, a reset, a hand edit committed) reads only the records ``git
diff-tree`` names between the two trees: git says what changed, the cache never
decides it. Records photosync wrote and has not committed yet (``pending-paths``)
are read from the working tree on top.

Whether each original is in the primary store is kept the same way: per blob
folder (``sha256/ab/``), the folder's mtime when it was listed and which
originals it lacked; a folder whose mtime moved (a blob added, removed,
quarantined) is listed again. A folder changed within the last two seconds is
not trusted (its mtime could move again in the same tick).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, cast

from photosync.archive.archive import Archive
from photosync.archive.git import list_tree, read_blobs
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import PhotosyncError
from photosync.model import (
    REFUSED_PROBLEM,
    Record,
    album_titles,
    date_kind,
    display_name,
    needs_decision,
    record_hashes,
    record_originals,
)

#: bump when a record's share below changes meaning: the cache is rebuilt
VERSION = "1"
#: counters summed over records (``ArchiveStatus`` fields of the same meaning)
COUNTERS = (
    "by_state",
    "by_kind",
    "instances_by_service",
    "open_conflicts",
    "skipped_conflicts",
    "dates",
    "estimated_by_source",
    "albums",
)
SCALARS = ("photos", "bytes", "with_problems", "undated")
_RACY_NS = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS records (rel TEXT PRIMARY KEY, oid TEXT NOT NULL, share TEXT,
    refused INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS records_refused ON records (refused) WHERE refused = 1;
CREATE TABLE IF NOT EXISTS originals (digest TEXT PRIMARY KEY, refs INTEGER NOT NULL,
    size INTEGER, rel TEXT NOT NULL);
-- the blob pass reads every original in digest order: from this index alone, in order
CREATE INDEX IF NOT EXISTS originals_sizes ON originals (digest, size);
CREATE TABLE IF NOT EXISTS folders (folder TEXT PRIMARY KEY, mtime_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS missing (digest TEXT PRIMARY KEY, folder TEXT NOT NULL);
"""


def share(record: Record) -> dict[str, Any]:
    """One record's part of every count ``status`` shows (JSON-ready)."""
    out: dict[str, Any] = {
        "photos": 1,
        "bytes": int(record["media"]["size"]),
        "by_state": {record["processing_state"]: 1},
        "by_kind": {record["media"]["kind"]: 1},
        "with_problems": int(bool(record["problems"])),
    }
    present: Counter[str] = Counter()
    for service, instances in record["instances"].items():
        present[service] += sum(1 for i in instances if i.get("status", "present") == "present")
    out["instances_by_service"] = dict(present)
    open_: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    for conflict in record["conflicts"]:
        if needs_decision(conflict):
            (skipped if conflict["status"] == "skipped" else open_)[conflict["type"]] += 1
    out["open_conflicts"] = dict(open_)
    out["skipped_conflicts"] = dict(skipped)
    kind = date_kind(record["metadata"])
    out["dates"] = {kind: 1}
    out["undated"] = int(kind == "none")
    out["estimated_by_source"] = (
        {str(record["metadata"].get("taken_date_source")): 1} if kind == "estimated" else {}
    )
    out["albums"] = dict(Counter(album_titles(record)))
    out["originals"] = record_originals(record)
    out["hashes"] = record_hashes(record)
    out["refused"] = [
        {
            "phase": "replicate",
            "service": str(problem.get("service")),
            "name": display_name(record),
            "reason": problem["message"],
            "photo_id": record["photo_id"],
            "instance_id": None,
        }
        for problem in record["problems"]
        if problem.get("code") == REFUSED_PROBLEM
    ]
    return out


class Totals:
    """Counts summed over records; a record's share is added or taken away."""

    def __init__(self, data: dict[str, Any] | None = None) -> None:
        data = data or {}
        self.scalars: Counter[str] = Counter(data.get("scalars", {}))
        self.counters: dict[str, Counter[str]] = {
            name: Counter(data.get(name, {})) for name in COUNTERS
        }

    def add(self, part: dict[str, Any], sign: int = 1) -> None:
        for name in SCALARS:
            self.scalars[name] += sign * int(part.get(name, 0))
        for name in COUNTERS:
            counter = self.counters[name]
            for key, value in part.get(name, {}).items():
                counter[key] += sign * value
                if not counter[key]:
                    del counter[key]

    def to_json(self) -> dict[str, Any]:
        return {"scalars": dict(self.scalars), **{k: dict(v) for k, v in self.counters.items()}}


class Summary:
    """The figures of ``status`` for HEAD (plus photosync's uncommitted records)."""

    def __init__(self, totals: Totals, refused: list[dict[str, Any]]) -> None:
        self.totals = totals
        self.refused = refused
        self.originals = 0
        self.originals_bytes = 0
        self.originals_not_here = 0


class SummaryCache:
    def __init__(self, archive: Archive) -> None:
        self.archive = archive
        self.path = archive.root / ".photosync" / "summary.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.conn = self._connect()
        except sqlite3.DatabaseError:  # damaged: a cache, built again from git
            self._discard()
            self.conn = self._connect()

    def _connect(self) -> sqlite3.Connection:
        # another status building the summary is waited for (it may take minutes, once)
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=3600)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")  # a cache: lost work is redone
            conn.executescript(_SCHEMA)
        except BaseException:
            conn.close()
            raise
        return conn

    def _discard(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    def close(self) -> None:
        self.conn.close()

    def _meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # the records ------------------------------------------------------------------------
    def summary(self) -> Summary:
        totals = self.refresh()
        return self._with_uncommitted(Summary(totals, self._refused()))

    def refused(self) -> list[dict[str, Any]]:
        """What a service refused for good, by the committed records (record path order)."""
        self.refresh()
        return self._refused()

    def _refused(self) -> list[dict[str, Any]]:
        return [
            item
            for (text,) in self.conn.execute(
                "SELECT share FROM records WHERE refused = 1 ORDER BY rel"
            )
            for item in json.loads(text)["refused"]
        ]

    def refresh(self) -> Totals:
        """Bring the cache to ``HEAD:photos`` (reading only what git says changed); a cache
        found damaged on the way is built again from nothing."""
        try:
            return self._refresh()
        except sqlite3.DatabaseError:
            if self.conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            self.conn.close()
            self._discard()
            self.conn = self._connect()
            return self._refresh()

    def _refresh(self) -> Totals:
        tree = self.archive.git.run("rev-parse", "-q", "--verify", "HEAD:photos", check=False)
        tree = tree.strip()
        self.conn.execute("BEGIN IMMEDIATE")  # one status updates the cache at a time
        try:
            cached = self._meta("tree") if self._meta("version") == VERSION else None
            if cached is None:
                for table in ("records", "originals", "meta"):
                    self.conn.execute(f"DELETE FROM {table}")
                totals = Totals()
                changes: Iterable[tuple[str, str | None, str | None]] = (
                    self._listing(tree) if tree else ()
                )
            else:
                totals = Totals(json.loads(self._meta("totals") or "{}"))
                changes = self._changes(cached, tree) if cached != tree else ()
            self._apply(totals, changes)
            self._set_meta("version", VERSION)
            self._set_meta("tree", tree)
            self._set_meta("totals", json.dumps(totals.to_json()))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return totals

    def committed_originals(self) -> Iterator[tuple[str, int | None, str]]:
        """(bare digest, size when a record says it, a record path under photos/) of every
        original the committed records hold, as of the last ``refresh``; streamed, in
        ascending digest order (the table's key: a merge-join with a store's listing)."""
        rows = self.conn.execute("SELECT digest, size, rel FROM originals ORDER BY digest")
        while batch := rows.fetchmany(5000):
            for digest, size, rel in batch:
                yield str(digest), None if size is None else int(size), str(rel)

    def committed_sizes(self) -> Iterator[tuple[str, int | None]]:
        """(bare digest, size when a record says it) of ``committed_originals``, same order:
        the lean stream a blob pass over a million originals reads."""
        rows = self.conn.execute("SELECT digest, size FROM originals ORDER BY digest")
        while batch := rows.fetchmany(5000):
            yield from batch

    def count_originals(self) -> int:
        """How many originals ``committed_originals`` yields."""
        return int(self.conn.execute("SELECT COUNT(*) FROM originals").fetchone()[0])

    def has_original(self, digest: str) -> bool:
        """Does a committed record hold this original (as of the last ``refresh``)?"""
        row = self.conn.execute("SELECT 1 FROM originals WHERE digest=?", (digest,)).fetchone()
        return row is not None

    def changed_since(self, old_tree: str) -> list[str] | None:
        """Paths (under photos/) of the record files that differ between ``old_tree`` and
        the tree of the last ``refresh``, as git says; None when git no longer knows it."""
        new = self._meta("tree")
        if new is None:
            return None
        if new == old_tree:
            return []
        try:
            changes = self._changes(old_tree, new)
        except PhotosyncError:
            return None
        return [rel for rel, _old, _new in changes if _is_record_file(rel)]

    def _listing(self, tree: str) -> Iterator[tuple[str, str | None, str | None]]:
        """Every record file of ``tree`` as an addition (the first status builds the cache)."""
        for _mode, oid, rel in list_tree(self.archive.root, tree):
            yield rel, None, oid

    def _changes(self, old: str, new: str) -> list[tuple[str, str | None, str | None]]:
        """(path under photos/, old blob, new blob) of each file git says differs."""
        if not new:  # photos/ is gone from HEAD: every record goes
            rows = self.conn.execute("SELECT rel, oid FROM records").fetchall()
            return [(str(rel), str(oid), None) for rel, oid in rows]
        return [(c.path, c.old_oid, c.new_oid) for c in self.archive.git.tree_changes(old, new)]

    def _apply(self, totals: Totals, changes: Iterable[tuple[str, str | None, str | None]]) -> None:
        """Take away each changed record's old share, add its new one (blobs read by git)."""
        wanted = ((rel, new) for rel, _old, new in changes if _is_record_file(rel))
        for rel, oid, body in read_blobs(self.archive.root, wanted):
            row = self.conn.execute("SELECT share FROM records WHERE rel=?", (rel,)).fetchone()
            if row is not None:
                if row[0] is not None:
                    self._take(totals, rel, json.loads(row[0]), -1)
                self.conn.execute("DELETE FROM records WHERE rel=?", (rel,))
            if oid is None:
                continue
            part = _share_of(body)
            if part is not None:
                self._take(totals, rel, part, 1)
            self.conn.execute(
                "INSERT INTO records VALUES (?, ?, ?, ?)",
                (
                    rel,
                    oid,
                    None if part is None else json.dumps(part),
                    int(bool(part and part["refused"])),
                ),
            )

    def _take(self, totals: Totals, rel: str, part: dict[str, Any], sign: int) -> None:
        totals.add(part, sign)
        for digest, size in part["originals"].items():
            # which originals its folder lacks is asked again (the folder may not have moved)
            self.conn.execute("DELETE FROM folders WHERE folder=?", (digest[:2],))
            if sign > 0:
                self.conn.execute(
                    "INSERT INTO originals VALUES (?, 1, ?, ?) ON CONFLICT(digest) DO UPDATE "
                    "SET refs = refs + 1, size = COALESCE(size, excluded.size)",
                    (digest, size, rel),
                )
            else:
                self.conn.execute("UPDATE originals SET refs = refs - 1 WHERE digest=?", (digest,))
                self.conn.execute("DELETE FROM originals WHERE digest=? AND refs <= 0", (digest,))

    def _with_uncommitted(self, summary: Summary) -> Summary:
        """Records photosync wrote and has not committed (a killed run's): as on disk."""
        for rel in sorted(self.archive.pending_paths()):
            if not rel.startswith("photos/") or not _is_record_file(rel[len("photos/") :]):
                continue
            row = self.conn.execute(
                "SELECT share FROM records WHERE rel=?", (rel[len("photos/") :],)
            ).fetchone()
            if row is not None and row[0] is not None:
                summary.totals.add(json.loads(row[0]), -1)
            try:
                body = (self.archive.root / rel).read_bytes()
            except OSError:
                continue
            part = _share_of(body)
            if part is not None:
                summary.totals.add(part, 1)
        return summary

    # the originals ----------------------------------------------------------------------
    def originals(self, summary: Summary, store: LocalBlobStore | None) -> None:
        """How many originals, their bytes, and how many are on another machine only.

        An original this machine's blobs/ lacks is "not here yet" (not lost) when the
        last sync found it on no location here, or when this clone never discovered any
        copy of its photo (the rule of ``check``'s ``originals_not_here``; on the
        machine that discovered it a missing original is ``check``'s ``blob_missing``).
        """
        count, known = self.conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM originals"
        ).fetchone()
        summary.originals, summary.originals_bytes = int(count), int(known)
        if store is None:
            return
        for (digest,) in self.conn.execute("SELECT digest FROM originals WHERE size IS NULL"):
            stat = store.stat(digest)  # a merged copy: its size is its blob's
            summary.originals_bytes += stat.size if stat is not None else 0
        missing = self._missing(store)
        if not missing:
            return
        elsewhere = self.archive.originals_elsewhere()
        seen = self.archive.state.seen_hashes()
        for digest, rel in missing:
            row = self.conn.execute("SELECT share FROM records WHERE rel=?", (rel,)).fetchone()
            hashes = set(json.loads(row[0])["hashes"]) if row and row[0] else set()
            if digest in elsewhere or not hashes & seen:
                summary.originals_not_here += 1

    def _missing(self, store: LocalBlobStore) -> list[tuple[str, str]]:
        """(digest, record path) of every original the store lacks, folder by folder
        (``sha256/ab/``): only a folder whose mtime moved is listed again."""
        root = str(store.root)
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            if self._meta("store") != root:
                self.conn.execute("DELETE FROM folders")
                self.conn.execute("DELETE FROM missing")
                self._set_meta("store", root)
            listed = dict(self.conn.execute("SELECT folder, mtime_ns FROM folders").fetchall())
            now = time.time_ns()
            for prefix in (f"{i:02x}" for i in range(256)):
                folder = store.path_for(prefix * 32).parent
                try:
                    mtime = os.stat(folder).st_mtime_ns
                except FileNotFoundError:
                    mtime = -1
                if mtime >= 0 and listed.get(prefix) == mtime:
                    continue
                upper = f"{int(prefix, 16) + 1:02x}" if prefix != "ff" else "g"
                digests = [
                    str(d)
                    for (d,) in self.conn.execute(
                        "SELECT digest FROM originals WHERE digest >= ? AND digest < ?",
                        (prefix, upper),
                    )
                ]
                if mtime < 0 and not digests and prefix not in listed:
                    continue
                try:
                    names = set(os.listdir(folder)) if digests else set()
                except FileNotFoundError:
                    names = set()
                self.conn.execute("DELETE FROM missing WHERE folder=?", (prefix,))
                self.conn.executemany(
                    "INSERT OR REPLACE INTO missing VALUES (?, ?)",
                    ((d, prefix) for d in digests if d not in names),
                )
                # a folder changed within the racy window may change again in the same tick
                trusted = mtime if 0 <= mtime < now - _RACY_NS else -1
                self.conn.execute("INSERT OR REPLACE INTO folders VALUES (?, ?)", (prefix, trusted))
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise
        return [
            (str(d), str(r))
            for d, r in self.conn.execute(
                "SELECT m.digest, o.rel FROM missing m JOIN originals o ON o.digest = m.digest"
            )
        ]


def _is_record_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(".json") and not name.startswith(".")


def _share_of(body: bytes | None) -> dict[str, Any] | None:
    """A record's share, or None for a file that is no readable record (``check`` says so)."""
    if body is None:
        return None
    try:
        record = json.loads(body)
        # read defensively: what is not of a record's shape raises and counts as none
        return share(cast(Record, record)) if isinstance(record, dict) else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
