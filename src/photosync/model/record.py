"""The photo record's shape, typed: what ``archive/schemas/photo-metadata.schema.json`` describes.

``TypedDict`` rather than dataclasses, attrs or pydantic, because the record *is*
its JSON: what discover, resolve and replicate pass around is the parsed object
that is written back canonically, so

- reading and writing cost nothing per record (a dataclass codec measured 75–100 µs
  per record each way, about 100 s for one pass over a million-record archive,
  against goal 3 of issue 17);
- an archive written by any earlier photosync is rewritten byte for byte by
  construction: unknown keys, null and empty optional keys, numbers and key order
  are never rebuilt, only kept (``tests/test_model_codec.py`` proves it on a
  committed fixture archive);
- ``mypy --strict`` still checks every key and value a workflow reads or writes.

The JSON schema stays the one gate on disk (``archive.schema.validate_record``);
``tests/test_model_codec.py`` checks that these types and the schema name the same
keys and agree on which are required. The rules about a record (building an
instance, refreshing visibility, raising a conflict, adding a problem) are the
functions of ``photosync.model``; this module only says what the values are.
"""

from typing import Any, NotRequired, TypedDict

#: a JSON object whose keys photosync does not type (an extra block a service
#: stated, a value a conflict offers, a raw visibility): read and written as is
JsonObject = dict[str, Any]


class Location(TypedDict):
    """Where the photo was taken, in WGS84 degrees (``alt`` in metres)."""

    lat: float
    lng: float
    alt: NotRequired[float | None]


class CameraInfo(TypedDict):
    make: str | None
    model: str | None


class MediaFingerprint(TypedDict):
    """The perceptual fingerprint identity matching compares (``identity.phash``)."""

    phash: str
    width: int
    height: int
    algo: NotRequired[str]
    thumb: NotRequired[str]


class Metadata(TypedDict):
    """The canonical facts about the photo, as resolved."""

    taken_date: str | None
    filename: str | None
    location: Location | None
    tags: list[str]
    caption: str | None
    camera_info: CameraInfo
    taken_date_source: NotRequired[str | None]
    title: NotRequired[str | None]
    albums: NotRequired[list[str]]


class StatedValue(TypedDict):
    """One value one source stated (``Observed.sources``): never dropped."""

    source: str
    field: str
    value: Any


class Observed(TypedDict, total=False):
    """What one instance says about the photo, before resolution (every key optional)."""

    taken_date: str | None
    taken_date_source: str | None
    filename: str | None
    location: Location | None
    tags: list[str] | None
    caption: str | None
    title: str | None
    camera_info: CameraInfo | None
    albums: list[str] | None
    #: every value each source stated
    sources: list[StatedValue]
    #: the fields on which those sources disagree
    disagree: list[str]


class Sidecar(TypedDict):
    """A sidecar file (XMP) that came with a copy, stored as a blob like an original."""

    name: str
    content_hash: str
    size: NotRequired[int | None]
    superseded: NotRequired[bool | None]


class Instance(TypedDict):
    """One place the photo was seen: a file in a folder, an item on a service."""

    id: str
    quality: str
    last_sync: str
    url: NotRequired[str | None]
    version: NotRequired[str | None]
    content_hash: NotRequired[str | None]
    visibility: NotRequired[str | None]
    visibility_raw: NotRequired[Any]
    observed: NotRequired[Observed]
    extra: NotRequired[JsonObject]
    sidecars: NotRequired[list[Sidecar]]
    #: present, superseded (the service replaced it) or missing
    status: NotRequired[str]


class Option(TypedDict):
    """One answer a conflict offers: a source and the value it states."""

    source: str
    value: Any


class Decision(TypedDict, total=False):
    """How a conflict was settled (a person or a rule), or skipped."""

    choice: str | None
    value: Any
    by: str | None
    at: str | None
    rule: str | None


class Conflict(TypedDict):
    """A question about the photo: a disagreement, a variant, a privacy or policy issue."""

    id: str
    type: str
    description: str
    services: list[str]
    resolution_required: bool
    status: str
    field: NotRequired[str | None]
    options: NotRequired[list[Option]]
    resolution: NotRequired[Decision | None]
    #: earlier decisions (two clones decided differently): never dropped
    decisions: NotRequired[list[Decision]]


class BlobLocation(TypedDict):
    """A blob store in which the original was verified."""

    store: str
    locator: str
    verified_at: str


class Problem(TypedDict):
    """Something that went wrong with this photo and that a person should know."""

    code: str
    message: str
    service: NotRequired[str | None]


class Approval(TypedDict):
    """A decision on who may see the photo, made through photosync (sealed)."""

    level: str
    by: str
    at: str
    previous: NotRequired[str]
    reason: NotRequired[str | None]
    #: the service whose level was adopted (``visibility approve``)
    service: NotRequired[str]
    #: ``hmac-sha256:HEX`` with the archive's key: an approval whose seal does not verify is ignored
    seal: NotRequired[str]


class Discrepancy(TypedDict):
    """A service shows the photo at another level than its canonical one."""

    service: str
    current: str
    canonical: str


class VisibilityState(TypedDict):
    """Who may see the photo: the canonical level, each service's, the approvals."""

    canonical: str
    per_service: dict[str, str]
    discrepancies: list[Discrepancy]
    approvals: list[Approval]


class Variant(TypedDict):
    """Another record that shows the same picture, or one joined into this one."""

    photo_id: str
    kind: str
    role: NotRequired[str | None]


class Media(TypedDict):
    """What the original is: size, kind, format, dimensions, perceptual fingerprint."""

    size: int
    kind: str
    mime_type: NotRequired[str | None]
    format: NotRequired[str | None]
    width: NotRequired[int | None]
    height: NotRequired[int | None]
    orientation: NotRequired[int | None]
    duration_s: NotRequired[float | None]
    fingerprint: NotRequired[MediaFingerprint | None]
    fingerprint_note: NotRequired[str | None]


class Record(TypedDict):
    """One photo (or video): ``photos/YYYY/MM/<photo_id>.json``."""

    schema_version: int
    photo_id: str
    content_hash: str
    canonical_source: str
    source_of_truth_path: str | None
    blob_locations: list[BlobLocation]
    media: Media
    #: per service (``local:<folder>``, ``flickr``, ``google``), the copies seen there
    instances: dict[str, list[Instance]]
    metadata: Metadata
    visibility: VisibilityState
    processing_state: str
    conflicts: list[Conflict]
    problems: list[Problem]
    created_at: str
    updated_at: str
    variants: NotRequired[list[Variant]]
