"""Phase 2, resolve: find where instances disagree, settle what rules can, ask the rest.

Rules (configurable in user-preferences ``auto_resolve``):

- ``exact_duplicates``: same bytes are one record already (discover); nothing to ask.
- ``missing_metadata``: a field only some instances fill is taken from them; tag
  sets where one contains all the others take the largest.
- ``quality_variants``: handled by the identity matcher (same picture, other bytes).
- ``most_restrictive_visibility``: a service showing a photo wider than its
  canonical level is settled by keeping the canonical (narrower) level.

Visibility is never widened here: canonical narrows automatically when a
service shows a narrower level; a wider one is a conflict for a human (or the
rule above), and only an explicit approval widens it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any

from photosync.archive.archive import Archive, ReadRecord
from photosync.archive.preview import PreviewArchive, RecordAccess
from photosync.archive.seals import ApprovalSeals
from photosync.errors import PhotosyncError
from photosync.model import (
    COMPARABLE_FIELDS,
    Conflict,
    ConflictType,
    ProcessingState,
    Record,
    Visibility,
    approved_level,
    coarse_date_covers,
    comparable,
    date_precision,
    display_name,
    fields_by_name,
    is_wider,
    iter_instances,
    join_records,
    needs_decision,
    new_conflict,
    new_decision,
    parse_custom,
    preference_matches,
    settle_field,
    weak_date,
    weak_metadata_date,
)
from photosync.model.privacy import (
    approve_visibility,
    carry_decision,
    unapproved_conflict,
    visibility_conflict,
)
from photosync.workflow.context import pass_inputs_key, primary_store
from photosync.workflow.match import MatchReport, match_variants
from photosync.workflow.progress import KEPT, Progress, SilentProgress

#: a decision made by a ``prefer`` preference names it: ``"prefer: google-photos"``
PREFER_RULE = "prefer:"

#: state meta: what the last pass that left nothing to do was run on (``_fixed_point``)
FIXED_POINT_META = "resolve_fixed_point"


@dataclass
class ResolveReport:
    examined: int = 0
    #: records in which at least one rule settled something
    auto_resolved: int = 0
    now_resolved: int = 0
    #: records that still have a question for a human
    needs_decision: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    #: conflicts settled by rules vs left for a human, in this pass
    conflicts_auto: int = 0
    conflicts_open: int = 0
    merged_variants: int = 0
    edit_variant_pairs: int = 0
    #: conflicts a person chose to skip: still waiting, asked again
    skipped: int = 0
    #: what the rules did, photo by photo: (photo_id, file name, what), the first
    #: ``KEPT`` of them (``add_decisions``; ``decisions_total`` counts them all)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)
    decisions_total: int = 0
    #: records with a change the user made and has not committed: not touched
    left_alone: int = 0
    #: nothing changed since a pass that left nothing to do: no record was read again
    unchanged: bool = False
    #: photos waiting for their original here before they can be fingerprinted
    waiting_for_blob: int = 0

    def add_decisions(self, decisions: Iterable[tuple[str, str, str]]) -> None:
        for decision in decisions:
            self.decisions_total += 1
            if len(self.decisions) < KEPT:
                self.decisions.append(decision)

    @property
    def automatic_rate(self) -> float | None:
        """The design's metric (> 90%): conflicts settled without a person, in this pass."""
        total = self.conflicts_auto + self.conflicts_open
        return None if total == 0 else self.conflicts_auto / total

    def rate_line(self) -> str:
        """``resolved automatically: 20 of 22 (90.9%)``."""
        total = self.conflicts_auto + self.conflicts_open
        rate = self.automatic_rate
        share = "n/a" if rate is None else f"{rate * 100:.1f}%"
        return f"resolved automatically: {self.conflicts_auto} of {total} ({share})"


@dataclass(frozen=True)
class _Option:
    """One value a copy states for a field: the option's label, the value, what stated
    it (a date's ``taken_date_source``, a sidecar field), the copy's service, and
    whether it is one of the copy's own disagreeing sources."""

    label: str
    value: Any
    tag: str | None
    service: str
    split: bool = False


def _sources(record: Record, field_name: str) -> list[tuple[str, Any]]:
    """(source label, raw value) per instance that says something about the field."""
    return [(option.label, option.value) for option in _source_entries(record, field_name)]


def _source_entries(record: Record, field_name: str) -> list[_Option]:
    """Every value a copy states for the field, as options. A coarse date (Flickr's
    month or year) that a precise one falls within says nothing more: the precise
    one wins."""
    out: list[_Option] = []
    multi = {s for s, insts in record["instances"].items() if len(insts) > 1}
    # derivatives (Picker downloads, resized service copies) never outvote an original
    has_original = any(i.get("quality") != "derivative" for _s, i in iter_instances(record))
    for service, instance in iter_instances(record):
        if instance.get("status") == "superseded":
            continue
        if has_original and instance.get("quality") == "derivative":
            continue
        observed = instance.get("observed", {})
        label = f"{service}:{instance['id']}" if service in multi else service
        if field_name in observed.get("disagree", ()):
            # the instance's own sources disagree (a date edited in Google Photos):
            # each one is an option, with its value
            for entry in observed.get("sources", []):
                if entry.get("field") == field_name and comparable(field_name, entry["value"]):
                    out.append(
                        _Option(
                            f"{label}:{entry['source']}",
                            entry["value"],
                            entry["source"],
                            service,
                            split=True,
                        )
                    )
            continue
        value = observed.get(field_name)
        if comparable(field_name, value) is None or (
            field_name == "taken_date" and weak_date(observed)
        ):
            continue
        tag = observed.get("taken_date_source") if field_name == "taken_date" else None
        out.append(_Option(label, value, tag, service))
    if field_name == "taken_date":
        precise = [str(o.value) for o in out if date_precision(o.tag) is None]
        out = [
            o
            for o in out
            if (precision := date_precision(o.tag)) is None
            or not any(coarse_date_covers(str(o.value), precision, p) for p in precise)
        ]
    return out


def _preferred(
    field_name: str, options: list[_Option], prefer: Sequence[str]
) -> tuple[str, _Option] | None:
    """The first ``prefer:`` entry (in the user's order) whose options state one value:
    that entry and its first option; None when no entry settles it."""
    for preference in prefer:
        chosen = [
            o
            for o in options
            if preference_matches(
                preference, label=o.label, service=o.service, tag=o.tag, split=o.split
            )
        ]
        if chosen and len({comparable(field_name, o.value) for o in chosen}) == 1:
            return preference, chosen[0]
    return None


def combine(field_name: str, values: list[Any]) -> Any | None:
    """The proposed Combine option: merged caption or union of tags; None if no merge makes sense."""
    if field_name == "tags":
        return sorted({t for value in values for t in value})
    if field_name == "caption":
        texts: list[str] = []
        for value in sorted(values, key=len, reverse=True):
            if not any(value.strip().lower() in kept.lower() for kept in texts):
                texts.append(value.strip())
        return " — ".join(texts) if len(texts) > 1 else texts[0]
    return None


# analysis -----------------------------------------------------------------------------------
def analyze(
    record: Record,
    rules: set[str],
    *,
    by: str = "photosync",
    seals: ApprovalSeals,
    prefer: Mapping[str, Sequence[str]] | None = None,
) -> list[str]:
    """Recompute the record's conflicts, applying automatic rules; returns the rules used.

    ``prefer`` (preferences ``prefer``: field -> sources, first wins) settles a
    ``metadata_mismatch`` by the source the user named; the decision names the rule.
    """
    used: list[str] = []
    previous = {c["id"]: c for c in record["conflicts"]}
    conflicts: list[Conflict] = []
    for field_name in COMPARABLE_FIELDS:
        entries = _source_entries(record, field_name)
        sources = [(o.label, o.value) for o in entries]
        distinct: dict[Any, Any] = {}
        for _label, value in sources:
            distinct.setdefault(comparable(field_name, value), value)
        if not distinct:
            continue
        if len(distinct) == 1:
            value = next(iter(distinct.values()))
            metadata = record["metadata"]
            missing = comparable(field_name, metadata.get(field_name)) is None
            if field_name == "taken_date":
                # an estimate or a coarse date is replaced by the one stated date
                missing = missing or (
                    weak_metadata_date(metadata)
                    and comparable(field_name, metadata.get(field_name))
                    != comparable(field_name, value)
                )
            if missing and "missing_metadata" in rules:
                fields_by_name(metadata)[field_name] = value
                if field_name == "taken_date":
                    metadata["taken_date_source"] = next(
                        (o.tag for o in entries if o.value == value and o.tag), None
                    )
                used.append("missing_metadata")
            continue
        if field_name == "tags" and "missing_metadata" in rules:
            sets = {key: set(key or ()) for key in distinct}
            widest = max(sets, key=lambda key: len(sets[key]))
            if all(s <= sets[widest] for s in sets.values()):
                # the tags as that copy states them (services compare them folded)
                record["metadata"]["tags"] = sorted(
                    {str(t).strip() for t in distinct[widest] if str(t).strip()}
                )
                used.append("missing_metadata")
                continue
        conflict_id = f"{ConflictType.METADATA_MISMATCH.value}:{field_name}"
        conflict = new_conflict(
            conflict_id,
            ConflictType.METADATA_MISMATCH,
            f"instances disagree on {field_name.replace('_', ' ')}",
            sorted({label.split(":")[0] for label, _ in sources}),
            sources,
            field_name=field_name,
        )
        carry_decision(conflict, previous.get(conflict_id))
        carried = conflict.get("resolution") if conflict["status"] == "resolved" else None
        by_rule = str((carried or {}).get("rule") or "").startswith(PREFER_RULE)
        if conflict["status"] == "open" or by_rule:
            # a rule's earlier decision is the rule's to remake (the user changed ``prefer``)
            found = _preferred(field_name, entries, (prefer or {}).get(field_name, ()))
            if found is None and by_rule:
                conflict["status"], conflict["resolution"] = "open", None
            elif found is not None:
                preference, option = found
                resolution = new_decision(
                    option.label, option.value, by=by, rule=f"{PREFER_RULE} {preference}"
                )
                if carried is not None and all(
                    carried.get(key) == resolution[key] for key in ("choice", "value", "rule")
                ):
                    resolution = carried  # the same decision again: the record stays as it is
                conflict["status"], conflict["resolution"] = "resolved", resolution
                settle_field(record, field_name, option.value, date_source=option.tag)
                used.append(PREFER_RULE)
        conflicts.append(conflict)
    failed = _processing_failed(record, previous)
    if failed is not None:
        conflicts.append(failed)
    shown_wider = visibility_conflict(record, rules, previous, by=by)
    # after visibility_conflict: a level set by hand that a service shows narrower was
    # narrowed back already (fail closed); what is still wider than approved is a question
    unapproved = unapproved_conflict(record, previous, seals)
    if unapproved is not None:
        conflicts.append(unapproved)
    if shown_wider is not None:
        conflicts.append(shown_wider)
        if shown_wider["status"] == "resolved" and (shown_wider.get("resolution") or {}).get(
            "rule"
        ):
            used.append("most_restrictive_visibility")
    # conflicts raised by other layers (identity matcher, policies) are kept as they are
    recomputed = (
        ConflictType.METADATA_MISMATCH.value,
        ConflictType.VISIBILITY_CONFLICT.value,
        ConflictType.PROCESSING_FAILED.value,
    )
    # and so are the questions a merge of two clones raised (``merge:FIELD``, see photosync.merge)
    kept = [
        c
        for c in record["conflicts"]
        if c["type"] not in recomputed or str(c["id"]).startswith("merge:")
    ]
    record["conflicts"] = sorted(kept + conflicts, key=lambda c: c["id"])
    open_required = [
        c for c in record["conflicts"] if c["status"] != "resolved" and c["resolution_required"]
    ]
    if not open_required and record["processing_state"] == ProcessingState.DISCOVERED.value:
        record["processing_state"] = ProcessingState.RESOLVED.value
    return used


def _processing_failed(record: Record, previous: dict[str, Conflict]) -> Conflict | None:
    """A file photosync could not fully read: stored and recorded, but a human should look."""
    if not record["problems"]:
        return None
    conflict_id = f"{ConflictType.PROCESSING_FAILED.value}:file"
    conflict = new_conflict(
        conflict_id,
        ConflictType.PROCESSING_FAILED,
        "could not be fully processed: " + "; ".join(p["message"] for p in record["problems"][:3]),
        sorted({service for p in record["problems"] if (service := p.get("service"))}),
        [("accept", "keep it as it is (the original bytes are stored)")],
    )
    carry_decision(conflict, previous.get(conflict_id))
    return conflict


# running the phase ------------------------------------------------------------------------------
def _rules(archive: Archive, mode: str) -> set[str]:
    configured = set(archive.prefs().auto_resolve)
    if mode == "none":
        return set()
    return configured


def auto_resolve(
    archive: Archive,
    *,
    mode: str = "simple",
    progress: Progress | None = None,
    view: RecordAccess | None = None,
    full: bool = False,
) -> ResolveReport:
    """Analyze every record not yet resolved; commit what changed.

    ``view`` (a ``PreviewArchive``) makes it a dry run: the same work, kept in memory.
    When nothing a pass depends on changed since one that left nothing to do (no
    question, no uncommitted edit, no photo waiting for its original), the rules would
    conclude the same again: no record is read (``report.unchanged``), unless ``full``.
    """
    progress = progress or SilentProgress()
    records: RecordAccess = view if view is not None else archive
    report = ResolveReport()
    if view is None and not full:
        key = _fixed_point(archive, mode)
        if key is not None and archive.state.get_meta(FIXED_POINT_META) == key:
            report.unchanged = True
            return report
    rules = _rules(archive, mode)
    prefer: Mapping[str, Sequence[str]] = archive.prefs().prefer if mode != "none" else {}
    matched = match_variants(records, primary_store(archive), rules, progress=progress)
    report.waiting_for_blob = matched.waiting_for_blob
    report.merged_variants, report.edit_variant_pairs = matched.merged, matched.edit_pairs
    report.conflicts_auto += matched.merged
    report.add_decisions(
        (keeper, name, f"quality variant joined: {gone_name} ({gone})")
        for keeper, name, gone, gone_name in matched.joined
    )
    progress.start("resolve", records.state.count_records())
    # each record is written once in this pass, none read again: writes overlap
    with archive.parallel_writes() if view is None else nullcontext():
        _rules_pass(archive, records, matched, rules, prefer, report, progress, view is None)
    progress.finish()
    message = (
        f"resolve: {report.now_resolved} resolved ({report.auto_resolved} by automatic rules), "
        f"{report.needs_decision} need a decision"
    )
    if report.merged_variants:
        message += f"\n\n{report.merged_variants} quality variant(s) joined with their best copy."
    records.commit(message)
    if view is None:
        settled = not (report.needs_decision or report.left_alone or report.waiting_for_blob)
        key = _fixed_point(archive, mode) if settled else None
        archive.state.set_meta(FIXED_POINT_META, key)
    return report


def _at_fixed_point(archive: Archive) -> bool:
    """A reader's test of the fixed point (a reader has not asked git what is uncommitted:
    anything under photos/ or config/ means no)."""
    key = _fixed_point(archive, "simple")
    if key is None or archive.state.get_meta(FIXED_POINT_META) != key:
        return False
    return archive.committed_as_is()


def _fixed_point(archive: Archive, mode: str) -> str | None:
    """What a pass's outcome depends on (``context.pass_inputs_key``) for this mode."""
    return pass_inputs_key(archive, "resolve", mode)


#: records a resolve pass writes between two commits: a commit costs git a read and a
#: write of the user's index (about 0.5 s at a million records), so fewer than
#: discover's batches; the paths a run holds until its commit stay a few MB
CHECKPOINT_EVERY = 50_000


def _rules_pass(
    archive: Archive,
    records: RecordAccess,
    matched: MatchReport,
    rules: set[str],
    prefer: Mapping[str, Sequence[str]],
    report: ResolveReport,
    progress: Progress,
    checkpoints: bool = False,
) -> None:
    """Analyze every record not yet resolved (with its new fingerprint) and write it once.

    With ``checkpoints`` (the archive itself, not a preview) every ``CHECKPOINT_EVERY``
    records written are committed while the pass goes on: what a run holds about the
    files it wrote stays bounded, and a killed pass keeps what it committed.
    """
    every = CHECKPOINT_EVERY
    written = 0

    def write(record: Record, was: ReadRecord) -> None:
        nonlocal written
        # before the next record, not after the last: the pass's own summary commit
        # always has a record of its own to carry it
        if checkpoints and written and written % every == 0:
            message = f"resolve: {written} records written so far (the pass goes on)"
            if written == every and report.merged_variants:
                message += (
                    f"\n\n{report.merged_variants} quality variant(s) joined with their best copy."
                )
            archive.commit_in_background(message)
        records.write_record(record, was=was)
        written += 1

    seals = archive.seals
    # read and parsed by a thread of their own: this one analyzes and writes
    for read in records.map_records(_as_read, chunk=64):
        record = read.record
        progress.advance()
        fingerprinted = matched.apply(record)
        if record["processing_state"] != ProcessingState.DISCOVERED.value and not _has_open(record):
            if fingerprinted:
                write(record, read)
            continue
        if archive.is_user_changed(record["photo_id"]):
            report.left_alone += 1  # the user's uncommitted edit (lock() said so)
            continue
        report.examined += 1
        before_state = record["processing_state"]
        before = {name: record["metadata"].get(name) for name in COMPARABLE_FIELDS}
        used = analyze(record, rules, seals=seals, prefer=prefer)
        for rule in used:
            report.by_rule[rule] = report.by_rule.get(rule, 0) + 1
        report.add_decisions(
            (record["photo_id"], display_name(record), what)
            for what in _what_rules_did(record, before, used)
        )
        report.conflicts_auto += len(used)
        report.conflicts_open += sum(1 for c in record["conflicts"] if needs_decision(c))
        report.skipped += sum(
            1 for c in record["conflicts"] if needs_decision(c) and c["status"] == "skipped"
        )
        if used:
            report.auto_resolved += 1
        if (
            record["processing_state"] != before_state
            and record["processing_state"] == ProcessingState.RESOLVED.value
        ):
            report.now_resolved += 1
        if any(needs_decision(c) for c in record["conflicts"]):
            report.needs_decision += 1
        write(record, read)


def _as_read(read: ReadRecord) -> ReadRecord:
    return read


@dataclass
class Questions:
    """The questions a preview leaves: the first ``KEPT`` to show, every one counted
    (a first pass over a million photos may leave a question on each)."""

    kept: list[tuple[Record, Conflict]] = field(default_factory=list)
    total: int = 0
    skipped: int = 0

    def add(self, record: Record, conflict: Conflict) -> None:
        self.total += 1
        self.skipped += conflict["status"] == "skipped"
        if len(self.kept) < KEPT:
            self.kept.append((record, conflict))


def preview(
    archive: Archive, *, progress: Progress | None = None
) -> tuple[ResolveReport, Questions]:
    """What resolve would settle and which questions it would leave; nothing is written.

    ``resolve --list`` and ``resolve --auto-resolve simple --dry-run``: listing never commits.
    At the fixed point of the last pass (nothing uncommitted, the same inputs) there is
    nothing to settle and no question: no record is read (``report.unchanged``).
    """
    questions = Questions()
    if _at_fixed_point(archive):
        return ResolveReport(unchanged=True), questions
    archive.note_user_changes()  # left alone, as the real run's lock would find them
    with PreviewArchive(archive) as view:
        report = auto_resolve(archive, progress=progress, view=view)
        for record, conflict in pending(view, ("open", "skipped")):
            questions.add(record, conflict)
    return report, questions


def _what_rules_did(record: Record, before: Mapping[str, Any], used: list[str]) -> list[str]:
    """Each field a rule filled in and each visibility kept, in words."""
    if not used:
        return []
    rules = {
        str(c.get("field")): str((c.get("resolution") or {}).get("rule"))
        for c in record["conflicts"]
        if c["type"] == ConflictType.METADATA_MISMATCH.value
        and c["status"] == "resolved"
        and str((c.get("resolution") or {}).get("rule") or "").startswith(PREFER_RULE)
    }
    out = [
        f"{name.replace('_', ' ')} set to {record['metadata'].get(name)!r} "
        f"({rules.get(name, 'missing_metadata')})"
        for name in COMPARABLE_FIELDS
        if comparable(name, before[name])
        != comparable(name, fields_by_name(record["metadata"]).get(name))
    ]
    if "most_restrictive_visibility" in used:
        out.append(
            f"visibility kept {record['visibility']['canonical']} (most_restrictive_visibility)"
        )
    return out


def _pixels(record: Record) -> int:
    """Width × height of the original, 0 when not known (a video, an unread file)."""
    return (record["media"].get("width") or 0) * (record["media"].get("height") or 0)


def _has_open(record: Record) -> bool:
    """A question still waits (open or skipped): the photo is not resolved."""
    return any(needs_decision(c) for c in record["conflicts"])


def pending(
    archive: RecordAccess, statuses: tuple[str, ...] = ("open",)
) -> Iterator[tuple[Record, Conflict]]:
    """Every conflict that needs a human (open, or with "skipped" also the skipped), with its record."""
    for record in archive.iter_records():
        for conflict in record["conflicts"]:
            if needs_decision(conflict) and conflict["status"] in statuses:
                yield record, conflict


def decide_in_archive(
    archive: Archive, photo_id: str, conflict_id: str, *, choice: str, value: Any = None, by: str
) -> None:
    """``decide`` plus what needs the archive: joining or separating edit variants."""
    record = archive.load_record(photo_id)
    conflict = next((c for c in record["conflicts"] if c["id"] == conflict_id), None)
    if conflict is None or conflict["type"] != ConflictType.EDIT_VARIANT.value:
        decide(record, conflict_id, choice=choice, value=value, by=by, seals=archive.seals)
        archive.write_record(record)
        return
    other_id = conflict_id.split(":", 1)[1]
    other = archive.load_record(other_id) if archive.record_path(other_id) else None
    decide(record, conflict_id, choice=choice, value=value, by=by, seals=archive.seals)
    if other is not None:
        mirror = f"{ConflictType.EDIT_VARIANT.value}:{photo_id}"
        if any(c["id"] == mirror for c in other["conflicts"]):
            decide(other, mirror, choice=choice, value=value, by=by, seals=archive.seals)
        if choice == "merge":
            keep_mine = _pixels(record) >= _pixels(other)
            keeper, gone = (record, other) if keep_mine else (other, record)
            join_records(keeper, gone, kind="edit_variant")
            keeper["conflicts"] = [
                c
                for c in keeper["conflicts"]
                if c["id"] != f"{ConflictType.EDIT_VARIANT.value}:{gone['photo_id']}"
            ]
            # the survivor first, on disk, then the merged file (see match_variants)
            archive.write_record(keeper, durable=True)
            archive.remove_record(gone["photo_id"])
            return
        archive.write_record(other)
    archive.write_record(record)


def decide(
    record: Record,
    conflict_id: str,
    *,
    choice: str,
    value: Any = None,
    by: str,
    seals: ApprovalSeals,
) -> None:
    """Record a human decision: ``choice`` is an option's source, "combine", "custom" or "skip"."""
    conflict = next((c for c in record["conflicts"] if c["id"] == conflict_id), None)
    if conflict is None:
        raise PhotosyncError(f"photo {record['photo_id']} has no conflict {conflict_id}")
    if choice == "skip":
        conflict["status"] = "skipped"
        conflict["resolution"] = new_decision("skip", None, by=by)
        return
    if choice not in ("combine", "custom"):
        options = {o["source"]: o["value"] for o in conflict.get("options", [])}
        if conflict["type"] in (
            ConflictType.EDIT_VARIANT.value,
            ConflictType.PROCESSING_FAILED.value,
        ):  # fixed answers, offered whatever a hand edit left of the options
            options = {c.key: c.value for c in choices(conflict) if c.key != "skip"} | options
        if choice not in options:
            raise PhotosyncError(f"{choice!r} is not an option of {conflict_id}")
        value = options[choice]
    field_name = conflict.get("field")  # optional: a hand edit may have left it out
    if choice == "combine":
        value = combine(field_name or "", [o["value"] for o in conflict.get("options", [])])
        if value is None:
            raise PhotosyncError(f"{field_name} values cannot be combined")
    if conflict["type"] in (ConflictType.EDIT_VARIANT.value, ConflictType.PROCESSING_FAILED.value):
        pass  # the choice itself is the decision (a merge is carried out by decide_in_archive)
    elif conflict["type"] == ConflictType.VISIBILITY_CONFLICT.value:
        level = Visibility(value)
        canonical = record["visibility"]["canonical"]
        if is_wider(level, canonical) or is_wider(level, approved_level(record, seals.verify)):
            approve_visibility(record, level, by=by, reason=f"resolve {conflict_id}", seals=seals)
        elif is_wider(canonical, level):
            record["visibility"]["canonical"] = level.value  # narrowing needs no approval
    elif field_name in COMPARABLE_FIELDS:
        source: str | None = None
        if choice == "custom":
            value = parse_custom(field_name, value) if isinstance(value, str) else value
            source = "user"
        elif field_name == "taken_date":  # the chosen source's label goes with its date
            source = next(
                (o.tag for o in _source_entries(record, field_name) if o.label == choice),
                None,
            )
        settle_field(record, field_name, value, date_source=source)
    conflict["status"] = "resolved"
    conflict["resolution"] = new_decision(choice, value, by=by)
    if not _has_open(record) and record["processing_state"] == ProcessingState.DISCOVERED.value:
        record["processing_state"] = ProcessingState.RESOLVED.value


# the questions a person answers (interactive resolve and `photosync web`) -----------------------
#: the one commit message of decisions a person made, whichever way they made them
DECISIONS_MESSAGE = "resolve: decisions by {by} (interactive)"

CUSTOM_HINTS = {
    "caption": "Caption",
    "tags": "Tags (comma-separated)",
    "taken_date": "Taken date (YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS])",
    "location": "Location (latitude, longitude in degrees, e.g. 48.13751, 11.57549)",
}


@dataclass(frozen=True)
class Choice:
    """One answer to a conflict, as the interactive prompt and the web page offer it."""

    key: str
    label: str
    value: Any


def decider() -> str:
    """Who made a decision, for the record: the same name whichever way it was made."""
    return os.environ.get("PHOTOSYNC_USER") or os.environ.get("USER") or "user"


def format_value(value: Any) -> str:
    """A conflict option's value in words (tags joined, a place as degrees)."""
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    if isinstance(value, dict) and "lat" in value:
        return f"{value['lat']:.5f}, {value['lng']:.5f}"
    return str(value)


def choices(conflict: Conflict) -> list[Choice]:
    """The answers to a conflict, in the design's order; Skip is always last."""
    options = conflict.get("options", [])
    kind = conflict["type"]
    skip = Choice("skip", "Skip (resolve later)", None)
    if kind == ConflictType.EDIT_VARIANT.value:
        return [
            Choice("separate", "Keep both as separate photos", None),
            Choice("merge", "Same photo: join them (both copies are kept)", None),
            skip,
        ]
    if kind == ConflictType.PROCESSING_FAILED.value:
        return [
            Choice("accept", "Accept: keep it as it is (the original bytes are stored)", None),
            skip,
        ]
    if kind == ConflictType.VISIBILITY_CONFLICT.value and conflict["id"].endswith(":unapproved"):
        # "approved" keeps the last level approved through photosync; "canonical" widens
        return [
            Choice(
                o["source"],
                f"Approve {o['value']} (makes it visible more widely)"
                if o["source"] == "canonical"
                else f"Keep {o['value']}, the last level approved through photosync",
                o["value"],
            )
            for o in options
        ] + [skip]
    if kind == ConflictType.VISIBILITY_CONFLICT.value:
        return [
            Choice(
                o["source"],
                f"Keep {o['value']} (narrow the others on replicate)"
                if o["source"] == "canonical"
                else f"Approve {o['value']} as on {o['source']} (makes it visible more widely)",
                o["value"],
            )
            for o in options
        ] + [skip]
    out = [Choice(o["source"], f"Use {o['source']} version", o["value"]) for o in options]
    field_name = conflict.get("field")
    if field_name in ("caption", "tags"):
        combined = combine(field_name, [o["value"] for o in options])
        if combined is not None:
            out.append(Choice("combine", f"Combine: {format_value(combined)}", combined))
    if field_name in CUSTOM_HINTS:
        out.append(Choice("custom", "Custom value", None))
    out.append(skip)
    return out


def widens(conflict: Conflict, key: str) -> bool:
    """The answer makes the photo visible more widely: confirmed before it is recorded."""
    if conflict["type"] != ConflictType.VISIBILITY_CONFLICT.value:
        return False
    if conflict["id"].endswith(":unapproved"):
        return key == "canonical"  # the level typed into the record, wider than approved
    return key not in ("canonical", "skip")


def seen_as(conflict: Conflict) -> str:
    """A short fingerprint of a conflict as a person was shown it (its kind and each
    source's value): an answer given to one version is refused on another (a record
    changed by the CLI or a ``git pull`` since the page was shown)."""
    shown = {k: conflict.get(k) for k in ("type", "id", "field", "options")}
    text = json.dumps(shown, sort_keys=True, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


def commit_decisions(archive: Archive, by: str) -> str | None:
    """One commit of the decisions written so far (the CLI's session, a web request)."""
    return archive.commit(DECISIONS_MESSAGE.format(by=by))


@dataclass(frozen=True)
class Decision:
    """A person's answer to one conflict of one photo."""

    photo_id: str
    conflict_id: str
    choice: str
    value: Any = None
    #: ``seen_as`` of the conflict the person answered (None: not shown, e.g. the CLI
    #: answering what it has just read under the lock)
    seen: str | None = None


@dataclass
class DecisionReport:
    #: (photo_id, conflict_id) written
    decided: list[tuple[str, str]] = field(default_factory=list)
    #: (photo_id, conflict_id, why) not written: gone, decided meanwhile, needs a confirmation
    refused: list[tuple[str, str, str]] = field(default_factory=list)
    commit: str | None = None


def apply_decisions(
    archive: Archive, decisions: list[Decision], *, by: str, widening_confirmed: bool
) -> DecisionReport:
    """Write a person's answers (the archive is locked) and commit them as resolve's
    interactive session does; an answer that widens visibility needs ``widening_confirmed``.

    Each conflict is read again from its record: one decided, joined away or changed
    since it was shown is refused, never overwritten.
    """
    report = DecisionReport()
    for decision in decisions:
        where = (decision.photo_id, decision.conflict_id)
        if archive.record_path(decision.photo_id) is None:
            report.refused.append((*where, "the photo is no longer in the archive"))
            continue
        if archive.is_user_changed(decision.photo_id):
            report.refused.append((*where, "the record has a change of yours not committed"))
            continue
        record = archive.load_record(decision.photo_id)
        conflict = next((c for c in record["conflicts"] if c["id"] == decision.conflict_id), None)
        if conflict is None or not needs_decision(conflict):
            report.refused.append((*where, "decided or gone since it was shown"))
            continue
        if decision.seen is not None and decision.seen != seen_as(conflict):
            report.refused.append((*where, "changed since it was shown: look at it again"))
            continue
        if decision.choice not in {c.key for c in choices(conflict)}:
            report.refused.append((*where, f"{decision.choice!r} is not an answer to it"))
            continue
        if widens(conflict, decision.choice) and not widening_confirmed:
            report.refused.append((*where, "widens who can see it: not confirmed"))
            continue
        value = decision.value
        if decision.choice == "custom" and not isinstance(value, (list, dict)):
            try:
                value = parse_custom(str(conflict["field"]), str(value or ""))
            except ValueError as error:
                report.refused.append((*where, str(error)))
                continue
        decide_in_archive(
            archive,
            decision.photo_id,
            decision.conflict_id,
            choice=decision.choice,
            value=value,
            by=by,
        )
        report.decided.append(where)
    if report.decided:
        report.commit = commit_decisions(archive, by)
    return report


def like_this(
    records: Iterator[Record] | list[Record],
    conflict: Conflict,
    choice: str,
    *,
    taken_before: int | None = None,
) -> list[Decision]:
    """What "apply to all conflicts like this" decides: every waiting conflict of the same
    kind (its id, e.g. ``metadata_mismatch:caption``) that offers the same answer (the
    same source's version, Combine, Keep both...), optionally of photos taken before a
    year. A visibility answer must also name the same level ("approve public as on
    flickr" where flickr shows public). Custom values are never repeated."""
    if choice == "custom":
        return []
    wanted = {c.key: c.value for c in choices(conflict)}
    if choice not in wanted:
        return []
    edit = ConflictType.EDIT_VARIANT.value
    kind = conflict["id"].split(":", 1)[0] if conflict["type"] == edit else conflict["id"]
    out: list[Decision] = []
    pairs: set[frozenset[str]] = set()
    for record in records:
        if taken_before is not None:
            taken = str(record["metadata"].get("taken_date") or "")
            if not taken[:4].isdigit() or int(taken[:4]) >= taken_before:
                continue
        for other in record["conflicts"]:
            if not needs_decision(other):
                continue
            other_kind = other["id"].split(":", 1)[0] if other["type"] == edit else other["id"]
            if other_kind != kind:
                continue
            offered = {c.key: c.value for c in choices(other)}
            if choice not in offered:
                continue
            if other["type"] == ConflictType.VISIBILITY_CONFLICT.value and (
                offered[choice] != wanted[choice]
            ):
                continue
            if other["type"] == ConflictType.EDIT_VARIANT.value:
                pair = frozenset((record["photo_id"], other["id"].split(":", 1)[1]))
                if pair in pairs:
                    continue  # one answer decides both sides of an edit pair
                pairs.add(pair)
            out.append(Decision(record["photo_id"], other["id"], choice))
    return out
