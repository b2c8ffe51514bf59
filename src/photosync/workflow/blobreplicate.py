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

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive
from photosync.blobstore.base import BlobStore, check_digest
from photosync.blobstore.blobsync import (
    BlobSyncReport,
    CopyOutcome,
    JsonlJournal,
    all_sizes,
    copy_missing_blobs,
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
    original in it checked for presence and size, and anything lost copied again.
    ``full`` reads every record all the same.
    """
    progress = progress or SilentProgress()
    stores = list(stores) if stores is not None else all_stores(archive)
    workers = workers or upload_workers(archive)
    report = BlobReplicateReport(locations=[s.name for s in stores])
    sizes: dict[str, int | None] = {}
    holders: dict[str, list[str]] = {}  # digest -> photo ids holding it
    waiting: dict[str, int] = {}  # photo id -> its originals not settled yet

    def hold(record: Record) -> None:
        originals = record_originals(record)
        waiting[record["photo_id"]] = len(originals)
        for digest, size in originals.items():
            if sizes.get(digest) is None:
                sizes[digest] = size
            report.photo_of.setdefault(digest, record["photo_id"])
            holders.setdefault(digest, []).append(record["photo_id"])

    key = _locations_key(archive, stores) if records is None and stores else None
    since = _settled_tree(archive, key) if key is not None and not full else None
    if since is None:
        for record in archive.iter_records() if records is None else records:
            hold(record)
    else:
        report.incremental = True
        changed, committed = since
        for record in changed:
            hold(record)
        for digest, size, _rel in committed:
            if sizes.get(digest) is None:
                sizes[digest] = size
    report.digests = len(sizes)
    if not stores or not sizes:
        report.settled_key = key
        return report
    journal_path = archive.root / JOURNAL
    tmp_dir = archive.root / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    locate = _Locator(archive, stores)
    later: list[str] = []
    looked_at: set[str] = set()

    def settled(digest: str, copies: BlobSyncReport) -> None:
        """A record whose every original is settled gets its ``blob_locations`` now, on
        this thread, while the other copies go on (not in a second pass after them)."""
        for photo_id in holders.pop(digest, []):
            waiting[photo_id] -= 1
            if waiting[photo_id] == 0:
                looked_at.add(photo_id)
                if not locate.record(photo_id, copies.listings):
                    later.append(photo_id)

    progress.start("copy originals", len(sizes) * len(stores))
    try:
        copies = copy_missing_blobs(
            sorted(sizes),
            stores,
            stores,
            workers=workers,
            journal=JsonlJournal(journal_path),
            progress=progress.advance,
            tmp_dir=tmp_dir,
            expected=sizes,
            on_done=settled,
        )
    finally:
        progress.finish()
    report.copied = {name: sorted(v) for name, v in copies.copied.items()}
    report.replaced = {name: sorted(v) for name, v in copies.replaced.items() if v}
    report.failed = {name: dict(v) for name, v in copies.failed.items() if v}
    if report.incremental:
        # what was copied again into a location: its holder is looked at too
        moved = {d for v in (*report.copied.values(), *report.failed.values()) for d in v}
        for digest in sorted(moved):
            photo_id = report.photo_of.get(digest) or archive.state.photo_for_hash(
                f"sha256:{digest}"
            )
            if photo_id is None:
                continue  # a sidecar two photos share: they name the location already
            report.photo_of.setdefault(digest, photo_id)
            if photo_id not in looked_at:
                looked_at.add(photo_id)
                if not locate.record(photo_id, copies.listings):
                    later.append(photo_id)
    if later:  # a location without a listing of sizes: list it once now, as before
        locate.relist(copies.listings, progress.note)
        for photo_id in later:
            locate.record(photo_id, copies.listings)
    report.records_updated = locate.updated
    if locate.left_alone:  # as before: the run says so (exit 4), now after every copy
        raise locate.left_alone[0]
    if report.ok:
        # the listing is the truth from here on: a later loss must be copied again
        journal_path.unlink(missing_ok=True)
        report.settled_key = None if locate.unlisted else key
    return report


#: state meta "KEY TREE": a replicate settled the ``blob_locations`` of every record of
#: the photos tree TREE with nothing failed; KEY is what the locations depend on
#: besides the records (``context.pass_inputs_key`` without them, and the locations)
SETTLED_META = "blob_locations_settled"


def _locations_key(archive: Archive, stores: Sequence[BlobStore]) -> str | None:
    names = ",".join(sorted(store.name for store in stores))
    return pass_inputs_key(archive, "blob-locations", names, records=False)


def _settled_tree(
    archive: Archive, key: str
) -> tuple[list[Record], Iterator[tuple[str, int | None, str]]] | None:
    """Since the last run that settled every record under ``key``: the records changed
    since (git's diff of the two trees, and this run's uncommitted ones) and every
    committed original (from the summary cache); None when there was none."""
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
    except BaseException:
        cache.close()
        raise
    paths = {f"photos/{rel}" for rel in changed} | {
        rel for rel in archive.pending_paths() if rel.startswith("photos/")
    }
    records = [r for r in map(archive.indexed_record_at, sorted(paths)) if r is not None]
    return records, _streamed(cache)


def _streamed(cache: SummaryCache) -> Iterator[tuple[str, int | None, str]]:
    """The cache's committed originals (paths under photos/), the cache closed after."""
    try:
        yield from cache.committed_originals()
    finally:
        cache.close()


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

    def relist(self, known: Mapping[str, dict[str, int]], note: Callable[[str], None]) -> None:
        for store in self.stores:
            if store.name in known:
                continue
            try:
                self._relisted[store.name] = all_sizes(store)
            except PhotosyncError as error:
                self.unlisted.append(store.name)
                note(f"{store.name}: could not be listed to confirm copies: {error}")
        self._relisted_all = True

    def record(self, photo_id: str, known: Mapping[str, dict[str, int]]) -> bool:
        """Update one record; False when a location cannot be judged before ``relist``."""
        listings: dict[str, Mapping[str, int]] = {**self._relisted, **known}
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
    everything is committed, else from the records; only the records of originals to
    copy are read, to name them.
    """
    stores = list(stores) if stores is not None else all_stores(archive)
    plan = BlobPlan()
    sizes: dict[str, int | None] = {}
    holder: dict[str, str] = {}  # digest -> a record path holding it
    for digest, size, rel in _wanted_originals(archive):
        if sizes.get(digest) is None:
            sizes[digest] = size
        holder.setdefault(digest, rel)
    listed: dict[str, dict[str, int]] = {}
    for store in stores:
        try:
            listed[store.name] = all_sizes(store)
        except PhotosyncError as error:
            plan.unlisted[store.name] = str(error)
    primary = primary_name(stores)
    named: set[str] = set()

    def name(digest: str) -> None:
        if digest in named:
            return
        named.add(digest)
        record = archive.indexed_record_at(holder[digest])
        if record is not None:
            plan.photo_of[digest] = record["photo_id"]
            plan.filename_of[digest] = record["metadata"].get("filename")

    for digest, known in sorted(sizes.items()):
        size = expected_size(digest, known, listed, primary)
        holders = [
            name for name, found in listed.items() if size is not None and found.get(digest) == size
        ]
        if not holders:
            plan.nowhere.append(digest)
            name(digest)
            continue
        for location, found in listed.items():
            if found.get(digest) != size:
                plan.to_copy.setdefault(location, []).append(digest)
                name(digest)
    return plan


def _wanted_originals(archive: Archive) -> Iterator[tuple[str, int | None, str]]:
    """(digest, size or None, path of a record holding it) of every original."""
    if archive.user_changed or archive.pending_paths():
        for record in archive.iter_records():
            rel = archive.state.path_for_photo(record["photo_id"]) or ""
            for digest, size in record_originals(record).items():
                yield digest, size, rel
        return
    cache = SummaryCache(archive)
    try:
        cache.refresh()
    except BaseException:
        cache.close()
        raise
    for digest, size, rel in _streamed(cache):
        yield digest, size, f"photos/{rel}"
