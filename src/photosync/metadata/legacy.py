"""Cheap readers for older camera containers: Minolta MRW raws and AVI (RIFF) videos.

Each reads a few header chunks only (an MRW's TIFF block, an AVI's ``hdrl`` list);
the picture and the media data are skipped. Facts only where found; bad input
gives notes in ``Facts.problems``, never an exception.
"""

from __future__ import annotations

import struct
from datetime import datetime
from typing import BinaryIO

from photosync.metadata.dates import parse_exif_datetime
from photosync.metadata.exif import facts_from_tiff
from photosync.metadata.facts import Facts
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
