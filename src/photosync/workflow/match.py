"""Same photo, different bytes: find records that show one picture and join them.

Runs at the start of resolve. Every photo record with a perceptual fingerprint
becomes a ``Candidate``; the identity matcher groups them (sub-quadratic index).

- quality variants (re-encoded, resized, HEIC vs JPEG, EXIF stripped): merged
  automatically when ``quality_variants`` is in ``auto_resolve``: the best copy's
  record keeps everything, the others' instances (each with its own content
  hash, whose blob stays in the store) move into it; the emptied record file is
  removed in the same commit, so nothing is lost and git shows the move.
- edit variants (crop, rotation, filter, ``-edited`` copies): an
  ``edit_variant`` conflict on both records; a human decides "separate" or "merge".
- different photos: never touched.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, TypedDict, overload

from photosync.archive.archive import ReadRecord
from photosync.archive.preview import RecordAccess
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import PhotosyncError
from photosync.identity import (
    Candidate,
    Fingerprint,
    Match,
    MatchKind,
    classify_pair,
    find_matches,
    fingerprint_file,
)
from photosync.model import (
    Media,
    MediaFingerprint,
    Record,
    display_name,
    is_estimated_date,
    join_records,
    raise_edit_variant,
    record_relpath,
)
from photosync.workflow.progress import Progress, SilentProgress


class FingerprintFields(TypedDict, total=False):
    """The ``media`` keys fingerprinting sets (kept until resolve writes the record)."""

    fingerprint: MediaFingerprint | None
    fingerprint_note: str | None


@dataclass
class MatchReport:
    candidates: int = 0
    fingerprinted_now: int = 0
    merged: int = 0
    edit_pairs: int = 0
    #: (keeper id, keeper file name, joined id, joined file name) per quality variant merged
    joined: list[tuple[str, str, str, str]] = field(default_factory=list)
    #: photo_id -> the media fields fingerprinting set (``_kept``), not yet written:
    #: resolve's one pass over the records writes them with the rules' changes (each
    #: record once). Held for every photo of a first resolve: the candidate's own
    #: ``Fingerprint`` when that is all it set, else compact JSON; never dicts
    fingerprints: dict[str, Fingerprint | bytes] = field(default_factory=dict)
    #: photos with no fingerprint (nor a note why) whose original is not here to read
    waiting_for_blob: int = 0

    def apply(self, record: Record) -> bool:
        """Give ``record`` the fingerprint computed for it in this run; True if it had one."""
        kept = self.fingerprints.get(record["photo_id"])
        if kept is None:
            return False
        fields: FingerprintFields
        if isinstance(kept, Fingerprint):
            fields = {"fingerprint": kept.to_dict(), "fingerprint_note": None}
        else:
            fields = json.loads(kept)
        media = record["media"]
        if "fingerprint" in fields:
            media["fingerprint"] = fields["fingerprint"]
        if "fingerprint_note" in fields:
            media["fingerprint_note"] = fields["fingerprint_note"]
        return True


def _kept(media: Media, candidate: Candidate | None = None) -> Fingerprint | bytes:
    """The media fields fingerprinting set, for ``MatchReport.fingerprints`` (one per
    photo of a first resolve): the candidate's ``Fingerprint`` when they are exactly
    it and no note (no byte more than the candidate holds), else compact JSON (a
    third of the dicts' memory)."""
    found = candidate.fingerprint if candidate is not None else None
    if (
        found is not None
        and media.get("fingerprint_note", "") is None
        and media.get("fingerprint") == found.to_dict()
    ):
        return found
    fields: FingerprintFields = {}
    if "fingerprint" in media:
        fields["fingerprint"] = media["fingerprint"]
    if "fingerprint_note" in media:
        fields["fingerprint_note"] = media["fingerprint_note"]
    return json.dumps(fields, separators=(",", ":")).encode()


def _shared(value: str | None) -> str | None:
    """One string object for a value many photos repeat (a camera, a format)."""
    return sys.intern(value) if isinstance(value, str) else value


#: pixel sizes repeat across a library (a camera makes a few): one int object each, up
#: to this many distinct values (an int past 256 is a 28-byte object of its own)
_SIZES_KEPT = 4096
_sizes: dict[int, int] = {}


@overload
def _shared_size(value: int) -> int: ...
@overload
def _shared_size(value: int | None) -> int | None: ...
def _shared_size(value: int | None) -> int | None:
    if not isinstance(value, int):
        return value
    kept = _sizes.get(value)
    if kept is None:
        if len(_sizes) >= _SIZES_KEPT:
            return value
        kept = _sizes[value] = value
    return kept


def _candidate(record: Record) -> Candidate | None:
    """What matching needs of a record, held for every photo at once: shared strings and
    sizes, and no file name (no rule reads it)."""
    data = record["media"].get("fingerprint")
    if not data:
        return None
    try:
        read = Fingerprint.from_dict(data)
    except PhotosyncError:
        return None
    fingerprint = Fingerprint(
        read.phash, _shared_size(read.width), _shared_size(read.height), read.thumb
    )
    meta = record["metadata"]
    source = meta.get("taken_date_source") or ""
    return Candidate(
        key=record["photo_id"],
        fingerprint=fingerprint,
        content_hash=record["content_hash"],
        width=_shared_size(record["media"].get("width")),
        height=_shared_size(record["media"].get("height")),
        # a file time says when a copy was made, not when the photo was taken
        taken_date=meta.get("taken_date") if not is_estimated_date(source) else None,
        camera_make=_shared(meta["camera_info"].get("make")),
        camera_model=_shared(meta["camera_info"].get("model")),
        size_bytes=record["media"].get("size"),
        format=_shared(record["media"].get("format")),
    )


def ensure_fingerprint(record: Record, store: LocalBlobStore) -> bool:
    """Fingerprint a photo that has none yet, from its local blob.

    Discover leaves this to resolve by default: decoding costs more than hashing
    (see bench/bench_discover.py --fingerprints), and only resolve needs it.
    """
    media = record["media"]
    if media.get("kind") != "photo" or media.get("fingerprint") or media.get("fingerprint_note"):
        return False
    path = store.path_for(record["content_hash"])
    if not path.exists():
        return False
    try:
        found = fingerprint_file(path)
    except PhotosyncError as error:
        media["fingerprint_note"] = str(error)
        return True
    media["fingerprint"] = found.fingerprint.to_dict() if found.fingerprint else None
    media["fingerprint_note"] = found.reason
    return True


def match_variants(
    archive: RecordAccess,
    store: LocalBlobStore,
    rules: set[str],
    *,
    progress: Progress | None = None,
) -> MatchReport:
    progress = progress or SilentProgress()
    report = MatchReport()
    candidates = []

    def fingerprinted(read: ReadRecord) -> tuple[Record, bool, Candidate | None]:
        # on the reading threads: the record is read, decoded and made a candidate there
        record = read.record
        changed = ensure_fingerprint(record, store)
        return record, changed, _candidate(record)

    progress.start("match", archive.state.count_records())
    workers = os.cpu_count() or 1  # decoding is CPU work and Pillow releases the GIL
    for record, changed, candidate in archive.map_records(
        fingerprinted, workers=workers, chunk=16, name="fingerprint"
    ):
        progress.advance()
        if archive.is_user_changed(record["photo_id"]):
            continue  # the user's uncommitted edit: not written, not matched
        if changed:
            # kept, not written: the record is written once, by resolve's pass
            report.fingerprints[record["photo_id"]] = _kept(record["media"], candidate)
            report.fingerprinted_now += 1
        media = record["media"]
        if media.get("kind") == "photo" and not (
            media.get("fingerprint") or media.get("fingerprint_note")
        ):
            report.waiting_for_blob += 1
        if candidate is not None:
            candidates.append(candidate)
    progress.finish()
    report.candidates = len(candidates)
    # a record merged into another is gone: an edit pair that names it (one photo with
    # both a recompressed and an edited copy) stands for the record that took it in
    merged_into: dict[str, str] = {}

    def load(photo_id: str) -> Record:
        record = archive.load_record(photo_id)
        report.apply(record)
        return record

    for group in find_matches(candidates):
        if group.kind.automatic and group.keep and len(group.keys) > 1:
            if "quality_variants" not in rules:
                continue
            keeper = load(group.keep)
            others = [load(key) for key in group.keys if key != group.keep]
            for other in others:
                report.joined.append(
                    (
                        keeper["photo_id"],
                        display_name(keeper),
                        other["photo_id"],
                        display_name(other),
                    )
                )
                join_records(keeper, other, kind="quality_variant")
            # the survivor first, on disk, then the merged files: a kill in between
            # leaves both (recovery finishes the merge), never neither
            archive.write_record(keeper, durable=True)
            for other in others:
                archive.remove_record(other["photo_id"])
                merged_into[other["photo_id"]] = group.keep
                report.merged += 1
        elif group.kind == MatchKind.EDIT_VARIANT:
            for key_a, key_b, match in group.pairs:
                if match.kind != MatchKind.EDIT_VARIANT:
                    continue
                joined = key_a in merged_into or key_b in merged_into
                key_a, key_b = merged_into.get(key_a, key_a), merged_into.get(key_b, key_b)
                if key_a == key_b:
                    continue
                a, b = load(key_a), load(key_b)
                if joined:
                    match = _as_a_rerun_sees(a, b, match)
                reasons = "; ".join(match.reasons)
                changed = raise_edit_variant(a, b, reasons) | raise_edit_variant(b, a, reasons)
                if changed:
                    archive.write_record(a)
                    archive.write_record(b)
                    report.edit_pairs += 1
    return report


def _as_a_rerun_sees(a: Record, b: Record, match: Match) -> Match:
    """An edit pair one side of which was just joined into another record: compared as
    the records now are, in the order a pass reads them (path order), which is all a
    run killed after the join and started again can see; the question then reads the
    same either way. The pair found stands if they no longer compare as an edit."""
    first, second = sorted((a, b), key=record_relpath)
    one, other = _candidate(first), _candidate(second)
    if one is None or other is None:
        return match
    again = classify_pair(one, other)
    return again if again.kind == MatchKind.EDIT_VARIANT else match


def describe_copy(record: Record, store: LocalBlobStore) -> dict[str, Any]:
    """What a person needs to compare two versions: size, dimensions, where they are."""
    path = store.path_for(record["content_hash"])
    return {
        "photo_id": record["photo_id"],
        "filename": record["metadata"].get("filename"),
        "dimensions": f"{record['media'].get('width')}x{record['media'].get('height')}",
        "bytes": record["media"].get("size"),
        "blob": str(path) if path.exists() else None,
        "services": sorted(record["instances"]),
    }
