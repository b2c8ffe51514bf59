"""``photosync restore``: every original the records hold, back into the local store.

For a fresh clone of the archive, or after ``blobs/`` is lost. The records say
which originals exist (``model.record_originals``: every hash of every
record, merged copies included); each configured location is listed once
(``locate_copies``, reusable by anything that needs "who has a good copy");
each missing original is streamed from the first location that has it with the
right size into the primary store through ``BlobWriter`` (temp file, hash,
fsync, rename), so a copy is either complete and verified or absent. A killed
run leaves only temp files (swept by the next one); the re-run lists the local
store again and fetches what is still missing: nothing is fetched twice.

Restore writes only the local blob store: no record changes and no commit
(``blob_locations`` already names the primary location, which is what restore
makes true again).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from photosync.archive.archive import Archive
from photosync.blobstore.base import BlobStore
from photosync.blobstore.blobsync import all_sizes
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import BlobError, ConfigError, PhotosyncError
from photosync.model import Record, matches_selector, record_originals
from photosync.parallel import bounded_map
from photosync.redaction import shown_error
from photosync.workflow.context import all_stores, check_selectors, primary_store
from photosync.workflow.progress import Progress, SilentProgress

log = logging.getLogger(__name__)

DEFAULT_DOWNLOAD_WORKERS = 5


@dataclass
class CopyMap:
    """Which location holds a good (listed, right-size) copy of each original."""

    #: digest -> names of the locations whose listing shows it with the expected size
    holders: dict[str, list[str]] = field(default_factory=dict)
    #: digest -> per location, why it is not a holder ("absent", "wrong size 12")
    why_not: dict[str, dict[str, str]] = field(default_factory=dict)
    #: locations that could not be listed, with why
    unlisted: dict[str, str] = field(default_factory=dict)


def locate_copies(wanted: Mapping[str, int | None], stores: Sequence[BlobStore]) -> CopyMap:
    """One listing per store: which stores hold each wanted digest with its expected size.

    ``wanted`` maps a bare digest to the size the record states (None: any size
    the listings agree on is accepted, the one most locations show). Holders
    keep the order of ``stores``.
    """
    listed: dict[str, dict[str, int]] = {}
    found = CopyMap()
    for store in stores:
        try:
            listed[store.name] = all_sizes(store)
        except PhotosyncError as error:
            found.unlisted[store.name] = str(error)
    for digest, size in wanted.items():
        expected = size if size is not None else _common_size(digest, listed)
        holders: list[str] = []
        reasons: dict[str, str] = {}
        for store in stores:
            if store.name in found.unlisted:
                reasons[store.name] = f"not listed: {found.unlisted[store.name]}"
                continue
            have = listed[store.name].get(digest)
            if have is None:
                reasons[store.name] = "absent"
            elif expected is not None and have != expected:
                reasons[store.name] = f"wrong size {have} (expected {expected})"
            else:
                holders.append(store.name)
        found.holders[digest] = holders
        found.why_not[digest] = reasons
    return found


def _common_size(digest: str, listed: Mapping[str, Mapping[str, int]]) -> int | None:
    sizes = [found[digest] for found in listed.values() if digest in found]
    return max(set(sizes), key=sizes.count) if sizes else None


@dataclass
class RestoreReport:
    """What restore did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    local: str = ""
    sources: list[str] = field(default_factory=list)
    originals: int = 0
    present: int = 0
    #: digest -> the location it came (or would come) from
    restored: dict[str, str] = field(default_factory=dict)
    #: digest -> why no holder gave a good copy (tried and failed)
    failed: dict[str, str] = field(default_factory=dict)
    #: digest -> per location, why nothing has it
    missing: dict[str, dict[str, str]] = field(default_factory=dict)
    unlisted: dict[str, str] = field(default_factory=dict)
    photo_of: dict[str, str] = field(default_factory=dict)
    filename_of: dict[str, str | None] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.missing

    def to_json(self) -> dict[str, Any]:
        def item(digest: str, **extra: Any) -> dict[str, Any]:
            return {
                "digest": digest,
                "photo_id": self.photo_of.get(digest),
                "filename": self.filename_of.get(digest),
                **extra,
            }

        return {
            "ok": self.ok,
            "dry_run": self.dry_run,
            "local": self.local,
            "sources": self.sources,
            "originals": self.originals,
            "present": self.present,
            "restored" if not self.dry_run else "would_restore": [
                item(d, source=s) for d, s in sorted(self.restored.items())
            ],
            "failed": [item(d, error=e) for d, e in sorted(self.failed.items())],
            "missing": [item(d, locations=w) for d, w in sorted(self.missing.items())],
            "unlisted": self.unlisted,
        }


def wanted_originals(
    records: Iterable[Record], only: Sequence[str] = ()
) -> tuple[dict[str, int | None], dict[str, str], dict[str, str | None]]:
    """(digest -> size, digest -> photo_id, digest -> filename) of the selected records."""
    sizes: dict[str, int | None] = {}
    photo_of: dict[str, str] = {}
    filename_of: dict[str, str | None] = {}
    for record in records:
        if only and not any(matches_selector(record, selector) for selector in only):
            continue
        for digest, size in record_originals(record).items():
            if sizes.get(digest) is None:
                sizes[digest] = size
            photo_of.setdefault(digest, record["photo_id"])
            filename_of.setdefault(digest, record["metadata"].get("filename"))
    return sizes, photo_of, filename_of


def download_workers(archive: Archive) -> int:
    """``sync_preferences.max_parallel_downloads``: originals fetched at once."""
    return archive.prefs().sync.max_parallel_downloads


def restore_originals(
    archive: Archive,
    *,
    from_location: str | None = None,
    only: Sequence[str] = (),
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    stores: Sequence[BlobStore] | None = None,
) -> RestoreReport:
    """Fetch every selected original the local store lacks from a location with a good copy.

    The caller holds the writer lock (not needed for ``dry_run``). Nothing is
    deleted; a local copy of the wrong size is moved to the store's quarantine
    when a good copy replaces it (``BlobWriter.commit``).
    """
    progress = progress or SilentProgress()
    workers = workers or download_workers(archive)
    local = primary_store(archive)
    configured = list(stores) if stores is not None else all_stores(archive)
    others = [s for s in configured if s.name != local.name]
    if from_location is not None:
        if from_location == local.name:
            raise ConfigError(
                f"{from_location} is the local store restore writes into",
                hint="Name another location with --from (see `photosync storage list`).",
            )
        others = [s for s in others if s.name == from_location]
        if not others:
            raise ConfigError(
                f"no storage location named {from_location}",
                hint="See `photosync storage list`.",
            )
    # local folders first: fastest, and free
    others.sort(key=lambda s: not s.local_files)
    check_selectors(archive, only)
    sizes, photo_of, filename_of = wanted_originals(archive.iter_records(), only)
    report = RestoreReport(
        dry_run=dry_run,
        local=local.name,
        sources=[s.name for s in others],
        originals=len(sizes),
        photo_of=photo_of,
        filename_of=filename_of,
    )
    if not dry_run:
        local.sweep_tmp()
    here = locate_copies(sizes, [local])
    if local.name in here.unlisted:
        raise BlobError(f"the local store cannot be read: {here.unlisted[local.name]}")
    lacking = {d: s for d, s in sizes.items() if not here.holders[d]}
    report.present = len(sizes) - len(lacking)
    elsewhere = locate_copies(lacking, others)
    report.unlisted = elsewhere.unlisted
    by_name = {s.name: s for s in others}
    jobs: list[tuple[str, list[BlobStore]]] = []
    for digest in sorted(lacking):
        holders = elsewhere.holders[digest]
        if not holders:
            report.missing[digest] = elsewhere.why_not[digest]
        elif dry_run:
            report.restored[digest] = holders[0]
        else:
            jobs.append((digest, [by_name[name] for name in holders]))
    if dry_run or not jobs:
        return report
    lock = threading.Lock()

    def fetch(job: tuple[str, list[BlobStore]]) -> None:
        digest, holders = job
        try:
            source = fetch_into(local, digest, holders)
        except BlobError as error:
            with lock:
                report.failed[digest] = str(error)
            log.warning("restore %s: %s", digest, error)
        else:
            with lock:
                report.restored[digest] = source
            log.info("restored %s from %s", digest, source)
        progress.advance()

    progress.start("restore originals", len(jobs))
    try:
        for _ in bounded_map(fetch, jobs, workers=workers, name="restore"):
            pass
    finally:
        progress.finish()
    return report


def fetch_into(local: LocalBlobStore, digest: str, sources: Sequence[BlobStore]) -> str:
    """Stream a blob from the first source whose bytes hash right into ``local``; its name.

    A copy that fails or hashes wrong is discarded and the next source tried;
    BlobError (with every source's reason) when none gave good bytes.
    """
    problems: list[str] = []
    for source in sources:
        writer = local.writer()
        try:
            with source.open(digest) as stream:
                writer.copy_from(stream)
            if writer.digest != digest:
                writer.abort()
                problems.append(f"{source.name}: corrupt (its bytes hash to {writer.digest})")
                continue
            writer.commit()
            return source.name
        except (PhotosyncError, OSError) as error:
            writer.abort()
            problems.append(f"{source.name}: {error}")
        except Exception as error:  # a store's stream fails in its own way mid-read
            writer.abort()
            problems.append(f"{source.name}: {type(error).__name__}: {shown_error(error)}")
        except BaseException:
            writer.abort()
            raise
    raise BlobError(f"no good copy of {digest} ({'; '.join(problems) or 'no sources'})")
