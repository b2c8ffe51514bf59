"""Dates and cameras in the headers of camcorder and cinema videos: DV, AVCHD (MTS/M2TS),
MXF and RED R3D.

None of these is QuickTime, so the ISO BMFF reader never sees them; each keeps its
recording date somewhere of its own:

- DV: the VAUX "recording date" and "recording time" packs (IEC 61834) of the first
  DIF sequences (BCD, the camera's wall clock);
- AVCHD: the MDPM unregistered-user-data SEI of the H.264 stream (date, time, time
  zone, a maker code, for Sony the model, and the GPS fix of a camcorder with one);
- MXF: the header metadata's local sets (the packages' creation date, the
  Identification's modification date), found through the primer pack;
- R3D: the RED directory after the file header (date, time, camera model).

Reads are bounded (``READ_BUDGET`` bytes in all, whatever the file's size: a 4 GB
clip costs what its header costs) and the essence is never read. Bad input gives no
date and a note in ``Facts.problems``, never an exception and never an endless loop.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import BinaryIO

from photosync.metadata.dates import parse_exif_datetime
from photosync.metadata.facts import Facts, clean_text, valid_location
from photosync.model.record import Location

#: bytes one file may cost at most, all reads together
READ_BUDGET = 2 * 1024 * 1024

DV_DATE_SOURCE = "dv:DateTimeOriginal"
H264_DATE_SOURCE = "h264:DateTimeOriginal"
MXF_CREATE_SOURCE = "mxf:CreateDate"
MXF_MODIFY_SOURCE = "mxf:ModifyDate"
RED_DATE_SOURCE = "red:DateTimeOriginal"
#: the date labels of this module, best first (``extract.DATE_PRIORITY`` lists them)
DATE_SOURCES = (
    DV_DATE_SOURCE,
    H264_DATE_SOURCE,
    RED_DATE_SOURCE,
    MXF_CREATE_SOURCE,
    MXF_MODIFY_SOURCE,
)


class _Window:
    """Bounded reads of a file: at most ``budget`` bytes in all, then only empty answers."""

    def __init__(self, fh: BinaryIO, size: int, budget: int = READ_BUDGET) -> None:
        self.fh, self.size, self.left = fh, size, budget

    def at(self, pos: int, length: int) -> bytes:
        length = max(0, min(length, self.size - pos, self.left))
        if pos < 0 or length == 0:
            return b""
        self.fh.seek(pos)
        data = self.fh.read(length)
        self.left -= len(data)
        return data

    @property
    def spent(self) -> bool:
        return self.left <= 0


def _bcd(value: int) -> int | None:
    """A packed BCD byte as a number, None when a nibble is no digit (0xFF: unset)."""
    high, low = value >> 4, value & 0x0F
    return None if high > 9 or low > 9 else high * 10 + low


def _compose(
    year: int, parts: tuple[int, ...], *, fraction: str | None = None, offset: str | None = None
) -> str | None:
    month, day, hour, minute, second = parts
    text = f"{year:04d}:{month:02d}:{day:02d} {hour:02d}:{minute:02d}:{second:02d}"
    return parse_exif_datetime(text, subsec=fraction, offset=offset)


# --- DV ------------------------------------------------------------------------------

DIF_BLOCK = 80
#: one DIF sequence: a header, 2 subcode, 3 VAUX, 9 audio and 135 video blocks
DIF_SEQUENCE = 150 * DIF_BLOCK
#: DIF sequences searched for the date packs (a 625/50 frame has 12)
MAX_DV_SEQUENCES = 24
_DV_HEADER = b"\x1f\x07\x00"
_PACK_REC_DATE, _PACK_REC_TIME = 0x62, 0x63


def read_dv(fh: BinaryIO, size: int) -> Facts:
    """The VAUX recording date and time of the first DIF sequences that carry them."""
    facts = Facts(origin="dv")
    window = _Window(fh, size)
    head = window.at(0, DIF_SEQUENCE)
    start = -1
    for pos in _occurrences(head, _DV_HEADER):
        if pos + 3 < len(head) and head[pos + 3] in (0x3F, 0xBF):
            start = pos
            break
    if start < 0:
        facts.problems.append("DV without a DIF header block")
        return facts
    header = window.at(start, 6 * DIF_BLOCK)
    if len(header) == 6 * DIF_BLOCK and header[5 * DIF_BLOCK + 51] & 0x1F in (0, 1):
        facts.width, facts.height = (720, 576) if header[3] & 0x80 else (720, 480)
    for sequence in range(MAX_DV_SEQUENCES):
        blocks = window.at(start + sequence * DIF_SEQUENCE, 6 * DIF_BLOCK)
        if len(blocks) < 6 * DIF_BLOCK or blocks[0] & 0xE0:  # not a header block: lost sync
            break
        when = _dv_date(blocks)
        if when:
            facts.dates[DV_DATE_SOURCE] = when
            return facts
    facts.problems.append("DV without a recording date pack")
    return facts


def _dv_date(blocks: bytes) -> str | None:
    """Packs of 5 bytes, 15 per VAUX block: a date pack, then the time pack of that date."""
    day: tuple[int, int, int] | None = None
    for index in range(1, 6):
        block = blocks[index * DIF_BLOCK : (index + 1) * DIF_BLOCK]
        if block[0] & 0xE0 != 0x40:  # section type 2: VAUX
            continue
        for pack in range(15):
            kind, *body = block[3 + 5 * pack : 8 + 5 * pack]
            if kind == _PACK_REC_DATE:
                year, month, mday = _bcd(body[3]), _bcd(body[2] & 0x1F), _bcd(body[1] & 0x3F)
                day = (year, month, mday) if year is not None and month and mday else None
            elif kind == _PACK_REC_TIME and day is not None:
                second, minute, hour = (
                    _bcd(body[1] & 0x7F),
                    _bcd(body[2] & 0x7F),
                    _bcd(body[3] & 0x3F),
                )
                if second is None or minute is None or hour is None:
                    return None
                year, month, mday = day
                century = 2000 if year < 90 else 1900  # DV is younger than 1990
                return _compose(century + year, (month, mday, hour, minute, second))
            else:
                day = None  # the time pack must follow its date pack
    return None


def _occurrences(data: bytes, needle: bytes) -> list[int]:
    found: list[int] = []
    pos = data.find(needle)
    while pos >= 0 and len(found) < 64:
        found.append(pos)
        pos = data.find(needle, pos + 1)
    return found


# --- AVCHD (MPEG transport stream, H.264 MDPM SEI) -----------------------------------

TS_PACKET = 188
#: transport packets read at most before giving up on the MDPM
MAX_TS_PACKETS = 8000
#: H.264 bytes kept per stream while looking for the MDPM
MAX_ES_BYTES = 512 * 1024
_MDPM = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM"
_SONY = 0x0108


def read_m2ts(fh: BinaryIO, size: int) -> Facts:
    """Date, time zone and camera from the first MDPM of the H.264 stream."""
    facts = Facts(origin="h264")
    window = _Window(fh, size)
    head = window.at(0, 2 * 192 + 8)
    if len(head) > 196 and head[4] == 0x47 and head[196] == 0x47:
        stride, skip = 192, 4  # M2TS: a 4-byte timecode before each packet
    elif len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        stride, skip = TS_PACKET, 0
    else:
        facts.problems.append("MPEG transport stream without packet sync")
        return facts
    streams: dict[int, bytearray] = {}
    mdpm: tuple[int, int] | None = None  # (pid, where its MDPM starts in that stream)
    for index in range(MAX_TS_PACKETS):
        packet = window.at(index * stride, stride)[skip:]
        if len(packet) < TS_PACKET or packet[0] != 0x47:
            break
        payload, pid = _ts_payload(packet)
        if payload is None:
            continue
        if packet[1] & 0x40 and payload[:3] == b"\x00\x00\x01" and len(payload) > 8:
            if 0xE0 <= payload[3] <= 0xEF and pid not in streams:
                streams[pid] = bytearray()  # a video PES stream
            payload = payload[9 + payload[8] :]  # the PES header
        stream = streams.get(pid)
        if stream is None or len(stream) > MAX_ES_BYTES or (mdpm and mdpm[0] != pid):
            continue
        seen = max(0, len(stream) - len(_MDPM))
        stream += payload
        if mdpm is None:
            found = stream.find(_MDPM, seen)
            mdpm = (pid, found + len(_MDPM)) if found >= 0 else None
        # the record ends where the next NAL unit starts (an MDPM may span packets)
        if mdpm and (stream.find(b"\x00\x00\x01", mdpm[1]) >= 0 or len(stream) > mdpm[1] + 4096):
            break
    if mdpm is None:
        facts.problems.append("AVCHD stream without an MDPM record (no date)")
        return facts
    stream = streams[mdpm[0]]
    end = stream.find(b"\x00\x00\x01", mdpm[1])
    _mdpm(bytes(stream[mdpm[1] : end if end >= 0 else None]), facts)
    return facts


def _ts_payload(packet: bytes) -> tuple[bytes | None, int]:
    pid = (packet[1] & 0x1F) << 8 | packet[2]
    control = packet[3] >> 4 & 3
    start = 4
    if control & 2:
        start += 1 + packet[4]
    if not control & 1 or start >= TS_PACKET:
        return None, pid
    return packet[start:TS_PACKET], pid


def _unescape(nal: bytes) -> bytes:
    """H.264 emulation prevention: 00 00 03 stands for 00 00."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def _mdpm(raw: bytes, facts: Facts) -> None:
    """MDPM: a count, then entries of a tag byte and 4 bytes, tags ascending."""
    data = _unescape(raw)
    if not data:
        facts.problems.append("truncated MDPM record")
        return
    entries: dict[int, bytes] = {}
    last = -1
    for index in range(data[0]):
        entry = data[1 + 5 * index : 6 + 5 * index]
        if len(entry) < 5 or entry[0] <= last:
            break
        last = entry[0]
        entries[last] = entry[1:]
    stamp = entries.get(0x18, b"") + entries.get(0x19, b"")
    if len(stamp) == 8:
        when = _mdpm_date(stamp)
        if when:
            facts.dates[H264_DATE_SOURCE] = when
    if H264_DATE_SOURCE not in facts.dates:
        facts.problems.append("MDPM record without a valid date")
    if 0xE0 in entries:
        (make,) = struct.unpack(">H", entries[0xE0][:2])
        # exiftool -n states the maker code as a number (4113 Canon, 264 Sony, 259
        # Panasonic, 4356 JVC), and so does the exiftool-assisted reader: one spelling
        facts.camera_make = str(make)
        model = b"".join(entries.get(tag, b"") for tag in (0xE4, 0xE5, 0xE6))
        if make == _SONY and model:
            facts.camera_model = clean_text(model.split(b"\x00", 1)[0])
    facts.location = _mdpm_place(entries)


def _mdpm_place(entries: dict[int, bytes]) -> Location | None:
    """GPS of a camcorder with a receiver: refs 0xB1/0xB5 ("N"/"S", "E"/"W"), then degrees,
    minutes and seconds as three entries each (0xB2.., 0xB6..), each a 16/16-bit fraction."""
    north, east = entries.get(0xB1, b"")[:1], entries.get(0xB5, b"")[:1]
    if north not in (b"N", b"S") or east not in (b"E", b"W"):
        return None
    lat, lng = _dms(entries, 0xB2), _dms(entries, 0xB6)
    if lat is None or lng is None:
        return None
    return valid_location(-lat if north == b"S" else lat, -lng if east == b"W" else lng)


def _dms(entries: dict[int, bytes], first: int) -> float | None:
    total = 0.0
    for index, scale in enumerate((1, 60, 3600)):
        raw = entries.get(first + index)
        if raw is None:
            return None
        numerator, denominator = struct.unpack(">HH", raw)
        if not denominator:
            return None
        total += numerator / denominator / scale
    return total


def _mdpm_date(stamp: bytes) -> str | None:
    """Time zone byte (0x40 DST, 0x20 west, 0x1E hours, 0x01 half hour), then BCD."""
    zone = stamp[0]
    digits = [_bcd(b) for b in stamp[1:]]
    if any(d is None for d in digits):
        return None
    century, year, month, day, hour, minute, second = (d or 0 for d in digits)
    offset = None
    if not zone & 0x80 and (zone >> 1) & 0x0F <= 14:
        sign = "-" if zone & 0x20 else "+"
        offset = f"{sign}{(zone >> 1) & 0x0F:02d}:{30 if zone & 1 else 0:02d}"
    return _compose(century * 100 + year, (month, day, hour, minute, second), offset=offset)


# --- MXF -----------------------------------------------------------------------------

#: KLV packets walked at most in the header partition
MAX_KLV = 4096
#: a local set larger than this is not header metadata we read
MAX_SET = 64 * 1024
_UL = b"\x06\x0e\x2b\x34"
#: UL bytes 8..15 (the registry version, byte 7, varies) of the dates we keep
_MXF_DATES = {
    bytes.fromhex("0702011001030000"): MXF_CREATE_SOURCE,  # package CreationTime
    bytes.fromhex("0702011001040000"): MXF_CREATE_SOURCE,  # Sony ClipCreationDateTime
    bytes.fromhex("0702011002030000"): MXF_MODIFY_SOURCE,  # Identification ModificationDate
}
#: local tags SMPTE 377 fixes, for a file whose primer pack does not list them
_STATIC_TAGS = {
    0x4405: bytes.fromhex("0702011001030000"),
    0x3C06: bytes.fromhex("0702011002030000"),
}
_MATERIAL_PACKAGE = 0x36


def read_mxf(fh: BinaryIO, size: int) -> Facts:
    """Creation (material package first) and modification dates of the header metadata."""
    facts = Facts(origin="mxf")
    window = _Window(fh, size)
    primer: dict[int, bytes] = dict(_STATIC_TAGS)
    found: dict[str, tuple[bool, str]] = {}
    pos = 0
    for _ in range(MAX_KLV):
        key = window.at(pos, 16)
        if len(key) < 16 or key[:4] != _UL:
            break
        length, body = _ber(window, pos + 16)
        if length is None:
            break
        if key[4:6] == b"\x01\x02" or (key[4:6] == b"\x02\x05" and key[13] in (0x03, 0x04)):
            break  # essence, or a body/footer partition: the header metadata is behind us
        if key[4:6] == b"\x02\x05" and key[8:16] == bytes.fromhex("0d01020101050100"):
            _primer(window.at(body, min(length, MAX_SET)), primer)
        elif key[4:6] == b"\x02\x53" and key[8:12] == b"\x0d\x01\x01\x01" and length <= MAX_SET:
            _local_set(window.at(body, length), primer, key[13] == _MATERIAL_PACKAGE, found)
        pos = body + length
    for source in (MXF_CREATE_SOURCE, MXF_MODIFY_SOURCE):
        if source in found:
            facts.dates[source] = found[source][1]
    if not facts.dates:
        facts.problems.append("MXF header metadata without a date")
    return facts


def _ber(window: _Window, pos: int) -> tuple[int | None, int]:
    """A BER length (short form, or 0x8N and N big-endian bytes) and where the value starts."""
    first = window.at(pos, 1)
    if not first:
        return None, pos
    if first[0] < 0x80:
        return first[0], pos + 1
    count = first[0] & 0x7F
    raw = window.at(pos + 1, count)
    if not 1 <= count <= 8 or len(raw) < count:
        return None, pos
    return int.from_bytes(raw, "big"), pos + 1 + count


def _primer(data: bytes, primer: dict[int, bytes]) -> None:
    """The primer pack: local tag -> UL, as a batch (count, item length 18)."""
    if len(data) < 8:
        return
    count, item = struct.unpack(">II", data[:8])
    if item != 18:
        return
    for index in range(min(count, (len(data) - 8) // 18)):
        entry = data[8 + 18 * index : 26 + 18 * index]
        (tag,) = struct.unpack(">H", entry[:2])
        if entry[2:6] == _UL:
            primer[tag] = entry[10:18]


def _local_set(
    data: bytes, primer: dict[int, bytes], material: bool, found: dict[str, tuple[bool, str]]
) -> None:
    pos = 0
    while pos + 4 <= len(data):
        tag, length = struct.unpack(">HH", data[pos : pos + 4])
        value = data[pos + 4 : pos + 4 + length]
        pos += 4 + length
        source = _MXF_DATES.get(primer.get(tag, b""))
        if source is None or len(value) != 8:
            continue
        when = _mxf_timestamp(value)
        if when and (source not in found or (material and not found[source][0])):
            found[source] = (material, when)


def _mxf_timestamp(value: bytes) -> str | None:
    """Year (2 bytes), month, day, hour, minute, second, quarter milliseconds."""
    year, month, day, hour, minute, second, quarter = struct.unpack(">H6B", value)
    if year == 0 or quarter > 249:
        return None
    fraction = f"{quarter * 4:03d}" if quarter else None
    return _compose(year, (month, day, hour, minute, second), fraction=fraction)


# --- RED R3D -------------------------------------------------------------------------

#: a RED directory entry's format is the top 4 bits of its tag; 1 is a string
_RED_STRING = 1
_RED_DATE_TIME, _RED_DATE, _RED_TIME, _RED_MODEL = 0x1005, 0x1023, 0x1024, 0x1071


def read_r3d(fh: BinaryIO, size: int) -> Facts:
    """The RED directory after the first block's header: date, time, camera model."""
    facts = Facts(origin="red")
    window = _Window(fh, size)
    head = window.at(0, 8)
    if len(head) < 8 or head[4:8] not in (b"RED1", b"RED2"):
        facts.problems.append("R3D without a RED header")
        return facts
    (block,) = struct.unpack(">I", head[:4])
    if head[4:8] == b"RED2":
        header = window.at(0, min(block, 64 * 1024))
        if len(header) >= 0x5C:
            facts.width, facts.height = struct.unpack(">II", header[0x4C:0x54])
        start = 0x44 + header[0x40] * 0x18 if len(header) > 0x40 else len(header)
        if start + 2 > len(header):
            facts.problems.append("truncated R3D header")
            return facts
        (length,) = struct.unpack(">H", header[start : start + 2])
        directory = header[start + 2 : start + 2 + length]
    else:
        header = window.at(0, 0x3C)
        if len(header) == 0x3C:
            (facts.width,), (facts.height,) = (
                struct.unpack(">H", header[at : at + 2]) for at in (0x36, 0x3A)
            )
        directory = window.at(block + 0x22, 4096)  # version 1: in the second block
    entries = _red_entries(directory)
    model = entries.get(_RED_MODEL)
    facts.camera_model = clean_text(model) if model else None
    when = None
    stamp = (entries.get(_RED_DATE_TIME) or b"").decode("latin-1")
    if len(stamp) >= 12 and stamp[:12].isdigit():
        s = stamp[12:14] if stamp[12:14].isdigit() else "00"
        when = parse_exif_datetime(
            f"{stamp[:4]}:{stamp[4:6]}:{stamp[6:8]} {stamp[8:10]}:{stamp[10:12]}:{s}"
        )
    day = (entries.get(_RED_DATE) or b"").decode("latin-1")
    time = (entries.get(_RED_TIME) or b"").decode("latin-1")
    if when is None and len(day) == 8 and len(time) == 6 and (day + time).isdigit():
        when = parse_exif_datetime(
            f"{day[:4]}:{day[4:6]}:{day[6:]} {time[:2]}:{time[2:4]}:{time[4:]}"
        )
    if when:
        facts.dates[RED_DATE_SOURCE] = when
    else:
        facts.problems.append("R3D without a recording date")
    return facts


def _red_entries(directory: bytes) -> dict[int, bytes]:
    """Entries of (length incl. its 4-byte head, tag, value); strings only."""
    entries: dict[int, bytes] = {}
    pos = 0
    while pos + 4 <= len(directory):
        length, tag = struct.unpack(">HH", directory[pos : pos + 4])
        if length < 4 or pos + length > len(directory):
            break
        if tag >> 12 == _RED_STRING:
            entries.setdefault(tag, directory[pos + 4 : pos + length].split(b"\x00", 1)[0])
        pos += length
    return entries


#: sniffed format (``formats.sniff_media``) -> its reader
READERS: dict[str, Callable[[BinaryIO, int], Facts]] = {
    "dv": read_dv,
    "m2ts": read_m2ts,
    "mpeg-ts": read_m2ts,
    "mxf": read_mxf,
    "r3d": read_r3d,
}


def read_video_header(fmt: str, fh: BinaryIO, size: int) -> Facts:
    """``READERS[fmt]``, with a malformed header reported instead of raised."""
    try:
        return READERS[fmt](fh, size)
    except (struct.error, ValueError, IndexError, OverflowError) as exc:
        return Facts(origin=fmt, problems=[f"unreadable {fmt} header: {exc}"])
