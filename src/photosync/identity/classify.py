"""Decide whether two copies are the same photo, and whether a machine may merge them.

Kinds, from the design's conflict rules:

* ``exact`` - same content hash.  Automatic.
* ``quality_variant`` - the same picture made smaller, recompressed, converted
  (HEIC->JPEG, PNG, WebP), EXIF stripped, or with the rotation baked into the
  pixels.  Automatic: keep the best copy (most pixels, then the camera's own
  format, then the copy with metadata, then more bytes).
* ``edit_variant`` - the same shot, changed by a person: cropped, filtered,
  rotated, ``-edited`` copies.  Needs a human.
* ``different`` - never merged.

A wrong merge loses a photo; a missed merge only keeps a duplicate.  So every
rule here can only *lower* a pair's kind when evidence disagrees: taken times
that differ beyond a timezone shift, different cameras, or a different
sub-second in the same second (burst shots, HDR on/off: pHash 4-16 apart and
visually "the same") make a pair ``different`` whatever the pixels say.
"""

from __future__ import annotations

import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from math import log

from photosync.identity.index import near_pairs
from photosync.identity.phash import Fingerprint

#: pHash distance up to which two copies can be the same picture re-encoded
QUALITY_MAX_DISTANCE = 6
#: mean colour difference of the 8x8 thumbnails (0-255) a re-encode stays under
QUALITY_MAX_THUMB = 4.0
#: largest single difference in those thumbnails: a crop moves content at the edges
QUALITY_MAX_THUMB_PEAK = 24
#: pHash distance up to which a similar picture is flagged for a human without time evidence
EDIT_NEAR_DISTANCE = 8
#: with the same capture time and camera, a crop can be this far and still be an edit
EDIT_SAME_SHOT_DISTANCE = 28
#: relative aspect-ratio tolerance (rounding of odd sizes when scaling)
ASPECT_TOLERANCE = 0.02
#: seconds two clocks of one photo may disagree (CreateDate vs DateTimeOriginal)
TIME_TOLERANCE_S = 2.0
#: timezone shifts are multiples of this (whole hours, and India/Nepal-style quarters)
TZ_STEP_S = 900
TZ_MAX_S = 26 * 3600
#: a capture second shared by more distinct pictures than this is a bulk date (scans,
#: reset clocks, "set date" on a batch): the shared time is no evidence there
TIME_BUCKET_MAX_PICTURES = 3
#: and more copies than this in one second are never compared pair by pair
TIME_BUCKET_MAX = 64
#: what a capture time is counted from, and in, to bucket it
_EPOCH = datetime(1, 1, 1)
_MICROSECOND = timedelta(microseconds=1)

#: formats cameras and phones write, best first; a conversion never goes up this ladder
_FORMAT_RANK = {
    **dict.fromkeys(("dng", "cr2", "cr3", "nef", "arw", "raf", "orf", "rw2"), 3),
    **dict.fromkeys(("heic", "heif", "avif"), 2),
    **dict.fromkeys(("jpeg", "jpg", "mpo", "tiff", "tif"), 1),
}
_CORPORATE = re.compile(
    r"\b(corporation|corp|company|co|ltd|inc|imaging|optical|electronics|digital|camera|computer)\b"
)


class MatchKind(StrEnum):
    EXACT = "exact"
    QUALITY_VARIANT = "quality_variant"
    EDIT_VARIANT = "edit_variant"
    DIFFERENT = "different"

    @property
    def automatic(self) -> bool:
        """May a machine merge the two without asking?"""
        return self in (MatchKind.EXACT, MatchKind.QUALITY_VARIANT)


@dataclass(frozen=True, slots=True)
class Candidate:
    """One copy of a photo on one service, with what identity needs to know about it.

    resolve holds one per photo of the whole library while it matches (a million at
    once): slots, no per-object dict."""

    key: str
    fingerprint: Fingerprint | None
    content_hash: str | None = None
    #: full image size; falls back to the fingerprint's when missing
    width: int | None = None
    height: int | None = None
    #: ISO 8601 as in MediaInfo.taken_date (offset optional, fraction optional)
    taken_date: str | None = None
    #: EXIF SubSecTimeOriginal digits ("016"), when not already in taken_date
    subsec: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    size_bytes: int | None = None
    format: str | None = None
    filename: str | None = None

    @property
    def pixels(self) -> int:
        if self.width and self.height:
            return self.width * self.height
        return self.fingerprint.pixels if self.fingerprint else 0


@dataclass(frozen=True)
class Match:
    kind: MatchKind
    #: pHash distance, when both had a fingerprint
    distance: int | None
    #: why, in words a user can read in a conflict prompt
    reasons: tuple[str, ...]
    #: key of the copy to keep as canonical (exact/quality_variant only)
    keep: str | None = None
    #: metadata proves two separate photos (times, sub-seconds or cameras disagree)
    contradicted: bool = False


@dataclass
class MatchGroup:
    """Copies that belong together: merged automatically, or put in front of a human."""

    kind: MatchKind
    keys: list[str]
    #: best copy (automatic groups); None for edit groups
    keep: str | None
    #: the pairs that made the group, for the conflict record
    pairs: list[tuple[str, str, Match]] = field(default_factory=list)


# --- evidence ---------------------------------------------------------------


@dataclass(frozen=True)
class _When:
    moment: datetime
    aware: bool
    subsec: str | None


def _parse_when(candidate: Candidate) -> _When | None:
    text = (candidate.taken_date or "").strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
    except ValueError:
        return None
    subsec = None
    frac = re.search(r"T\d{2}:\d{2}:\d{2}[.,](\d+)", text)
    if frac:
        subsec = frac.group(1)
    elif candidate.subsec:
        digits = re.sub(r"\D", "", candidate.subsec)
        subsec = digits or None
    return _When(moment.replace(microsecond=0), moment.tzinfo is not None, subsec)


def _time_relation(a: _When, b: _When) -> tuple[str, float]:
    """("same" | "shifted" | "conflict", seconds apart on the wall clock)."""
    if a.aware and b.aware:
        delta = (a.moment - b.moment).total_seconds()
    else:  # one side has no offset: compare wall clocks, a shift may be the offset
        delta = (a.moment.replace(tzinfo=None) - b.moment.replace(tzinfo=None)).total_seconds()
    if abs(delta) <= TIME_TOLERANCE_S:
        return "same", delta
    steps = round(delta / TZ_STEP_S)
    if abs(steps * TZ_STEP_S) <= TZ_MAX_S and abs(delta - steps * TZ_STEP_S) <= TIME_TOLERANCE_S:
        return "shifted", delta
    return "conflict", delta


def _subsec_conflict(a: _When, b: _When) -> bool:
    """Different sub-seconds within the same second: two shots (burst, HDR bracket)."""
    if a.subsec is None or b.subsec is None:
        return False
    n = min(len(a.subsec), len(b.subsec))
    return a.subsec[:n] != b.subsec[:n]


def _norm_make(make: str | None) -> str | None:
    if not make:
        return None
    words = _CORPORATE.sub(" ", re.sub(r"[^a-z0-9]+", " ", make.lower())).split()
    return words[0] if words else None


def _norm_model(model: str | None, make: str | None) -> str | None:
    if not model:
        return None
    text = re.sub(r"[^a-z0-9]+", "", model.lower())
    brand = _norm_make(make)
    if brand and text.startswith(brand) and len(text) > len(brand):
        text = text[len(brand) :]
    return text or None


def _camera_relation(a: Candidate, b: Candidate) -> str:
    """Return "same", "conflict" or "unknown" (a service may drop or reword the camera)."""
    make_a, make_b = _norm_make(a.camera_make), _norm_make(b.camera_make)
    if make_a and make_b and make_a != make_b and not (make_a in make_b or make_b in make_a):
        return "conflict"
    model_a = _norm_model(a.camera_model, a.camera_make)
    model_b = _norm_model(b.camera_model, b.camera_make)
    if model_a and model_b:
        if model_a == model_b or model_a in model_b or model_b in model_a:
            return "same"
        return "conflict"
    return "unknown"


def _aspect_gap(a: Fingerprint, b: Fingerprint) -> tuple[float, float]:
    """|log| of the aspect-ratio ratio as is, and with one side turned 90 degrees."""
    same = abs(log(a.aspect / b.aspect))
    turned = abs(log(a.aspect * b.aspect))
    return same, turned


def _format_rank(candidate: Candidate) -> int:
    fmt = (candidate.format or "").lower().lstrip(".")
    return _FORMAT_RANK.get(fmt, 0)


def quality_key(candidate: Candidate) -> tuple[int, int, int, int]:
    """Sort key, best copy last: pixels, camera format, has metadata, bytes."""
    has_meta = int(bool(candidate.taken_date) or bool(candidate.camera_model))
    return (candidate.pixels, _format_rank(candidate), has_meta, candidate.size_bytes or 0)


def best_copy(candidates: list[Candidate]) -> Candidate:
    """The copy to keep; ties go to the smallest key so the answer never depends on order."""
    return max(sorted(candidates, key=lambda c: c.key), key=quality_key)


# --- the decision -------------------------------------------------------------


def classify_pair(a: Candidate, b: Candidate) -> Match:
    """Classify two copies; symmetric in ``a`` and ``b``."""
    if a.content_hash and b.content_hash and a.content_hash == b.content_hash:
        return Match(MatchKind.EXACT, None, ("same content hash",), best_copy([a, b]).key)
    fa, fb = a.fingerprint, b.fingerprint
    if fa is None or fb is None:
        return Match(MatchKind.DIFFERENT, None, ("no perceptual fingerprint to compare",))
    distance = fa.distance(fb)
    thumb = fa.thumb_distance(fb)
    peak = fa.thumb_peak(fb)
    aspect_same, aspect_turned = _aspect_gap(fa, fb)
    reasons: list[str] = [f"pHash distance {distance}", f"colour difference {thumb:.1f}"]

    when_a, when_b = _parse_when(a), _parse_when(b)
    time_rel = "unknown"
    if when_a and when_b:
        time_rel, delta = _time_relation(when_a, when_b)
        if time_rel == "conflict":
            return Match(
                MatchKind.DIFFERENT,
                distance,
                (*reasons, f"taken {abs(delta):.0f} s apart"),
                contradicted=True,
            )
        if _subsec_conflict(when_a, when_b):
            return Match(
                MatchKind.DIFFERENT,
                distance,
                (*reasons, "same second but different sub-second: separate shots (burst/HDR)"),
                contradicted=True,
            )
        reasons.append(
            "same taken time"
            if time_rel == "same"
            else f"taken time shifted by {delta:+.0f} s (timezone)"
        )
    camera = _camera_relation(a, b)
    if camera == "conflict":
        return Match(
            MatchKind.DIFFERENT, distance, (*reasons, "different cameras"), contradicted=True
        )

    if (
        aspect_same <= ASPECT_TOLERANCE
        and distance <= QUALITY_MAX_DISTANCE
        and thumb <= QUALITY_MAX_THUMB
        and peak <= QUALITY_MAX_THUMB_PEAK
    ):
        return Match(
            MatchKind.QUALITY_VARIANT,
            distance,
            (*reasons, "same picture at another size/quality/format"),
            best_copy([a, b]).key,
        )
    if distance <= EDIT_NEAR_DISTANCE:
        why = (
            "aspect ratio changed (crop)"
            if aspect_same > ASPECT_TOLERANCE
            else "tones or detail changed (edit, filter or another shot)"
        )
        return Match(MatchKind.EDIT_VARIANT, distance, (*reasons, why))
    same_shot = (
        time_rel == "same"
        and camera != "conflict"
        and (
            camera == "same"
            or (
                when_a is not None
                and when_a.subsec is not None
                and when_b is not None
                and when_b.subsec is not None
            )
        )
    )
    if same_shot and (
        distance <= EDIT_SAME_SHOT_DISTANCE or aspect_turned <= ASPECT_TOLERANCE < aspect_same
    ):
        why = (
            "rotated by the user"
            if distance > EDIT_SAME_SHOT_DISTANCE
            else "same shot, cropped or edited"
        )
        return Match(MatchKind.EDIT_VARIANT, distance, (*reasons, why))
    return Match(MatchKind.DIFFERENT, distance, tuple(reasons))


# --- library-wide matching ------------------------------------------------------


def _time_bucket_key(c: Candidate) -> int | None:
    """Wall-clock instant (local time, to the microsecond) as a number, for same-shot
    candidates without a close pHash: a number per photo, not a string."""
    when = _parse_when(c)
    if when is None:
        return None
    return (when.moment.replace(tzinfo=None) - _EPOCH) // _MICROSECOND


def candidate_pairs(candidates: list[Candidate]) -> set[tuple[int, int]]:
    """Index pairs worth classifying: same content, close pHash, or same capture second.

    The keys are gathered in flat arrays and grouped by sorting: a million photos cost
    a few numbers each here, not a dictionary entry and a list per photo and key.
    """
    import numpy as np

    pairs: set[tuple[int, int]] = set()
    content, content_at = array("q"), array("q")  # hash() of the content hash, and whose
    phashes, phash_at = array("Q"), array("q")
    times, time_at = array("q"), array("q")
    for i, c in enumerate(candidates):
        if c.content_hash:
            content.append(hash(c.content_hash))
            content_at.append(i)
        if c.fingerprint is not None:
            phashes.append(c.fingerprint.phash)
            phash_at.append(i)
            moment = _time_bucket_key(c)
            if moment is not None:
                times.append(moment)
                time_at.append(i)
    for members in _equal_runs(content, content_at):
        same: dict[str | None, list[int]] = {}  # hash() may collide: the same digest only
        for i in members:
            same.setdefault(candidates[i].content_hash, []).append(i)
        for group in same.values():
            pairs.update(_all_pairs(group))
    found, _compared = near_pairs(np.frombuffer(phashes, dtype=np.uint64), EDIT_NEAR_DISTANCE)
    at = np.frombuffer(phash_at, dtype=np.int64)
    for i, j in zip(at[found[:, 0]].tolist(), at[found[:, 1]].tolist(), strict=True):
        pairs.add((min(i, j), max(i, j)))
    for members in _equal_runs(times, time_at):
        if len(members) <= TIME_BUCKET_MAX and _pictures_in(candidates, members) <= (
            TIME_BUCKET_MAX_PICTURES
        ):
            pairs.update(_all_pairs(members))
    return pairs


def _equal_runs(values: array[int], at: array[int]) -> Iterator[list[int]]:
    """The ``at`` entries of each value held twice or more, in the order given."""
    import numpy as np

    found = np.frombuffer(values, dtype=np.int64)
    if found.size < 2:
        return
    order = np.argsort(found, kind="stable")  # stable: each run keeps the order given
    ordered = found[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    positions = np.frombuffer(at, dtype=np.int64)[order]
    for run in np.flatnonzero(ends - starts >= 2).tolist():
        yield positions[starts[run] : ends[run]].tolist()


def _pictures_in(candidates: list[Candidate], members: list[int]) -> int:
    """How many distinct pictures (pHash clusters) share one capture second."""
    leaders: list[int] = []
    for i in members:
        fp = candidates[i].fingerprint
        assert fp is not None  # only fingerprinted candidates are time-bucketed
        if not any(
            fp.distance(lead) <= EDIT_NEAR_DISTANCE
            for lead in (candidates[j].fingerprint for j in leaders)
            if lead is not None
        ):
            leaders.append(i)
    return len(leaders)


def _all_pairs(members: list[int]) -> list[tuple[int, int]]:
    ordered = sorted(members)
    return [(x, y) for n, x in enumerate(ordered) for y in ordered[n + 1 :]]


class _Groups:
    """Union-find whose unions are vetted: no pair across two groups may be ``different``.

    Only what was joined is held (most photos stay alone): a parent for each joined
    item, a member list for each group of two or more.
    """

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.members: dict[int, list[int]] = {}

    def find(self, i: int) -> int:
        parent = self.parent
        while (up := parent.get(i, i)) != i:
            grand = parent.get(up, up)
            parent[i] = grand  # path halving
            i = grand
        return i

    def members_of(self, root: int) -> list[int]:
        return self.members.get(root) or [root]

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return
        if len(self.members_of(ra)) < len(self.members_of(rb)):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] = self.members_of(ra) + self.members.pop(rb, [rb])


def find_matches(candidates: list[Candidate]) -> list[MatchGroup]:
    """Group copies of the same photo across services.

    Returns one group per set of copies a machine may merge (kind ``exact`` or
    ``quality_variant``, with the copy to keep), then one ``edit_variant`` group
    per cluster of such sets that a human should look at.  Automatic groups are
    complete-linkage: every pair inside one is exact or quality_variant, so a
    chain of small steps can never merge two different photos.
    """
    keys = [c.key for c in candidates]
    if len(set(keys)) != len(keys):
        raise ValueError("candidate keys must be unique")
    results: dict[tuple[int, int], Match] = {}
    for i, j in candidate_pairs(candidates):
        match = classify_pair(candidates[i], candidates[j])
        if match.kind is not MatchKind.DIFFERENT:
            results[(i, j)] = match

    def pair_match(i: int, j: int) -> Match:
        key = (min(i, j), max(i, j))
        if key not in results:
            results[key] = classify_pair(candidates[key[0]], candidates[key[1]])
        return results[key]

    auto = _Groups()
    rank = {MatchKind.EXACT: 0, MatchKind.QUALITY_VARIANT: 1}
    auto_edges = sorted(
        (rank[m.kind], m.distance or 0, i, j) for (i, j), m in results.items() if m.kind.automatic
    )
    for _, _, i, j in auto_edges:
        ri, rj = auto.find(i), auto.find(j)
        if ri == rj:
            continue
        if all(
            pair_match(x, y).kind.automatic
            for x in auto.members_of(ri)
            for y in auto.members_of(rj)
        ):
            auto.union(ri, rj)

    # each group's pairs, in pair order: one pass over the pairs, not one per group
    auto_pairs: dict[int, list[tuple[str, str, Match]]] = {}
    for (i, j), m in sorted(results.items()):
        if m.kind.automatic and (root := auto.find(i)) == auto.find(j):
            auto_pairs.setdefault(root, []).append((keys[i], keys[j], m))
    groups: list[MatchGroup] = []
    for root, members in sorted(auto.members.items()):
        pairs = auto_pairs.get(root, [])
        hashes = {candidates[i].content_hash for i in members}
        kind = (
            MatchKind.EXACT
            if len(hashes) == 1 and None not in hashes
            else MatchKind.QUALITY_VARIANT
        )
        best = best_copy([candidates[i] for i in members])
        groups.append(MatchGroup(kind, sorted(keys[i] for i in members), best.key, pairs))

    # An edit link between two merged sets stands only if no member of one is proven
    # (by time, sub-second or camera) to be a separate photo from a member of the other:
    # an EXIF-stripped copy of one HDR shot must not pull the other shot into review.
    edits = _Groups()
    edit_pairs: list[tuple[int, int, Match]] = []
    for (i, j), m in sorted(results.items()):
        ri, rj = auto.find(i), auto.find(j)
        if m.kind is not MatchKind.EDIT_VARIANT or ri == rj:
            continue
        if any(
            pair_match(x, y).contradicted for x in auto.members_of(ri) for y in auto.members_of(rj)
        ):
            continue
        edits.union(ri, rj)
        edit_pairs.append((i, j, m))
    # only merged sets an edit link joined can share a cluster; by their smallest member
    clusters: dict[int, list[int]] = {}
    for root in sorted({*edits.parent, *edits.parent.values()}):
        clusters.setdefault(edits.find(root), []).append(root)
    cluster_pairs: dict[int, list[tuple[str, str, Match]]] = {}
    for i, j, m in edit_pairs:
        cluster_pairs.setdefault(edits.find(auto.find(i)), []).append((keys[i], keys[j], m))
    for cluster, roots in clusters.items():
        if len(roots) < 2:
            continue
        member_set = {m for r in roots for m in auto.members_of(r)}
        pairs = cluster_pairs.get(cluster, [])
        groups.append(
            MatchGroup(MatchKind.EDIT_VARIANT, sorted(keys[i] for i in member_set), None, pairs)
        )
    return groups
