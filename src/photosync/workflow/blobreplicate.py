"""Every original in every blob location: the blob half of ``replicate --execute``.

An original is every hash a record holds (``record_originals``): its own and
each merged copy's, so a recompressed copy resolve joined in is never left on
one machine only.

Copies go through ``blobsync.copy_missing_blobs`` (parallel, bounded by
``sync_preferences.max_parallel_uploads``) with a JSON-lines journal in
``.photosync/journal/`` so a killed run resumes without re-uploading. As soon as
every original of a record is settled (while other copies still go on), its
``blob_locations`` lists the locations whose listing shows its blobs with the
right size: the record says where its original is.
"""

from __future__ import annotations

import heapq
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive
from photosync.blobstore.base import BlobStore, check_digest
from photosync.blobstore.blobsync import (
    CopyOutcome,
    JsonlJournal,
    Settled,
    StreamedListing,
    copy_sorted_blobs,
    expected_size,
    primary_name,
)
from photosync.errors import PhotosyncError, UserChanged
from photosync.model import Record, record_originals, update_blob_locations, utc_now
from photosync.workflow.context import all_stores, pass_inputs_key
from photosync.workflow.progress import Progress, SilentProgress
from photosync.workflow.summary import SummaryCache

JOURNAL = Path(".photosync") / "journal" / "blob-copies.jsonl"
TMP_DIR = Path(".photosync") / "tmp"
DEFAULT_UPLOAD_WORKERS = 4


@dataclass
class BlobReplicateReport(CopyOutcome):
    """What happened to originals in every location."""

    locations: list[str] = field(default_factory=list)
    digests: int = 0
    photo_of: dict[str, str] = field(default_factory=dict)  # bare digest -> photo_id
    records_updated: int = 0
    #: location -> digests whose copy there had the wrong size and was replaced
    replaced: dict[str, list[str]] = field(default_factory=dict)
    #: only the records changed since the last run that settled them all were read
    incremental: bool = False
    #: every record's locations are settled (nothing failed, every location listed):
    #: what they depended on besides the records (``note_settled`` keeps it)
    settled_key: str | None = None

    @property
    def settled_all(self) -> bool:
        return self.settled_key is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "locations": self.locations,
            "originals": self.digests,
            "copied": {name: len(v) for name, v in self.copied.items()},
            "failed": self.failed,
            "replaced": {name: len(v) for name, v in self.replaced.items()},
            "records_updated": self.records_updated,
        }


def upload_workers(archive: Archive) -> int:
    """The configured limit on parallel blob copies (``sync_preferences.max_parallel_uploads``)."""
    return archive.prefs().sync.max_parallel_uploads


def replicate_blobs(
    archive: Archive,
    records: Iterable[Record] | None = None,
    *,
    progress: Progress | None = None,
    workers: int | None = None,
    stores: Sequence[BlobStore] | None = None,
    full: bool = False,
) -> BlobReplicateReport:
    """Copy each record's original into every configured location, then update the records.

    ``records`` defaults to every record in the archive. The caller holds the
    writer lock and commits. Nothing is ever deleted or overwritten; a copy
    that fails is reported and retried by the next run.

    After a run that settled every record (``note_settled``), the next one reads
    only the records git says changed since (plus this run's uncommitted ones) and
    the holders of what it copies: the originals wanted come from the summary
    cache, which follows git's tree ids. Every location is still listed, every
    original in it checked for presence (and size, where the location lists sizes: S3;
    a local folder's only with ``full``), and anything lost copied again. ``full`` reads
    every record all the same and ``stat``s every blob of a local folder.

    Memory does not grow with the archive: the originals wanted are streamed in digest
    order (from the summary cache, or from the records sorted on disk: ``_Spill``) and
    each location's listing is read alongside them (``blobsync.copy_sorted_blobs``);
    what is held is the records waiting for an original still being copied, and what
    the run copied.
    """
    progress = progress or SilentProgress()
    stores = list(stores) if stores is not None else all_stores(archive)
    workers = workers or upload_workers(archive)
    report = BlobReplicateReport(locations=[s.name for s in stores])
    key = _locations_key(archive, stores) if records is None and stores else None
    since = _settled_tree(archive, key) if key is not None and not full else None
    tmp_dir = archive.root / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    clear_scratch(tmp_dir)
    for store in stores:
        store.sweep_tmp()  # copies a killed run left unnamed in a local folder's tmp/
    with _wanted(archive, records, since, tmp_dir) as wanted:
        report.incremental = since is not None
        report.digests = wanted.count
        if not stores or not wanted.count:
            report.settled_key = key
            return report
        return _copy_and_locate(archive, report, wanted, stores, workers, progress, key, full)


#: the pass's throw-away sort files in ``.photosync/tmp/``: the records' originals
#: (``_Spill``) and listings sorted on disk (``blobsync.StreamedListing``)
SCRATCH = ("blob-pass.sqlite*", "listing-*.sqlite*")


def clear_scratch(tmp_dir: Path) -> int:
    """Remove the sort files a killed pass left in ``tmp_dir``; how many. Only a pass of
    the writer (``replicate_blobs``, under the writer lock the caller holds) makes them
    there, so before this run's own every one is a leftover."""
    removed = 0
    for pattern in SCRATCH:
        for leftover in tmp_dir.glob(pattern):
            leftover.unlink(missing_ok=True)
            removed += 1
    return removed


#: (photo id of a record read in this run, how many originals it holds)
_Holder = tuple[str, int]
#: what a record or the summary cache says of an original: digest, rank (a record read
#: in this run first), seq (the records' order), size, holder, a record path holding it
_Row = tuple[str, int, int, int | None, _Holder | None, str | None]


class _Wanted:
    """Every original wanted, once each in ascending digest order (``groups``), with the
    size its bytes must have (the first a record says), the records read in this run
    that hold it, and a record path that holds it (from the summary cache)."""

    def __init__(
        self,
        rows: Callable[[], Iterator[_Row]],
        count: int,
        pairs: Callable[[], Iterator[tuple[str, int | None]]] | None = None,
    ) -> None:
        self._rows = rows
        self.count = count
        #: when no record read in this run holds any of them: (digest, size), each once
        self.pairs = pairs
        self.closers: list[Callable[[], None]] = []

    def groups(self) -> Iterator[tuple[str, int | None, list[_Holder], str | None]]:
        current: str | None = None
        size: int | None = None
        holders: list[_Holder] = []
        rel: str | None = None
        for digest, _rank, _seq, said, holder, path in self._rows():
            if digest != current:
                if current is not None:
                    yield current, size, holders, rel
                current, size, holders, rel = digest, None, [], None
            if size is None:
                size = said
            if holder is not None:
                holders.append(holder)
            if rel is None:
                rel = path
        if current is not None:
            yield current, size, holders, rel

    def __enter__(self) -> _Wanted:
        return self

    def __exit__(self, *exc: object) -> None:
        for close in self.closers:
            close()


def _wanted(
    archive: Archive,
    records: Iterable[Record] | None,
    since: tuple[list[Record], SummaryCache] | None,
    tmp_dir: Path | None,
) -> _Wanted:
    """The originals wanted: every record's, sorted on disk (``_Spill``: in ``tmp_dir``,
    else SQLite's private temporary database); or, after a settled run, the changed
    records' (few, sorted here) merged with the summary cache's committed originals
    (already in digest order)."""
    if since is None:
        spill = _Spill(None if tmp_dir is None else tmp_dir / "blob-pass.sqlite")
        try:
            for record in archive.iter_records() if records is None else records:
                spill.add(record)
            count = spill.finish()
        except BaseException:
            spill.close()
            raise
        wanted = _Wanted(spill.rows, count)
        wanted.closers.append(spill.close)
        return wanted
    changed, cache = since
    held: list[_Row] = []
    extra: set[str] = set()
    try:
        for seq, record in enumerate(changed):
            originals = record_originals(record)
            holder = (record["photo_id"], len(originals))
            for digest, size in originals.items():
                held.append((digest, 0, seq, size, holder, None))
                if not cache.has_original(digest):
                    extra.add(digest)
        count = cache.count_originals() + len(extra)
    except BaseException:
        cache.close()
        raise
    held.sort(key=lambda row: row[:3])

    def rows() -> Iterator[_Row]:
        committed: Iterator[_Row] = (
            (digest, 1, 0, size, None, f"photos/{rel}")
            for digest, size, rel in cache.committed_originals()
        )
        yield from heapq.merge(held, committed, key=lambda row: row[:3])

    wanted = _Wanted(rows, count, None if held else cache.committed_sizes)
    wanted.closers.append(cache.close)
    return wanted


class _Spill:
    """The originals of records read in path order, sorted by digest on disk: a temp
    SQLite file in ``.photosync/tmp/`` (removed after; a killed run's is removed by the
    next one's ``clear_scratch``), so a pass over every record holds one record at a time.
    Without a path (a preview, which writes nothing in the archive): SQLite's private
    temporary database, whose name is gone as soon as it is open (a killed preview
    leaves none).
    """

    BATCH = 5000

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            for suffix in ("", "-journal"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        self.conn = sqlite3.connect("" if path is None else path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=OFF")  # scratch: a crash throws it away
        self.conn.execute("PRAGMA synchronous=OFF")
        self.conn.execute(
            "CREATE TABLE held (seq INTEGER PRIMARY KEY, digest TEXT NOT NULL, size INTEGER, "
            "photo_id TEXT NOT NULL, n INTEGER NOT NULL)"
        )
        self.conn.execute("BEGIN")
        self._batch: list[tuple[str, int | None, str, int]] = []

    def add(self, record: Record) -> None:
        originals = record_originals(record)
        for digest, size in originals.items():
            self._batch.append((digest, size, record["photo_id"], len(originals)))
        if len(self._batch) >= self.BATCH:
            self._flush()

    def _flush(self) -> None:
        self.conn.executemany(
            "INSERT INTO held (digest, size, photo_id, n) VALUES (?, ?, ?, ?)", self._batch
        )
        self._batch.clear()

    def finish(self) -> int:
        """Everything added is sorted; how many distinct originals."""
        self._flush()
        self.conn.execute("COMMIT")
        self.conn.execute("CREATE INDEX held_digest ON held (digest)")
        return int(self.conn.execute("SELECT COUNT(DISTINCT digest) FROM held").fetchone()[0])

    def rows(self) -> Iterator[_Row]:
        # the index is (digest, rowid): the records' order among the holders of a digest
        cursor = self.conn.execute(
            "SELECT digest, seq, size, photo_id, n FROM held ORDER BY digest, seq"
        )
        while batch := cursor.fetchmany(self.BATCH):
            for digest, seq, size, photo_id, n in batch:
                yield str(digest), 0, int(seq), size, (str(photo_id), int(n)), None

    def close(self) -> None:
        self.conn.close()
        if self.path is not None:
            for suffix in ("", "-journal"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)


#: an original -> per location listed with sizes, its size there (None: not there)
_Parts = Mapping[str, Mapping[str, int | None]]


def _copy_and_locate(
    archive: Archive,
    report: BlobReplicateReport,
    wanted: _Wanted,
    stores: Sequence[BlobStore],
    workers: int,
    progress: Progress,
    key: str | None,
    full: bool = False,
) -> BlobReplicateReport:
    """The copies, and each record's ``blob_locations`` as soon as its originals are settled
    (``full``: every location's sizes, a ``stat`` per blob where it lists names only)."""
    journal_path = archive.root / JOURNAL
    locate = _Locator(archive, stores)
    later: list[tuple[str, _Parts]] = []
    looked_at: set[str] = set()  # incremental: the holders of what moved are looked at after
    inflight: dict[str, list[_Holder]] = {}  # digest handed to the copies -> its holders
    partial: dict[str, dict[str, Mapping[str, int | None]]] = {}  # photo id -> parts so far
    moved: dict[str, Mapping[str, int | None]] = {}  # incremental: digests a copy touched

    def stream() -> Iterator[tuple[str, int | None]]:
        if wanted.pairs is not None:  # no holder to tell: the cache's rows as they come
            yield from wanted.pairs()
            return
        count = 0
        for digest, size, holders, _rel in wanted.groups():
            count += 1
            if holders:
                inflight[digest] = holders
            yield digest, size
        report.digests = count

    def look(photo_id: str, parts: _Parts) -> None:
        if report.incremental:
            looked_at.add(photo_id)
        if not locate.record(photo_id, parts):
            later.append((photo_id, parts))

    def settled(done: Settled) -> None:
        """A record whose every original is settled gets its ``blob_locations`` now, on
        this thread, while the other copies go on (not in a second pass after them)."""
        holders = inflight.pop(done.digest, [])
        if done.touched:
            if report.incremental:
                moved[done.digest] = done.sizes
            if holders:
                report.photo_of.setdefault(done.digest, holders[0][0])
        for photo_id, count in holders:
            if count == 1:
                look(photo_id, {done.digest: done.sizes})
                continue
            parts = partial.setdefault(photo_id, {})
            parts[done.digest] = done.sizes
            if len(parts) >= count:
                del partial[photo_id]
                look(photo_id, parts)

    progress.start("copy originals", wanted.count * len(stores))
    try:
        copies = copy_sorted_blobs(
            stream(),
            stores,
            stores,
            workers=workers,
            journal=JsonlJournal(journal_path),
            progress=progress.advance,
            tmp_dir=archive.root / TMP_DIR,
            on_done=settled,
            told=inflight,  # a digest no record read here holds: told only when copied
            sizes=full,
        )
    finally:
        progress.finish()
    report.copied = {name: sorted(v) for name, v in copies.copied.items()}
    report.replaced = {name: sorted(v) for name, v in copies.replaced.items() if v}
    report.failed = {name: dict(v) for name, v in copies.failed.items() if v}
    if report.incremental:
        # what was copied again into a location: its holder is looked at too
        again = {d for v in (*report.copied.values(), *report.failed.values()) for d in v}
        for digest in sorted(again):
            photo_id = report.photo_of.get(digest) or archive.state.photo_for_hash(
                f"sha256:{digest}"
            )
            if photo_id is None:
                continue  # a sidecar two photos share: they name the location already
            report.photo_of.setdefault(digest, photo_id)
            if photo_id not in looked_at:
                look(photo_id, _parts_after(archive, photo_id, moved, copies.sized, stores))
    if later:  # a location without a listing of sizes: list it once now, as before
        needed = {digest for _photo_id, parts in later for digest in parts}
        locate.relist(copies.sized, needed, progress.note)
        for photo_id, parts in later:
            locate.record(photo_id, parts)
    report.records_updated = locate.updated
    if locate.left_alone:  # as before: the run says so (exit 4), now after every copy
        raise locate.left_alone[0]
    if report.ok:
        # the listing is the truth from here on: a later loss must be copied again
        journal_path.unlink(missing_ok=True)
        report.settled_key = None if locate.unlisted else key
    return report


def _parts_after(
    archive: Archive,
    photo_id: str,
    moved: Mapping[str, Mapping[str, int | None]],
    sized: set[str],
    stores: Sequence[BlobStore],
) -> dict[str, Mapping[str, int | None]]:
    """A record's originals in each location listed with sizes, after the pass (the
    holder of an original copied again, looked at once the copies are done): an original
    a copy touched as the copy left it; any other was listed there at the size the
    records say (else it would have been copied), or, where they say none, as the
    location says now."""
    by_name = {store.name: store for store in stores}
    parts: dict[str, Mapping[str, int | None]] = {}
    for digest, size in record_originals(archive.load_record(photo_id)).items():
        if digest in moved:
            parts[digest] = moved[digest]
            continue
        here: dict[str, int | None] = {}
        for name in sized:
            if size is not None:
                here[name] = size
            else:
                stat = by_name[name].stat(digest)
                here[name] = None if stat is None else stat.size
        parts[digest] = here
    return parts


#: state meta "KEY TREE": a replicate settled the ``blob_locations`` of every record of
#: the photos tree TREE with nothing failed; KEY is what the locations depend on
#: besides the records (``context.pass_inputs_key`` without them, and the locations)
SETTLED_META = "blob_locations_settled"


def _locations_key(archive: Archive, stores: Sequence[BlobStore]) -> str | None:
    names = ",".join(sorted(store.name for store in stores))
    return pass_inputs_key(archive, "blob-locations", names, records=False)


def _settled_tree(archive: Archive, key: str) -> tuple[list[Record], SummaryCache] | None:
    """Since the last run that settled every record under ``key``: the records changed
    since (git's diff of the two trees, and this run's uncommitted ones) and the summary
    cache brought to HEAD (its committed originals; the caller closes it); None when
    there was none."""
    said = archive.state.get_meta(SETTLED_META)
    if said is None or not said.startswith(key + " "):
        return None
    cache = SummaryCache(archive)
    try:
        cache.refresh()
        changed = cache.changed_since(said.split(" ", 1)[1])
        if changed is None:
            cache.close()
            return None
        paths = {f"photos/{rel}" for rel in changed} | {
            rel for rel in archive.pending_paths() if rel.startswith("photos/")
        }
        records = [r for r in map(archive.indexed_record_at, sorted(paths)) if r is not None]
    except BaseException:
        cache.close()
        raise
    return records, cache


def note_settled(archive: Archive, report: BlobReplicateReport) -> None:
    """After the run's last commit: a run that settled every record remembers the tree,
    so that the next one reads only what changed since."""
    if report.settled_key is None or archive.pending_paths():
        return
    tree = archive.git.run("rev-parse", "-q", "--verify", "HEAD:photos", check=False).strip()
    if tree:
        archive.state.set_meta(SETTLED_META, f"{report.settled_key} {tree}")
        archive.state.flush()


class _Locator:
    """Writes ``blob_locations``: the locations whose listing (plus the copies confirmed
    since) shows every original of a record at its size. A local folder is asked per
    original (a ``stat``); a location with no listing of sizes waits for ``relist``."""

    def __init__(self, archive: Archive, stores: Sequence[BlobStore]) -> None:
        self.archive = archive
        self.stores = stores
        self.primary = primary_name(stores)
        self.now = utc_now()
        self.updated = 0
        #: records holding a change of the user's: not written (raised after the copies)
        self.left_alone: list[UserChanged] = []
        self._relisted: dict[str, dict[str, int]] = {}
        self._relisted_all = False
        #: locations that could not be listed to confirm copies
        self.unlisted: list[str] = []

    def relist(self, sized: set[str], needed: set[str], note: Callable[[str], None]) -> None:
        """One listing of each location the copies gave no sizes of (a local folder is
        asked per original instead), keeping only the ``needed`` originals' sizes."""
        for store in self.stores:
            if store.name in sized or store.local_files:
                continue
            try:
                self._relisted[store.name] = {
                    stat.digest: stat.size for stat in store.iter_stats() if stat.digest in needed
                }
            except PhotosyncError as error:
                self.unlisted.append(store.name)
                note(f"{store.name}: could not be listed to confirm copies: {error}")
        self._relisted_all = True

    def record(self, photo_id: str, parts: _Parts) -> bool:
        """Update one record, given its originals' sizes in the locations listed with
        sizes (``parts``); False when a location cannot be judged before ``relist``."""
        known: set[str] | None = None
        for sizes in parts.values():
            known = set(sizes) if known is None else known & set(sizes)
        listings: dict[str, Mapping[str, int]] = dict(self._relisted)
        for name in known or ():
            listings[name] = {
                d: size for d, sizes in parts.items() if (size := sizes[name]) is not None
            }
        unlisted = [s for s in self.stores if s.name not in listings]
        if not self._relisted_all and any(not s.local_files for s in unlisted):
            return False
        record = self.archive.load_record(photo_id)
        originals = record_originals(record)
        for store in unlisted:
            if store.local_files:
                listings[store.name] = _local_sizes(store, originals)
        digest = check_digest(record["content_hash"])
        must = {d: expected_size(d, size, listings, self.primary) for d, size in originals.items()}
        verified = {
            store.name: store.locator(digest)
            for store in self.stores
            if all(
                size is not None and listings.get(store.name, {}).get(d) == size
                for d, size in must.items()
            )
        }
        if update_blob_locations(record, verified, primary=self.primary, now=self.now):
            record["updated_at"] = self.now
            try:
                self.archive.write_record(record)
            except UserChanged as error:  # the user's edit stays; the other copies go on
                self.left_alone.append(error)
                return True
            self.updated += 1
        return True


def _local_sizes(store: BlobStore, digests: Iterable[str]) -> dict[str, int]:
    """The size of each of these blobs in a local folder (absent ones left out)."""
    found: dict[str, int] = {}
    for digest in digests:
        stat = store.stat(digest)
        if stat is not None:
            found[digest] = stat.size
    return found


@dataclass
class BlobPlan:
    """What ``replicate --execute`` would copy between locations (``--dry-run``)."""

    #: location -> digests it lacks (or holds with the wrong size) that another location has
    to_copy: dict[str, list[str]] = field(default_factory=dict)
    #: digests no listed location holds with the right size: nothing to copy from
    nowhere: list[str] = field(default_factory=list)
    photo_of: dict[str, str] = field(default_factory=dict)
    filename_of: dict[str, str | None] = field(default_factory=dict)
    #: locations that could not be listed, with why
    unlisted: dict[str, str] = field(default_factory=dict)


def plan_blobs(archive: Archive, *, stores: Sequence[BlobStore] | None = None) -> BlobPlan:
    """One listing per location, nothing written: which originals each location lacks.

    The originals wanted come from the summary cache (it follows git's tree ids) when
    everything is committed, else from the records (sorted in SQLite's private temporary
    database, outside the archive, gone with the process however it ends); either way in
    digest order, each location's listing read alongside, so memory stays flat. Only the
    records of originals to copy are read, to name them.
    """
    stores = list(stores) if stores is not None else all_stores(archive)
    plan = BlobPlan()
    primary = primary_name(stores)
    listings = {store.name: StreamedListing(store, None, sizes=True) for store in stores}
    try:
        with _wanted_originals(archive) as wanted:
            for digest, known, holders, rel in wanted.groups():
                _plan_one(archive, plan, listings, primary, digest, known, holders, rel)
    finally:
        for listing in listings.values():
            listing.close()
    for name, listing in listings.items():
        if not listing.ok:
            plan.unlisted[name] = listing.error or "cannot be listed"
            plan.to_copy.pop(name, None)  # judged with what it listed before: nothing
    return plan


def _plan_one(
    archive: Archive,
    plan: BlobPlan,
    listings: Mapping[str, StreamedListing],
    primary: str | None,
    digest: str,
    known: int | None,
    holders: list[_Holder],
    rel: str | None,
) -> None:
    """One original in the preview: where it must be copied, or that it is nowhere."""
    listed: dict[str, dict[str, int]] = {}
    for name, listing in listings.items():
        found = listing.size(digest) if listing.ok else None
        if not listing.ok:
            continue
        listed[name] = {} if found is None else {digest: found}
    size = expected_size(digest, known, listed, primary)
    holding = [
        name for name, found in listed.items() if size is not None and found.get(digest) == size
    ]
    to = [name for name, found in listed.items() if found.get(digest) != size]
    if holding:
        for location in to:
            plan.to_copy.setdefault(location, []).append(digest)
    else:
        plan.nowhere.append(digest)
    if not holding or to:
        path = rel or (archive.state.path_for_photo(holders[0][0]) if holders else None)
        record = archive.indexed_record_at(path) if path else None
        if record is not None:
            plan.photo_of[digest] = record["photo_id"]
            plan.filename_of[digest] = record["metadata"].get("filename")


def _wanted_originals(archive: Archive) -> _Wanted:
    """Every original, in digest order: from the records when something is uncommitted
    (sorted in a private temporary database), else from the summary cache."""
    if archive.user_changed or archive.pending_paths():
        return _wanted(archive, None, None, None)
    cache = SummaryCache(archive)
    try:
        cache.refresh()
    except BaseException:
        cache.close()
        raise
    return _wanted(archive, None, ([], cache), None)
