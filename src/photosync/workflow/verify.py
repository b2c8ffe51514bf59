"""``verify``: is everything in the archive where it should be, intact?

One pass over the record files (each parsed and checked against the schema on
its own, so one broken file is reported, never fatal), then per blob location
one listing: every record's original present with the right size; blobs no
record refers to are orphans (reported, never removed). ``read_data`` re-reads
the bytes, all of them or a rotating share whose position is kept in
``.photosync/verify-state.json`` so that several runs cover the archive: each
blob's copies side by side, one hashed, the others compared with it byte for
byte (``blobstore.readback``).
Copies found corrupt stay "suspects" in that file and are re-read on the next
run, so ``verify --repair`` after ``verify --read-data`` fixes them.

``repair`` restores missing and corrupt copies from a copy that was re-hashed
and found good (``blobsync.repair_blobs``); it never deletes, and refuses a
blob with no good copy anywhere. With ``repair`` (and only then: checking never
writes) records' ``blob_locations`` are brought in line with what was found and
committed as ``verify: ...`` when they changed.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from photosync.archive.archive import Archive
from photosync.archive.jsonio import atomic_write
from photosync.archive.schema import PHOTO_SCHEMA, is_valid, schema_errors
from photosync.blobstore.base import BlobStore, check_digest
from photosync.blobstore.blobsync import (
    LocationReport,
    VerifyReport,
    check_listings,
    plan_reads,
    primary_name,
    read_back,
    repair_blobs,
)
from photosync.errors import ArchiveCorrupt, PhotosyncError
from photosync.model import (
    JsonObject,
    Record,
    record_from_json,
    record_hashes,
    record_originals,
    record_sidecars,
    update_blob_locations,
    utc_now,
)
from photosync.workflow.backup import (
    CopyState,
    archive_copy_state,
    backup_archive,
    is_backup_target,
)
from photosync.workflow.blobreplicate import (
    TMP_DIR,
    upload_workers,
)
from photosync.workflow.context import blob_locations, make_store
from photosync.workflow.progress import Progress, SilentProgress

STATE_FILE = Path(".photosync") / "verify-state.json"
#: blobs re-read at a time (each in all its locations), at least: reading is mostly
#: waiting on disks and servers (rclone check runs 8 checkers); ``max_parallel_uploads``
#: when that is more
READ_WORKERS = 8


@dataclass
class InvalidRecord:
    path: str
    problems: list[str]


@dataclass
class PhotoRef:
    """Which record holds a blob, so a finding can name the photo."""

    photo_id: str
    path: str
    filename: str | None
    size: int | None  # None: a merged copy, whose size the listings say


@dataclass
class LocationFindings(LocationReport):
    """One location as ``verify`` reports it: the engine's findings (``blobsync``), the
    repair's outcome and this location's copy of the archive."""

    type: str = "local"
    restored: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    #: this location's copy of the archive itself (None: not kept here, the primary blobs/)
    archive_copy: CopyState | None = None

    def remaining(self) -> tuple[list[str], dict[str, str]]:
        """Missing and corrupt digests that a repair did not fix."""
        fixed = set(self.restored)
        return (
            [d for d in self.missing if d not in fixed],
            {d: why for d, why in self.corrupt.items() if d not in fixed},
        )

    @property
    def ok(self) -> bool:
        missing, corrupt = self.remaining()
        archive_ok = self.archive_copy is None or self.archive_copy.ok
        return not (missing or corrupt or self.errors or self.unavailable) and archive_ok

    def to_json(self) -> dict[str, Any]:
        missing, corrupt = self.remaining()
        return {
            "name": self.name,
            "type": self.type,
            "ok": self.ok,
            "present": self.present,
            "read": self.read,
            "missing": self.missing,
            "corrupt": self.corrupt,
            "orphans": self.orphans,
            "errors": self.errors,
            "unavailable": self.unavailable,
            "restored": self.restored,
            "refused": self.refused,
            "still_missing": missing,
            "still_corrupt": corrupt,
            "archive_copy": self.archive_copy.to_json() if self.archive_copy else None,
        }


@dataclass
class ArchiveVerifyReport:
    records: int = 0
    invalid_records: list[InvalidRecord] = field(default_factory=list)
    blobs: int = 0
    read_mode: str = "none"  # "none" | "all" | "subset N%"
    read_blobs: int = 0
    locations: dict[str, LocationFindings] = field(default_factory=dict)
    photos: dict[str, PhotoRef] = field(default_factory=dict)  # bare digest -> record
    repair: bool = False
    records_updated: int = 0
    commit: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing wrong is left (orphans are not wrong: they are extra copies)."""
        return not self.invalid_records and all(f.ok for f in self.locations.values())

    def problem_count(self) -> int:
        count = len(self.invalid_records)
        for found in self.locations.values():
            missing, corrupt = found.remaining()
            count += len(missing) + len(corrupt) + len(found.errors) + bool(found.unavailable)
            count += found.archive_copy is not None and not found.archive_copy.ok
        return count

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problem_count(),
            "records": self.records,
            "invalid_records": [
                {"path": r.path, "problems": r.problems} for r in self.invalid_records
            ],
            "blobs": self.blobs,
            "read_data": {"mode": self.read_mode, "blobs": self.read_blobs},
            "locations": {name: f.to_json() for name, f in sorted(self.locations.items())},
            "repair": self.repair,
            "records_updated": self.records_updated,
            "commit": self.commit,
            "notes": self.notes,
        }


def parse_share(text: str) -> float:
    """``5%`` (or ``5``) -> 5.0; a share of the archive to re-read, in (0, 100]."""
    raw = text.strip().removesuffix("%").strip()
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{text!r} is not a percentage (use e.g. 5%)") from None
    if not (0 < value <= 100) or math.isnan(value):
        raise ValueError(f"{text!r} must be more than 0% and at most 100%")
    return value


def open_for_verify(archive: Archive, *, repair: bool = True) -> tuple[list[str], bool]:
    """Open the archive for verify: (notes, index usable).

    ``repair`` writes records, so it takes the writer lock and recovers like any
    writer; plain verify is a reader (what a killed run left uncommitted stays for
    the next writing run: a check never commits). The index rebuild reads every
    record file and fails on one too broken to index; verify is the command that
    must report such a file, so that failure is noted here, not raised.
    """
    try:
        if not repair:
            archive.ensure_index()
            return [], True
        return archive.lock(), True
    except (ArchiveCorrupt, KeyError, TypeError, ValueError, AttributeError) as error:
        # force a rebuild next time: the half-built index must never be trusted
        archive.state.set_meta("index_head", None)
        archive.state.flush()
        return [
            f"the record index could not be rebuilt ({error!r}); records are not updated"
        ], False


def verify_archive(
    archive: Archive,
    *,
    read_data: bool = False,
    read_share: float | None = None,
    repair: bool = False,
    update_records: bool = True,
    progress: Progress | None = None,
    workers: int | None = None,
) -> ArchiveVerifyReport:
    """Check records, blobs in every location, (a share of) their bytes; optionally repair.

    The caller opened the archive with ``open_for_verify`` (the writer lock with
    ``repair``). Records are written only with ``repair``; pass
    ``update_records=False`` when the index could not be rebuilt.
    """
    progress = progress or SilentProgress()
    readers = workers or max(upload_workers(archive), READ_WORKERS)
    workers = workers or upload_workers(archive)
    report = ArchiveVerifyReport(repair=repair)
    referenced = _scan_records(archive, report, progress)
    wanted = sorted(report.photos)
    report.blobs = len(wanted)
    stores = _open_stores(archive, report)
    found = _list_stores(stores, report, wanted, referenced)
    listings = found.listings

    state = _load_state(archive)
    to_read = _select_reads(wanted, read_data, read_share, state, report)
    suspects = {name: set(ds) for name, ds in state.get("suspects", {}).items()}
    _read_bytes(stores, report, found, to_read, suspects, progress, readers)

    copies = [s for s in stores if is_backup_target(archive, s) and s.name in listings]
    for store in copies:
        report.locations[store.name].archive_copy = archive_copy_state(
            archive, store, read_data=read_data or read_share is not None
        )
    if repair:
        for store in stores:
            store.sweep_tmp()  # half-copied files of a repair or copy that was killed
        _repair(archive, stores, report, workers)
    if repair and update_records:  # checking never commits: only --repair writes records
        _update_records(archive, stores, report)
    elif repair and (report.invalid_records or any(not f.ok for f in report.locations.values())):
        report.notes.append("record files were not updated: fix the invalid record files first")
    if repair:  # after the commit above: the copies end at the HEAD this run leaves
        _repair_archive_copies(archive, [s for s in copies if s.name in listings], report)
    state["suspects"] = {
        name: sorted(set(found.remaining()[1]) | set(found.errors))
        for name, found in report.locations.items()
        if found.remaining()[1] or found.errors
    }
    _save_state(archive, state)
    return report


# records ------------------------------------------------------------------------------------
def _scan_records(archive: Archive, report: ArchiveVerifyReport, progress: Progress) -> set[str]:
    """Parse and schema-check every record file; return every digest any record refers to."""
    referenced: set[str] = set()
    seen_ids: dict[str, str] = {}
    progress.start("check records", None)
    try:
        for path in archive.iter_record_files():
            progress.advance()
            rel = str(path.relative_to(archive.root))
            problems, data = _record_file_problems(path)
            if data is not None:
                for value in _hashes_of(data):
                    referenced.add(value)
            if not problems and data is not None:
                other = seen_ids.get(data["photo_id"])
                if other is not None:
                    problems = [f"same photo_id as {other}"]
            if problems or data is None:
                report.invalid_records.append(InvalidRecord(rel, problems or ["unreadable"]))
                continue
            record = record_from_json(data)  # schema-valid: a record
            try:
                digest = check_digest(record["content_hash"])
            except ValueError as error:
                report.invalid_records.append(InvalidRecord(rel, [f"content_hash: {error}"]))
                continue
            report.records += 1
            seen_ids[record["photo_id"]] = rel
            for original, size in record_originals(record).items():
                ref = PhotoRef(record["photo_id"], rel, record["metadata"].get("filename"), size)
                if original not in report.photos or (
                    original == digest and report.photos[original].size is None
                ):
                    report.photos[original] = ref
    finally:
        progress.finish()
    return referenced


def _record_file_problems(path: Path) -> tuple[list[str], JsonObject | None]:
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        return [f"not valid JSON: {error}"], None
    except OSError as error:
        return [f"cannot be read: {error.strerror or error}"], None
    if not isinstance(value, dict):
        return ["does not hold a JSON object"], None
    if is_valid(PHOTO_SCHEMA, value):
        return [], value
    return schema_errors(PHOTO_SCHEMA, value) or ["does not match the photo schema"], value


def _hashes_of(record: JsonObject) -> Iterator[str]:
    """Digests a (possibly invalid) record refers to, so its blobs are never called orphans."""
    try:  # read as a record, defensively: whatever is not of its shape is caught below
        as_record = cast(Record, record)
        hashes = [*record_hashes(as_record), *record_sidecars(as_record)]
    except (KeyError, TypeError, AttributeError):
        value = record.get("content_hash")
        hashes = [value] if isinstance(value, str) else []
    for value in hashes:
        try:
            yield check_digest(value)
        except (ValueError, AttributeError):
            continue


# locations ------------------------------------------------------------------------------------
def _open_stores(archive: Archive, report: ArchiveVerifyReport) -> list[BlobStore]:
    stores = []
    for spec in blob_locations(archive):
        name = str(spec.get("name"))
        found = LocationFindings(name, type=str(spec.get("type", "local")))
        report.locations[name] = found
        try:
            stores.append(make_store(archive, spec))
        except PhotosyncError as error:
            found.unavailable = f"cannot be opened: {error}"
    return stores


def _list_stores(
    stores: Sequence[BlobStore],
    report: ArchiveVerifyReport,
    wanted: Sequence[str],
    referenced: set[str],
) -> VerifyReport:
    """One listing per location (``blobsync.check_listings``): missing, wrong size, orphans."""
    return check_listings(
        wanted,
        stores,
        sizes={digest: report.photos[digest].size for digest in wanted},
        referenced=referenced,
        findings=report.locations,
    )


# reading bytes ---------------------------------------------------------------------------------
def _select_reads(
    wanted: list[str],
    read_data: bool,
    share: float | None,
    state: dict[str, Any],
    report: ArchiveVerifyReport,
) -> list[str]:
    """All digests, or the next ``share`` percent after the last run's cursor (wrapping)."""
    if read_data or (share is not None and share >= 100):
        report.read_mode = "all"
        return list(wanted)
    if share is None or not wanted:
        if share is not None:
            report.read_mode = f"subset {share:g}%"
        return []
    report.read_mode = f"subset {share:g}%"
    count = min(len(wanted), max(1, math.ceil(len(wanted) * share / 100)))
    cursor = state.get("read_cursor")
    start = bisect.bisect_right(wanted, cursor) if isinstance(cursor, str) else 0
    chosen = [wanted[(start + i) % len(wanted)] for i in range(count)]
    state["read_cursor"] = chosen[-1]
    return chosen


def _read_bytes(
    stores: Sequence[BlobStore],
    report: ArchiveVerifyReport,
    found: VerifyReport,
    to_read: Sequence[str],
    suspects: dict[str, set[str]],
    progress: Progress,
    workers: int,
) -> None:
    """Re-read the chosen blobs (and last run's suspects) in every location that lists them:
    one copy of each hashed, the others compared with it (``blobsync.read_back``)."""
    known = set(report.photos)
    jobs = plan_reads(found, stores, to_read, {n: ds & known for n, ds in suspects.items()})
    report.read_blobs = len(to_read)
    if not jobs:
        return
    progress.start("read data", sum(len(where) for _, where in jobs))
    try:
        read_back(found, jobs, workers=workers, progress=progress.advance)
    finally:
        progress.finish()


# repair and records ----------------------------------------------------------------------------
def _repair(
    archive: Archive, stores: Sequence[BlobStore], report: ArchiveVerifyReport, workers: int
) -> None:
    findings = VerifyReport()
    for store in stores:
        found = report.locations[store.name]
        if not found.unavailable:
            findings.locations[store.name] = found
    if not any(r.missing or r.corrupt for r in findings.locations.values()):
        return
    tmp_dir = archive.root / TMP_DIR
    tmp_dir.mkdir(parents=True, exist_ok=True)
    result = repair_blobs(findings, stores, workers=workers, tmp_dir=tmp_dir)
    for name, digests in result.restored.items():
        report.locations[name].restored = sorted(digests)
    for name, refused in result.refused.items():
        report.locations[name].refused = dict(sorted(refused.items()))


def _update_records(
    archive: Archive, stores: Sequence[BlobStore], report: ArchiveVerifyReport
) -> None:
    """Bring ``blob_locations`` in line with the findings; commit when anything changed."""
    by_name = {store.name: store for store in stores}
    primary = primary_name(stores)
    now = utc_now()
    good: dict[str, set[str]] = {}
    bad: dict[str, set[str]] = {}
    for name, found in report.locations.items():
        if found.unavailable or name not in by_name:
            continue
        missing, corrupt = found.remaining()
        bad[name] = set(missing) | set(corrupt)
        good[name] = set(report.photos) - bad[name] - set(found.errors)
    lost_copies = 0
    originals: dict[str, set[str]] = {}  # record path -> every original it holds
    for digest, ref in report.photos.items():
        originals.setdefault(ref.path, set()).add(digest)
    for rel, digests in sorted(originals.items()):
        path = archive.root / rel
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            digest = check_digest(record["content_hash"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # it was valid a moment ago; the next run will say what happened
        # a location holds the photo when it holds every original of it
        verified = {
            name: by_name[name].locator(digest) for name, ds in good.items() if digests <= ds
        }
        lost = [name for name, ds in bad.items() if digests & ds]
        if update_blob_locations(record, verified, lost, primary=primary, now=now):
            record["updated_at"] = now
            archive.write_record(record)
            report.records_updated += 1
            lost_copies += len(lost)
    if not report.records_updated:
        return
    restored = sum(len(f.restored) for f in report.locations.values())
    parts = [f"blob_locations of {report.records_updated} record(s) updated"]
    if restored:
        parts.append(f"{restored} cop(ies) restored")
    if lost_copies:
        parts.append(f"{lost_copies} cop(ies) missing or corrupt")
    report.commit = archive.commit("verify: " + ", ".join(parts))


# rotating state -------------------------------------------------------------------------------
def _repair_archive_copies(
    archive: Archive, stores: Sequence[BlobStore], report: ArchiveVerifyReport
) -> None:
    """Copies of the archive that are missing, behind or damaged are written again."""
    stale = [
        s
        for s in stores
        if (state := report.locations[s.name].archive_copy) is not None and state.state != "current"
    ]
    if not stale:
        return
    damaged = any(
        (state := report.locations[s.name].archive_copy) is not None and state.state == "damaged"
        for s in stale
    )
    backup_archive(archive, stores=stale, rehash=damaged)
    for store in stale:
        report.locations[store.name].archive_copy = archive_copy_state(
            archive, store, read_data=False
        )


def _load_state(archive: Archive) -> dict[str, Any]:
    try:
        value = json.loads((archive.root / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def last_verify(archive: Archive) -> dict[str, Any] | None:
    """What the last ``verify`` left for the next one (when, how far it got), or None."""
    state = _load_state(archive)
    return state or None


def _save_state(archive: Archive, state: dict[str, Any]) -> None:
    state["updated_at"] = utc_now()
    data = json.dumps(state, indent=2, sort_keys=True).encode("utf-8")
    atomic_write(archive.root / STATE_FILE, data)


def describe(report: ArchiveVerifyReport, digest: str) -> str:
    """``sha256:<hex> (IMG_1.jpg, photos/2023/01/<id>.json)`` for messages."""
    ref = report.photos.get(digest)
    if ref is None:
        return f"sha256:{digest}"
    return f"sha256:{digest} ({ref.filename or ref.photo_id}, {ref.path})"
