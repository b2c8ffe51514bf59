"""The photo record as typed values: what ``schemas/photo-metadata.schema.json`` describes.

Plain dataclasses (standard library, no I/O), not attrs or pydantic: the JSON
schema stays the one gate on disk (``archive.schema.validate_record``), so a
second validation layer would only disagree with it; dataclasses add no
dependency and no per-field cost to the hundreds of thousands of records a
discover run touches, and ``mypy --strict`` understands them natively.

Every class keeps what it does not know (``unknown``: a key a newer photosync
wrote) and which optional keys were present when read (``present``), so that
``codec.record_from_json`` followed by ``codec.record_to_json`` gives back the
same JSON, byte for byte once written canonically, for every archive ever
written. An optional key is written when it holds something or was present
when read (null and empty included).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Self


@dataclass(frozen=True)
class _Codec:
    """How one field's JSON value becomes the typed value and back.

    ``shape``: ``plain`` (the JSON value itself), ``one`` (a ``node`` object or
    null), ``list`` (a list of ``node``), ``lists`` (an object of lists of ``node``).
    """

    shape: str = "plain"
    node: type[JsonObject] | None = None

    def decode(self, value: Any) -> Any:
        node = self.node
        if node is None:
            return value
        if self.shape == "one":
            return None if value is None else node.from_json(value)
        if self.shape == "list":
            return [node.from_json(item) for item in value]
        return {key: [node.from_json(item) for item in items] for key, items in value.items()}

    def encode(self, value: Any) -> Any:
        if self.node is None:
            return value
        if self.shape == "one":
            return None if value is None else value.to_json()
        if self.shape == "list":
            return [item.to_json() for item in value]
        return {key: [item.to_json() for item in items] for key, items in value.items()}


_PLAIN = _Codec()


def _node(cls: type[JsonObject]) -> _Codec:
    return _Codec("one", cls)


def _node_list(cls: type[JsonObject]) -> _Codec:
    return _Codec("list", cls)


def _node_lists(cls: type[JsonObject]) -> _Codec:
    return _Codec("lists", cls)


def _key(
    name: str,
    *,
    required: bool = False,
    codec: _Codec = _PLAIN,
    default: Any = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A field stored under JSON key ``name``."""
    metadata = {"json": name, "required": required, "codec": codec}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def _holds_something(value: Any) -> bool:
    return value is not None and not (isinstance(value, (list, dict)) and not value)


@dataclass
class JsonObject:
    """A JSON object of the record: known keys as fields, the rest kept in ``unknown``."""

    #: optional keys that were present when read (so null and empty stay written)
    present: frozenset[str] = field(default=frozenset(), compare=False, repr=False, kw_only=True)
    #: keys this version does not know (a newer photosync wrote them): written back as read
    unknown: dict[str, Any] = field(default_factory=dict, repr=False, kw_only=True)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        if not isinstance(data, Mapping):
            raise TypeError(f"{cls.__name__}: a JSON object was expected, not {data!r:.60}")
        specs, known = _specs(cls)
        values: dict[str, Any] = {}
        present = set()
        for attr, name, required, codec in specs:
            if name in data:
                present.add(name)
                value = data[name]
                values[attr] = value if codec.node is None else codec.decode(value)
            elif required:
                raise KeyError(f"{cls.__name__}: {name} is missing")
        unknown = {key: value for key, value in data.items() if key not in known}
        return cls(**values, present=frozenset(present), unknown=unknown)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        present = self.present
        for attr, name, required, codec in _specs(type(self))[0]:
            value = getattr(self, attr)
            if required or name in present or _holds_something(value):
                out[name] = value if codec.node is None else codec.encode(value)
        out.update(self.unknown)
        return dict(sorted(out.items()))


#: per class, its JSON fields as (attribute, JSON key, required, codec) and the set of keys
_Spec = tuple[str, str, bool, _Codec]
_SPECS: dict[type[JsonObject], tuple[tuple[_Spec, ...], frozenset[str]]] = {}


def _specs(cls: type[JsonObject]) -> tuple[tuple[_Spec, ...], frozenset[str]]:
    """A class's JSON fields, read from its dataclass fields once (the codec runs per record)."""
    found = _SPECS.get(cls)
    if found is None:
        specs = tuple(
            (
                spec.name,
                spec.metadata["json"],
                bool(spec.metadata["required"]),
                spec.metadata["codec"],
            )
            for spec in fields(cls)
            if spec.metadata.get("json") is not None
        )
        found = _SPECS[cls] = (specs, frozenset(name for _a, name, _r, _c in specs))
    return found


@dataclass
class BlobLocation(JsonObject):
    """A blob store in which the original was verified."""

    store: str = _key("store", required=True, default="")
    locator: str = _key("locator", required=True, default="")
    verified_at: str = _key("verified_at", required=True, default="")


@dataclass
class Problem(JsonObject):
    """Something that went wrong with this photo and that a person should know."""

    code: str = _key("code", required=True, default="")
    message: str = _key("message", required=True, default="")
    service: str | None = _key("service")

    @classmethod
    def new(cls, code: str, message: str, service: str | None = None) -> Problem:
        """As photosync writes one: ``service`` always stated (null for the whole photo)."""
        return cls(code, message, service, present=frozenset({"service"}))


@dataclass
class Approval(JsonObject):
    """A decision on who may see the photo, made through photosync (sealed)."""

    level: str = _key("level", required=True, default="private")
    by: str = _key("by", required=True, default="")
    at: str = _key("at", required=True, default="")
    previous: str | None = _key("previous")
    reason: str | None = _key("reason")
    service: str | None = _key("service")
    seal: str | None = _key("seal")


@dataclass
class Discrepancy(JsonObject):
    """A service shows the photo at another level than its canonical one."""

    service: str = _key("service", required=True, default="")
    current: str = _key("current", required=True, default="private")
    canonical: str = _key("canonical", required=True, default="private")


@dataclass
class VisibilityState(JsonObject):
    """Who may see the photo: the canonical level, each service's, the approvals."""

    canonical: str = _key("canonical", required=True, default="private")
    per_service: dict[str, str] = _key("per_service", required=True, factory=dict)
    discrepancies: list[Discrepancy] = _key(
        "discrepancies", required=True, codec=_node_list(Discrepancy), factory=list
    )
    approvals: list[Approval] = _key(
        "approvals", required=True, codec=_node_list(Approval), factory=list
    )


@dataclass
class CameraInfo(JsonObject):
    make: str | None = _key("make", required=True)
    model: str | None = _key("model", required=True)


@dataclass
class Metadata(JsonObject):
    """The canonical facts about the photo, as resolved."""

    taken_date: str | None = _key("taken_date", required=True)
    filename: str | None = _key("filename", required=True)
    location: dict[str, Any] | None = _key("location", required=True)
    tags: list[str] = _key("tags", required=True, factory=list)
    caption: str | None = _key("caption", required=True)
    camera_info: CameraInfo = _key(
        "camera_info", required=True, codec=_node(CameraInfo), factory=CameraInfo
    )
    taken_date_source: str | None = _key("taken_date_source")
    title: str | None = _key("title")
    albums: list[str] | None = _key("albums")


@dataclass
class Observed(JsonObject):
    """What one instance says about the photo, before resolution (every key optional)."""

    taken_date: str | None = _key("taken_date")
    taken_date_source: str | None = _key("taken_date_source")
    filename: str | None = _key("filename")
    location: dict[str, Any] | None = _key("location")
    tags: list[str] | None = _key("tags")
    caption: str | None = _key("caption")
    title: str | None = _key("title")
    camera_info: CameraInfo | None = _key("camera_info", codec=_node(CameraInfo))
    albums: list[str] | None = _key("albums")
    #: every value each source stated: ``{"source": ..., "field": ..., "value": ...}``
    sources: list[dict[str, Any]] | None = _key("sources")
    disagree: list[str] | None = _key("disagree")


@dataclass
class Sidecar(JsonObject):
    """A sidecar file (XMP) that came with a copy, stored as a blob like an original."""

    name: str = _key("name", required=True, default="")
    content_hash: str = _key("content_hash", required=True, default="")
    size: int | None = _key("size")
    superseded: bool | None = _key("superseded")


@dataclass
class Instance(JsonObject):
    """One place the photo was seen: a file in a folder, an item on a service."""

    id: str = _key("id", required=True, default="")
    quality: str = _key("quality", required=True, default="original")
    last_sync: str = _key("last_sync", required=True, default="")
    url: str | None = _key("url")
    version: str | None = _key("version")
    content_hash: str | None = _key("content_hash")
    visibility: str | None = _key("visibility")
    visibility_raw: Any = _key("visibility_raw")
    observed: Observed | None = _key("observed", codec=_node(Observed))
    extra: dict[str, Any] | None = _key("extra")
    sidecars: list[Sidecar] = _key("sidecars", codec=_node_list(Sidecar), factory=list)
    status: str | None = _key("status")


@dataclass
class Option(JsonObject):
    """One answer a conflict offers: a source and the value it states."""

    source: str = _key("source", required=True, default="")
    value: Any = _key("value", required=True)


@dataclass
class Decision(JsonObject):
    """How a conflict was settled (a person or a rule), or skipped."""

    choice: str | None = _key("choice")
    value: Any = _key("value")
    by: str | None = _key("by")
    at: str | None = _key("at")
    rule: str | None = _key("rule")


@dataclass
class Conflict(JsonObject):
    """A question about the photo: a disagreement, a variant, a privacy or policy issue."""

    id: str = _key("id", required=True, default="")
    type: str = _key("type", required=True, default="")
    description: str = _key("description", required=True, default="")
    services: list[str] = _key("services", required=True, factory=list)
    resolution_required: bool = _key("resolution_required", required=True, default=True)
    status: str = _key("status", required=True, default="open")
    field: str | None = _key("field")
    options: list[Option] = _key("options", codec=_node_list(Option), factory=list)
    resolution: Decision | None = _key("resolution", codec=_node(Decision))
    #: earlier decisions (two clones decided differently): never dropped
    decisions: list[Decision] = _key("decisions", codec=_node_list(Decision), factory=list)


@dataclass
class Variant(JsonObject):
    """Another record that shows the same picture, or one joined into this one."""

    photo_id: str = _key("photo_id", required=True, default="")
    kind: str = _key("kind", required=True, default="")
    role: str | None = _key("role")


@dataclass
class Media(JsonObject):
    """What the original is: size, kind, format, dimensions, perceptual fingerprint."""

    size: int = _key("size", required=True, default=0)
    kind: str = _key("kind", required=True, default="unknown")
    mime_type: str | None = _key("mime_type")
    format: str | None = _key("format")
    width: int | None = _key("width")
    height: int | None = _key("height")
    orientation: int | None = _key("orientation")
    duration_s: float | None = _key("duration_s")
    fingerprint: dict[str, Any] | None = _key("fingerprint")
    fingerprint_note: str | None = _key("fingerprint_note")


@dataclass
class PhotoRecord(JsonObject):
    """One photo (or video): ``photos/YYYY/MM/<photo_id>.json``.

    Named ``PhotoRecord`` while ``model.Record`` still names the JSON-shaped dict
    the workflow passes around (see docs/ARCHITECTURE.md, "The model").
    """

    schema_version: int = _key("schema_version", required=True, default=1)
    photo_id: str = _key("photo_id", required=True, default="")
    content_hash: str = _key("content_hash", required=True, default="")
    canonical_source: str = _key("canonical_source", required=True, default="")
    source_of_truth_path: str | None = _key("source_of_truth_path", required=True)
    blob_locations: list[BlobLocation] = _key(
        "blob_locations", required=True, codec=_node_list(BlobLocation), factory=list
    )
    media: Media = _key("media", required=True, codec=_node(Media), factory=Media)
    instances: dict[str, list[Instance]] = _key(
        "instances", required=True, codec=_node_lists(Instance), factory=dict
    )
    metadata: Metadata = _key("metadata", required=True, codec=_node(Metadata), factory=Metadata)
    visibility: VisibilityState = _key(
        "visibility", required=True, codec=_node(VisibilityState), factory=VisibilityState
    )
    processing_state: str = _key("processing_state", required=True, default="discovered")
    conflicts: list[Conflict] = _key(
        "conflicts", required=True, codec=_node_list(Conflict), factory=list
    )
    problems: list[Problem] = _key(
        "problems", required=True, codec=_node_list(Problem), factory=list
    )
    created_at: str = _key("created_at", required=True, default="")
    updated_at: str = _key("updated_at", required=True, default="")
    variants: list[Variant] = _key("variants", codec=_node_list(Variant), factory=list)
