"""The canonical photo record and the rules that hold for every record.

``model.record`` says what a record is (``Record``, ``Instance``, ``Conflict``,
``Decision``, ``Approval``, ``Problem``, ``BlobLocation``, ``VisibilityState``...,
as ``TypedDict``s of the exact shape of ``archive/schemas/photo-metadata.schema.json``)
and ``model.codec`` the one step between them and the on-disk JSON (with
``schema_version`` migrations). The functions here are the rules that must be the
same everywhere, stated once: visibility ordering and approvals, building and
upserting instances, raising and settling conflicts, adding problems, comparing
and normalising values, the hashes a record holds. No I/O anywhere in this package.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, cast

from photosync.model.codec import SCHEMA_VERSION, record_from_json, record_to_json
from photosync.model.record import (
    Approval,
    BlobLocation,
    CameraInfo,
    Conflict,
    Decision,
    Discrepancy,
    Instance,
    JsonObject,
    Location,
    Media,
    MediaFingerprint,
    Metadata,
    Observed,
    Option,
    Problem,
    Record,
    Sidecar,
    StatedValue,
    Variant,
    VisibilityState,
)

__all__ = [
    "SCHEMA_VERSION",
    "Approval",
    "BlobLocation",
    "CameraInfo",
    "Conflict",
    "Decision",
    "Discrepancy",
    "Instance",
    "JsonObject",
    "Location",
    "Media",
    "MediaFingerprint",
    "Metadata",
    "Observed",
    "Option",
    "Problem",
    "Record",
    "Sidecar",
    "StatedValue",
    "Variant",
    "VisibilityState",
    "record_from_json",
    "record_to_json",
]

# Records with no usable taken date live here instead of a fake 1970 folder.
UNDATED_FOLDER = "undated"

# Namespace for photo ids derived from the first content hash seen, so that a
# re-run after a crash creates the same record rather than a twin.
PHOTO_ID_NAMESPACE = uuid.UUID("5b0e4f1c-2f7e-4b8e-9d55-6f746f73796e")


class Visibility(StrEnum):
    PRIVATE = "private"
    FRIENDS = "friends"
    PUBLIC = "public"

    @property
    def rank(self) -> int:
        return _VISIBILITY_RANK[self]


_VISIBILITY_RANK = {Visibility.PRIVATE: 0, Visibility.FRIENDS: 1, Visibility.PUBLIC: 2}


def most_restrictive(levels: Iterable[Visibility | str]) -> Visibility:
    """Fail closed: the narrowest level seen wins; nothing seen means private."""
    ranked = [Visibility(level) for level in levels]
    if not ranked:
        return Visibility.PRIVATE
    return min(ranked, key=lambda v: v.rank)


def is_wider(candidate: Visibility | str, than: Visibility | str) -> bool:
    return Visibility(candidate).rank > Visibility(than).rank


def _level_or_private(value: Any) -> Visibility:
    """A level as written in a record; anything unreadable counts as private (fail closed)."""
    try:
        return Visibility(value)
    except ValueError:
        return Visibility.PRIVATE


#: Whether an approval was made through photosync here (``archive.seals``: its seal
#: verifies for this photo id and level); the workflow layer supplies it
ApprovalCheck = Callable[[str, Mapping[str, Any]], bool]


def trust_none(photo_id: str, approval: Mapping[str, Any]) -> bool:
    """No approval is trusted (an archive whose key is not here): everything stays private."""
    return False


def trusted_approvals(record: Record, trusted: ApprovalCheck) -> list[Approval]:
    """The approvals made through photosync here, in order; typed, copied or forged ones are left out."""
    approvals = (record.get("visibility") or {}).get("approvals") or []
    photo_id = str(record.get("photo_id", ""))
    return [a for a in approvals if isinstance(a, dict) and trusted(photo_id, a)]


def untrusted_approvals(record: Record, trusted: ApprovalCheck) -> list[Any]:
    """Approvals in the record that photosync did not make here (no valid seal)."""
    approvals = (record.get("visibility") or {}).get("approvals") or []
    photo_id = str(record.get("photo_id", ""))
    return [a for a in approvals if not (isinstance(a, dict) and trusted(photo_id, a))]


def approved_level(record: Record, trusted: ApprovalCheck) -> Visibility:
    """The widest level the user has approved for this photo: its last TRUSTED approval.

    Approvals are appended, in order, only by ``photosync visibility set/approve``
    and the resolve prompt, each sealed (a narrowing through ``visibility set`` is
    recorded too, so it outranks an older, wider approval). An approval whose seal
    does not verify for this photo and level (typed by hand, copied from another
    photo or level, made in a clone without this archive's key) counts for nothing.
    None trusted: private.
    """
    approvals = trusted_approvals(record, trusted)
    if not approvals:
        return Visibility.PRIVATE
    return _level_or_private(approvals[-1].get("level"))


def pushable_level(
    record: Record,
    service_max: Visibility | str = Visibility.PUBLIC,
    *,
    trusted: ApprovalCheck,
) -> Visibility:
    """The level a service may be asked to show this photo at: never wider than its
    canonical level, its last trusted approval or what the service can do. A canonical
    level edited by hand (or merged, or scripted) to something wider is not pushed."""
    canonical = _level_or_private((record.get("visibility") or {}).get("canonical"))
    return most_restrictive(
        [canonical, approved_level(record, trusted), _level_or_private(service_max)]
    )


def unapproved_widening(record: Record, trusted: ApprovalCheck) -> bool:
    """The canonical level is wider than the last trusted approval: a ``visibility_conflict``."""
    canonical = _level_or_private((record.get("visibility") or {}).get("canonical"))
    return is_wider(canonical, approved_level(record, trusted))


def shown_levels(record: Record) -> dict[str, str]:
    """Per service, the widest level any present copy there is seen at (``per_service``
    and each copy's own): what an audit reports, failing closed. Two copies on one
    service, one in a shared album, are seen as widely as the shared one."""
    shown: dict[str, Visibility] = {}
    copies = [
        (service, instance.get("visibility"))
        for service, instances in (record.get("instances") or {}).items()
        for instance in instances
        if instance.get("status", "present") == "present"
    ]
    said = list(((record.get("visibility") or {}).get("per_service") or {}).items())
    for service, level in [*said, *copies]:
        if not level:
            continue
        seen = _level_or_public(level)
        if service not in shown or is_wider(seen, shown[service]):
            shown[service] = seen
    return {service: level.value for service, level in sorted(shown.items())}


def _level_or_public(value: Any) -> Visibility:
    """A level a service was seen at; one that cannot be read counts as public (audit)."""
    try:
        return Visibility(value)
    except ValueError:
        return Visibility.PUBLIC


class ProcessingState(StrEnum):
    DISCOVERED = "discovered"
    RESOLVED = "resolved"
    REPLICATED = "replicated"


class ConflictType(StrEnum):
    METADATA_MISMATCH = "metadata_mismatch"
    EDIT_VARIANT = "edit_variant"
    QUALITY_VARIANT = "quality_variant"
    VISIBILITY_CONFLICT = "visibility_conflict"
    POLICY_VIOLATION = "service_policy_violation"
    PROCESSING_FAILED = "processing_failed"


#: ``taken_date_source`` prefixes of a date that is not when the photo was taken but an
#: estimate: a file's modification time ("file:mtime"), a service's upload time
#: ("service:upload"; "upload..." in records written by older versions)
ESTIMATED_DATE_PREFIXES = ("file:", "service:", "upload")


def is_estimated_date(source: str | None) -> bool:
    """A date that says when a copy was made or uploaded, not when the photo was taken."""
    return str(source or "").startswith(ESTIMATED_DATE_PREFIXES)


def date_kind(metadata: Mapping[str, Any]) -> str:
    """``taken`` (stated by the file or a service), ``estimated`` or ``none``."""
    if not metadata.get("taken_date"):
        return "none"
    return "estimated" if is_estimated_date(metadata.get("taken_date_source")) else "taken"


#: how precise a stated date is, from its ``taken_date_source`` label's suffix: Flickr
#: says "May 1985" (``flickr:datetaken(month)``, stored as ``1985-05-01``), "1985"
#: (``(year)``) or "circa 1985" (``(circa)``: within ``CIRCA_YEARS`` either side)
COARSE_PRECISIONS = ("month", "year", "circa")
CIRCA_YEARS = 5
#: a service that says it does not know when the photo was taken (Flickr's
#: ``datetakenunknown``): no date, and its upload time is not used as one
UNKNOWN_DATE_SUFFIX = "(unknown)"


def date_precision(source: str | None) -> str | None:
    """``month``, ``year`` or ``circa`` for a coarse date's label; None for a precise one."""
    text = str(source or "")
    for precision in COARSE_PRECISIONS:
        if text.endswith(f"({precision})"):
            return precision
    return None


def coarse_date_covers(coarse: str, precision: str, other: str) -> bool:
    """Is ``other`` (a precise date) within the period a coarse date states?"""
    if len(coarse) < 4 or len(other) < 4 or not (coarse[:4].isdigit() and other[:4].isdigit()):
        return False
    if precision == "month":
        return other[:7] == coarse[:7]
    if precision == "year":
        return other[:4] == coarse[:4]
    return abs(int(other[:4]) - int(coarse[:4])) <= CIRCA_YEARS


def weak_metadata_date(metadata: Mapping[str, Any]) -> bool:
    """A record's date that a stated, precise date of any copy replaces: none, an
    estimate (file or upload time) or a coarse one (a month, a year, circa)."""
    return (
        not metadata.get("taken_date")
        or is_estimated_date(metadata.get("taken_date_source"))
        or date_precision(metadata.get("taken_date_source")) is not None
    )


#: labels of what a file itself says (its EXIF, XMP, IPTC, QuickTime, sidecar, name or
#: times), as opposed to what a service states about it (``google-takeout:...``)
FILE_STATEMENTS = (
    "exif",
    "xmp",
    "iptc",
    "quicktime",
    "qt",
    "png",
    "tiff",
    "mp4",
    "riff",
    "sidecar",
    "exiftool",
    "file",
    "filename",
)


def stated_by_file(tag: str | None) -> bool:
    """Is this source label something the file's own bytes (or name, or times) say?"""
    head = str(tag or "").split(":", 1)[0].split("(", 1)[0]
    return head in FILE_STATEMENTS


def preference_matches(
    preference: str, *, label: str, service: str, tag: str | None, split: bool
) -> bool:
    """Does a ``prefer:`` entry name this option of a ``metadata_mismatch``?

    ``label`` is the option's source (``flickr``, ``google-photos:exif:DateTimeOriginal``),
    ``service`` the service of the copy, ``tag`` what stated the value, ``split`` that
    the option is one of a copy's own sources (its file and its service disagree). A
    service's name matches what that service states (a copy as a whole, or its own
    fields), never what the file's bytes say on it; ``file`` matches every file
    statement; a label or a statement's label (``google-takeout:geoData``, ``exif``)
    matches itself.
    """
    if preference in (label, tag) or str(tag or "").startswith(preference + ":"):
        return True
    if preference == "file":
        return tag is not None and stated_by_file(tag)
    if preference != service:
        return False
    return not (split and stated_by_file(tag))


# Fields of ``metadata`` that instances may disagree on.
COMPARABLE_FIELDS = ("caption", "tags", "taken_date", "location")


#: two places closer than this (degrees, about 50 m) are one place when values are compared
LOCATION_TOLERANCE_DEG = 0.0005


def tag_key(tag: Any) -> str:
    """A tag as services compare tags: case and whitespace folded ("New York" is
    Flickr's "newyork")."""
    return "".join(str(tag).split()).lower()


def comparable(field_name: str, value: Any) -> Any:
    """The one form in which two values of a ``metadata`` field are compared (do two
    copies disagree? does a service's copy show the canonical value yet?); None
    when the value says nothing."""
    if value in (None, "", [], {}):
        return None
    if field_name == "caption":
        text = " ".join(str(value).split())
        return text or None
    if field_name == "tags":
        return tuple(sorted({tag_key(t) for t in value if tag_key(t)})) or None
    if field_name == "taken_date":
        return str(value)[:19]  # wall-clock time; offsets are told differently by services
    if field_name == "location":
        return (
            round(float(value["lat"]) / LOCATION_TOLERANCE_DEG),
            round(float(value["lng"]) / LOCATION_TOLERANCE_DEG),
        )
    return value


def weak_date(observed: Mapping[str, Any]) -> bool:
    """A file's or upload's time: what a copy says when it knows no taken date."""
    return is_estimated_date(observed.get("taken_date_source"))


#: sources of one instance that state times more than this apart disagree (after offsets)
DATE_TOLERANCE_S = 60
#: ... and places farther apart than this
PLACE_TOLERANCE_M = 100.0


def _instant(value: str) -> tuple[datetime, bool] | None:
    """(time, has an offset) of an ISO date; a naive one is its wall clock."""
    text = value.replace("Z", "+00:00")
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when, when.tzinfo is not None


def find_offset(wall_clock: str, instant: str) -> str | None:
    """The UTC offset (``+01:00``) that makes a naive wall-clock time the stated instant.

    None when the two cannot be one moment: no whole quarter-hour offset within
    ±14 h puts them within ``DATE_TOLERANCE_S`` of each other (a date edited in a
    service, not a time zone).
    """
    wall, utc = _instant(wall_clock), _instant(instant)
    if wall is None or utc is None or wall[1] or not utc[1] or len(wall_clock) < 16:
        return None
    delta = (wall[0] - utc[0].astimezone(UTC).replace(tzinfo=None)).total_seconds()
    quarters = round(delta / 900)
    if abs(quarters) > 14 * 4 or abs(delta - quarters * 900) > DATE_TOLERANCE_S:
        return None
    minutes = abs(quarters) * 15
    return f"{'+' if quarters >= 0 else '-'}{minutes // 60:02d}:{minutes % 60:02d}"


def dates_agree(a: str, b: str) -> bool:
    """Do two sources state one moment (within ``DATE_TOLERANCE_S``, offsets resolved)?

    A naive wall clock agrees with an instant when some time zone makes them one;
    a day alone agrees with any time on that day.
    """
    if len(a) < 16 or len(b) < 16:
        return a[:10] == b[:10]
    first, second = _instant(a), _instant(b)
    if first is None or second is None:
        return a == b
    if first[1] and second[1]:
        return abs((first[0] - second[0]).total_seconds()) <= DATE_TOLERANCE_S
    if not first[1] and not second[1]:
        return abs((first[0] - second[0]).total_seconds()) <= DATE_TOLERANCE_S
    naive, aware = (a, b) if not first[1] else (b, a)
    return find_offset(naive, aware) is not None


def places_agree(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Within ``PLACE_TOLERANCE_M`` of each other (haversine)."""
    lat1, lng1 = math.radians(float(a["lat"])), math.radians(float(a["lng"]))
    lat2, lng2 = math.radians(float(b["lat"])), math.radians(float(b["lng"]))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6_371_000 * math.asin(min(1.0, math.sqrt(h))) <= PLACE_TOLERANCE_M


def sources_disagree(sources: Iterable[StatedValue]) -> list[str]:
    """Fields on which an instance's own sources disagree in a way that matters:
    a date more than a minute apart, a place more than ~100 m, a different caption."""
    by_field: dict[str, list[Any]] = {}
    for entry in sources:
        if entry.get("value") not in (None, "", [], {}):
            by_field.setdefault(str(entry.get("field")), []).append(entry["value"])
    out = []
    for name, values in sorted(by_field.items()):
        pairs = [(x, y) for i, x in enumerate(values) for y in values[i + 1 :]]
        if name == "taken_date":
            differ = any(not dates_agree(str(x), str(y)) for x, y in pairs)
        elif name == "location":
            differ = any(not places_agree(x, y) for x, y in pairs)
        elif name == "caption":
            differ = len({" ".join(str(v).split()) for v in values}) > 1
        else:
            differ = False
        if differ:
            out.append(name)
    return out


def fields_by_name(values: Metadata | Observed) -> dict[str, Any]:
    """``metadata`` or ``observed`` read and written by a field name held in a variable
    (``COMPARABLE_FIELDS``, a conflict's ``field``): the same object, keyed by str."""
    return cast(dict[str, Any], values)


def utc_now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def photo_id_for(content_hash: str) -> str:
    return str(uuid.uuid5(PHOTO_ID_NAMESPACE, content_hash))


def record_relpath(record: Record) -> str:
    """Where a record lives in the archive: ``photos/YYYY/MM/<uuid>.json``."""
    taken = record["metadata"].get("taken_date")
    folder = UNDATED_FOLDER
    if taken and len(taken) >= 7 and taken[:4].isdigit() and taken[5:7].isdigit():
        folder = f"{taken[:4]}/{taken[5:7]}"
    return f"photos/{folder}/{record['photo_id']}.json"


@dataclass
class ObservedMetadata:
    """What one instance (a file, a service item) says about the photo."""

    taken_date: str | None = None
    taken_date_source: str | None = None
    filename: str | None = None
    location: Location | None = None
    tags: list[str] = field(default_factory=list)
    caption: str | None = None
    title: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    #: album titles the photo belongs to there; None when the service did not say
    albums: list[str] | None = None
    #: every value each source of this instance stated, kept even when another won:
    #: ``{"source": "google-takeout:photoTakenTime", "field": "taken_date", "value": ...}``
    sources: list[StatedValue] = field(default_factory=list)
    #: fields whose sources disagree beyond the tolerances (``sources_disagree``):
    #: resolve asks about each with every source's value
    disagree: list[str] = field(default_factory=list)

    def to_json(self) -> Observed:
        out: Observed = {
            "taken_date": self.taken_date,
            "taken_date_source": self.taken_date_source,
            "filename": self.filename,
            "location": self.location,
            "tags": sorted(set(self.tags)),
            "caption": self.caption,
            "title": self.title,
            "camera_info": {"make": self.camera_make, "model": self.camera_model},
        }
        if self.albums is not None:
            out["albums"] = sorted({title for title in self.albums if title})
        if self.sources:
            out["sources"] = self.sources
        if self.disagree:
            out["disagree"] = sorted(set(self.disagree))
        return out


def new_record(
    *,
    content_hash: str,
    size: int,
    media: Mapping[str, Any],
    canonical_source: str,
    source_of_truth_path: str | None,
    now: str | None = None,
) -> Record:
    """A fresh record: private, discovered, no instances yet."""
    now = now or utc_now()
    return {
        "schema_version": SCHEMA_VERSION,
        "photo_id": photo_id_for(content_hash),
        "content_hash": content_hash,
        "canonical_source": canonical_source,
        "source_of_truth_path": source_of_truth_path,
        "blob_locations": [],
        "media": cast(Media, {"size": size, **media}),
        "instances": {},
        "metadata": {
            "taken_date": None,
            "taken_date_source": None,
            "filename": None,
            "location": None,
            "tags": [],
            "caption": None,
            "camera_info": {"make": None, "model": None},
        },
        "visibility": {
            "canonical": Visibility.PRIVATE.value,
            "per_service": {},
            "discrepancies": [],
            "approvals": [],
        },
        "processing_state": ProcessingState.DISCOVERED.value,
        "conflicts": [],
        "problems": [],
        "created_at": now,
        "updated_at": now,
    }


def iter_instances(record: Record) -> Iterator[tuple[str, Instance]]:
    for service, instances in sorted(record["instances"].items()):
        for instance in instances:
            yield service, instance


#: a ``variants`` link's role when resolve joined that record into this one (its instances
#: carrying ``content_hash`` H came with the join): ``"merged: " + H``
JOIN_ROLE_PREFIX = "merged: "


def join_link(photo_id: str, kind: str, content_hash: str) -> Variant:
    """The ``variants`` entry saying record ``photo_id`` (bytes ``content_hash``) was joined in."""
    return {"photo_id": photo_id, "kind": kind, "role": f"{JOIN_ROLE_PREFIX}{content_hash}"}


def joined_hashes(variants: Iterable[Variant]) -> set[str]:
    """The content hashes of the records these ``variants`` links say were joined in."""
    return {
        str(v.get("role"))[len(JOIN_ROLE_PREFIX) :]
        for v in variants
        if str(v.get("role") or "").startswith(JOIN_ROLE_PREFIX)
    }


def find_instance(record: Record, service: str, instance_id: str) -> Instance | None:
    for instance in record["instances"].get(service, []):
        if instance["id"] == instance_id:
            return instance
    return None


def needs_decision(conflict: Conflict) -> bool:
    """Open or skipped: a question still waiting for a human (a skip only postpones it)."""
    return bool(conflict["resolution_required"]) and conflict["status"] in ("open", "skipped")


_TAKEN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$")


def parse_custom(field_name: str, text: str) -> Any:
    """A value a person typed for a field, in the record's shape; ValueError when it is not one.

    caption: the text; tags: comma-separated; taken_date: ``YYYY-MM-DD[ HH:MM[:SS]]``
    (an offset like ``+02:00`` may follow); location: ``lat, lng`` in degrees.
    """
    text = text.strip()
    if field_name == "tags":
        return sorted({t.strip() for t in text.split(",") if t.strip()})
    if field_name == "taken_date":
        value = text.replace(" ", "T", 1)
        if not _TAKEN_DATE.match(value):
            raise ValueError("a date is YYYY-MM-DD, optionally with HH:MM[:SS]")
        datetime.fromisoformat(value.replace("Z", "+00:00"))  # a real day and time
        return value
    if field_name == "location":
        parts = [p for p in re.split(r"[,\s]+", text) if p]
        if len(parts) != 2:
            raise ValueError("a location is latitude, longitude in degrees: 48.1375, 11.5755")
        lat, lng = float(parts[0]), float(parts[1])
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ValueError("latitude is -90..90 and longitude -180..180")
        return {"lat": lat, "lng": lng}
    if not text:
        raise ValueError("an empty value says nothing")
    return text


def waiting_reasons(record: Record) -> list[str]:
    """Why a photo is not replicated yet: its undecided conflicts, or resolve not run."""
    reasons = [
        f"{conflict['status']}: {conflict['description']}"
        for conflict in record["conflicts"]
        if needs_decision(conflict)
    ]
    return reasons or ["not examined by `photosync resolve` yet"]


def name_made_up(instance: Instance) -> bool:
    """A file name the service made up because it keeps none (Flickr: ``<id>.<ext>`` in
    older records, ``<title>.<format>`` now): shown only when no copy had a real name."""
    name = str((instance.get("observed") or {}).get("filename") or "")
    return (
        name.rsplit(".", 1)[0] == str(instance.get("id"))
        or (instance.get("extra") or {}).get("name_from") == "title"
    )


def display_name(record: Record) -> str:
    """The file's real name for people: a name some copy was really called.

    Services that keep no file name (Flickr) get a name from the title (or the id)
    and the original's format; a name from a folder, a Takeout or an export is
    preferred to it, and a title's name to a bare id.
    """
    real: list[str] = []
    titled: list[str] = []
    for _service, instance in iter_instances(record):
        name = (instance.get("observed") or {}).get("filename")
        if not name:
            continue
        if not name_made_up(instance):
            real.append(str(name))
        elif str(name).rsplit(".", 1)[0] != str(instance.get("id")):
            titled.append(str(name))
    recorded = record["metadata"].get("filename")
    for names in (real, titled):
        if recorded and recorded in names:
            return str(recorded)
        if names:
            return names[0]
    return str(recorded or record["photo_id"])


def upgrade_made_up_name(record: Record, previous: Instance | None, instance: Instance) -> bool:
    """A record named after a service's made-up ``<id>.<ext>`` (Flickr, before names came
    from titles) takes the name the same instance has now. Nothing is lost: the id stays
    the instance's id, and the made-up name was never a file's. True when it changed."""
    if previous is None or not (previous.get("observed") or {}).get("filename"):
        return False
    old = str(previous["observed"]["filename"])
    new = (instance.get("observed") or {}).get("filename")
    if (
        not new
        or new == old
        or record["metadata"].get("filename") != old
        or old.rsplit(".", 1)[0] != str(previous.get("id"))
    ):
        return False
    record["metadata"]["filename"] = new
    return True


#: what photosync itself wrote into a service instance's ``extra`` (who uploaded it,
#: which albums it was added to); a fresh listing of the service keeps them
PHOTOSYNC_MARKS = ("uploaded_by", "photosync_albums")


def album_titles(record: Record) -> list[str]:
    """The canonical album membership (older records have none)."""
    return list(record["metadata"].get("albums") or [])


def merge_album_titles(record: Record, instance: Instance | None = None) -> bool:
    """Canonical albums = union of what every active instance says; membership is only
    ever added automatically (an album left on one service is not a removal elsewhere).

    With ``instance`` (one copy just added), only that copy is looked at: every write
    went through here, so the others are in already, and a photo with thousands of
    copies costs one step per copy.
    """
    titles = set(album_titles(record))
    added = [instance] if instance is not None else [i for _s, i in iter_instances(record)]
    for one in added:
        if one.get("status") != "superseded":
            titles.update((one.get("observed") or {}).get("albums") or ())
    merged = sorted(titles)
    if merged == album_titles(record) and ("albums" in record["metadata"] or not merged):
        return False
    record["metadata"]["albums"] = merged
    return True


def upsert_instance(record: Record, service: str, instance: Instance) -> bool:
    """Add or refresh one service instance; True when the record changed.

    ``last_sync`` alone never counts as a change, so that re-discovering an
    unchanged item leaves git untouched.
    """
    instances = record["instances"].setdefault(service, [])
    for position, existing in enumerate(instances):
        if existing["id"] == instance["id"]:
            marks = {
                key: value
                for key, value in (existing.get("extra") or {}).items()
                if key in PHOTOSYNC_MARKS and value
            }
            if marks:  # photosync's own marks survive the service's view of the item
                instance = {**instance, "extra": {**(instance.get("extra") or {}), **marks}}
            if _without_sync_time(existing) == _without_sync_time(instance):
                return False
            instances[position] = instance
            return True
    instances.append(instance)
    instances.sort(key=lambda item: item["id"])
    return True


def aliased_instance(
    record: Record, service: str, instance_id: str, aliases: tuple[str, ...]
) -> tuple[Instance, bool] | None:
    """An active instance of the same service item recorded under another id.

    Returns the instance and True when the new id is the better one (the old id is
    one of its aliases), False when the recorded instance already is (it names the
    new id among its aliases).
    """
    for instance in record["instances"].get(service, []):
        if instance["id"] == instance_id or instance.get("status") == "superseded":
            continue
        if instance["id"] in aliases:
            return instance, True
        if instance_id in (instance.get("extra") or {}).get("aliases", ()):
            return instance, False
    return None


def _without_sync_time(instance: Instance) -> dict[str, Any]:
    return {key: value for key, value in instance.items() if key != "last_sync"}


def add_problem(record: Record, code: str, message: str, service: str | None = None) -> bool:
    problem: Problem = {"code": code, "message": message, "service": service}
    if problem in record["problems"]:
        return False
    record["problems"].append(problem)
    return True


#: problem code of an upload a target service refused for good (file type, size):
#: replicate does not try that target again until ``--retry-failed``
REFUSED_PROBLEM = "refused_by_service"


def refused_by(record: Record, service: str) -> bool:
    """Has ``service`` refused this photo for good (so replicate leaves it alone)?"""
    return any(
        p.get("code") == REFUSED_PROBLEM and p.get("service") == service for p in record["problems"]
    )


def clear_refusal(record: Record, service: str) -> bool:
    """The service took the photo after all: its refusal is no longer a problem."""
    kept = [
        p
        for p in record["problems"]
        if not (p.get("code") == REFUSED_PROBLEM and p.get("service") == service)
    ]
    changed = len(kept) != len(record["problems"])
    record["problems"] = kept
    return changed


SELECTOR_FORMS = "a year (2023), a month (2023-05), album:TITLE, undated, or a photo id (or its first 8+ characters)"


def parse_selector(selector: str) -> tuple[str, str]:
    """``--only``'s forms as (kind, value), kind one of year, month, album, undated, id;
    ValueError for a selector that can match nothing by its form (a 13th month, a word)."""
    if selector == UNDATED_FOLDER:
        return "undated", ""
    if re.fullmatch(r"\d{4}", selector):
        return "year", selector
    if re.fullmatch(r"\d{4}-\d{2}", selector):
        if not 1 <= int(selector[5:]) <= 12:
            raise ValueError(f"--only {selector}: there is no month {selector[5:]}")
        return "month", selector
    if selector.startswith("album:") and selector.removeprefix("album:"):
        return "album", selector.removeprefix("album:")
    if re.fullmatch(r"[0-9a-fA-F-]{8,36}", selector):
        return "id", selector.lower()
    raise ValueError(f"--only {selector!r} is not a selector")


def matches_selector(record: Record, selector: str) -> bool:
    """``--only`` of restore and export: see ``SELECTOR_FORMS``; a malformed selector
    matches nothing (``selector_mistakes`` reports it)."""
    try:
        kind, value = parse_selector(selector)
    except ValueError:
        return False
    taken = str(record["metadata"].get("taken_date") or "")
    if kind == "undated":
        return not taken
    if kind in ("year", "month"):
        return taken[: len(value)] == value
    if kind == "album":
        return value in album_titles(record)
    return str(record["photo_id"]).startswith(value)


def selector_mistakes(records: Iterable[Record], selectors: Iterable[str]) -> list[str]:
    """Why each of ``selectors`` is a mistake: a malformed one, a photo id or an album no
    photo has (a year, month or ``undated`` with no photo is just an empty part)."""
    wanted = list(selectors)
    mistakes: list[str] = []
    parsed: dict[str, tuple[str, str]] = {}
    for selector in wanted:
        try:
            parsed[selector] = parse_selector(selector)
        except ValueError as error:
            mistakes.append(str(error))
    pending = {s for s, (kind, _) in parsed.items() if kind in ("id", "album")}
    if not pending:
        return mistakes
    albums: set[str] = set()
    for record in records:
        albums.update(album_titles(record))
        pending = {s for s in pending if not matches_selector(record, s)}
    for selector in sorted(pending):
        kind, value = parsed[selector]
        if kind == "id":
            mistakes.append(f"no photo with id {value}")
        else:
            known = sorted(albums)
            shown = ", ".join(known[:10]) + (
                f" and {len(known) - 10} more" if len(known) > 10 else ""
            )
            mistakes.append(
                f"no photo is in album {value!r}; "
                + (f"albums: {shown}" if known else "no photo is in any album")
            )
    return mistakes


# the hashes a record holds ---------------------------------------------------------------

_HEX_DIGEST = re.compile(r"^[0-9a-f]{64}$")


def bare_digest(digest: str) -> str:
    """``sha256:<hex>`` or ``<hex>`` as the bare lowercase hex; ValueError for anything else."""
    bare = digest.removeprefix("sha256:").lower()
    if not _HEX_DIGEST.match(bare):
        raise ValueError(f"not a SHA-256 digest: {digest!r}")
    return bare


def record_hashes(record: Record) -> list[str]:
    """Every content hash that identifies this record (its own and its instances')."""
    hashes = {record["content_hash"]}
    for _service, instance in iter_instances(record):
        if instance_hash := instance.get("content_hash"):
            hashes.add(instance_hash)
    return sorted(hashes)


def record_sidecars(record: Record) -> dict[str, int | None]:
    """Every sidecar blob a record's instances hold (``instance.sidecars``) -> its size.

    Preserved data like originals (copied, verified, restored), but not an identity
    of the record: two photos may carry byte-identical sidecars.
    """
    out: dict[str, int | None] = {}
    for _service, instance in iter_instances(record):
        for sidecar in instance.get("sidecars") or []:
            value = sidecar.get("content_hash") if isinstance(sidecar, dict) else None
            if isinstance(value, str):
                size = sidecar.get("size")
                out[value] = size if isinstance(size, int) else None
    return out


def record_originals(record: Record) -> dict[str, int | None]:
    """Every original a record holds (bare digest) -> its size when the record says it.

    Its own ``content_hash`` (size in ``media.size``) and every instance's: copies
    that resolve joined in are originals too, kept and copied like the record's
    own. Their size is not in the record; the primary store's listing says it.
    Sidecar files that came with an instance (``record_sidecars``) too.
    """
    own = bare_digest(record["content_hash"])
    out: dict[str, int | None] = {bare_digest(value): None for value in record_hashes(record)}
    for value, size in record_sidecars(record).items():  # sidecars are kept like originals
        out.setdefault(bare_digest(value), size)
    out[own] = int(record["media"]["size"])
    return out


# where the original is -----------------------------------------------------------------

#: problem code of a record whose original is not where it should be
BLOB_MISSING_PROBLEM = "blob_missing"


def update_blob_locations(
    record: Record,
    verified: Mapping[str, str],
    lost: Iterable[str] = (),
    *,
    primary: str | None = None,
    now: str | None = None,
) -> bool:
    """Make ``blob_locations`` say where the original is; True when the record changed.

    ``verified`` maps location name -> locator for copies just confirmed;
    ``lost`` names locations just found without a good copy. Locations in
    neither (unreachable, not checked) keep their entry as it was. The primary
    location verified: the record's ``source_of_truth_path`` when it had none,
    and its ``blob_missing`` problem is over.
    """
    now = now or utc_now()
    lost_set = set(lost) - set(verified)
    current = {loc["store"]: loc for loc in record.get("blob_locations", [])}
    updated = {name: loc for name, loc in current.items() if name not in lost_set}
    for name, locator in verified.items():
        entry = updated.get(name)
        if entry is None or entry.get("locator") != locator:
            updated[name] = {"store": name, "locator": locator, "verified_at": now}
    new_list = [updated[name] for name in sorted(updated)]
    changed = new_list != record.get("blob_locations")
    record["blob_locations"] = new_list
    if primary is not None and primary in verified:
        if record.get("source_of_truth_path") is None:
            record["source_of_truth_path"] = verified[primary]
            changed = True
        stale = [p for p in record.get("problems", []) if p.get("code") == BLOB_MISSING_PROBLEM]
        if stale:
            record["problems"] = [
                p for p in record["problems"] if p.get("code") != BLOB_MISSING_PROBLEM
            ]
            changed = True
    return changed


def add_blob_location(record: Record, store: str, locator: str, now: str | None = None) -> bool:
    """A location now holds the original (a location named already keeps its entry)."""
    if any(loc["store"] == store for loc in record["blob_locations"]):
        return False
    record["blob_locations"].append(
        {"store": store, "locator": locator, "verified_at": now or utc_now()}
    )
    record["blob_locations"].sort(key=lambda loc: loc["store"])
    return True


def note_blob_missing(record: Record, message: str) -> bool:
    """The original is not where it should be: one ``blob_missing`` problem says so."""
    if any(p.get("code") == BLOB_MISSING_PROBLEM for p in record["problems"]):
        return False
    return add_problem(record, BLOB_MISSING_PROBLEM, message)


# questions ------------------------------------------------------------------------------


def new_decision(
    choice: str, value: Any, *, by: str, rule: str | None = None, now: str | None = None
) -> Decision:
    """A conflict's ``resolution``: what was chosen, by whom, when, under which rule
    (None: a person's own decision)."""
    return {"choice": choice, "value": value, "by": by, "at": now or utc_now(), "rule": rule}


def settle_field(
    record: Record, field_name: str, value: Any, *, date_source: str | None = None
) -> None:
    """The record's ``metadata`` takes a decided value; a date takes the label of what
    stated it (``taken_date_source``) when there is one."""
    fields_by_name(record["metadata"])[field_name] = value
    if field_name == "taken_date" and date_source:
        record["metadata"]["taken_date_source"] = date_source


def new_conflict(
    conflict_id: str,
    kind: ConflictType | str,
    description: str,
    services: Iterable[str],
    options: Iterable[tuple[str, Any]],
    *,
    field_name: str | None = None,
) -> Conflict:
    """An open question as photosync writes one (every key in its place)."""
    return {
        "id": conflict_id,
        "type": str(kind),
        "field": field_name,
        "description": description,
        "services": list(services),
        "resolution_required": True,
        "status": "open",
        "options": [{"source": source, "value": value} for source, value in options],
        "resolution": None,
    }


def raise_conflict(record: Record, conflict: Conflict) -> None:
    """Ask ``conflict`` on the record (conflicts are kept in id order)."""
    record["conflicts"].append(conflict)
    record["conflicts"].sort(key=lambda c: c["id"])


def raise_edit_variant(record: Record, other: Record, reasons: str) -> bool:
    """``record`` and ``other`` look like one picture edited: link them and ask (once)
    whether to keep both or join them; True when the record changed."""
    conflict_id = f"{ConflictType.EDIT_VARIANT.value}:{other['photo_id']}"
    if any(c["id"] == conflict_id for c in record["conflicts"]):
        return False
    variants = record.setdefault("variants", [])
    if not any(v["photo_id"] == other["photo_id"] for v in variants):
        variants.append({"photo_id": other["photo_id"], "kind": "edit_variant", "role": None})
    name = other["metadata"].get("filename") or other["photo_id"]
    raise_conflict(
        record,
        new_conflict(
            conflict_id,
            ConflictType.EDIT_VARIANT,
            f"looks like an edited version of {name} ({reasons})",
            sorted(set(record["instances"]) | set(other["instances"])),
            [
                ("separate", "keep both as separate photos"),
                ("merge", f"same photo: join with {other['photo_id']}"),
            ],
        ),
    )
    record["processing_state"] = ProcessingState.DISCOVERED.value
    return True


def join_records(keeper: Record, other: Record, *, kind: str) -> None:
    """Move everything ``other`` knows into ``keeper`` (resolve joins two records of
    one photo); nothing is dropped. Its instances keep their own ``content_hash``,
    visibility joins failing closed, metadata fills only what ``keeper`` lacks, and
    a ``variants`` link (``join_link``) says what was joined."""
    for service, instances in other["instances"].items():
        mine = keeper["instances"].setdefault(service, [])
        known = {(i["id"], i.get("content_hash")) for i in mine}
        for instance in instances:
            instance = instance.copy()
            instance.setdefault("content_hash", other["content_hash"])
            if (instance["id"], instance.get("content_hash")) not in known:
                mine.append(instance)
        mine.sort(key=lambda i: (i["id"], i.get("content_hash") or ""))
    other_albums = other["metadata"].get("albums") or []
    if other_albums or "albums" in keeper["metadata"]:
        keeper["metadata"]["albums"] = sorted(set(album_titles(keeper)) | set(other_albums))
    for problem in other["problems"]:
        if problem not in keeper["problems"]:
            keeper["problems"].append(problem)
    vis, other_vis = keeper["visibility"], other["visibility"]
    for service, level in other_vis["per_service"].items():
        current = vis["per_service"].get(service)
        vis["per_service"][service] = most_restrictive(
            [level, current] if current else [level]
        ).value
    vis["canonical"] = most_restrictive([vis["canonical"], other_vis["canonical"]]).value
    for field_name in ("taken_date", "taken_date_source", "location", "caption", "title"):
        if keeper["metadata"].get(field_name) in (None, "") and other["metadata"].get(
            field_name
        ) not in (None, ""):
            keeper["metadata"][field_name] = other["metadata"][field_name]
    variants = keeper.setdefault("variants", [])
    variants.append(join_link(other["photo_id"], kind, other["content_hash"]))
    variants.extend(v for v in other.get("variants", []) if v["photo_id"] != keeper["photo_id"])
    keeper["processing_state"] = ProcessingState.DISCOVERED.value


# instances as discover records them ----------------------------------------------------


def new_instance(
    instance_id: str,
    *,
    quality: str,
    content_hash: str,
    observed: Observed,
    url: str | None = None,
    version: str | None = None,
    visibility: str | None = None,
    visibility_raw: Any = None,
    extra: Mapping[str, Any] | None = None,
    aliases: Iterable[str] = (),
    sidecars: list[Sidecar] | None = None,
    now: str | None = None,
) -> Instance:
    """One copy as seen now (present); ``aliases`` (other ids of the same item) go
    into ``extra``, ``sidecars`` (stored blobs) beside it."""
    instance: Instance = {
        "id": instance_id,
        "quality": quality,
        "last_sync": now or utc_now(),
        "url": url,
        "version": version,
        "content_hash": content_hash,
        "visibility": visibility,
        "visibility_raw": visibility_raw,
        "observed": observed,
        "status": "present",
    }
    names = list(aliases)
    if extra or names:
        instance["extra"] = dict(extra or {})
    if names:
        instance["extra"]["aliases"] = names
    if sidecars:
        instance["sidecars"] = sidecars
    return instance


#: what a record's ``metadata`` takes from the first copy that made it
FIRST_COPY_FIELDS = (
    "taken_date",
    "taken_date_source",
    "filename",
    "location",
    "tags",
    "caption",
    "camera_info",
)


def start_record(record: Record, service: str, instance: Instance) -> None:
    """A new record's first copy: its metadata is what that copy says."""
    observed = instance["observed"]
    metadata = fields_by_name(record["metadata"])
    stated = fields_by_name(observed)
    for key in FIRST_COPY_FIELDS:
        metadata[key] = stated[key]
    if observed.get("title"):
        metadata["title"] = observed["title"]
    record["instances"][service] = [instance]
    merge_album_titles(record)


def supersede_instance(instance: Instance, why: str, value: str) -> None:
    """A copy no longer current (its bytes changed, it has a better id) stays in the
    record, marked: ``extra[why]`` says what replaced it. Never deleted."""
    instance["status"] = "superseded"
    instance.setdefault("extra", {})[why] = value


def carry_known(record: Record, service: str, instance: Instance, *, widest: bool = False) -> None:
    """What the recorded copy knew and a new observation of it does not say is kept:
    its albums (an incremental listing does not say), its visibility (a listing that
    cannot say who sees it, a Takeout's album metadata in a part not given: a share
    once seen is not forgotten), its sidecars edited since (never lose a blob). With
    ``widest`` (an export, read in any order: a second Takeout), a narrower level does
    not replace a wider one either: the audit shows the widest level seen."""
    previous = find_instance(record, service, instance["id"])
    if previous is None:
        return
    observed = instance["observed"]
    if "albums" not in observed and "albums" in (previous.get("observed") or {}):
        observed["albums"] = previous["observed"]["albums"]
    level, known = instance.get("visibility"), previous.get("visibility")
    if known is not None and (level is None or (widest and is_wider(known, level))):
        instance["visibility"] = known
        instance["visibility_raw"] = previous.get("visibility_raw")
    if previous.get("sidecars"):
        current = {s["content_hash"] for s in instance.get("sidecars", [])}
        earlier: list[Sidecar] = [
            {**s, "superseded": True}
            for s in previous["sidecars"]
            if s["content_hash"] not in current
        ]
        if earlier:
            instance["sidecars"] = [*instance.get("sidecars", []), *earlier]


def says_something_new(record: Record, instance: Instance) -> bool:
    """Does this copy say something the record does not (so resolve must look again)?

    A copy photosync itself uploaded, seen again on its service, usually says
    nothing new and must not send a replicated photo back to "discovered".
    """
    observed: Observed = instance.get("observed") or {}
    for field_name in COMPARABLE_FIELDS:
        if field_name == "taken_date" and weak_date(observed):
            continue
        said = comparable(field_name, fields_by_name(observed).get(field_name))
        known = fields_by_name(record["metadata"]).get(field_name)
        if said is not None and said != comparable(field_name, known):
            return True
    if record["problems"] and record["processing_state"] == ProcessingState.DISCOVERED.value:
        return True
    level = instance.get("visibility")
    return bool(level) and level != record["visibility"]["canonical"]


def refresh_seen_visibility(record: Record) -> None:
    """``visibility.per_service``: the narrowest level each service's copies are seen
    at. The canonical level is never touched here (never widened)."""
    per_service: dict[str, str] = {}
    for service, instances in record["instances"].items():
        levels = [level for i in instances if (level := i.get("visibility"))]
        if levels:
            per_service[service] = most_restrictive(levels).value
    record["visibility"]["per_service"] = per_service
