"""What metadata extraction returns for one file."""

from __future__ import annotations

from dataclasses import dataclass, field

from photosync.model.record import Location, StatedValue


@dataclass
class MediaInfo:
    """Facts read from a file's bytes and its sidecars; never raises on bad input."""

    #: "photo" | "video" | "unknown"
    kind: str = "unknown"
    mime_type: str | None = None
    #: short format name: "jpeg", "heic", "png", "webp", "tiff", "mp4", "mov", ...
    format: str | None = None
    width: int | None = None
    height: int | None = None
    #: EXIF orientation 1-8 as stored (HEIC: as pillow-heif reports, i.e. 1;
    #: video: the rotation of the track matrix as 1/3/6/8, None if unusual)
    orientation: int | None = None
    duration_s: float | None = None
    #: ISO 8601; with offset when known ("2008-05-30T15:56:01.25+02:00"),
    #: naive local time otherwise; UTC with "Z" for QuickTime/file-time sources
    taken_date: str | None = None
    #: where the date came from: "exif:DateTimeOriginal", "xmp:DateTimeOriginal",
    #: "iptc:DateCreated", "quicktime:CreationDate", "file:mtime", ...
    taken_date_source: str | None = None
    #: {"lat": float, "lng": float} signed, or {"lat", "lng", "alt"}; None for 0,0/empty
    location: Location | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    caption: str | None = None
    title: str | None = None
    tags: list[str] = field(default_factory=list)
    #: human-readable notes: "truncated JPEG", "malformed sidecar x.xmp: ..."
    problems: list[str] = field(default_factory=list)
    #: a field both the file's own bytes and its XMP sidecar state, each value kept
    #: (``{"source": "sidecar:DateTimeOriginal", "field": "taken_date", "value": ...}``):
    #: only one of them wins above, and a sidecar's edit must not vanish behind it
    sources: list[StatedValue] = field(default_factory=list)
