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

from collections.abc import Callable, Iterable, Mapping, Sequence
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
from photosync.workflow.context import all_stores
from photosync.workflow.progress import Progress, SilentProgress

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
) -> BlobReplicateReport:
    """Copy each record's original into every configured location, then update the records.

    ``records`` defaults to every record in the archive. The caller holds the
    writer lock and commits. Nothing is ever deleted or overwritten; a copy
    that fails is reported and retried by the next run.
    """
    progress = progress or SilentProgress()
    stores = list(stores) if stores is not None else all_stores(archive)
    workers = workers or upload_workers(archive)
    report = BlobReplicateReport(locations=[s.name for s in stores])
    sizes: dict[str, int | None] = {}
    holders: dict[str, list[str]] = {}  # digest -> photo ids holding it
    waiting: dict[str, int] = {}  # photo id -> its originals not settled yet
    for record in archive.iter_records() if records is None else records:
        originals = record_originals(record)
        waiting[record["photo_id"]] = len(originals)
        for digest, size in originals.items():
            if sizes.get(digest) is None:
                sizes[digest] = size
            report.photo_of.setdefault(digest, record["photo_id"])
            holders.setdefault(digest, []).append(record["photo_id"])
    report.digests = len(sizes)
    if not stores or not sizes:
        return report
    journal_path = archive.root / JOURNAL
    tmp_dir = archive.root / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    locate = _Locator(archive, stores)
    later: list[str] = []

    def settled(digest: str, copies: BlobSyncReport) -> None:
        """A record whose every original is settled gets its ``blob_locations`` now, on
        this thread, while the other copies go on (not in a second pass after them)."""
        for photo_id in holders.pop(digest, []):
            waiting[photo_id] -= 1
            if waiting[photo_id] == 0 and not locate.record(photo_id, copies.listings):
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
    return report


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

    def relist(self, known: Mapping[str, dict[str, int]], note: Callable[[str], None]) -> None:
        for store in self.stores:
            if store.name in known:
                continue
            try:
                self._relisted[store.name] = all_sizes(store)
            except PhotosyncError as error:
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
    """One listing per location, nothing written: which originals each location lacks."""
    stores = list(stores) if stores is not None else all_stores(archive)
    plan = BlobPlan()
    sizes: dict[str, int | None] = {}
    for record in archive.iter_records():
        for digest, size in record_originals(record).items():
            if sizes.get(digest) is None:
                sizes[digest] = size
            plan.photo_of.setdefault(digest, record["photo_id"])
            plan.filename_of.setdefault(digest, record["metadata"].get("filename"))
    listed: dict[str, dict[str, int]] = {}
    for store in stores:
        try:
            listed[store.name] = all_sizes(store)
        except PhotosyncError as error:
            plan.unlisted[store.name] = str(error)
    primary = primary_name(stores)
    for digest, known in sorted(sizes.items()):
        size = expected_size(digest, known, listed, primary)
        holders = [
            name for name, found in listed.items() if size is not None and found.get(digest) == size
        ]
        if not holders:
            plan.nowhere.append(digest)
            continue
        for name, found in listed.items():
            if found.get(digest) != size:
                plan.to_copy.setdefault(name, []).append(digest)
    return plan
