"""Facts cameras keep in their own records rather than in EXIF: a Reconyx trail
camera's maker note, a FLIR thermal camera's APP1 'FFF' record, the 'TAGS' atom
of a compact camera's QuickTime movie.

Each reads a few dozen bytes at offsets the vendor's layout fixes; anything
short or out of range gives no fact (and a note), never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import BinaryIO

from photosync.metadata.facts import Facts, clean_text, valid_location
from photosync.model.record import Location

#: date labels of these readers (``extract.DATE_PRIORITY`` ranks them)
RECONYX_DATE_SOURCE = "reconyx:DateTimeOriginal"
FLIR_DATE_SOURCE = "flir:DateTimeOriginal"


def reconyx_date(note: bytes) -> str | None:
    """The wall-clock date of a Reconyx maker note (HyperFire, UltraFire, HF2 PRO), or None.

    HyperFire notes start 01 F1 and hold six little-endian int16 (s, min, h, month,
    day, year) at byte 22; UltraFire ('RECONYXUF') seven bytes at 59; HF2 PRO
    ('RECONYXH2') six int16 (s, min, h, day, month, year) at 62 (``tiff.PREFIX_TAGS``
    keeps the first 256 bytes of a maker note).
    """
    if note.startswith(b"RECONYXUF\x00") and len(note) >= 66:
        sec, minute, hour, day, month, low, high = note[59:66]
        parts = (low + 256 * high, month, day, hour, minute, sec)
    elif note.startswith(b"RECONYXH2\x00") and len(note) >= 74:
        sec, minute, hour, day, month, year = struct.unpack("<6H", note[62:74])
        parts = (year, month, day, hour, minute, sec)
    elif note[:2] == b"\x01\xf1" and note[2:4] in (b"\x02\x00", b"\x03\x00") and len(note) >= 34:
        values = list(struct.unpack("<6H", note[22:34]))
        if values[0] & 0xFF00 and not values[0] & 0xFF:  # some write these big-endian
            values = [(v >> 8) | ((v & 0xFF) << 8) for v in values]
        sec, minute, hour, month, day, year = values
        parts = (year, month, day, hour, minute, sec)
    else:
        return None
    try:
        return datetime(*parts).isoformat()
    except ValueError:
        return None


# --- FLIR: APP1 segments "FLIR\0" 01 <index> <last index>, their data one FFF file


def flir_chunk(prefix: bytes) -> int | None:
    """The index of a FLIR APP1 chunk from the segment's first bytes, else None."""
    if len(prefix) >= 8 and prefix.startswith(b"FLIR\x00") and prefix[5] == 0x01:
        return prefix[6]
    return None


class _Chunks:
    """The FFF data spread over JPEG segments, read at its own offsets."""

    def __init__(self, fh: BinaryIO, chunks: Sequence[tuple[int, int, int]]) -> None:
        self.fh = fh
        self.spans: list[tuple[int, int]] = []  # (file offset, length), in chunk order
        for expected, (index, offset, length) in enumerate(sorted(chunks)):
            if index != expected:
                break  # a missing chunk: what follows it is not where its offsets say
            self.spans.append((offset, length))

    def read(self, pos: int, length: int) -> bytes:
        parts: list[bytes] = []
        for offset, span in self.spans:
            if length <= 0:
                break
            if pos >= span:
                pos -= span
                continue
            take = min(span - pos, length)
            self.fh.seek(offset + pos)
            piece = self.fh.read(take)
            parts.append(piece)
            if len(piece) < take:
                break
            length -= take
            pos = 0
        return b"".join(parts)


def read_flir(fh: BinaryIO, chunks: Sequence[tuple[int, int, int]]) -> Facts:
    """The capture time (UTC instant and the camera's zone) of a FLIR JPEG's CameraInfo record,
    and the place of its GPS record.

    ``chunks`` are (index, file offset, length) of each FLIR APP1 segment's data.
    """
    facts = Facts(origin="flir")
    data = _Chunks(fh, chunks)
    header = data.read(0, 0x40)
    if len(header) < 0x40 or not header.startswith(b"FFF\x00"):
        facts.problems.append("unreadable FLIR record header")
        return facts
    endian = ">"
    if not 100 <= struct.unpack(">I", header[0x14:0x18])[0] < 200:
        endian = "<"  # the version tells the byte order
    directory, count = struct.unpack(endian + "II", header[0x18:0x20])
    table = data.read(directory, min(count, 256) * 0x20)
    for index in range(len(table) // 0x20):
        entry = table[index * 0x20 : index * 0x20 + 0x20]
        (kind,) = struct.unpack(endian + "H", entry[:2])
        offset, length = struct.unpack(endian + "II", entry[0x0C:0x14])
        if kind == 0x20 and length >= 0x38E and not facts.dates:  # CameraInfo
            when = _flir_time(data.read(offset, 2), data.read(offset + 0x384, 10))
            if when:
                facts.dates[FLIR_DATE_SOURCE] = when
        elif kind == 0x2B and length >= 0x24 and facts.location is None:  # GPSInfo
            facts.location = _flir_place(data.read(offset, 0x24))
    if not facts.dates:
        facts.problems.append("FLIR record without a capture time")
    return facts


def _flir_place(raw: bytes) -> Location | None:
    """A valid fix of FLIR's GPS record (little-endian): references N/S, E/W at 8 and 10,
    latitude and longitude doubles at 16 and 24, altitude (float) at 32."""
    if len(raw) < 0x24 or struct.unpack("<I", raw[:4])[0] != 1:
        return None
    lat, lng = struct.unpack("<dd", raw[0x10:0x20])
    if raw[8:9] == b"S" and lat > 0:
        lat = -lat
    if raw[10:11] == b"W" and lng > 0:
        lng = -lng
    place = valid_location(lat, lng)
    (alt,) = struct.unpack("<f", raw[0x20:0x24])
    if place is not None and -1000 < alt < 10_000 and alt != -1:
        place["alt"] = round(alt, 2)
    return place


def _flir_time(order: bytes, raw: bytes) -> str | None:
    """Seconds since 1970 (UTC), milliseconds, and minutes west of UTC."""
    if len(order) < 2 or len(raw) < 10:
        return None
    endian = "<" if order[:1] != b"\x00" else ">"  # the record's first int16 is 2
    seconds, subsec, west = struct.unpack(endian + "IIh", raw)
    if not 0 < seconds < 0xFFFFFFFF or not -900 <= west <= 900:
        return None
    zone = timezone(timedelta(minutes=-west))
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    when = when.astimezone(zone) + timedelta(milliseconds=subsec & 0xFFFF)
    if when.year > 2100:
        return None
    return when.isoformat(timespec="milliseconds")


# --- QuickTime 'TAGS': "<MAKER> DIGITAL CAMERA\0" then the vendor's binary record

#: (make prefix, make length, model offset, model length) per vendor layout
_MOVIE_TAGS: tuple[tuple[bytes, int, int, int], ...] = (
    (b"PENTAX DIGITAL CAMERA\x00", 24, 0, 0),
    (b"FUJIFILM DIGITAL CAMERA\x00", 24, 0x18, 16),
    (b"NIKON DIGITAL CAMERA\x00", 24, 0x18, 8),
    (b"SAMSUNG DIGITAL CAMERA\x00", 24, 0x18, 16),
    (b"OLYMPUS DIGITAL CAMERA\x00", 24, 0x18, 24),
    (b"EASTMAN KODAK COMPANY", 21, 0x16, 42),
    (b"KONICA MINOLTA DIGITAL CAMERA", 32, 0, 0),
    (b"MINOLTA DIGITAL CAMERA", 32, 0, 0),
)


def movie_tags_camera(data: bytes) -> tuple[str | None, str | None]:
    """(make, model) of a QuickTime 'TAGS' atom in a known vendor layout, else (None, None)."""
    for prefix, make_len, model_at, model_len in _MOVIE_TAGS:
        if data.startswith(prefix):
            make = clean_text(data[:make_len].split(b"\x00", 1)[0])
            model = None
            if model_len and len(data) >= model_at + 1:
                raw = data[model_at : model_at + model_len].split(b"\x00", 1)[0]
                model = clean_text(raw)
            return make, model
    return None, None
