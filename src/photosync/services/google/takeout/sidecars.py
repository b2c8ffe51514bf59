"""What a Takeout JSON file says: a photo's sidecar mapped to photosync's terms, an
album's metadata file (title, sharing), and the JSON reduced to what matching needs.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from photosync.model import Visibility
from photosync.model.record import Location, StatedValue
from photosync.services.google.takeout.names import nfc

_ALBUM_KEYS = frozenset(
    {"title", "description", "access", "date", "geoData", "location", "enrichments", "shared"}
)
_PHOTO_SIDECAR_KEYS = frozenset(
    {"photoTakenTime", "creationTime", "url", "imageViews", "geoDataExif", "googlePhotosOrigin"}
)
_URL_KEY = re.compile(r"/photo/([A-Za-z0-9_\-]+)")


#: 1800-01-01T00:00:00Z: the earliest photoTakenTime taken as a date
EARLIEST_EPOCH = -5364662400


def _epoch(value: Any) -> int | None:
    if not isinstance(value, dict):
        return None
    raw = value.get("timestamp")
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        seconds = int(str(raw).strip())
    except ValueError:
        return None
    # 0 is Google's "no time"; before 1970 is negative (a scan dated 1965 in Google
    # Photos), kept back to EARLIEST_EPOCH, earlier is a placeholder (year 1), not a date
    return seconds if seconds != 0 and seconds >= EARLIEST_EPOCH else None


def utc_iso(seconds: int) -> str | None:
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _geo(value: Any) -> Location | None:
    """A location from a geoData block; all zeros (or garbage) means none."""
    if not isinstance(value, dict):
        return None
    try:
        lat = float(value.get("latitude") or 0.0)
        lng = float(value.get("longitude") or 0.0)
        alt = float(value.get("altitude") or 0.0)
    except (TypeError, ValueError):
        return None
    if lat == 0.0 and lng == 0.0:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    location: Location = {"lat": lat, "lng": lng}
    if alt:
        location["alt"] = alt
    return location


def sidecar_sources(facts: SidecarFacts) -> list[StatedValue]:
    """Every date, place and caption the sidecar states, each labelled: kept on the
    instance whatever wins (discover compares them with the file's own)."""
    stated: list[tuple[str, str, Any]] = [
        ("google-takeout:photoTakenTime", "taken_date", facts.taken_date),
        ("google-takeout:geoData", "location", facts.geo_data),
        ("google-takeout:geoDataExif", "location", facts.geo_data_exif),
        ("google-takeout:description", "caption", facts.caption),
        # what else Google knew: who is in it, a favourite, where it came from (the
        # view count changes with every look: it stays in the stored sidecar blob only)
        ("google-takeout:people", "people", facts.people or None),
        ("google-takeout:favorited", "favorite", True if facts.favorited else None),
        ("google-takeout:googlePhotosOrigin", "origin", facts.origin),
        ("google-takeout:appSource", "app", facts.app_source),
    ]
    return [
        {"source": source, "field": name, "value": value}
        for source, name, value in stated
        if value is not None
    ]


def sidecar_flags(facts: SidecarFacts) -> set[str]:
    """Flags a sidecar states; they hold for the item whichever of its files said them."""
    said = {"archive": facts.archived, "trash": facts.trashed, "favorited": facts.favorited}
    return {flag for flag, on in said.items() if on}


def url_key(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    found = _URL_KEY.search(url)
    return found.group(1) if found else None


@dataclass
class SidecarFacts:
    """What one photo sidecar says, already mapped to photosync's terms."""

    taken_date: str | None = None
    location: Location | None = None
    #: both places the sidecar states: geoData (Google's, maybe the user's edit)
    #: and geoDataExif (the camera's, as uploaded)
    geo_data: Location | None = None
    geo_data_exif: Location | None = None
    caption: str | None = None
    title: str | None = None
    url: str | None = None
    key: str | None = None
    created: datetime | None = None
    people: list[str] = field(default_factory=list)
    favorited: bool = False
    archived: bool = False
    trashed: bool = False
    origin: dict[str, Any] | None = None
    app_source: str | None = None


def parse_sidecar(data: Any) -> SidecarFacts:
    """Map a sidecar dict; unexpected field types are ignored, never fatal."""
    facts = SidecarFacts()
    if not isinstance(data, dict):
        return facts
    taken = _epoch(data.get("photoTakenTime"))
    if taken is not None:
        facts.taken_date = utc_iso(taken)
    created = _epoch(data.get("creationTime"))
    if created is not None:
        with contextlib.suppress(OverflowError, OSError, ValueError):
            facts.created = datetime.fromtimestamp(created, tz=UTC)
    facts.geo_data, facts.geo_data_exif = _geo(data.get("geoData")), _geo(data.get("geoDataExif"))
    facts.location = facts.geo_data_exif or facts.geo_data
    description = data.get("description")
    if isinstance(description, str) and description.strip():
        facts.caption = description
    title = data.get("title")
    if isinstance(title, str) and title:
        facts.title = nfc(title)
    if isinstance(data.get("url"), str):
        facts.url = data["url"]
        facts.key = url_key(data["url"])
    people = data.get("people")
    if isinstance(people, list):
        facts.people = sorted(
            {p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)}
        )
    facts.favorited = data.get("favorited") is True
    facts.archived = data.get("archived") is True
    facts.trashed = data.get("trashed") is True
    origin = data.get("googlePhotosOrigin")
    if isinstance(origin, dict) and origin:
        facts.origin = origin
    app = data.get("appSource")
    if isinstance(app, dict) and isinstance(app.get("androidPackageName"), str):
        facts.app_source = app["androidPackageName"]
    return facts


def album_title(data: Any) -> str | None:
    """Title from an album metadata file (plain, ``albumData`` wrapper or ``{"title"}``)."""
    if isinstance(data, dict) and isinstance(data.get("albumData"), dict):
        data = data["albumData"]
    if isinstance(data, dict) and isinstance(data.get("title"), str) and data["title"].strip():
        return nfc(data["title"])
    return None


def album_access(data: Any) -> str:
    """How an album is shared, from its metadata file: ``access`` (``protected``: by
    link; ``""``/``private``: not shared) and ``shared: true``. A file without either
    (newer exports write just ``{"title": ...}``) is an album nobody was invited to."""
    if isinstance(data, dict) and isinstance(data.get("albumData"), dict):
        data = data["albumData"]
    if not isinstance(data, dict):
        return "unreadable"
    access = data.get("access")
    said = access.strip().lower() if isinstance(access, str) else ""
    if data.get("shared") is True and said in ("", "private"):
        return "shared"
    if access is not None and not isinstance(access, str):
        return "unreadable"
    return said


#: Takeout's sharing, as the canonical level whoever may see the photo there: an album
#: shared by link (``protected``) or public is anyone with the link, an album shared
#: with people (``shared``) or a photo that came from someone's shared album or a
#: partner share is ``friends``. Any other value is not understood: reported as the
#: widest (public) so the audit shows it; what photosync pushes never comes from here
SHARING_LEVELS: dict[str, Visibility] = {
    "": Visibility.PRIVATE,
    "private": Visibility.PRIVATE,
    "shared": Visibility.FRIENDS,
    "fromsharedalbum": Visibility.FRIENDS,
    "frompartnersharing": Visibility.FRIENDS,
    "protected": Visibility.PUBLIC,
    "public": Visibility.PUBLIC,
}


def sharing_level(sharing: dict[str, str]) -> Visibility:
    """The widest level any of an item's shares shows it at (audit: fail closed); an
    access value Takeout may add that photosync does not know counts as public."""
    levels = [SHARING_LEVELS.get(value, Visibility.PUBLIC) for value in sharing.values()]
    return max(levels, key=lambda level: level.rank, default=Visibility.PRIVATE)


def origin_sharing(facts: SidecarFacts) -> str | None:
    """``fromSharedAlbum`` / ``fromPartnerSharing``: the photo came from someone's share."""
    for key in ("fromSharedAlbum", "fromPartnerSharing"):
        if facts.origin and key in facts.origin:
            return key.lower()
    return None


def _album_like(data: Any) -> bool:
    """Content that can only be an album's metadata file (whatever its localized name)."""
    if not isinstance(data, dict):
        return False
    if "albumData" in data:
        return True
    keys = set(data)
    return bool(keys) and keys <= _ALBUM_KEYS and not keys & _PHOTO_SIDECAR_KEYS


@dataclass
class SidecarJson:
    """A JSON file reduced to what matching needs (full dicts of 100k sidecars weigh GBs)."""

    error: str | None = None
    is_object: bool = False
    title: str | None = None
    facts: SidecarFacts | None = None
    album_like: bool = False
    album_title: str | None = None
    album_access: str = ""

    @classmethod
    def of(cls, data: Any) -> SidecarJson:
        if not isinstance(data, dict):
            return cls()
        title = data.get("title")
        return cls(
            is_object=True,
            title=nfc(title) if isinstance(title, str) else None,
            facts=parse_sidecar(data),
            album_like=_album_like(data),
            album_title=album_title(data),
            album_access=album_access(data),
        )


def decode_json(raw: bytes, cap: int) -> SidecarJson:
    if len(raw) > cap:
        return SidecarJson(error=f"oversized JSON (> {cap} bytes); ignored")
    try:
        return SidecarJson.of(json.loads(raw.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return SidecarJson(error=f"malformed JSON: {str(exc)[:120]}")
