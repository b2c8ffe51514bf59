"""Interpret EXIF tags (from any container) as ``Facts``."""

from __future__ import annotations

import re

from photosync.metadata.dates import parse_exif_datetime
from photosync.metadata.facts import Facts, add_tags, clean_text, valid_location
from photosync.metadata.tiff import TiffTags, Value, bytes_reader, read_tiff
from photosync.metadata.vendor import RECONYX_DATE_SOURCE, reconyx_date

EXIF_HEADER = b"Exif\x00\x00"

# Captions that cameras write by themselves; they say nothing about the photo.
_CAMERA_JUNK = {
    "olympus digital camera",
    "sony dsc",
    "dcim",
    "default",
    "digital camera",
    "kodak digital still camera",
    "minolta digital camera",
    "konica minolta digital camera",
    "samsung digital camera",
    "sanyo digital camera",
    "digital still camera",
    "image",
    "picture",
    "exif_jpeg_picture",
    "exif jpeg picture",
    "camera",
    "<untitled>",
    "untitled",
    "no title",
    "hdrpmeta",
    "ls_dsc",
    "epson dsc picture",
    "jenoptik digital camera",
    "vivitar digital camera",
}


def is_junk_caption(text: str | None, *, make: str | None = None, model: str | None = None) -> bool:
    """True for captions a camera wrote itself (or blanks); such text is not the user's."""
    if text is None:
        return True
    norm = re.sub(r"\s+", " ", text).strip().casefold()
    if not norm:
        return True
    if norm in _CAMERA_JUNK:
        return True
    if not any(ch.isalpha() for ch in norm):  # "000015", "----": counters and filler
        return True
    return any(v and norm == v.strip().casefold() for v in (make, model))


def _str(value: Value | None) -> str | None:
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, bytes):
        return clean_text(value)
    return None


def _int(value: Value | None) -> int | None:
    if isinstance(value, tuple) and value and isinstance(value[0], int):
        return value[0]
    return None


def _utf16(value: Value | None) -> str | None:
    """Windows XP* tags: UTF-16LE bytes (often typed as BYTE)."""
    if not isinstance(value, bytes):
        return None
    try:
        return clean_text(value.decode("utf-16-le", errors="ignore"))
    except Exception:
        return None


def gps_coordinate(value: Value | None, ref: Value | None, negative: str) -> float | None:
    """Degrees/minutes/seconds rationals plus N/S/E/W ref to a signed float."""
    if not isinstance(value, tuple) or not value:
        return None
    if value[0] is None:
        return None
    # A 0/0 minutes or seconds value means "not recorded": count it as zero.
    nums = [float(p) if p is not None else 0.0 for p in value[:3]]
    degrees = nums[0] + (nums[1] / 60.0 if len(nums) > 1 else 0.0)
    degrees += nums[2] / 3600.0 if len(nums) > 2 else 0.0
    ref_text = _str(ref) if not isinstance(ref, tuple) else None
    if ref_text and ref_text[:1].upper() == negative:
        degrees = -degrees
    return degrees


#: the UTC instant of the GPS fix: never a taken date itself, but with the camera's
#: wall clock it gives the time zone (``extract._find_offset``)
GPS_TIME_SOURCE = "exif:GPSDateTime"


def _gps_instant(date: Value | None, time: Value | None) -> str | None:
    """GPSDateStamp 'YYYY:MM:DD' + GPSTimeStamp (h, m, s rationals) as a UTC ISO time."""
    if not isinstance(time, tuple) or len(time) < 3 or any(v is None for v in time[:3]):
        return None
    try:
        hour, minute, second = (float(v) for v in time[:3])  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if not (0 <= hour < 24 and 0 <= minute < 60 and 0 <= second < 61):
        return None
    text = f"{_str(date) or ''} {int(hour):02d}:{int(minute):02d}:{int(second):02d}"
    return parse_exif_datetime(text, offset="Z")


def facts_from_tiff(tags: TiffTags) -> Facts:
    """Date, GPS, camera, orientation, caption and title from decoded EXIF tags."""
    facts = Facts(origin="exif", problems=list(tags.problems))
    ifd0, exif, gps = tags.ifd0, tags.exif, tags.gps
    facts.camera_make = _str(ifd0.get(0x010F))
    facts.camera_model = _str(ifd0.get(0x0110))
    orientation = _int(ifd0.get(0x0112))
    if orientation is not None and 1 <= orientation <= 8:
        facts.orientation = orientation
    for tag, subsec_tag, offset_tag, source in (
        (0x9003, 0x9291, 0x9011, "exif:DateTimeOriginal"),
        (0x9004, 0x9292, 0x9012, "exif:DateTimeDigitized"),
    ):
        # some writers (Olympus TIFFs) put these into IFD0 instead of the EXIF IFD
        where = exif if tag in exif else ifd0
        value = parse_exif_datetime(
            _str(where.get(tag)),
            subsec=_str(where.get(subsec_tag)),
            offset=_str(where.get(offset_tag)),
        )
        if value:
            facts.dates[source] = value
    note = exif.get(0x927C)
    if isinstance(note, bytes):
        when = reconyx_date(note)  # trail cameras date a photo in their maker note only
        if when:
            facts.dates[RECONYX_DATE_SOURCE] = when
    # IFD0 DateTime is when software last wrote the file, not when the photo was
    # taken (e.g. a 2023 re-save of a 2003 photo); it is deliberately not used.
    if tags.gps_present:
        lat = gps_coordinate(gps.get(0x0002), gps.get(0x0001), "S")
        lng = gps_coordinate(gps.get(0x0004), gps.get(0x0003), "W")
        facts.location = valid_location(lat, lng)
        if facts.location is None:
            facts.location_null = True
        else:
            alt = gps.get(0x0006)
            if isinstance(alt, tuple) and alt and isinstance(alt[0], float):
                below = _int(gps.get(0x0005)) == 1 or gps.get(0x0005) == b"\x01"
                facts.location["alt"] = round(-alt[0] if below else alt[0], 2)
        utc = _gps_instant(gps.get(0x001D), gps.get(0x0007))
        if utc:
            facts.dates[GPS_TIME_SOURCE] = utc
    description = _str(ifd0.get(0x010E))
    if not is_junk_caption(description, make=facts.camera_make, model=facts.camera_model):
        facts.caption = description
    facts.title = _utf16(ifd0.get(0x9C9B))
    keywords = _utf16(ifd0.get(0x9C9E))
    if keywords:
        add_tags(facts.tags, [k for k in keywords.split(";")])
    return facts


def facts_from_exif_bytes(payload: bytes) -> tuple[Facts, TiffTags]:
    """EXIF as found in JPEG APP1, PNG eXIf, WebP EXIF or HEIF (with or without 'Exif\\0\\0')."""
    start = payload.find(EXIF_HEADER, 0, 16)
    if start >= 0:
        payload = payload[start + len(EXIF_HEADER) :]
    elif payload[:2] not in (b"II", b"MM") and len(payload) > 4:
        # HEIF Exif items start with a 4-byte offset to the TIFF header.
        skip = int.from_bytes(payload[:4], "big")
        if 0 <= skip < 64 and payload[4 + skip : 6 + skip] in (b"II", b"MM"):
            payload = payload[4 + skip :]
    tags = read_tiff(bytes_reader(payload))
    return facts_from_tiff(tags), tags
