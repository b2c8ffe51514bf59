"""Partial findings of one metadata source, merged later by priority.

Each reader (EXIF, XMP, IPTC, QuickTime, a sidecar) fills a ``Facts`` with only
what it saw, so the merge step can apply the precedence rules in one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from photosync.model.record import Location


@dataclass
class Facts:
    """What one source says; ``None`` / empty means "this source is silent"."""

    #: "exif" | "xmp" | "iptc" | "quicktime" | "sidecar"
    origin: str = ""
    #: source name ("exif:DateTimeOriginal", ...) -> ISO 8601 value, in priority order
    dates: dict[str, str] = field(default_factory=dict)
    location: Location | None = None
    #: True when the source had a GPS block but it was empty or 0,0
    location_null: bool = False
    camera_make: str | None = None
    camera_model: str | None = None
    orientation: int | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    caption: str | None = None
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def clean_text(value: object) -> str | None:
    """Text without NUL padding and surrounding blanks; None when nothing is left."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = decode_text(value)
    text = str(value).replace("\x00", " ").strip()
    return text or None


def decode_text(raw: bytes) -> str:
    """UTF-8 when valid, Latin-1 otherwise: metadata writers rarely declare a charset."""
    raw = raw.split(b"\x00", 1)[0] if raw.endswith(b"\x00") else raw.replace(b"\x00", b" ")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def add_tags(target: list[str], new: list[str]) -> None:
    """Append tags not yet present (case-sensitive, order kept)."""
    seen = set(target)
    for tag in new:
        tag = tag.strip()
        if tag and tag not in seen:
            target.append(tag)
            seen.add(tag)


def valid_location(lat: float | None, lng: float | None) -> Location | None:
    """A usable fix, or None for missing, out-of-range or null-island (0,0) values."""
    if lat is None or lng is None:
        return None
    if lat != lat or lng != lng:  # NaN
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    if abs(lat) < 1e-9 and abs(lng) < 1e-9:
        return None
    return {"lat": round(lat, 7), "lng": round(lng, 7)}
