"""Cheap readers for older camera containers: Canon CIFF (CRW raws, and the APP0 segment
of Canon's early JPEGs), Minolta MRW raws, Kyocera (Contax N Digital) raws, AVI (RIFF)
videos, the XMP of a JPEG 2000 file, Sony's DSC-F1 PMP header and the QVCI APP1
segment of Casio QV JPEGs.

Each reads a few header chunks only (an MRW's TIFF block, an AVI's ``hdrl`` list);
the picture and the media data are skipped. Facts only where found; bad input
gives notes in ``Facts.problems``, never an exception.
"""

from __future__ import annotations

import struct
from datetime import datetime, timedelta
from typing import BinaryIO

from photosync.metadata.dates import parse_exif_datetime
from photosync.metadata.exif import facts_from_tiff
from photosync.metadata.facts import Facts, clean_text
from photosync.metadata.tiff import bytes_reader, read_tiff

MAX_BLOCK = 4 * 1024 * 1024
MAX_CHUNKS = 10_000
#: the AVI date label (the ``IDIT`` chunk cameras write: "Mon Mar 10 15:04:43 2003")
RIFF_DATE_SOURCE = "riff:DateTimeOriginal"


def read_mrw(fh: BinaryIO, size: int) -> list[Facts]:
    """An MRW's ``TTW`` block is a TIFF with IFD0 (camera) and the EXIF IFD (dates)."""
    fh.seek(4)
    (header_end,) = struct.unpack(">I", fh.read(4))
    pos, end = 8, min(size, 8 + header_end)
    while pos + 8 <= end:
        fh.seek(pos)
        name, length = struct.unpack(">4sI", fh.read(8))
        if name == b"\x00TTW" and length <= MAX_BLOCK and pos + 8 + length <= size:
            tags = read_tiff(bytes_reader(fh.read(length)), what="MRW TIFF")
            return [facts_from_tiff(tags)]
        pos += 8 + length
    return [Facts(origin="exif", problems=["MRW without a TIFF block"])]


def read_avi(fh: BinaryIO, size: int) -> list[Facts]:
    """The ``IDIT`` date of an AVI's header list (Canon, Pentax, Fujifilm, ... cameras)."""
    facts = Facts(origin="riff")
    fh.seek(12)
    _walk(fh, 12, min(size, 12 + struct.unpack("<I", _at(fh, 4, 4))[0] - 4), facts, depth=0)
    return [facts]


def _at(fh: BinaryIO, pos: int, length: int) -> bytes:
    fh.seek(pos)
    data = fh.read(length)
    if len(data) < length:
        raise ValueError("truncated RIFF chunk")
    return data


def _walk(fh: BinaryIO, pos: int, end: int, facts: Facts, depth: int) -> None:
    chunks = 0
    while pos + 8 <= end and chunks < MAX_CHUNKS:
        chunks += 1
        kind, length = struct.unpack("<4sI", _at(fh, pos, 8))
        body = pos + 8
        if kind == b"LIST" and depth < 3 and length >= 4:
            if _at(fh, body, 4) in (b"hdrl", b"INFO"):  # never 'movi': the media
                _walk(fh, body + 4, min(end, body + length), facts, depth + 1)
        elif kind == b"IDIT" and length <= 64:
            when = _idit(_at(fh, body, length))
            if when:
                facts.dates.setdefault(RIFF_DATE_SOURCE, when)
        pos = body + length + (length & 1)


def _idit(raw: bytes) -> str | None:
    text = " ".join(raw.split(b"\x00", 1)[0].decode("latin-1").split())
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %Y").isoformat()
    except ValueError:
        return parse_exif_datetime(text)


#: a CIFF's date (seconds since 1970 on the camera's clock: a naive local time)
CIFF_DATE_SOURCE = "ciff:DateTimeOriginal"
_CIFF_MAKE_MODEL = 0x080A
_CIFF_TIMESTAMP = 0x180E
MAX_CIFF_DEPTH = 4


class FileBytes:
    """A file seen as bytes, read only where sliced (a CRW's directory sits at its end)."""

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self.fh, self.size = fh, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, where: slice) -> bytes:
        start, stop, _ = where.indices(self.size)
        if stop - start > MAX_BLOCK:
            return b""
        self.fh.seek(start)
        return self.fh.read(max(0, stop - start))


def read_ciff(data: bytes | FileBytes) -> list[Facts]:
    """Camera and date from a CIFF heap (a whole CRW file, or a JPEG's APP0 payload)."""
    facts = Facts(origin="ciff")
    if len(data) < 26 or data[:2] not in (b"II", b"MM"):
        facts.problems.append("unreadable CIFF header")
        return [facts]
    endian = "<" if data[:2] == b"II" else ">"
    (header,) = struct.unpack(endian + "I", data[2:6])
    if not 14 <= header < len(data):
        facts.problems.append("unreadable CIFF header")
        return [facts]
    _heap(data, endian, header, len(data), facts, 0)
    return [facts]


def _heap(
    data: bytes | FileBytes, endian: str, start: int, end: int, facts: Facts, depth: int
) -> None:
    """One CIFF directory: its offset is the heap's last 4 bytes, entries of 10 bytes."""
    if depth > MAX_CIFF_DEPTH or end - start < 6 or end > len(data):
        return
    (offset,) = struct.unpack(endian + "I", data[end - 4 : end])
    table = start + offset
    if table + 2 > end:
        return
    (count,) = struct.unpack(endian + "H", data[table : table + 2])
    for index in range(min(count, 1024)):
        entry = data[table + 2 + 10 * index : table + 12 + 10 * index]
        if len(entry) < 10:
            return
        tag, size, where = struct.unpack(endian + "HII", entry)
        if tag >> 14:  # the value is in the entry itself (8 bytes)
            value = entry[2:10]
        elif start + where + size <= end:
            value = data[start + where : start + where + size]
        else:
            continue
        kind, ident = tag & 0x3800, tag & 0x3FFF
        if kind in (0x2800, 0x3000) and not tag >> 14:
            _heap(data, endian, start + where, start + where + size, facts, depth + 1)
        elif ident == _CIFF_MAKE_MODEL:
            make, _, rest = value.partition(b"\x00")
            facts.camera_make = clean_text(make) or facts.camera_make
            facts.camera_model = clean_text(rest.split(b"\x00", 1)[0]) or facts.camera_model
        elif ident == _CIFF_TIMESTAMP and len(value) >= 4:
            (seconds,) = struct.unpack(endian + "I", value[:4])
            if seconds:
                when = datetime(1970, 1, 1) + timedelta(seconds=seconds)
                facts.dates.setdefault(CIFF_DATE_SOURCE, when.isoformat())


def read_kyocera(fh: BinaryIO) -> list[Facts]:
    """A Kyocera RAW's 156-byte header stores make, model and date as reversed strings."""
    fh.seek(0)
    head = fh.read(156)
    facts = Facts(origin="exif")
    if len(head) < 0x35:
        facts.problems.append("truncated Kyocera RAW header")
        return [facts]
    facts.camera_model = clean_text(head[0x0C:0x18][::-1])
    facts.camera_make = clean_text(head[0x19:0x20][::-1])
    when = parse_exif_datetime(head[0x21:0x35][::-1].replace(b"\x00", b"").decode("latin-1"))
    if when:
        facts.dates["exif:DateTimeOriginal"] = when
    return [facts]


def read_jp2_xmp(fh: BinaryIO, size: int) -> bytes | None:
    """The XMP packet of a JPEG 2000 file: an 'xml ' box or the XMP uuid box at the top."""
    pos = 0
    for _ in range(MAX_CHUNKS):
        if pos + 8 > size:
            return None
        fh.seek(pos)
        length, kind = struct.unpack(">I4s", fh.read(8))
        header = 8
        if length == 1:
            (length,) = struct.unpack(">Q", fh.read(8))
            header = 16
        elif length == 0:
            length = size - pos
        if length < header:
            return None
        body = fh.read(min(length - header, MAX_BLOCK)) if kind in (b"xml ", b"uuid") else b""
        if kind == b"xml " and b"xmpmeta" in body[:4096]:
            return body
        if kind == b"uuid" and body[:16] == _XMP_UUID:
            return body[16:]
        pos += length
    return None


_XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")


#: the date a Sony DSC-F1 PMP header or a Casio QV JPEG's QVCI segment states (camera clock)
PMP_DATE_SOURCE = "pmp:DateTimeOriginal"
QVCI_DATE_SOURCE = "qvci:DateTimeOriginal"
#: a PMP header's rotation code -> the EXIF orientation it means
_PMP_ORIENTATION = {0: 1, 1: 8, 2: 3, 3: 6}


def read_pmp(fh: BinaryIO, size: int) -> Facts:
    """A Sony DSC-F1 PMP: a 124-byte big-endian header (date, rotation), then a JPEG.

    The header names no camera; only the DSC-F1 wrote the format, so it is named.
    """
    fh.seek(0)
    head = fh.read(128)
    facts = Facts(origin="pmp")
    if len(head) < 128 or head[8:12] != b"\x00\x00\x00\x7c" or head[124:127] != b"\xff\xd8\xff":
        facts.problems.append("unreadable PMP header")
        return facts
    facts.camera_make, facts.camera_model = "Sony", "DSC-F1"
    facts.width, facts.height = struct.unpack(">HH", head[22:26])
    facts.orientation = _PMP_ORIENTATION.get(head[27])
    year, month, day, hour, minute, second = head[76:82]
    year += 2000 if year < 70 else 1900
    when = parse_exif_datetime(f"{year}:{month}:{day} {hour}:{minute:02d}:{second:02d}")
    if when:
        facts.dates[PMP_DATE_SOURCE] = when
    else:
        facts.problems.append("PMP header without a valid date")
    return facts


def read_qvci(segment: bytes) -> Facts:
    """The date of a Casio QV camera's APP1 'QVCI' segment ("1998.10.24.12.08.57" at 0x4D).

    Its model field is an internal type code (KX-778), not the camera's name: not kept.
    """
    facts = Facts(origin="qvci")
    raw = segment[0x4D : 0x4D + 20].split(b"\x00", 1)[0].decode("latin-1")
    parts = raw.split(".")
    if len(parts) == 6 and all(part.isdigit() for part in parts):
        y, mo, d, h, mi, s = parts
        when = parse_exif_datetime(f"{y}:{mo}:{d} {h}:{mi}:{s}")
        if when:
            facts.dates[QVCI_DATE_SOURCE] = when
            return facts
    facts.problems.append("QVCI segment without a valid date")
    return facts
