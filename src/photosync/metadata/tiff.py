"""A small, defensive TIFF/EXIF IFD reader.

Pillow's EXIF reader is general but slow-ish and raises on some broken files;
we need only ~25 tags and must never fail, so we read exactly those, bounds-check
every offset and record what was wrong instead of raising.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

# type id -> (size of one value, struct code or "" for raw bytes)
_TYPES: dict[int, tuple[int, str]] = {
    1: (1, "B"),
    2: (1, ""),
    3: (2, "H"),
    4: (4, "I"),
    5: (8, "II"),
    6: (1, "b"),
    7: (1, ""),
    8: (2, "h"),
    9: (4, "i"),
    10: (8, "ii"),
    11: (4, "f"),
    12: (8, "d"),
    13: (4, "I"),
}

IFD0_TAGS = frozenset(
    {
        0x0100,  # ImageWidth
        0x0101,  # ImageLength
        0x010E,  # ImageDescription
        0x010F,  # Make
        0x0110,  # Model
        0x0112,  # Orientation
        0x02BC,  # XMLPacket (XMP in TIFF)
        0x83BB,  # IPTC-NAA
        0x8769,  # ExifIFD pointer
        0x8825,  # GPS IFD pointer
        0x9003,  # DateTimeOriginal, DateTimeDigitized, their offsets and sub-seconds:
        0x9004,  # some writers (Olympus TIFFs) put them into IFD0
        0x9010,  # OffsetTime (some writers put it in IFD0)
        0x9011,
        0x9012,
        0x9291,
        0x9292,
        0x9C9B,  # XPTitle
        0x9C9E,  # XPKeywords
    }
)
EXIF_TAGS = frozenset(
    {0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9290, 0x9291, 0x9292, 0x927C}  # + MakerNote
)
GPS_TAGS = frozenset({0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0006, 0x0007, 0x001D})
# Tags whose value we want as raw bytes whatever type the writer used.
RAW_TAGS = frozenset({0x02BC, 0x83BB, 0x9C9B, 0x9C9E, 0x927C})
#: tags of which only the first bytes are read (a maker note: its vendor's signature and
#: the few fields ``metadata.vendor`` reads, not the 100 KB some cameras write)
PREFIX_TAGS = {0x927C: 256}
#: IFDs after IFD0 looked at for a camera IFD0 does not name (a scanner's multi-page TIFF)
MAX_NEXT_IFDS = 8

MAX_ENTRIES = 1000
MAX_VALUE_BYTES = 4 * 1024 * 1024

Reader = Callable[[int, int], bytes]
Value = str | bytes | tuple[float | int | None, ...]


@dataclass
class TiffTags:
    """Decoded tags of IFD0, the Exif IFD and the GPS IFD; ``gps_present`` tells an empty GPS IFD apart."""

    ifd0: dict[int, Value] = field(default_factory=dict)
    exif: dict[int, Value] = field(default_factory=dict)
    gps: dict[int, Value] = field(default_factory=dict)
    gps_present: bool = False
    problems: list[str] = field(default_factory=list)


def bytes_reader(data: bytes) -> Reader:
    def read(offset: int, size: int) -> bytes:
        if offset < 0 or size < 0:
            return b""
        return data[offset : offset + size]

    return read


def file_reader(fh: BinaryIO, base: int = 0) -> Reader:
    def read(offset: int, size: int) -> bytes:
        if offset < 0 or size < 0:
            return b""
        fh.seek(base + offset)
        return fh.read(size)

    return read


def read_tiff(read: Reader, *, what: str = "EXIF") -> TiffTags:
    """Read the tags we use from a TIFF structure; problems go into ``TiffTags.problems``."""
    tags = TiffTags()
    head = read(0, 8)
    if len(head) < 8:
        tags.problems.append(f"unreadable {what}: too short")
        return tags
    if head[:2] == b"II":
        endian = "<"
    elif head[:2] == b"MM":
        endian = ">"
    else:
        tags.problems.append(f"unreadable {what}: bad byte-order mark")
        return tags
    magic, ifd0_offset = struct.unpack(endian + "HI", head[2:8])
    if magic not in (42, 43, 0x4F52, 0x5352, 0x55):  # TIFF, ORF, RW2 variants
        tags.problems.append(f"unreadable {what}: bad TIFF magic {magic}")
        return tags
    visited: set[int] = set()
    tags.ifd0 = _read_ifd(read, endian, ifd0_offset, IFD0_TAGS, tags, what, "IFD0", visited)
    if 0x010F not in tags.ifd0 and 0x0110 not in tags.ifd0:
        _camera_from_next_ifds(read, endian, ifd0_offset, tags, visited)
    for pointer, name, wanted in ((0x8769, "ExifIFD", EXIF_TAGS), (0x8825, "GPS", GPS_TAGS)):
        if pointer not in tags.ifd0:
            continue
        value = tags.ifd0[pointer]
        if value == () and name == "GPS":  # an empty GPS block: present, but no fix
            tags.gps_present = True
            continue
        if not isinstance(value, tuple) or not value or not isinstance(value[0], int):
            tags.problems.append(f"unreadable {what}: {name} pointer has a wrong type")
            continue
        ifd = _read_ifd(read, endian, value[0], wanted, tags, what, name, visited)
        if name == "ExifIFD":
            tags.exif = ifd
        else:
            tags.gps = ifd
            tags.gps_present = True
    return tags


def _camera_from_next_ifds(
    read: Reader, endian: str, offset: int, tags: TiffTags, visited: set[int]
) -> None:
    """Make and model from the first later IFD stating them, as exiftool reports them
    (a CanoScan writes them into pages 2-4 only); their notes are not the file's."""
    for _ in range(MAX_NEXT_IFDS):
        raw_count = read(offset, 2)
        if len(raw_count) < 2:
            return
        (count,) = struct.unpack(endian + "H", raw_count)
        raw_next = read(offset + 2 + 12 * count, 4)
        if count > MAX_ENTRIES or len(raw_next) < 4:
            return
        (offset,) = struct.unpack(endian + "I", raw_next)
        if not offset or offset in visited:
            return
        found = _read_ifd(read, endian, offset, _CAMERA_TAGS, TiffTags(), "", "", visited)
        if found:
            tags.ifd0.update(found)
            return


_CAMERA_TAGS = frozenset({0x010F, 0x0110})


def _read_ifd(
    read: Reader,
    endian: str,
    offset: int,
    wanted: frozenset[int],
    tags: TiffTags,
    what: str,
    name: str,
    visited: set[int],
) -> dict[int, Value]:
    out: dict[int, Value] = {}
    if offset in visited or offset < 8:
        if offset in visited:
            tags.problems.append(f"unreadable {what}: {name} loops back")
        elif offset:
            tags.problems.append(f"unreadable {what}: {name} offset {offset} is invalid")
        return out
    visited.add(offset)
    raw_count = read(offset, 2)
    if len(raw_count) < 2:
        tags.problems.append(f"unreadable {what}: {name} offset {offset} is past the end")
        return out
    (count,) = struct.unpack(endian + "H", raw_count)
    if count == 0:
        return out
    if count > MAX_ENTRIES:
        tags.problems.append(f"unreadable {what}: {name} claims {count} entries")
        return out
    table = read(offset + 2, count * 12)
    if len(table) < count * 12:
        tags.problems.append(f"unreadable {what}: {name} is truncated")
        count = len(table) // 12
    for i in range(count):
        tag, typ, n = struct.unpack(endian + "HHI", table[i * 12 : i * 12 + 8])
        if tag not in wanted:
            continue
        if typ not in _TYPES:
            tags.problems.append(f"unreadable {what}: {name} tag 0x{tag:04x} has type {typ}")
            continue
        size, code = _TYPES[typ]
        total = size * n
        if tag in PREFIX_TAGS:
            total = min(total, PREFIX_TAGS[tag])
        if total > MAX_VALUE_BYTES:
            tags.problems.append(f"unreadable {what}: {name} tag 0x{tag:04x} is too large")
            continue
        if total <= 4:
            data = table[i * 12 + 8 : i * 12 + 8 + total]
        else:
            (value_offset,) = struct.unpack(endian + "I", table[i * 12 + 8 : i * 12 + 12])
            data = read(value_offset, total)
            if len(data) < total:
                tags.problems.append(
                    f"unreadable {what}: {name} tag 0x{tag:04x} points past the end"
                )
                continue
        if tag in RAW_TAGS:
            out[tag] = data
        elif typ == 2:
            out[tag] = _ascii(data)
        elif code == "":
            out[tag] = data
        elif tag in (0x8769, 0x8825) and typ not in (4, 13, 3):
            tags.problems.append(f"unreadable {what}: {name} pointer 0x{tag:04x} has type {typ}")
        else:
            out[tag] = _numbers(endian, code, n, data)
    return out


def _ascii(data: bytes) -> str:
    data = data.split(b"\x00", 1)[0]
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return data.decode("latin-1").strip()


def _numbers(endian: str, code: str, n: int, data: bytes) -> tuple[float | int | None, ...]:
    if code in ("II", "ii"):
        pairs = struct.unpack(endian + code[0] * (2 * n), data)
        return tuple(
            (pairs[j] / pairs[j + 1]) if pairs[j + 1] else None for j in range(0, len(pairs), 2)
        )
    return tuple(struct.unpack(endian + code * n, data))
