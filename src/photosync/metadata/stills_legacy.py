"""Cheap readers for still-image containers Pillow does not open: BPG, Lytro LFP,
MIE (exiftool's own meta-information format), Kodak Photo CD and Sigma X3F raws.

Each reads only its header and metadata blocks (a BPG's extension data, an LFP's
JSON chunks, a MIE's elements, a Photo CD's IPI sector, an X3F's PROP section);
picture data is skipped by seeking. Every length is checked against the file and
a budget, so a malformed file gives notes in ``Facts.problems`` (no date, with a
reason), never an exception or a long loop.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

from photosync.metadata.dates import parse_exif_datetime, parse_xmp_datetime
from photosync.metadata.exif import facts_from_exif_bytes
from photosync.metadata.facts import Facts, clean_text, valid_location
from photosync.metadata.iptc import parse_iim
from photosync.metadata.xmp import parse_xmp_packet

MAX_BLOCK = 4 * 1024 * 1024
MAX_ELEMENTS = 10_000
MAX_DEPTH = 8

#: date labels of these readers (``extract.DATE_PRIORITY`` ranks them)
SIGMA_DATE_SOURCE = "sigma:DateTimeOriginal"
LYTRO_DATE_SOURCE = "lytro:DateTimeOriginal"
MIE_DATE_SOURCE = "mie:DateTimeOriginal"
MIE_CREATE_SOURCE = "mie:CreateDate"
#: when the scan was written to the Photo CD (the film's own date is not recorded)
PHOTOCD_DATE_SOURCE = "photocd:CreateDate"


def read_still(fmt: str, fh: BinaryIO, size: int) -> list[Facts]:
    """Facts of a ``bpg``, ``lfp``, ``mie``, ``pcd`` or ``x3f`` file, best source first."""
    reader = {
        "bpg": read_bpg,
        "lfp": read_lfp,
        "mie": read_mie,
        "pcd": read_photocd,
        "x3f": read_x3f,
    }[fmt]
    try:
        return reader(fh, size)
    except (OSError, ValueError, struct.error, zlib.error, RecursionError) as exc:
        return [Facts(origin=fmt, problems=[f"unreadable {fmt.upper()}: {exc}"])]


def _read(fh: BinaryIO, pos: int, length: int) -> bytes:
    fh.seek(pos)
    return fh.read(length)


def _unix_utc(seconds: int) -> str | None:
    """Seconds since 1970 UTC as ISO with 'Z'; None for 0, all-ones or absurd values."""
    if seconds <= 0 or seconds >= 0xFFFFFFFF:
        return None
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ") if when.year <= 2100 else None


def _payload_facts(exif: bytes | None, xmp: bytes | None, iim: bytes | None) -> list[Facts]:
    out: list[Facts] = []
    if exif:
        out.append(facts_from_exif_bytes(exif)[0])
    if xmp:
        out.append(parse_xmp_packet(xmp))
    if iim:
        out.append(parse_iim(iim))
    return out


# --- BPG (bellard.org/bpg): a header of ue7 numbers, then optional extension data


def _ue7(data: bytes, pos: int) -> tuple[int, int] | None:
    """(value, next position) of a BPG variable-length number (at most 5 bytes), or None."""
    value = 0
    for i in range(5):
        if pos + i >= len(data):
            return None
        byte = data[pos + i]
        if i == 0 and byte == 0x80:
            return None
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            return value, pos + i + 1
    return None


def read_bpg(fh: BinaryIO, size: int) -> list[Facts]:
    """A BPG's EXIF and XMP extensions (tags 1 and 3) and its picture size."""
    head = _read(fh, 0, 32)
    base = Facts(origin="bpg")
    fields: list[int] = []
    pos = 6
    for _ in range(3):  # width, height, picture data length
        found = _ue7(head, pos) if head[:4] == b"BPG\xfb" else None
        if found is None:
            base.problems.append("unreadable BPG header")
            return [base]
        fields.append(found[0])
        pos = found[1]
    base.width, base.height = (fields[0], fields[1]) if fields[0] and fields[1] else (None, None)
    if not head[5] & 0x08:  # no extension data: nothing but pixels
        return [base]
    found = _ue7(head, pos)
    if found is None or found[0] > MAX_BLOCK:
        base.problems.append("unreadable BPG extension length")
        return [base]
    length, pos = found
    data = _read(fh, pos, length)
    if len(data) < length:
        base.problems.append("truncated BPG extension data")
    exif = xmp = None
    pos = 0
    while pos < len(data):
        kind = _ue7(data, pos)
        span = _ue7(data, kind[1]) if kind else None
        if kind is None or span is None or span[1] + span[0] > len(data):
            base.problems.append("corrupt BPG extension")
            break
        body = data[span[1] : span[1] + span[0]]
        if kind[0] == 1 and exif is None:
            # libbpg keeps the pad byte that followed APP1's "Exif\0"
            exif = body[1:] if body[1:3] in (b"II", b"MM") else body
        elif kind[0] == 3 and xmp is None:
            xmp = body
        pos = span[1] + span[0]
    return [*_payload_facts(exif, xmp, None), base]


# --- Lytro LFP: 16-byte chunk headers, an 80-byte id, the data padded to 16 bytes


def read_lfp(fh: BinaryIO, size: int) -> list[Facts]:
    """Camera, date, size and orientation from the JSON metadata chunks of a Lytro file."""
    facts = Facts(origin="lytro")
    if _read(fh, 0, 8) != b"\x89LFP\r\n\x1a\n":
        facts.problems.append("unreadable LFP header")
        return [facts]
    pos = 16
    for _ in range(MAX_ELEMENTS):
        if pos + 16 > size:
            break
        head = _read(fh, pos, 16)
        if len(head) < 16 or not head.startswith(b"\x89LF"):
            facts.problems.append(f"corrupt LFP chunk at byte {pos}")
            break
        (length,) = struct.unpack(">I", head[12:16])
        body = pos + 16 + 80  # the chunk's id (a sha1 name) is not needed
        if body + length > size:
            facts.problems.append("truncated LFP chunk")
            break
        if length <= MAX_BLOCK and _read(fh, body, 16).lstrip().startswith(b"{"):
            _lytro_json(_read(fh, body, length), facts)
        pos = body + length + (-length % 16)
    if not facts.dates and not facts.problems:
        facts.problems.append("LFP without a date in its metadata")
    return [facts]


def _at(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _lytro_json(data: bytes, facts: Facts) -> None:
    try:
        tree = json.loads(data.decode("utf-8", errors="replace"))
    except (ValueError, RecursionError):
        facts.problems.append("unreadable LFP metadata (JSON)")
        return
    make, model = _at(tree, "camera", "make"), _at(tree, "camera", "model")
    if isinstance(make, str) and facts.camera_make is None:
        facts.camera_make = clean_text(make)
    if isinstance(model, str) and facts.camera_model is None:
        facts.camera_model = clean_text(model)
    when = _at(tree, "devices", "clock", "zuluTime")
    parsed = parse_xmp_datetime(when) if isinstance(when, str) else None
    if parsed:
        facts.dates.setdefault(LYTRO_DATE_SOURCE, parsed)
    width, height = _at(tree, "image", "width"), _at(tree, "image", "height")
    if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
        facts.width, facts.height = facts.width or width, facts.height or height
    orientation = _at(tree, "image", "orientation")
    if isinstance(orientation, int) and 1 <= orientation <= 8 and facts.orientation is None:
        facts.orientation = orientation


# --- MIE (exiftool.org/MIE1.1-20070121.pdf): '~', format, tag length, value length


class _Mie:
    """What a MIE walk found; ``elements`` bounds the walk."""

    def __init__(self) -> None:
        self.facts = Facts(origin="mie")
        self.exif: bytes | None = None
        self.xmp: bytes | None = None
        self.iim: bytes | None = None
        self.lat: float | None = None
        self.lng: float | None = None
        self.elements = 0


def read_mie(fh: BinaryIO, size: int) -> list[Facts]:
    """Document dates, camera, GPS and the EXIF/XMP/IPTC blocks of a MIE file."""
    found = _Mie()
    _mie_group(fh, 0, size, ">", (), found, 0)
    facts = found.facts
    facts.location = valid_location(found.lat, found.lng)
    if not facts.dates and not facts.problems and found.exif is None:
        facts.problems.append("MIE without a date in its Document group")
    return [*_payload_facts(found.exif, found.xmp, found.iim), facts]


def _mie_group(
    fh: BinaryIO, pos: int, end: int, endian: str, path: tuple[str, ...], found: _Mie, depth: int
) -> int | None:
    """Walk one group's elements from ``pos``; the position after its terminator, or None."""
    facts = found.facts
    while pos + 4 <= end:
        found.elements += 1
        if found.elements > MAX_ELEMENTS:
            facts.problems.append("MIE has too many elements; stopped reading")
            return None
        head = _read(fh, pos, 4)
        if len(head) < 4 or head[:1] != b"~":
            facts.problems.append(f"corrupt MIE element at byte {pos}")
            return None
        fmt, tag_len, value_len = head[1], head[2], head[3]
        tag = _read(fh, pos + 4, tag_len).decode("latin-1")
        pos += 4 + tag_len
        if value_len > 252:  # the length follows in 2, 4 or 8 bytes
            width = 1 << (256 - value_len)
            raw = _read(fh, pos, width)
            if len(raw) < width:
                break
            value_len = int.from_bytes(raw, "little" if endian == "<" else "big")
            pos += width
        if not tag_len:  # the group's terminator
            return pos + value_len
        if pos + value_len > end:
            facts.problems.append(f"truncated MIE element {tag!r}")
            return None
        name = tag.split("(", 1)[0]
        if fmt & 0xF3 == 0x10:  # a group (0x10 big-endian, 0x18 little, 0x04 compressed)
            inner = "<" if fmt & 0x08 else ">"
            if depth >= MAX_DEPTH:
                facts.problems.append("MIE groups nested too deep")
                return None
            if value_len == 0:  # its elements follow inline, up to its terminator
                after = _mie_group(fh, pos, end, inner, (*path, name), found, depth + 1)
                if after is None:
                    return None
                pos = after
                continue
            if fmt & 0x04 and value_len <= MAX_BLOCK:
                data = _inflate(_read(fh, pos, value_len), facts)
                _mie_group(io.BytesIO(data), 0, len(data), inner, (*path, name), found, depth + 1)
            elif not fmt & 0x04:
                _mie_group(fh, pos, pos + value_len, inner, (*path, name), found, depth + 1)
        elif value_len <= MAX_BLOCK and _mie_wanted(path, name):
            value = _read(fh, pos, value_len)
            if fmt & 0x04:
                value = _inflate(value, facts)
            _mie_value(path, name, fmt & 0xFB, value, endian, found)
        pos += value_len
    return pos


def _inflate(data: bytes, facts: Facts) -> bytes:
    try:
        return zlib.decompressobj().decompress(data, MAX_BLOCK)
    except zlib.error:
        facts.problems.append("unreadable compressed MIE element")
        return b""


_MIE_WANTED = {
    "Document": frozenset({"OriginalDate", "CreateDate"}),
    "Camera": frozenset({"Make", "Model"}),
    "Meta": frozenset({"EXIF", "XMP", "IPTC"}),
    "GPS": frozenset({"Latitude", "Longitude"}),
}


def _mie_wanted(path: tuple[str, ...], name: str) -> bool:
    return bool(path) and name in _MIE_WANTED.get(path[-1], frozenset())


def _mie_text(fmt: int, value: bytes, endian: str) -> str | None:
    if fmt == 0x29:
        return clean_text(value.decode("utf-16-le" if endian == "<" else "utf-16-be", "replace"))
    if fmt == 0x28:
        return clean_text(value.decode("utf-8", "replace"))
    return clean_text(value.decode("latin-1"))


def _mie_value(
    path: tuple[str, ...], name: str, fmt: int, value: bytes, endian: str, found: _Mie
) -> None:
    facts, group = found.facts, path[-1]
    if group == "Meta":
        if name == "EXIF" and found.exif is None:
            found.exif = value
        elif name == "XMP" and found.xmp is None:
            found.xmp = value
        elif name == "IPTC" and found.iim is None:
            found.iim = value
    elif group == "Camera" and fmt in (0x20, 0x28, 0x29):
        text = _mie_text(fmt, value, endian)
        if name == "Make":
            facts.camera_make = facts.camera_make or text
        else:
            facts.camera_model = facts.camera_model or text
    elif group == "Document" and fmt in (0x20, 0x28):
        when = parse_exif_datetime(_mie_text(fmt, value, endian))
        source = MIE_DATE_SOURCE if name == "OriginalDate" else MIE_CREATE_SOURCE
        if when:
            facts.dates.setdefault(source, when)
    elif group == "GPS" and fmt == 0x5B and 8 <= len(value) <= 24 and not len(value) % 8:
        parts = struct.unpack(endian + "i" * (len(value) // 4), value)
        degrees = 0.0  # degrees, minutes, seconds (a south or west value all negative)
        for index, scale in enumerate((1, 60, 3600)[: len(parts) // 2]):
            num, den = parts[2 * index], parts[2 * index + 1]
            degrees += num / den / scale if den else 0.0
        if name == "Latitude":
            found.lat = degrees
        else:
            found.lng = degrees


# --- Kodak Photo CD: the Image Pack Information sector at byte 2048


def read_photocd(fh: BinaryIO, size: int) -> list[Facts]:
    """When the scan was written, and the picture's size and turn, from a Photo CD's IPI."""
    facts = Facts(origin="photocd")
    ipi = _read(fh, 2048, 1539)
    if len(ipi) < 1539 or not ipi.startswith(b"PCD_IPI"):
        facts.problems.append("unreadable Photo CD header")
        return [facts]
    (created,) = struct.unpack(">I", ipi[13:17])
    when = _unix_utc(created)
    if when:
        facts.dates[PHOTOCD_DATE_SOURCE] = when
    else:
        facts.problems.append("Photo CD without a creation date")
    attributes = ipi[1538]
    turned = attributes & 0x01  # 1 and 3: a quarter turn
    scale = ((attributes >> 2) & 0x03) * 2 or 1  # Base, 4Base, 16Base
    facts.width = (512 if turned else 768) * scale
    facts.height = (768 if turned else 512) * scale
    facts.orientation = 1  # decoders (Pillow too) apply the turn themselves
    return [facts]


# --- Sigma/Foveon X3F: a header, then a section directory whose offset ends the file


def read_x3f(fh: BinaryIO, size: int) -> list[Facts]:
    """Camera and date from an X3F's PROP section (and the EXIF of a JPEG preview, if any)."""
    facts = Facts(origin="sigma")
    head = _read(fh, 0, 52)
    if len(head) < 40 or size < 56 or not head.startswith(b"FOVb"):
        facts.problems.append("unreadable X3F header")
        return [facts]
    (version,) = struct.unpack("<I", head[4:8])
    dims_at = 28 if version >> 16 < 4 else 40
    if len(head) >= dims_at + 8:
        width, height = struct.unpack("<II", head[dims_at : dims_at + 8])
        if 0 < width < 100_000 and 0 < height < 100_000:
            facts.width, facts.height = width, height
    (directory,) = struct.unpack("<I", _read(fh, size - 4, 4).rjust(4, b"\x00"))
    top = _read(fh, directory, 12)
    if len(top) < 12 or not top.startswith(b"SECd"):
        facts.problems.append("unreadable X3F section directory")
        return [facts]
    (count,) = struct.unpack("<I", top[8:12])
    table = _read(fh, directory + 12, min(count, 1000) * 12)
    preview: list[Facts] = []
    for index in range(len(table) // 12):
        offset, length, kind = struct.unpack("<II4s", table[index * 12 : index * 12 + 12])
        if offset + length > size or length > MAX_BLOCK:
            continue
        if kind == b"PROP":
            _x3f_properties(_read(fh, offset, length), facts)
        elif kind == b"IMA2" and not preview and length > 28:
            jpeg = _read(fh, offset + 28, length - 28)
            if jpeg.startswith(b"\xff\xd8\xff\xe1") and jpeg[6:12] == b"Exif\x00\x00":
                (app1,) = struct.unpack(">H", jpeg[4:6])
                preview = _payload_facts(jpeg[6 : 4 + app1], None, None)
    if not facts.dates and not preview:
        facts.problems.append("X3F without a date in its properties")
    return [facts, *preview]


_X3F_FIELDS = {"CAMMANUF", "CAMMODEL", "TIME"}


def _x3f_properties(data: bytes, facts: Facts) -> None:
    """'SECp', version, entry count, character format, reserved, text length; then
    (name, value) character offsets into a UTF-16LE pool of NUL-ended strings."""
    if len(data) < 24 or not data.startswith(b"SECp"):
        facts.problems.append("unreadable X3F properties")
        return
    count, char_format, _reserved, chars = struct.unpack("<IIII", data[8:24])
    pool_at = 24 + 8 * count
    if char_format != 0 or pool_at + 2 * chars > len(data):
        facts.problems.append("unreadable X3F properties")
        return
    pool = data[pool_at : pool_at + 2 * chars]
    for index in range(min(count, 1000)):
        name_at, value_at = struct.unpack("<II", data[24 + 8 * index : 32 + 8 * index])
        name = _utf16z(pool, name_at)
        if name not in _X3F_FIELDS:
            continue
        value = _utf16z(pool, value_at)
        if name == "CAMMANUF":
            facts.camera_make = facts.camera_make or clean_text(value)
        elif name == "CAMMODEL":
            facts.camera_model = facts.camera_model or clean_text(value)
        elif value.isascii() and value.isdigit():  # not '²': int() refuses it
            # seconds since 1970 on the camera's clock: a wall-clock time, no zone
            seconds = int(value)
            if 0 < seconds < 4_102_444_800:
                when = datetime(1970, 1, 1) + timedelta(seconds=seconds)
                facts.dates.setdefault(SIGMA_DATE_SOURCE, when.isoformat())


def _utf16z(pool: bytes, index: int) -> str:
    """The NUL-ended UTF-16LE string at character ``index`` (at most 256 characters)."""
    text = pool[2 * index : 2 * index + 512].decode("utf-16-le", errors="replace")
    return text.split("\x00", 1)[0]
