"""``status`` and ``audit``: read-only summaries of the archive."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from photosync.archive import runlog
from photosync.archive.archive import Archive
from photosync.errors import PhotosyncError
from photosync.model import (
    REFUSED_PROBLEM,
    ApprovalCheck,
    Record,
    approved_level,
    date_kind,
    display_name,
    is_wider,
    pushable_level,
    shown_levels,
    unapproved_widening,
)
from photosync.workflow.context import open_services, primary_store
from photosync.workflow.summary import SummaryCache


@dataclass
class ArchiveStatus:
    root: str
    photos: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    instances_by_service: Counter[str] = field(default_factory=Counter)
    open_conflicts: Counter[str] = field(default_factory=Counter)
    #: conflicts a person skipped: still waiting for a decision
    skipped_conflicts: Counter[str] = field(default_factory=Counter)
    with_problems: int = 0
    undated: int = 0
    #: taken dates by kind (``model.date_kind``): taken / estimated / none
    dates: Counter[str] = field(default_factory=Counter)
    #: estimated dates by what they are (file:mtime, service:upload, ...)
    estimated_by_source: Counter[str] = field(default_factory=Counter)
    #: photos per album title
    albums: Counter[str] = field(default_factory=Counter)
    bytes_total: int = 0
    #: every original kept (each record's own blob and every merged copy's) and their bytes
    originals: int = 0
    originals_bytes: int = 0
    services: dict[str, Any] = field(default_factory=dict)
    sync_state: dict[str, Any] = field(default_factory=dict)
    head: str | None = None
    #: how the last logged run ended (``archive.runlog``): its log, its problem count
    last_run: dict[str, Any] | None = None
    #: what a service refused for good (discover: a download; replicate: an upload)
    refused: list[Refusal] = field(default_factory=list)
    #: per service, what its last discover saw and did not archive: ``left_out``
    #: (``"path: why"``) and ``excluded`` (how many an exclude pattern kept out)
    left_out: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: originals this machine's blobs/ lacks that another clone discovered (a pull or a
    #: sync brought their records, not their bytes): not lost, ``photosync restore`` fetches
    originals_not_here: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": self.root,
            "head": self.head,
            "photos": self.photos,
            "bytes": self.bytes_total,
            "originals": self.originals,
            "originals_bytes": self.originals_bytes,
            "by_state": dict(self.by_state),
            "by_kind": dict(self.by_kind),
            "instances_by_service": dict(self.instances_by_service),
            "open_conflicts": dict(self.open_conflicts),
            "skipped_conflicts": dict(self.skipped_conflicts),
            "photos_with_problems": self.with_problems,
            "undated": self.undated,
            "dates": {
                "taken": self.dates["taken"],
                "estimated": self.dates["estimated"],
                "none": self.dates["none"],
                "estimated_by_source": dict(sorted(self.estimated_by_source.items())),
            },
            "albums": dict(sorted(self.albums.items())),
            "services": self.services,
            "sync_state": self.sync_state,
            "last_run": self.last_run,
            "refused": [r.to_json() for r in self.refused],
            "left_out": self.left_out,
            "originals_not_here": self.originals_not_here,
        }


def status(archive: Archive) -> ArchiveStatus:
    result = ArchiveStatus(root=str(archive.root), head=archive.git.head())
    result.services = archive.services()
    result.sync_state = archive.sync_state()["services"]
    archive.preferences()  # broken preferences stop status as they stop every command
    result.last_run = runlog.last_run(archive.root)
    for name in result.services:
        last_run = archive.state.get_meta(f"last_run:discover:{name}")
        if last_run:
            result.sync_state.setdefault(name, {})["last_discover"] = last_run
        left_out = archive.state.get_meta(f"left_out:{name}")
        if left_out:
            seen = json.loads(left_out)
            if seen.get("left_out") or seen.get("excluded"):
                result.left_out[name] = seen
    try:
        store = primary_store(archive)
    except PhotosyncError:
        store = None
    cache = SummaryCache(archive)
    try:
        summary = cache.summary()
        cache.originals(summary, store)
    finally:
        cache.close()
    scalars, counters = summary.totals.scalars, summary.totals.counters
    result.photos = scalars["photos"]
    result.bytes_total = scalars["bytes"]
    result.with_problems = scalars["with_problems"]
    result.undated = scalars["undated"]
    result.by_state = counters["by_state"]
    result.by_kind = counters["by_kind"]
    result.instances_by_service = counters["instances_by_service"]
    result.open_conflicts = counters["open_conflicts"]
    result.skipped_conflicts = counters["skipped_conflicts"]
    result.dates = counters["dates"]
    result.estimated_by_source = counters["estimated_by_source"]
    result.albums = counters["albums"]
    result.originals = summary.originals
    result.originals_bytes = summary.originals_bytes
    result.originals_not_here = summary.originals_not_here
    result.refused = [Refusal(**item) for item in summary.refused]
    result.refused[:0] = _download_refusals(archive)
    return result


@dataclass
class Refusal:
    """Something a service refused for good: not retried until --retry-failed."""

    phase: str  # "discover" (a download) | "replicate" (an upload)
    service: str
    name: str
    reason: str
    #: the record it is a problem on (replicate); None when there are no bytes yet
    photo_id: str | None = None
    instance_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def _download_refusals(archive: Archive) -> list[Refusal]:
    """Items discover could not fetch for good: kept in the local state (no record yet)."""
    return [
        Refusal(
            "discover",
            item.service,
            item.name,
            item.reason + (f". {item.hint}" if item.hint else ""),
            instance_id=item.instance_id,
        )
        for item in archive.state.all_refused()
    ]


def _upload_refusals(record: Record) -> list[Refusal]:
    return [
        Refusal(
            "replicate",
            str(problem.get("service")),
            display_name(record),
            problem["message"],
            photo_id=record["photo_id"],
        )
        for problem in record["problems"]
        if problem.get("code") == REFUSED_PROBLEM
    ]


def refusals(archive: Archive) -> list[Refusal]:
    """Every refusal for good, downloads first (for `resolve --list`): the uploads' from
    the summary cache when every record is committed, else from the records."""
    found = _download_refusals(archive)
    if not archive.committed_as_is():
        for record in archive.iter_records():
            found.extend(_upload_refusals(record))
        return found
    cache = SummaryCache(archive)
    try:
        found.extend(Refusal(**item) for item in cache.refused())
    finally:
        cache.close()
    return found


@dataclass
class EstimatedDate:
    """A photo dated by a file time or an upload time, not by when it was taken."""

    photo_id: str
    filename: str | None
    taken_date: str
    taken_date_source: str

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def estimated_dates(archive: Archive) -> list[EstimatedDate]:
    """Every photo whose date is an estimate, oldest date first (to check or fix by hand)."""
    found = [
        EstimatedDate(
            record["photo_id"],
            record["metadata"].get("filename"),
            record["metadata"]["taken_date"] or "",  # an estimate is a date
            str(record["metadata"].get("taken_date_source")),
        )
        for record in archive.iter_records()
        if date_kind(record["metadata"]) == "estimated"
    ]
    return sorted(found, key=lambda e: (e.taken_date, e.photo_id))


@dataclass
class VisibilityFinding:
    photo_id: str
    filename: str | None
    service: str
    current: str
    canonical: str
    wider: bool
    #: "archive": what the record says a service shows; "unapproved": the canonical
    #: level itself is wider than its last approval (service "-", current = canonical,
    #: canonical = the approved level); "live": what the service answered just now;
    #: "unreadable": the service could not say (current = the reason)
    kind: str = "archive"

    def to_json(self) -> dict[str, Any]:
        return self.__dict__.copy()


def visibility_audit(archive: Archive, *, live: bool = False) -> list[VisibilityFinding]:
    """Every place a service's visibility differs from the canonical one, and every
    canonical level wider than its approval. ``live``: ask the services (those that
    can read a copy's visibility back) instead of trusting the archive."""
    findings = []
    for record in archive.iter_records():
        if unapproved_widening(record, archive.seals.verify):
            findings.append(
                VisibilityFinding(
                    record["photo_id"],
                    record["metadata"].get("filename"),
                    "-",
                    record["visibility"]["canonical"],
                    approved_level(record, archive.seals.verify).value,
                    True,
                    "unapproved",
                )
            )
    if live:
        findings.extend(_live_findings(archive))
        return findings
    for record in archive.iter_records():
        canonical = record["visibility"]["canonical"]
        for service, level in shown_levels(record).items():
            if level != canonical:
                findings.append(
                    VisibilityFinding(
                        record["photo_id"],
                        record["metadata"].get("filename"),
                        service,
                        level,
                        canonical,
                        is_wider(level, canonical),
                    )
                )
    return findings


def _live_findings(archive: Archive) -> list[VisibilityFinding]:
    """One question per copy to each service that can answer (Flickr: getInfo)."""
    findings = []
    with open_services(archive) as opened:
        readers = {name: s for name, s in opened.items() if s.can_read_visibility}
        for record in archive.iter_records():
            for name, service in sorted(readers.items()):
                for copy in record["instances"].get(name, []):
                    if copy.get("status", "present") != "present":
                        continue
                    findings.extend(_ask(record, name, service, copy["id"], archive.seals.verify))
    return findings


def _ask(
    record: Record, name: str, service: Any, instance_id: str, trusted: ApprovalCheck
) -> list[VisibilityFinding]:
    canonical = record["visibility"]["canonical"]
    filename = record["metadata"].get("filename")
    try:
        shown = service.read_visibility(instance_id).level.value
    except PhotosyncError as error:
        return [
            VisibilityFinding(
                record["photo_id"],
                filename,
                name,
                f"unreadable: {error}",
                canonical,
                False,
                "unreadable",
            )
        ]
    if shown == canonical:
        return []
    wider = is_wider(shown, pushable_level(record, trusted=trusted))
    return [VisibilityFinding(record["photo_id"], filename, name, shown, canonical, wider, "live")]
