"""Phase 1, discover: list services, hash and store originals, record each photo once.

Data flow per service::

    list_items (stat only) --seen-cache hit--> skipped, no byte read
        | new or changed
        v
    worker threads: one pass reads the bytes, SHA-256s them and writes them to
    the local blob store (a temp file of the batch's ``BlobBatch``; a download:
    tmp, fsync, rename); metadata read from the file
        |
        v
    main thread: record by content hash (new record, or one more instance of an
    existing one), kept in memory; every ``commit_every`` items the batch's blobs
    are published (one syncfs, renamed into place, one more syncfs: durable before
    any record names them), its records validated and written, a git commit,
    then the seen-cache rows of those items (so a killed run redoes only
    uncommitted work). The service cursor is saved with the last commit.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from photosync.archive.archive import Archive, PendingCommit
from photosync.archive.state import RefusedItem, SeenEntry
from photosync.blobstore.base import hash_stream, open_regular
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import ItemRefused, PhotosyncError, ServiceError, UserChanged
from photosync.identity import Candidate, best_copy, fingerprint_file
from photosync.metadata import extract_media_info
from photosync.metadata.dates import FILENAME_SOURCE
from photosync.metadata.exiftool import ExiftoolReader, open_reader
from photosync.metadata.types import MediaInfo
from photosync.model import (
    Instance,
    MediaFingerprint,
    ObservedMetadata,
    ProcessingState,
    Record,
    Sidecar,
    StatedValue,
    add_problem,
    aliased_instance,
    carry_known,
    comparable,
    date_precision,
    dates_agree,
    find_instance,
    find_offset,
    is_estimated_date,
    merge_album_titles,
    new_instance,
    new_record,
    places_agree,
    refresh_seen_visibility,
    says_something_new,
    sources_disagree,
    start_record,
    supersede_instance,
    upgrade_made_up_name,
    upsert_instance,
    utc_now,
)
from photosync.parallel import bounded_map
from photosync.services.base import ListingReport, RemoteItem, SourceService, trade_files
from photosync.workflow.context import open_services, primary_store, refuse_unusable
from photosync.workflow.progress import Progress, SilentProgress

log = logging.getLogger(__name__)

# A full listing that shrinks below this share of the last one is suspicious.
SHRINK_ALARM = 0.5
#: below this size a local file's ingest is CPU-bound: at most one per core at a time
SMALL_LOCAL_FILE = 1024 * 1024


#: (instance id, version, content hash): what the seen-cache remembers of one item
SeenRow = tuple[str, str, str | None]


@dataclass
class ServiceReport:
    service: str
    listed: int = 0
    unchanged: int = 0
    new: int = 0
    #: an item the archive already has the bytes of, from another file or service
    duplicate: int = 0
    updated: int = 0
    failed: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: refused for good by the service in this run (file, reason, what to do)
    refused: list[str] = field(default_factory=list)
    #: refused in an earlier run and unchanged since: not asked again (--retry-failed)
    refused_before: int = 0
    #: files the listing saw and does not archive (``"path: why"``); not in ``listed``
    left_out: list[str] = field(default_factory=list)
    #: files an ``exclude`` pattern kept out; not in ``listed``
    excluded: int = 0

    def adds_up(self) -> bool:
        """Every listed item is counted once: unchanged, new, duplicate, updated, failed
        or refused."""
        return self.listed == (
            self.unchanged
            + self.new
            + self.duplicate
            + self.updated
            + len(self.failed)
            + len(self.refused)
            + self.refused_before
        )


@dataclass
class DiscoverReport:
    services: list[ServiceReport] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    #: services discover cannot list, with how their photos are read instead (Takeout)
    notes: list[str] = field(default_factory=list)
    #: folder services whose folder is not on this machine: skipped, with why (exit 4)
    not_here: dict[str, str] = field(default_factory=dict)

    @property
    def new(self) -> int:
        return sum(s.new for s in self.services)

    @property
    def updated(self) -> int:
        return sum(s.updated for s in self.services)

    @property
    def duplicate(self) -> int:
        return sum(s.duplicate for s in self.services)

    @property
    def failed(self) -> int:
        return sum(len(s.failed) for s in self.services)

    @property
    def refused(self) -> int:
        return sum(len(s.refused) for s in self.services)

    @property
    def refused_before(self) -> int:
        return sum(s.refused_before for s in self.services)


@dataclass
class _Ingested:
    item: RemoteItem
    digest: str | None = None
    size: int = 0
    info: MediaInfo | None = None
    #: perceptual fingerprint (dict) for a newly stored photo, or why there is none
    fingerprint: MediaFingerprint | None = None
    fingerprint_note: str | None = None
    error: str | None = None
    #: the service refused this item for good
    refused: ItemRefused | None = None
    #: the item's other files (``RemoteItem.copies``), each ingested on its own
    copies: list[_Ingested] = field(default_factory=list)
    #: sidecar files that came with it, stored as blobs: ``{"name", "content_hash", "size"}``
    sidecars: list[Sidecar] = field(default_factory=list)


def discover(
    archive: Archive,
    *,
    services: list[str] | None = None,
    since: datetime | None = None,
    full_scan: bool = False,
    sources: dict[str, SourceService] | None = None,
    retry_failed: bool = False,
    progress: Progress | None = None,
) -> DiscoverReport:
    """Run discover on the given (or all enabled source) services. Caller holds the lock.

    ``sources`` replaces the configured services with ready-made sources (a
    Takeout import, Picker downloads) whose instances count for the named service.
    An item the service refused for good in an earlier run is asked for again only
    with ``retry_failed`` (or once the service lists a new version of it).
    """
    progress = progress or SilentProgress()
    if sources is not None:  # a Takeout counts for its service: never a retired one
        refuse_unusable(archive, list(sources), configured_only=False)
    prefs = archive.prefs()
    report = DiscoverReport()
    store = primary_store(archive)
    store.sweep_tmp()
    deep = open_reader(prefs.metadata_reader)  # closed when the run ends
    opening = (
        open_services(archive, services, not_here=report.not_here)
        if sources is None
        else nullcontext(sources)
    )
    with opening as opened, deep if deep is not None else nullcontext():
        if services and sources is None:
            _refuse_unlistable(opened)
        for name in list(report.not_here):
            if not services and archive.services()[name].get("source") is False:
                del report.not_here[name]  # a target only: discover would not read it
        for name, service in opened.items():
            if not isinstance(service, SourceService):
                if service.read_from_export:
                    report.notes.append(f"{name}: " + service.read_from_export.format(name=name))
                continue
            if not services and sources is None and archive.services()[name].get("source") is False:
                continue
            run = _ServiceRun(
                archive,
                service,
                store,
                since=since,
                full_scan=full_scan,
                commit_every=prefs.sync.commit_every,
                workers=(
                    prefs.sync.max_parallel_downloads
                    if service.over_network
                    else prefs.sync.hash_workers
                ),
                full_listing_days=prefs.sync.incremental_sync_days,
                retry_failed=retry_failed,
                progress=progress,
                deep=deep,
            )
            report.services.append(run.execute(report.commits))
    return report


def _refuse_unlistable(opened: dict[str, Any]) -> None:
    """A service named on the command line that discover cannot list is a mistake to
    explain (not a silent no-op): say how its photos are read instead."""
    for name, service in opened.items():
        if isinstance(service, SourceService):
            continue
        how = service.read_from_export
        raise PhotosyncError(
            f"{name} cannot be listed by discover",
            hint=how.format(name=name)
            if how
            else f"{name} is a target only; `photosync replicate` writes to it.",
        )


class _ServiceRun:
    def __init__(
        self,
        archive: Archive,
        service: SourceService,
        store: LocalBlobStore,
        *,
        since: datetime | None,
        full_scan: bool,
        commit_every: int,
        workers: int,
        full_listing_days: int,
        progress: Progress,
        retry_failed: bool = False,
        deep: ExiftoolReader | None = None,
    ) -> None:
        self.archive = archive
        self.deep = deep
        self.service = service
        self.store = store
        # a local file's blob (and every sidecar's) waits, a complete temp file, for the
        # checkpoint: one filesystem sync a batch, not an fsync a file
        self.blobs = store.batch()
        self.since = since
        self.full_scan = full_scan
        self.commit_every = commit_every
        self.workers = workers
        self._cpu_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))
        self.full_listing_days = full_listing_days
        self.retry_failed = retry_failed
        self.refused = archive.state.refused_for_service(service.name)
        self.progress = progress
        self.report = ServiceReport(service.name)
        self.seen = archive.state.seen_for_service(service.name)
        self.pending_seen: list[SeenRow] = []
        # records this batch changed, written once at its checkpoint: a photo found in
        # thousands of identical files is parsed, validated and written once per batch,
        # not once per file (which made such a folder quadratic)
        self._batch: dict[str, Record] = {}
        self._batch_hashes: dict[str, str] = {}
        self._batch_rows: dict[str, list[tuple[SeenRow, str]]] = {}
        self._batch_items = 0
        self._inflight: tuple[PendingCommit, list[SeenRow]] | None = None
        self._shrank = False
        #: items the seen-cache passed over before the archive's run-start status was in
        #: (``_settled``): that cache may be stale until then
        self._unsettled_skips: list[RemoteItem] | None = None
        self.fingerprints = archive.prefs().sync.fingerprint_during_discover
        self.batch_new = 0
        self.batch_duplicate = 0
        self.batch_updated = 0

    # orchestration ------------------------------------------------------------------------
    def execute(self, commits: list[str]) -> ServiceReport:
        try:
            return self._execute(commits)
        finally:
            self.blobs.close()  # a run stopped by an error: what no record names goes

    def _execute(self, commits: list[str]) -> ServiceReport:
        name = self.service.name
        sync_state = self.archive.sync_state()
        previous = sync_state["services"].get(name, {})
        cursor = None if self.full_scan or self.since else previous.get("cursor")
        if cursor is not None and self._full_listing_due():
            cursor = None  # incremental_sync_days: now and then look at everything again
        if cursor is not None and self.retry_failed and self.refused:
            cursor = None  # the refused items are behind the cursor: list them again
        listing = ListingReport()
        log.info(
            "discover %s: listing (%s)",
            name,
            "full scan"
            if self.full_scan
            else f"since {self.since.isoformat()}"
            if self.since
            else f"from cursor {cursor}"
            if cursor
            else "everything, seen-cache on",
        )
        self.progress.start(f"discover {name}")
        try:
            chunks = _chunks(self._ingest_all(self._changed_items(listing, cursor)))
            for chunk in self._settled(chunks):
                self.archive.state.prefetch_hashes(
                    f"sha256:{f.digest}" for i in chunk for f in (i, *i.copies) if f.digest
                )
                for ingested in chunk:
                    # a full batch is committed once more is coming: the last one goes into
                    # the final commit with the cursor (one commit, not a batch and a cursor)
                    if self._batch_items >= self.commit_every:
                        self._checkpoint(commits, final=False)
                    self._apply(ingested)
                    self.progress.advance()
        except ServiceError as error:
            # the service failed (circuit open, auth, outage): keep what was done, leave
            # the cursor where it was, and let the other services run
            self.report.failed.append(f"listing stopped: {error}")
            log.error("discover %s: listing stopped, the cursor stays: %s", name, error)
            self.report.warnings.extend(listing.warnings)
            self._checkpoint(commits, final=True)
            return self.report
        finally:
            self.progress.finish()
        self.report.warnings.extend(listing.warnings)
        self.report.left_out, self.report.excluded = listing.left_out, listing.excluded
        self.archive.state.set_meta(
            f"left_out:{name}",
            json.dumps({"left_out": listing.left_out, "excluded": listing.excluded}),
        )
        self._check_shrinkage(previous, cursor)
        for warning in self.report.warnings:
            log.warning("discover %s: %s", name, warning)
        entry = dict(previous)
        entry.update(
            {
                "last_discover": utc_now(),
                "cursor": self._next_cursor(listing, entry.get("cursor")),
            }
        )
        if cursor is None and self.since is None:
            # kept locally like the time of every run: git is left alone by a quiet run
            self.archive.state.set_meta(f"last_full_listing:{name}", entry["last_discover"])
            if not self._shrank:
                # after an alarm the old count stays: a slow decline must not become the new normal
                if self._own_folder_here():
                    self.archive.state.set_meta(f"listing_count:{name}", str(self.report.listed))
                else:
                    entry["last_full_listing_count"] = self.report.listed
        changed = self.report.new or self.report.updated or self.report.duplicate
        if changed or {k: v for k, v in entry.items() if k != "last_discover"} != {
            k: v for k, v in previous.items() if k != "last_discover"
        }:
            # a run that found nothing leaves git alone; the time of every run is kept locally
            sync_state["services"][name] = entry
            try:
                self.archive.save_sync_state(sync_state)
            except UserChanged as error:  # the user's edit of it: left alone, said
                self.report.warnings.append(f"{error} (this run's cursor is not saved)")
                log.warning("discover %s: %s", name, error)
        self.archive.state.set_meta(f"last_run:discover:{name}", entry["last_discover"])
        self._checkpoint(commits, final=True)
        r = self.report
        log.info(
            "discover %s: listed %d, unchanged %d, new %d, duplicate %d, updated %d, failed %d",
            name,
            r.listed,
            r.unchanged,
            r.new,
            r.duplicate,
            r.updated,
            len(r.failed),
        )
        return r

    def _settled(self, chunks: Iterator[list[_Ingested]]) -> Iterator[list[_Ingested]]:
        """The ingested files, once the archive's run-start status is in (``settle``).

        Until then (``lock(defer_status=True)``) files are hashed, stored and held
        here, at most a batch of them: what is done with them depends on the
        records, which a hand edit found by that status may change.
        """
        held: list[list[_Ingested]] = []
        stopped: ServiceError | None = None
        if self.archive.settling:
            # the listing asks the seen-cache before settle: what it passes over is kept,
            # and looked at again should settle find that cache stale
            self._unsettled_skips = []
            count = 0
            try:
                for chunk in chunks:
                    held.append(chunk)
                    count += len(chunk)
                    if count >= self.commit_every or not self.archive.settling:
                        break
            except ServiceError as error:
                stopped = error  # the files stored so far are recorded first, as ever
        again = self._settle()
        if again:
            held.extend(_chunks(self._ingest_all(iter(again))))
        yield from held
        if stopped is not None:
            raise stopped
        yield from chunks

    def _full_listing_due(self) -> bool:
        """``incremental_sync_days``: a cursor is trusted that long after the last full listing
        (an item a service backdates or lists late is found by the next full one)."""
        if self.full_listing_days <= 0:
            return False
        last = self.archive.state.get_meta(f"last_full_listing:{self.service.name}")
        if not isinstance(last, str):
            return True
        try:
            when = datetime.fromisoformat(last.replace("Z", "+00:00"))
        except ValueError:
            return True
        return datetime.now(UTC) - when > timedelta(days=self.full_listing_days)

    def _next_cursor(self, listing: ListingReport, previous: str | None) -> str | None:
        """The cursor moves only when every listed item is recorded.

        An item that failed (a download gave up, a damaged record in the way) is not in the
        archive yet; a cursor past it would hide it from every incremental run after this one.
        """
        if self.report.failed or listing.next_cursor is None or self.since is not None:
            return previous  # a --since run is a window: items before it were never listed
        return listing.next_cursor

    def _changed_items(self, listing: ListingReport, cursor: str | None) -> Iterator[RemoteItem]:
        for item in self.service.list_items(since=self.since, cursor=cursor, report=listing):
            self.report.listed += 1
            seen = self.seen.get(item.instance_id)
            if not self.full_scan and seen is not None and seen.version == item.version:
                self.report.unchanged += 1
                if self._unsettled_skips is not None:
                    self._unsettled_skips.append(item)
                    if len(self._unsettled_skips) >= UNSETTLED_SKIPS or not self.archive.settling:
                        # git's status is in, or the items kept would grow with the
                        # listing: settle now (this is the caller's thread)
                        yield from self._settle()
                continue
            if self._refused_before(item):
                self.report.refused_before += 1  # refused for good: not asked again
                continue
            yield item

    def _settle(self) -> list[RemoteItem]:
        """Take in the archive's run-start status; the items the stale seen-cache passed
        over that must be read after all (their record was removed or emptied by hand)."""
        skipped, self._unsettled_skips = self._unsettled_skips or [], None
        if not self.archive.settle():
            return []
        # the index was rebuilt from the records: a seen row no record holds is gone
        self.seen = self.archive.state.seen_for_service(self.service.name)
        again = [item for item in skipped if self._wanted(item)]
        # passed over as unchanged by the stale cache: read like any changed file
        self.report.unchanged -= len(again)
        return again

    def _refused_before(self, item: RemoteItem) -> bool:
        earlier = self.refused.get(item.instance_id)
        return earlier is not None and earlier.version == item.version and not self.retry_failed

    def _wanted(self, item: RemoteItem) -> bool:
        """An item passed over as seen before settle that the settled cache does not know
        (its record was removed or emptied by hand), and not refused for good before."""
        seen = self.seen.get(item.instance_id)
        if seen is not None and seen.version == item.version:
            return False
        if self._refused_before(item):
            self.report.unchanged -= 1
            self.report.refused_before += 1
            return False
        return True

    def _ingest_all(self, items: Iterator[RemoteItem]) -> Iterator[_Ingested]:
        """Ingest in worker threads, results in listing order, bounded look-ahead."""
        return bounded_map(self._ingest, items, workers=self.workers, name="ingest")

    # worker side ---------------------------------------------------------------------------
    def _ingest(self, item: RemoteItem) -> _Ingested:
        """One item, and each of its other files: every one stored, the best one the item's."""
        result = self._ingest_file(item)
        if not item.copies:
            return result
        files = [result, *(self._ingest_file(copy) for copy in item.copies)]
        readable = [f for f in files if f.digest is not None]
        best = _best_file(readable) if readable else result
        if best is not result:
            best.item, result.item = trade_files(result.item, best.item)
        best.copies = [f for f in files if f is not best]
        return best

    def _ingest_file(self, item: RemoteItem) -> _Ingested:
        result = _Ingested(item)
        try:
            if item.local_path is not None:
                self._ingest_local(item, result)
            else:
                self._ingest_stream(item, result)
        except ItemRefused as error:
            result.refused = error
        except PhotosyncError as error:
            result.error = str(error)
            log.debug("discover %s: %s", self.service.name, item.instance_id, exc_info=True)
        except OSError as error:
            result.error = str(error.strerror or error)
            log.debug("discover %s: %s", self.service.name, item.instance_id, exc_info=True)
        return result

    def _ingest_local(self, item: RemoteItem, result: _Ingested) -> None:
        path = item.local_path
        assert path is not None
        # one descriptor, opened without blocking (a FIFO swapped in under the name is
        # refused, not waited on), serves the hash, the copy and the metadata
        with open_regular(path) as source, self._cpu_slot(source, item.size):
            stored_now = False
            if item.instance_id in self.seen:
                # likely already stored (touched file, --full-scan): hash before copying
                digest, size = hash_stream(source)
                if not self.store.has(digest):
                    source.seek(0)
                    digest, stored_now, size = self._store_from(source)
            else:
                digest, stored_now, size = self._store_from(source)
            result.digest, result.size = digest, size
            result.info = extract_media_info(
                path,
                sidecars=list(item.sidecar_paths),
                fallback_mtime=None if item.taken_unknown else item.modified_at,
                fallback_source=item.modified_at_source,
                deep=self.deep,
                handle=source,
            )
            self._store_sidecars(item, result)
            if stored_now:
                self._fingerprint(path, result)

    def _cpu_slot(self, source: BinaryIO, size: int | None) -> AbstractContextManager[object]:
        """A small file's ingest is CPU work under the GIL (parsing, hashing, a
        decode): at most one per core at a time, since more only adds GIL hand-offs
        (measured: a third of discover's CPU at 8 workers on 2 cores). Its bytes are
        asked of the disk first, so waiting threads keep the disk busy; a big file
        waits on the disk itself and takes no slot."""
        if size is None or size >= SMALL_LOCAL_FILE:
            return nullcontext()
        with suppress(OSError, AttributeError):  # readahead is a hint
            os.posix_fadvise(source.fileno(), 0, 0, os.POSIX_FADV_WILLNEED)
        return self._cpu_slots

    def _store_sidecars(self, item: RemoteItem, result: _Ingested) -> None:
        """Sidecars are preserved like originals (ratings, labels, develop settings, what
        Google knew): one that cannot be read fails the item, retried next run."""
        for name, opener in self.service.sidecar_files(item):
            with opener() as stream:
                digest, _stored, size = self._store_from(stream)
            result.sidecars.append({"name": name, "content_hash": f"sha256:{digest}", "size": size})

    def _store_from(self, source: BinaryIO, *, batched: bool = True) -> tuple[str, bool, int]:
        """Copy a stream into the local blob store: (digest, stored now, size).

        ``batched``: the blob is named at the checkpoint (``BlobBatch.publish``), before
        any record names it; else at once (a download, read back from the store now).
        """
        writer = self.blobs.writer() if batched else self.store.writer()
        try:
            writer.copy_from(source)
            digest, stored_now = writer.commit()
        except BaseException:
            writer.abort()
            raise
        return digest, stored_now, writer.size

    def _ingest_stream(self, item: RemoteItem, result: _Ingested) -> None:
        with self.service.open_item(item) as stream:
            digest, stored_now, result.size = self._store_from(stream, batched=False)
        result.digest = digest
        self._store_sidecars(item, result)
        result.info = extract_media_info(
            self.store.path_for(digest),
            fallback_mtime=None if item.taken_unknown else item.modified_at,
            fallback_source=item.modified_at_source,
            file_time=False,  # the stored copy's mtime is when it was downloaded
            name=item.filename,
            deep=self.deep,
        )
        if stored_now:
            self._fingerprint(self.store.path_for(digest), result)

    def _fingerprint(self, path: Path, result: _Ingested) -> None:
        """Perceptual fingerprint of a new photo, decoded at reduced size (for resolve's matcher)."""
        if not self.fingerprints or result.info is None or result.info.kind != "photo":
            return
        try:
            found = fingerprint_file(path)
        except PhotosyncError as error:
            result.fingerprint_note = str(error)
            return
        if found.fingerprint is not None:
            result.fingerprint = found.fingerprint.to_dict()
        else:
            result.fingerprint_note = found.reason

    # main-thread side ---------------------------------------------------------------------------
    def _apply(self, ingested: _Ingested) -> None:
        # the item counts as seen only when every one of its files is stored
        complete = all(f.digest is not None for f in ingested.copies)
        self._apply_file(ingested, remember=complete)
        for copy in ingested.copies:  # listed inside their item: counted here
            self.report.listed += 1
            self._apply_file(copy)

    def _apply_file(self, ingested: _Ingested, *, remember: bool = True) -> None:
        item = ingested.item
        if ingested.refused is not None:
            self._note_refused(item, ingested.refused)
            return
        if ingested.error is not None or ingested.digest is None:
            self.report.failed.append(f"{item_label(item)}: {ingested.error}")
            log.warning(
                "discover %s: %s (%s) failed, retried next run: %s",
                self.service.name,
                item.instance_id,
                item.filename,
                ingested.error,
            )
            return
        content_hash = f"sha256:{ingested.digest}"
        info = ingested.info or MediaInfo()
        instance = self._instance(item, content_hash, info, ingested.sidecars)
        self._supersede_previous(item, content_hash)
        record = self._record_for_hash(content_hash)
        if record is None:
            record = self._new_record(content_hash, ingested, info, instance)
            self.batch_new += 1
            self.report.new += 1
        else:
            alias = aliased_instance(record, self.service.name, item.instance_id, item.aliases)
            if alias is not None and not alias[1]:
                # the same item, already recorded under its better id: nothing new here
                self.pending_seen.append((item.instance_id, item.version, content_hash))
                self._batch_items += 1
                self.report.unchanged += 1
                return
            changed = False
            known = find_instance(record, self.service.name, item.instance_id) is not None
            if alias is not None:  # the item's better id now: the old one is kept, superseded
                supersede_instance(alias[0], "same_item_as", item.instance_id)
                changed = True
            carry_known(record, self.service.name, instance, widest=self.service.snapshot_listing)
            previous = find_instance(record, self.service.name, item.instance_id)
            changed |= upgrade_made_up_name(record, previous, instance)
            changed |= upsert_instance(record, self.service.name, instance)
            changed |= self._note_problems(record, item, info)
            changed |= merge_album_titles(record, instance)
            if changed:
                if says_something_new(record, instance):
                    record["processing_state"] = ProcessingState.DISCOVERED.value
                if known or alias is not None:
                    self.batch_updated += 1
                    self.report.updated += 1
                else:  # bytes the archive has already, from another file or service
                    self.batch_duplicate += 1
                    self.report.duplicate += 1
            else:  # read again (--full-scan, a touched file) and nothing to add
                self.report.unchanged += 1
        refresh_seen_visibility(record)
        row = (item.instance_id, item.version, content_hash) if remember else None
        self._stage(record, content_hash, row, item_label(item))

    def _record_for_hash(self, content_hash: str) -> Record | None:
        """The record holding these bytes, this batch's in-memory copy when it has one."""
        photo_id = self._batch_hashes.get(content_hash) or self.archive.state.photo_for_hash(
            content_hash
        )
        if photo_id is None:
            return None
        return self._batch.get(photo_id) or self.archive.load_record(photo_id)

    def _stage(
        self, record: Record, content_hash: str, row: SeenRow | None = None, label: str = ""
    ) -> None:
        """Keep a changed record for the checkpoint; the item's seen row waits on its write."""
        photo_id = record["photo_id"]
        self._batch[photo_id] = record
        self._batch_hashes[content_hash] = photo_id
        if row is not None:
            self._batch_rows.setdefault(photo_id, []).append((row, label))
            self._batch_items += 1

    def _flush(self) -> None:
        """Write the batch's records; an item whose record cannot be written is not seen."""
        self.archive.state.prefetch_paths(self._batch)
        for photo_id, record in self._batch.items():
            rows = self._batch_rows.get(photo_id, [])
            try:
                self.archive.write_record(record)
            except PhotosyncError as error:  # a damaged record file in the way: touch nothing
                self.report.failed.extend(f"{label}: {error}" for _row, label in rows)
                if not rows:
                    self.report.failed.append(f"photo {photo_id}: {error}")
                log.warning(
                    "discover %s: photo %s not recorded: %s", self.service.name, photo_id, error
                )
                continue
            for row, _label in rows:
                self.pending_seen.append(row)
                if row[0] in self.refused:  # fetched after all (--retry-failed, a new version)
                    self.archive.state.forget_refused(self.service.name, row[0])
                    del self.refused[row[0]]
        self._batch, self._batch_hashes, self._batch_rows = {}, {}, {}
        self._batch_items = 0

    def _note_refused(self, item: RemoteItem, error: ItemRefused) -> None:
        """Refused for good: said once with what to do, remembered, not asked again.

        The item has no bytes here, so no record: the refusal is kept in the local state
        (``status`` lists it); it does not hold the cursor back.
        """
        name = item_label(item)
        reason = str(error)
        self.report.refused.append(
            f"{name} on {self.service.name}: {reason}" + (f". {error.hint}" if error.hint else "")
        )
        log.warning(
            "discover %s: %s (%s) refused for good: %s",
            self.service.name,
            name,
            item.instance_id,
            reason,
        )
        entry = RefusedItem(
            self.service.name, item.instance_id, item.version, name, reason, error.hint, utc_now()
        )
        self.archive.state.set_refused(entry)
        self.refused[item.instance_id] = entry

    def _instance(
        self, item: RemoteItem, content_hash: str, info: MediaInfo, sidecars: list[Sidecar]
    ) -> Instance:
        return new_instance(
            item.instance_id,
            quality=item.quality,
            content_hash=content_hash,
            observed=_observed(item, info).to_json(),
            url=item.url,
            version=item.version if item.local_path is None else None,
            visibility=item.visibility.level.value if item.visibility else None,
            visibility_raw=item.visibility.raw if item.visibility else None,
            extra=item.extra,
            aliases=item.aliases,
            sidecars=sidecars,
        )

    def _new_record(
        self, content_hash: str, ingested: _Ingested, info: MediaInfo, instance: Instance
    ) -> Record:
        item = ingested.item
        record = new_record(
            content_hash=content_hash,
            size=ingested.size,
            media={
                "kind": info.kind
                if info.kind in ("photo", "video")
                else item.media_type or "unknown",
                "mime_type": info.mime_type,
                "format": info.format,
                "width": info.width,
                "height": info.height,
                "orientation": info.orientation,
                "duration_s": info.duration_s,
                "fingerprint": ingested.fingerprint,
                "fingerprint_note": ingested.fingerprint_note,
            },
            canonical_source=f"{self.service.name}:{item.instance_id}",
            source_of_truth_path=self.store.locator(content_hash),
        )
        start_record(record, self.service.name, instance)
        self._note_problems(record, item, info)
        return record

    def _note_problems(self, record: Record, item: RemoteItem, info: MediaInfo) -> bool:
        changed = False
        for message in [*info.problems, *item.problems]:
            changed |= add_problem(record, "unreadable_metadata", message, self.service.name)
        return changed

    def _supersede_previous(self, item: RemoteItem, content_hash: str) -> None:
        """The item's bytes changed (edited file, replaced on Flickr): keep the old version."""
        seen = self.seen.get(item.instance_id)
        if seen is None or seen.content_hash in (None, content_hash):
            return
        old = self._record_for_hash(seen.content_hash)
        if old is None:
            return
        instance = find_instance(old, self.service.name, item.instance_id)
        if instance is not None and instance.get("status") != "superseded":
            supersede_instance(instance, "superseded_by", content_hash)
            self._stage(old, seen.content_hash, None)
            self.batch_updated += 1

    def _own_folder_here(self) -> bool:
        """This machine reads its own folder for the service (``service locate``): the
        count in config/sync-state.json is of the folder the other machine reads."""
        return self.service.name in self.archive.machine_paths()

    def _check_shrinkage(self, previous: dict[str, Any], cursor: str | None) -> None:
        if cursor is not None or self.since is not None:
            return
        if self._own_folder_here():
            before = int(self.archive.state.get_meta(f"listing_count:{self.service.name}") or 0)
        else:
            before = int(previous.get("last_full_listing_count") or 0)
        if before >= 10 and self.report.listed < before * SHRINK_ALARM:
            self._shrank = True
            self.report.warnings.insert(  # first: the listing's own warnings can be many
                0,
                f"{self.service.name} listed {self.report.listed} items, {before} last time: "
                "nothing was marked deleted; check the service before trusting it",
            )

    def _checkpoint(self, commits: list[str], *, final: bool) -> None:
        self.blobs.publish()  # every blob this batch's records name: durable, named
        self._flush()
        name = self.service.name
        parts = [f"{self.batch_new} new", f"{self.batch_updated} updated"]
        if self.batch_duplicate:
            parts.insert(1, f"{self.batch_duplicate} duplicate(s) of photos already recorded")
        message = f"discover: {', '.join(parts)} from {name}"
        if not final:
            message += " (checkpoint, run continues)"
        if self.report.failed and final:
            message += f"\n\n{len(self.report.failed)} item(s) failed and will be retried next run."
        self._finish_inflight(commits)
        # git stores this batch while the next one is ingested; the seen-cache rows of
        # a batch are written only once its commit is done, so a kill redoes the batch
        self._inflight = (self.archive.commit_in_background(message), self.pending_seen)
        self.pending_seen = []
        self.batch_new = self.batch_duplicate = self.batch_updated = 0
        if final:
            self._finish_inflight(commits)

    def _finish_inflight(self, commits: list[str]) -> None:
        if self._inflight is None:
            return
        pending, seen_rows = self._inflight
        self._inflight = None
        commit = pending.wait()
        if commit:
            commits.append(commit)
        if seen_rows:
            self.archive.state.record_seen(self.service.name, seen_rows)
            for iid, version, digest in seen_rows:
                self.seen[iid] = SeenEntry(version, digest)


#: at most this many items passed over as seen are kept until the run-start status is in
UNSETTLED_SKIPS = 4096


def _chunks(results: Iterator[_Ingested], size: int = 32) -> Iterator[list[_Ingested]]:
    """The ingested items a few at a time (their records looked up in one query); what
    is in hand when the listing stops is still handed over before the error."""
    chunk: list[_Ingested] = []
    try:
        for result in results:
            chunk.append(result)
            if len(chunk) >= size:
                yield chunk
                chunk = []
    except ServiceError:
        if chunk:
            yield chunk
        raise
    if chunk:
        yield chunk


def item_label(item: RemoteItem) -> str:
    """How the user knows an item: its file name, and its title where the service has one."""
    name = item.observed.filename or item.filename
    title = item.observed.title
    if title and title not in name:
        return f"{title!r} ({name})"
    return name


def _best_file(files: list[_Ingested]) -> _Ingested:
    """The copy to keep as the item's original, by resolve's own quality rules."""

    def candidate(file: _Ingested) -> Candidate:
        info = file.info or MediaInfo()
        return Candidate(
            key=file.item.instance_id,
            fingerprint=None,
            content_hash=file.digest,
            width=info.width,
            height=info.height,
            taken_date=info.taken_date,
            camera_make=info.camera_make,
            camera_model=info.camera_model,
            size_bytes=file.size,
            format=info.format,
        )

    by_key = {file.item.instance_id: file for file in files}
    return by_key[best_copy([candidate(file) for file in files]).key]


def _observed(item: RemoteItem, info: MediaInfo) -> ObservedMetadata:
    """File facts first, then what the service says where it says something.

    What the service stated is kept in ``sources`` beside the file's own values
    (a Takeout sidecar's date and both places); a file's naive wall clock takes
    the offset that makes it the service's UTC instant (``model.find_offset``);
    sources that disagree beyond the tolerances are listed in ``disagree``.
    """
    service = item.observed
    embedded_date = info.taken_date_source not in (None, FILENAME_SOURCE)
    file_date_is_exact = (
        bool(info.taken_date) and embedded_date and not is_estimated_date(info.taken_date_source)
    )
    taken, taken_source = info.taken_date, info.taken_date_source
    if service.taken_date and not file_date_is_exact:
        taken, taken_source = service.taken_date, service.taken_date_source
    elif not taken and service.taken_date_source:  # a service that says "date unknown"
        taken_source = service.taken_date_source
    sources: list[StatedValue] = [entry.copy() for entry in service.sources]
    if sources:
        if file_date_is_exact and info.taken_date:
            if service.taken_date:
                offset = find_offset(info.taken_date, service.taken_date)
                if offset is not None:
                    taken = info.taken_date + offset
            sources.append(
                {"source": str(info.taken_date_source), "field": "taken_date", "value": taken}
            )
        if info.location:
            sources.append({"source": "file", "field": "location", "value": info.location})
        if info.caption:
            sources.append({"source": "file", "field": "caption", "value": info.caption})
    else:
        sources = _service_against_file(service, info, file_date_is_exact)
    stated = {(entry["source"], entry["field"]) for entry in sources}
    sources.extend(e for e in info.sources if (e["source"], e["field"]) not in stated)
    return ObservedMetadata(
        taken_date=taken,
        taken_date_source=taken_source,
        filename=service.filename or item.filename,
        location=service.location or info.location,
        tags=sorted(set(service.tags) | set(info.tags)),
        caption=service.caption or info.caption,
        title=service.title or info.title,
        camera_make=info.camera_make or service.camera_make,
        camera_model=info.camera_model or service.camera_model,
        albums=service.albums,
        sources=sources,
        disagree=sources_disagree(sources),
    )


def _service_against_file(
    service: ObservedMetadata, info: MediaInfo, file_date_is_exact: bool
) -> list[StatedValue]:
    """A service that keeps no ``sources`` of its own (Flickr) and its file disagreeing on a
    date, place or caption: both values, labelled, so the one that loses (the file's
    caption behind Flickr's description, Flickr's date behind EXIF's) is a question, not
    gone. A coarse or estimated service date says nothing against the file's."""
    head = str(service.taken_date_source or "").split(":", 1)[0] or "service"
    out: list[StatedValue] = []
    if (
        file_date_is_exact
        and info.taken_date
        and service.taken_date
        and service.taken_date_source
        and not is_estimated_date(service.taken_date_source)
        and date_precision(service.taken_date_source) is None
        and not dates_agree(info.taken_date, service.taken_date)
    ):
        out.append(
            {
                "source": service.taken_date_source,
                "field": "taken_date",
                "value": service.taken_date,
            }
        )
        out.append(
            {"source": str(info.taken_date_source), "field": "taken_date", "value": info.taken_date}
        )
    if service.location and info.location and not places_agree(service.location, info.location):
        out.append({"source": f"{head}:location", "field": "location", "value": service.location})
        out.append({"source": "file", "field": "location", "value": info.location})
    if (
        service.caption
        and info.caption
        and comparable("caption", service.caption) != comparable("caption", info.caption)
    ):
        out.append({"source": f"{head}:description", "field": "caption", "value": service.caption})
        out.append({"source": "file", "field": "caption", "value": info.caption})
    return out
