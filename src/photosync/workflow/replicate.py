"""Phase 3, replicate: push resolved photos to target services with the right visibility.

For each resolved photo and each target service::

    journal "intent"  (durable, before anything leaves)
        -> find_existing (only after an earlier intent: a crash may have uploaded it)
        -> upload from the local blob store with min(canonical, service maximum)
    journal "done"    -> instance recorded in the record -> git commit in batches

A killed run, re-run, neither repeats work (journal + find_existing) nor skips
it (a photo is ``replicated`` only when every target has it). Visibility on a
target is only ever narrowed automatically, never widened without an approval:
the level pushed is ``model.pushable_level`` (canonical, capped by the last
approval and the service), and what the service shows afterwards is read back
and recorded; a copy shown wider than asked is reported (``audit`` finds it).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, BinaryIO, cast

from photosync.archive.archive import Archive
from photosync.errors import ItemRefused, PhotosyncError
from photosync.model import (
    REFUSED_PROBLEM,
    ApprovalCheck,
    ConflictType,
    Instance,
    ProcessingState,
    Record,
    Visibility,
    add_blob_location,
    add_problem,
    album_titles,
    clear_refusal,
    comparable,
    display_name,
    fields_by_name,
    find_instance,
    is_wider,
    iter_instances,
    new_conflict,
    note_blob_missing,
    pushable_level,
    raise_conflict,
    record_originals,
    refused_by,
    unapproved_widening,
    upsert_instance,
    utc_now,
    waiting_reasons,
    weak_date,
)
from photosync.model.privacy import refresh_visibility_conflicts
from photosync.parallel import bounded_map
from photosync.services.base import TargetService, UploadResult, UploadUncertain
from photosync.workflow.backup import BackupReport, backup_archive
from photosync.workflow.blobreplicate import (
    BlobPlan,
    BlobReplicateReport,
    note_settled,
    plan_blobs,
    replicate_blobs,
    upload_workers,
)
from photosync.workflow.context import open_services, pass_inputs_key, primary_store
from photosync.workflow.progress import KEPT, Progress, SilentProgress

log = logging.getLogger(__name__)

OPERATION = "replicate"
#: album members sent per call (and marked per write batch)
ALBUM_CHUNK = 50
#: photos whose uploads go out together (``max_parallel_uploads`` at a time)
UPLOAD_WINDOW = 200


@dataclass
class PlannedAction:
    photo_id: str
    target: str
    action: str  # "upload" | "narrow_visibility"
    filename: str | None
    visibility: str


@dataclass
class Waiting:
    """A photo replicate leaves alone until a decision is made, and why."""

    photo_id: str
    filename: str | None
    reasons: list[str]


@dataclass
class ReplicateReport:
    #: the first ``KEPT`` planned actions (``add_planned``); ``planned_counts`` counts them all
    planned: list[PlannedAction] = field(default_factory=list)
    planned_counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    done: Counter[str] = field(default_factory=Counter)
    skipped_unresolved: int = 0
    #: the first ``KEPT`` photos behind ``skipped_unresolved``, each with its reasons
    waiting: list[Waiting] = field(default_factory=list)
    #: trashed or locked on their service: kept in the archive, never pushed anywhere
    held_back: int = 0
    failed: list[str] = field(default_factory=list)
    #: uploads a target refused for good in this run (file, reason, what to do)
    refused: list[str] = field(default_factory=list)
    #: uploads refused in an earlier run: not tried again (--retry-failed)
    refused_before: int = 0
    #: uploads that may have landed but the service's search does not show yet: not
    #: repeated until absent for longer than the service's ``search_lag_s`` (exit 4)
    pending_uploads: list[str] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)
    #: target folder services whose folder is not on this machine: skipped, with why (exit 4)
    not_here: dict[str, str] = field(default_factory=dict)
    blobs: BlobReplicateReport | None = None
    #: with execute=False: the originals each location would receive
    blob_plan: BlobPlan | None = None
    #: with execute: the archive's own history copied to every location (backup.py)
    archive_copy: BackupReport | None = None
    #: nothing changed since a run that left nothing to do: no record was read again
    unchanged: bool = False

    def add_planned(self, action: PlannedAction) -> None:
        self.planned_counts[(action.target, action.action)] += 1
        if len(self.planned) < KEPT:
            self.planned.append(action)

    @property
    def planned_total(self) -> int:
        return sum(self.planned_counts.values())

    def add_waiting(self, waiting: Waiting) -> None:
        self.skipped_unresolved += 1
        if len(self.waiting) < KEPT:
            self.waiting.append(waiting)

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (target, action), count in self.planned_counts.items():
            out.setdefault(target, {})[action] = count
        return out


def _targets(
    archive: Archive, names: list[str] | None, opened: dict[str, Any]
) -> dict[str, TargetService]:
    configured = archive.services()
    return {
        name: service
        for name, service in opened.items()
        if isinstance(service, TargetService) and (configured[name].get("target") or names)
    }


class UploadPending(PhotosyncError):
    """An earlier upload may have landed; the service's search cannot tell yet."""


class ShownWider(PhotosyncError):
    """The service said yes, and shows the photo more widely than it was asked to."""


def target_level(record: Record, service: TargetService, trusted: ApprovalCheck) -> Visibility:
    """Never wider than the last approval made through photosync here (``trusted``)."""
    return pushable_level(record, service.max_visibility(), trusted=trusted)


def plan(
    archive: Archive,
    record: Record,
    targets: dict[str, TargetService],
    *,
    retry_failed: bool = False,
    report: ReplicateReport | None = None,
) -> list[PlannedAction]:
    actions: list[PlannedAction] = []
    blocked = {
        c["id"].split(":", 1)[1]
        for c in record["conflicts"]
        if c["type"] == "service_policy_violation"
    }
    for name, service in targets.items():
        if name in blocked:
            continue  # waiting for, or decided by, a human
        level = target_level(record, service, archive.seals.verify)
        present = _present_copies(record, name)
        _copy, missing_albums = _albums_to_fill(record, service, present)
        actions.extend(
            PlannedAction(
                record["photo_id"],
                name,
                "add_to_album",
                record["metadata"].get("filename"),
                level.value,
            )
            for _title in missing_albums
        )
        if not present and refused_by(record, name) and not retry_failed:
            if report is not None:
                report.refused_before += 1  # refused for good earlier: not tried again
            continue
        if not present:
            actions.append(
                PlannedAction(
                    record["photo_id"],
                    name,
                    "upload",
                    record["metadata"].get("filename"),
                    level.value,
                )
            )
            continue
        if service.supports_metadata and _stale_metadata(record, present):
            actions.append(
                PlannedAction(
                    record["photo_id"],
                    name,
                    "update_metadata",
                    record["metadata"].get("filename"),
                    level.value,
                )
            )
        current = record["visibility"]["per_service"].get(name)
        if not current or not service.supports_visibility:
            continue
        if is_wider(current, level):
            actions.append(
                PlannedAction(
                    record["photo_id"],
                    name,
                    "narrow_visibility",
                    record["metadata"].get("filename"),
                    level.value,
                )
            )
        elif is_wider(level, current):  # level is never wider than the last approval
            actions.append(
                PlannedAction(
                    record["photo_id"],
                    name,
                    "widen_visibility",
                    record["metadata"].get("filename"),
                    level.value,
                )
            )
    return actions


_PUSHED_FIELDS = ("caption", "tags", "taken_date")


def _stale_fields(record: Record, instance: Instance) -> dict[str, Any]:
    """Canonical values the service's copy does not show yet (resolved decisions to push),
    by field name: the keyword arguments of ``TargetService.apply_metadata``."""
    observed = fields_by_name(instance.get("observed") or {})
    metadata = fields_by_name(record["metadata"])
    stale = {}
    for field_name in _PUSHED_FIELDS:
        wanted = metadata.get(field_name)
        if comparable(field_name, wanted) is None:
            continue  # never blank out what a service has
        if field_name == "taken_date" and weak_date(record["metadata"]):
            continue
        if comparable(field_name, wanted) != comparable(field_name, observed.get(field_name)):
            stale[field_name] = wanted
    return stale


def _stale_metadata(record: Record, present: list[Instance]) -> bool:
    return any(_stale_fields(record, instance) for instance in present)


def replicate(
    archive: Archive,
    *,
    services: list[str] | None = None,
    execute: bool = False,
    retry_failed: bool = False,
    progress: Progress | None = None,
    full: bool = False,
) -> ReplicateReport:
    """Plan (and with ``execute`` carry out) the copies to every target and location.

    An upload a target refused for good (ItemRefused) becomes a problem on the
    record and is tried again only with ``retry_failed``. When nothing a run depends
    on changed since one that left nothing to do for the targets, their plan is empty
    again: no record is read for them (``report.unchanged``), unless ``full``. The
    blob locations are listed and filled every run all the same (a location may
    have lost an object).
    """
    progress = progress or SilentProgress()
    report = ReplicateReport()
    if not execute:
        archive.note_user_changes()  # a reader's plan skips what the run's lock would
    key = _fixed_point(archive, services, retry_failed)
    settled = archive.state.get_meta(FIXED_POINT_META)
    if not full and key is not None and settled is not None and settled.startswith(key + " "):
        report.unchanged = True
        report.held_back, report.refused_before = (int(n) for n in settled.split()[1:3])
    store = primary_store(archive)
    commit_every = archive.prefs().sync.commit_every
    with open_services(archive, services, not_here=report.not_here) as opened:
        targets = _targets(archive, services, opened)
        configured = archive.services()
        for name in list(report.not_here):
            if not (configured[name].get("target") or services):
                del report.not_here[name]  # a source only: replicate would not write it
        if report.unchanged and report.not_here:
            report.unchanged = False  # a target to look at again: the plan is read anew
            report.held_back = report.refused_before = 0
        progress.start("replicate" if execute else "plan", archive.state.count_records())
        since_commit = 0
        album_queue: dict[tuple[str, str], list[tuple[str, str]]] = {}
        workers = upload_workers(archive) if execute else 1
        window: list[tuple[Record, list[PlannedAction]]] = []

        def carry_out_window() -> None:
            nonlocal since_commit
            ahead = _upload_ahead(archive, window, targets, store, workers)
            for record, actions in window:
                if _carry_out_record(archive, record, actions, targets, store, report, ahead):
                    archive.write_record(record)
                    since_commit += 1
                _queue_albums(record, targets, album_queue)
                if since_commit >= commit_every:
                    _commit(archive, report, final=False)
                    since_commit = 0
            window.clear()

        for record in () if report.unchanged else archive.iter_records():
            progress.advance()
            if record["processing_state"] == ProcessingState.DISCOVERED.value:
                report.add_waiting(
                    Waiting(record["photo_id"], display_name(record), waiting_reasons(record))
                )
                continue
            if _held_back(record):
                report.held_back += 1
                continue
            actions = plan(archive, record, targets, retry_failed=retry_failed, report=report)
            for action in actions:
                report.add_planned(action)
            if not execute:
                continue
            window.append((record, actions))
            if len(window) >= UPLOAD_WINDOW:
                carry_out_window()
        carry_out_window()
        progress.finish()
        if execute:
            _fill_albums(archive, targets, album_queue, report)
    if execute:
        _replicate_originals(archive, report, progress, full=full)
        _commit(archive, report, final=True)
        if report.blobs is not None:
            note_settled(archive, report.blobs)
        _copy_archive(archive, report)
        _note_fixed_point(archive, report, services, retry_failed)
    else:
        _plan_originals(archive, report)
    return report


#: state meta: "KEY HELD_BACK REFUSED_BEFORE" of the last run that left nothing to do
FIXED_POINT_META = "replicate_fixed_point"


def _fixed_point(archive: Archive, services: list[str] | None, retry_failed: bool) -> str | None:
    """What the targets' plan depends on (``context.pass_inputs_key``) for these options."""
    names = ",".join(sorted(services or []))
    return pass_inputs_key(archive, "replicate", names, str(retry_failed))


def _note_fixed_point(
    archive: Archive, report: ReplicateReport, services: list[str] | None, retry_failed: bool
) -> None:
    """After a run: its key when it left nothing to do (nothing planned, failed, refused,
    pending, waiting for resolve, or on a target not here), else none."""
    busy = (
        report.planned
        or report.failed
        or report.refused
        or report.pending_uploads
        or report.not_here
        or report.skipped_unresolved
        or sum(report.done.values())
    )
    key = None if busy else _fixed_point(archive, services, retry_failed)
    value = None if key is None else f"{key} {report.held_back} {report.refused_before}"
    archive.state.set_meta(FIXED_POINT_META, value)


def _carry_out_record(
    archive: Archive,
    record: Record,
    actions: list[PlannedAction],
    targets: dict[str, TargetService],
    store: Any,
    report: ReplicateReport,
    ahead: dict[tuple[str, str], UploadResult | Exception],
) -> bool:
    """One photo's actions (its uploads done ahead already); True when the record changed."""
    changed = False
    for action in actions:
        if action.action == "add_to_album":
            continue  # after the uploads: see _fill_albums
        try:
            changed |= _carry_out(archive, record, targets[action.target], action, store, ahead)
            report.done[f"{action.target}:{action.action}"] += 1
            log.debug("%s %s -> %s: done", action.action, record["photo_id"], action.target)
            if action.action == "upload":
                changed |= clear_refusal(record, action.target)
        except ItemRefused as error:
            _note_refused(record, action.target, error, report)
            changed = True
        except UploadPending as pending:
            report.pending_uploads.append(f"{_label(record)} -> {action.target}: {pending}")
        except PhotosyncError as error:
            report.failed.append(f"{_label(record)} -> {action.target}: {error}")
            log.warning(
                "replicate %s of %s (%s) to %s failed: %s",
                action.action,
                record["photo_id"],
                record["metadata"].get("filename"),
                action.target,
                error,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            changed |= isinstance(error, ShownWider) or any(
                c["id"] == f"service_policy_violation:{action.target}" for c in record["conflicts"]
            )
        except OSError as error:
            report.failed.append(f"{_label(record)} -> {action.target}: {error.strerror or error}")
            log.warning(
                "replicate %s of %s to %s failed on the disk: %s",
                action.action,
                record["photo_id"],
                action.target,
                error,
            )
    changed |= _ensure_blob_location(record, store)
    if _visibility_in_question(record, archive.seals.verify):
        changed |= refresh_visibility_conflicts(record, archive.seals)
    everywhere = targets and all(
        _has_present(record, name) or name in _skipped(record) for name in targets
    )
    if everywhere and record["processing_state"] != ProcessingState.REPLICATED.value:
        record["processing_state"] = ProcessingState.REPLICATED.value
        changed = True
    return bool(changed)


def _upload_ahead(
    archive: Archive,
    window: list[tuple[Record, list[PlannedAction]]],
    targets: dict[str, TargetService],
    store: Any,
    workers: int,
) -> dict[tuple[str, str], UploadResult | Exception]:
    """The window's first uploads to services that take them in parallel (``parallel_uploads``).

    Only photos with no journal entry (never tried): each gets its durable
    "intent" on this thread just before its bytes go out, and "done" (with the
    service's id) as soon as it landed, exactly as one upload at a time would;
    ``_carry_out`` then finds "done" and records the copy. A photo tried before
    (an intent from a killed run: ``find_existing`` first) or with a policy
    problem goes the one-at-a-time way. Returns what each upload came to, by
    (photo, target): the service's answer for ``_carry_out`` to record (with the
    visibility read back), or the failure to raise in place of uploading again.
    """
    outcomes: dict[tuple[str, str], UploadResult | Exception] = {}
    for name, service in targets.items():
        if not service.parallel_uploads:
            continue
        jobs: list[tuple[Record, Visibility]] = []
        for record, actions in window:
            for action in actions:
                if action.target != name or action.action != "upload":
                    continue
                level = Visibility(action.visibility)
                if service.policy_problem(record, level) is not None:
                    continue
                if archive.state.journal_get(OPERATION, record["photo_id"], name) is not None:
                    continue
                jobs.append((record, level))
        if jobs:
            outcomes.update(_upload_jobs(archive, service, jobs, store, workers))
    return outcomes


def _upload_jobs(
    archive: Archive,
    service: TargetService,
    jobs: list[tuple[Record, Visibility]],
    store: Any,
    workers: int,
) -> dict[tuple[str, str], UploadResult | Exception]:
    """``workers`` uploads in flight at a time; a batching service (``upload_many``:
    Google's batchCreate) gets them in its batches, all at one visibility."""

    def opener(record: Record) -> Callable[[], AbstractContextManager[BinaryIO]]:
        return lambda: cast(AbstractContextManager[BinaryIO], store.open(record["content_hash"]))

    outcomes: dict[tuple[str, str], UploadResult | Exception] = {}

    def landed(record: Record, outcome: UploadResult | Exception) -> None:
        if isinstance(outcome, UploadResult):
            _journal_done(archive, record["photo_id"], service, outcome)
        outcomes[(record["photo_id"], service.name)] = outcome

    if service.upload_batch_size > 0:
        by_level: dict[Visibility, list[Record]] = {}
        for record, level in jobs:
            by_level.setdefault(level, []).append(record)
        batch = service.upload_batch_size
        for level, records in by_level.items():
            for start in range(0, len(records), batch):
                chunk = records[start : start + batch]
                for record in chunk:
                    _journal_intent(archive, record["photo_id"], service)
                answers = service.upload_many(
                    [(record, opener(record)) for record in chunk],
                    visibility=level,
                    workers=workers,
                )
                for record, answer in zip(chunk, answers, strict=True):
                    landed(record, answer)
        return outcomes

    def one(record: Record, level: Visibility) -> UploadResult:
        with opener(record)() as stream:
            return service.upload(record, stream, visibility=level)

    def intended() -> Iterator[tuple[Record, Visibility]]:
        # read on this thread as a worker frees: each intent is journalled before its upload
        for record, level in jobs:
            _journal_intent(archive, record["photo_id"], service)
            yield record, level

    def attempt(job: tuple[Record, Visibility]) -> tuple[Record, UploadResult | Exception]:
        try:
            return job[0], one(*job)
        except (PhotosyncError, OSError) as error:
            return job[0], error

    for record, outcome in bounded_map(
        attempt, intended(), workers=workers, name="upload", window_per_worker=1, ordered=False
    ):
        landed(record, outcome)
    return outcomes


def _plan_originals(archive: Archive, report: ReplicateReport) -> None:
    """The dry run's half for storage locations: one listing each, nothing copied."""
    try:
        blob_plan = plan_blobs(archive)
    except PhotosyncError as error:
        report.failed.append(f"blob locations: {error}")
        return
    report.blob_plan = blob_plan
    for location, digests in sorted(blob_plan.to_copy.items()):
        for digest in digests:
            photo_id = blob_plan.photo_of.get(digest, digest)
            report.add_planned(
                PlannedAction(
                    photo_id,
                    location,
                    "copy_original",
                    blob_plan.filename_of.get(digest),
                    "private",
                )
            )
    for location, why in sorted(blob_plan.unlisted.items()):
        report.failed.append(f"{location}: could not be listed: {why}")
    for digest in blob_plan.nowhere:
        report.failed.append(
            f"{blob_plan.photo_of.get(digest, digest)}: original in no location (sha256:{digest})"
        )


def _albums_to_fill(
    record: Record, service: TargetService, present: list[Instance]
) -> tuple[Instance | None, list[str]]:
    """The copy that goes into albums, and the canonical albums it is not in yet.

    No copy yet: it is uploaded in this run and then put into every album.
    """
    if not service.supports_albums or not album_titles(record):
        return None, []
    if not present:
        return None, album_titles(record)
    copy = service.album_copy(present)
    if copy is None:
        return None, []  # the service cannot put this copy into albums (Google: not uploaded by us)
    # in it already: put there by us, or seen there by the service's own listing
    added = set((copy.get("extra") or {}).get("photosync_albums") or ())
    added.update((copy.get("observed") or {}).get("albums") or ())
    return copy, [title for title in album_titles(record) if title not in added]


def _queue_albums(
    record: Record,
    targets: dict[str, TargetService],
    queue: dict[tuple[str, str], list[tuple[str, str]]],
) -> None:
    for name, service in targets.items():
        copy, titles = _albums_to_fill(record, service, _present_copies(record, name))
        if copy is not None:
            for title in titles:
                queue.setdefault((name, title), []).append((record["photo_id"], copy["id"]))


def _fill_albums(
    archive: Archive,
    targets: dict[str, TargetService],
    queue: dict[tuple[str, str], list[tuple[str, str]]],
    report: ReplicateReport,
) -> None:
    """Album membership on each target, one album at a time, marked on the copies.

    After the uploads, so a new photo joins its albums in the same run; the mark
    (``photosync_albums``) is written only after the service said yes.
    """
    for (name, title), members in sorted(queue.items()):
        for start in range(0, len(members), ALBUM_CHUNK):
            chunk = members[start : start + ALBUM_CHUNK]
            try:
                targets[name].add_to_album(title, [instance_id for _, instance_id in chunk])
            except PhotosyncError as error:
                report.failed.append(f"album {title!r} on {name}: {error}")
                log.warning(
                    "album %r on %s: adding %d photo(s) failed: %s", title, name, len(chunk), error
                )
                break
            for photo_id, instance_id in chunk:
                record = archive.load_record(photo_id)
                copy = find_instance(record, name, instance_id)
                if copy is None:
                    continue
                marks = copy.setdefault("extra", {}).setdefault("photosync_albums", [])
                if title not in marks:
                    marks.append(title)
                    marks.sort()
                    archive.write_record(record)
            report.done[f"{name}:add_to_album"] += len(chunk)


def _replicate_originals(
    archive: Archive, report: ReplicateReport, progress: Progress, *, full: bool
) -> None:
    """Every original into every blob location; copies show up as ``copy_original`` actions."""
    try:
        blobs = replicate_blobs(archive, progress=progress, full=full)
    except PhotosyncError as error:  # a broken location must not cost the service work its commit
        report.failed.append(f"blob locations: {error}")
        log.warning("copying originals to the blob locations stopped: %s", error)
        return
    report.blobs = blobs
    for location, digests in sorted(blobs.copied.items()):
        for digest in digests:
            report.add_planned(
                PlannedAction(
                    blobs.photo_of.get(digest, digest), location, "copy_original", None, "private"
                )
            )
        if digests:
            report.done[f"{location}:copy_original"] += len(digests)
    for location, digests in sorted(blobs.replaced.items()):
        # counted in copy_original too; said apart because the old copy was wrong
        report.done[f"{location}:replace_torn_original"] += len(digests)
        for digest in digests:
            log.warning(
                "sha256:%s in %s had the wrong size: replaced by verified bytes", digest, location
            )
    for location, failures in sorted(blobs.failed.items()):
        for digest, why in sorted(failures.items()):
            report.failed.append(
                f"{blobs.photo_of.get(digest, digest)} -> {location}: original not copied: {why}"
            )
            log.warning("original sha256:%s not copied to %s: %s", digest, location, why)


def _copy_archive(archive: Archive, report: ReplicateReport) -> None:
    """After the last commit: the archive's history to every location (never a reason to
    lose the run's work: a failure is one more failed item, retried next run)."""
    try:
        report.archive_copy = backup_archive(archive)
    except PhotosyncError as error:
        report.failed.append(f"archive copy: {error}")
        return
    for location, why in sorted(report.archive_copy.failed.items()):
        report.failed.append(f"archive copy to {location}: {why}")


def _label(record: Record) -> str:
    """A photo as the user knows it: its file name (and the short id to find the record)."""
    return f"{display_name(record)} ({record['photo_id'][:8]})"


def _note_refused(record: Record, target: str, error: ItemRefused, report: ReplicateReport) -> None:
    """Refused for good: a problem on the record (status counts it), said once with
    what to do, not tried again until --retry-failed."""
    message = f"{target} refused {display_name(record)}: {error}"
    if error.hint:
        message += f". {error.hint}"
    add_problem(record, REFUSED_PROBLEM, message, target)
    report.refused.append(
        f"{_label(record)} -> {target}: {error}" + (f". {error.hint}" if error.hint else "")
    )
    log.warning("replicate %s to %s refused for good: %s", record["photo_id"], target, error)


def _visibility_in_question(record: Record, trusted: ApprovalCheck) -> bool:
    """A level edited by hand, a service read back wider, or a visibility conflict
    that may be settled now: the record's visibility conflicts are brought up to date."""
    vis = record["visibility"]
    return (
        unapproved_widening(record, trusted)
        or any(is_wider(level, vis["canonical"]) for level in vis["per_service"].values())
        or any(c["type"] == "visibility_conflict" for c in record["conflicts"])
    )


def _held_back(record: Record) -> bool:
    return any(i.get("extra", {}).get("do_not_replicate") for _s, i in iter_instances(record))


def _skipped(record: Record) -> set[str]:
    return {
        c["id"].split(":", 1)[1]
        for c in record["conflicts"]
        if c["type"] == "service_policy_violation" and c["status"] == "resolved"
    }


def _present_copies(record: Record, service: str) -> list[Instance]:
    return [
        i for i in record["instances"].get(service, []) if i.get("status", "present") == "present"
    ]


def _has_present(record: Record, service: str) -> bool:
    return bool(_present_copies(record, service))


def _carry_out(
    archive: Archive,
    record: Record,
    service: TargetService,
    action: PlannedAction,
    store: Any,
    ahead: dict[tuple[str, str], UploadResult | Exception] | None = None,
) -> bool:
    photo_id, target = record["photo_id"], action.target
    level = Visibility(action.visibility)
    if action.action == "update_metadata":
        for copy in record["instances"].get(target, []):
            stale = (
                _stale_fields(record, copy) if copy.get("status", "present") == "present" else {}
            )
            if stale:
                service.apply_metadata(copy["id"], **stale)
                fields_by_name(copy.setdefault("observed", {})).update(stale)
        return True
    if action.action in ("narrow_visibility", "widen_visibility"):
        shown = service.set_visibility(record, level)
        _record_shown(record, target, level, shown.level, instances=None)
        return True
    policy = service.policy_problem(record, level)
    if policy is not None:
        _policy_conflict(record, target, policy)
        raise PhotosyncError(f"{target} refuses by its policy: {policy}")
    result = (ahead or {}).pop((photo_id, target), None)
    if isinstance(result, UploadUncertain):
        raise UploadPending(f"{result}; asked again after that") from result
    if isinstance(result, Exception):
        raise result  # tried in this run's parallel uploads: not again before the next
    journal = None if result is not None else archive.state.journal_get(OPERATION, photo_id, target)
    if result is not None:
        pass  # uploaded ahead, its "done" journalled: what the service said is here
    elif journal is not None and journal[0] == "done" and journal[1]:
        done = json.loads(journal[1])
        if done.get("place") in (None, service.place):  # no place: a remote service's
            result = UploadResult(instance_id=done["instance_id"], url=done.get("url"))
        else:  # "done" for the folder the service pointed at then (a new disk since)
            journal = ("intent", None)
            result = service.find_existing(record)
    elif journal is not None:
        result = service.find_existing(record)  # an earlier attempt may have landed
        if result is None:
            _wait_out_search_lag(archive, photo_id, service, journal[1])
    if result is None:
        _journal_intent(archive, photo_id, service)
        with store.open(record["content_hash"]) as stream:
            try:
                result = service.upload(record, stream, visibility=level)
            except UploadUncertain as error:
                raise UploadPending(f"{error}; asked again after that") from error
    if journal is None or journal[0] != "done":
        _journal_done(archive, photo_id, service, result)
    metadata = record["metadata"]
    instance: Instance = {
        "id": result.instance_id,
        "quality": "original",
        "last_sync": utc_now(),
        "url": result.url,
        "content_hash": record["content_hash"],
        "visibility": (result.visibility.level.value if result.visibility else None),
        "status": "present",
        # what the upload carried: the canonical metadata at that moment
        "observed": {
            "caption": metadata.get("caption"),
            "tags": metadata.get("tags"),
            "taken_date": metadata.get("taken_date"),
            "taken_date_source": metadata.get("taken_date_source"),
            "filename": metadata.get("filename"),
        },
        "extra": {"uploaded_by": "photosync", **result.extra},
    }
    upsert_instance(record, target, instance)
    if result.visibility is not None:
        _record_shown(
            record, target, level, result.visibility.level, instances=[result.instance_id]
        )
    return True


def _record_shown(
    record: Record,
    target: str,
    asked: Visibility,
    shown: Visibility,
    *,
    instances: list[str] | None,
) -> None:
    """Record what the service shows (read back), never what it was asked for; a copy
    shown wider than asked stops the item (reported; ``audit`` lists it)."""
    record["visibility"]["per_service"][target] = shown.value
    for copy in record["instances"].get(target, []):
        if (instances is None and copy.get("status", "present") == "present") or (
            instances is not None and copy["id"] in instances
        ):
            copy["visibility"] = shown.value
    if is_wider(shown, asked):
        raise ShownWider(
            f"{target} said yes but shows the photo as {shown.value} (asked: {asked.value}); "
            "see `photosync audit --visibility-check`"
        )


def _journal_done(
    archive: Archive, photo_id: str, service: TargetService, result: UploadResult
) -> None:
    """Durable as soon as the service said yes: the one proof a re-run needs (with
    where a folder service pointed: a "done" says nothing of another folder)."""
    detail: dict[str, Any] = {"instance_id": result.instance_id, "url": result.url}
    if service.place is not None:
        detail["place"] = service.place
    archive.state.journal_set(OPERATION, photo_id, service.name, "done", json.dumps(detail))


def _journal_intent(archive: Archive, photo_id: str, service: TargetService) -> None:
    """Durable before the upload, with the service's time of the attempt."""
    detail = json.dumps({"at": service.now()})
    archive.state.journal_set(OPERATION, photo_id, service.name, "intent", detail)


def _wait_out_search_lag(
    archive: Archive, photo_id: str, service: TargetService, detail: str | None
) -> None:
    """An earlier attempt that ``find_existing`` does not show is only proven absent
    once its search has had longer than ``search_lag_s`` to show it."""
    lag = service.search_lag_s
    if lag <= 0:
        return
    try:
        since = float(json.loads(detail or "{}")["at"])
    except (ValueError, KeyError, TypeError):
        # an intent from an older photosync: its time is unknown, so it counts from now
        _journal_intent(archive, photo_id, service)
        since = service.now()
    waited = service.now() - since
    if waited <= lag:
        raise UploadPending(
            f"an earlier upload may have landed and {service.name}'s search can lag "
            f"{lag:.0f} s: not uploaded again before {lag - waited:.0f} s more have passed"
        )


def _policy_conflict(record: Record, target: str, problem: str) -> None:
    conflict_id = f"service_policy_violation:{target}"
    if any(c["id"] == conflict_id and c["status"] == "open" for c in record["conflicts"]):
        return
    record["conflicts"] = [c for c in record["conflicts"] if c["id"] != conflict_id]
    raise_conflict(
        record,
        new_conflict(
            conflict_id,
            ConflictType.POLICY_VIOLATION,
            f"{target} cannot take this photo as it is: {problem}",
            [target],
            [("skip-service", f"do not put this photo on {target}")],
        ),
    )


def _ensure_blob_location(record: Record, store: Any) -> bool:
    """Every original is in the local store: say so in the record (verified by size).

    A merged copy's size is not in the record: for it, being there is what counts.
    """
    stat = store.stat(record["content_hash"])
    merged_here = all(
        store.stat(digest) is not None
        for digest, size in record_originals(record).items()
        if size is None
    )
    if stat is None or stat.size != record["media"]["size"] or not merged_here:
        return note_blob_missing(
            record, f"an original of this photo is not in blob store {store.name}"
        )
    return add_blob_location(record, store.name, store.locator(record["content_hash"]))


def _commit(archive: Archive, report: ReplicateReport, *, final: bool) -> None:
    by_target: Counter[str] = Counter()
    album_adds = 0
    for key, count in report.done.items():
        if key.endswith(":add_to_album"):
            album_adds += count
        else:
            by_target[key.split(":")[0]] += count
    summary = ", ".join(f"{count} to {target}" for target, count in sorted(by_target.items()))
    if album_adds:
        summary += f"{', ' if summary else ''}{album_adds} album addition(s)"
    summary = summary or "nothing new"
    message = f"replicate: {summary}"
    if report.failed:
        message += f", {len(report.failed)} failed"
    if report.refused:
        message += f", {len(report.refused)} refused for good (a problem on the photo)"
    if not final:
        message += " (checkpoint, run continues)"
    commit = archive.commit(message)
    if commit:
        report.commits.append(commit)
        _forget_recorded_uploads(archive)


def _forget_recorded_uploads(archive: Archive) -> None:
    """Drop "done" journal entries whose upload the committed record now holds.

    Only those: an entry from a killed run whose record write never happened is
    the one proof that the upload landed, and must survive until that record
    is reached, or the photo is uploaded a second time.
    """
    for photo_id, target, _state, detail in archive.state.journal_entries(OPERATION, "done"):
        uploaded = json.loads(detail or "{}").get("instance_id")
        path = archive.record_path(photo_id)
        if path is None or not path.exists():
            continue
        record = archive.load_record(photo_id)
        if any(i.get("id") == uploaded for i in record["instances"].get(target, [])):
            archive.state.journal_delete(OPERATION, photo_id, target)
    archive.state.flush()
