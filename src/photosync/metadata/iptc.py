"""IPTC-IIM (as stored in JPEG APP13 'Photoshop 3.0' or TIFF tag 33723)."""

from __future__ import annotations

import struct

from photosync.metadata.dates import parse_iptc_datetime
from photosync.metadata.exif import is_junk_caption
from photosync.metadata.facts import Facts, add_tags, clean_text

PHOTOSHOP_HEADER = b"Photoshop 3.0\x00"


def iim_from_photoshop(payload: bytes) -> bytes | None:
    """The IPTC resource (id 0x0404) inside Photoshop image resource blocks."""
    if payload.startswith(PHOTOSHOP_HEADER):
        payload = payload[len(PHOTOSHOP_HEADER) :]
    pos = 0
    while pos + 12 <= len(payload):
        if payload[pos : pos + 4] != b"8BIM":
            return None
        (res_id,) = struct.unpack(">H", payload[pos + 4 : pos + 6])
        name_len = payload[pos + 6]
        name_total = name_len + 1
        name_total += name_total % 2
        size_at = pos + 6 + name_total
        if size_at + 4 > len(payload):
            return None
        (size,) = struct.unpack(">I", payload[size_at : size_at + 4])
        data_at = size_at + 4
        if res_id == 0x0404:
            return payload[data_at : data_at + size]
        pos = data_at + size + (size % 2)
    return None


def parse_iim(data: bytes) -> Facts:
    """Caption, title, keywords and date from IIM record 2; charset from record 1:90."""
    facts = Facts(origin="iptc")
    values: dict[tuple[int, int], list[bytes]] = {}
    pos = 0
    while pos + 5 <= len(data):
        if data[pos] != 0x1C:
            break
        record, dataset = data[pos + 1], data[pos + 2]
        (length,) = struct.unpack(">H", data[pos + 3 : pos + 5])
        pos += 5
        if length & 0x8000:  # extended length: next (length & 0x7fff) bytes hold the size
            n = length & 0x7FFF
            if n > 4 or pos + n > len(data):
                facts.problems.append("unreadable IPTC: bad extended length")
                break
            length = int.from_bytes(data[pos : pos + n], "big")
            pos += n
        if pos + length > len(data):
            facts.problems.append("unreadable IPTC: truncated dataset")
            break
        values.setdefault((record, dataset), []).append(data[pos : pos + length])
        pos += length
    utf8 = any(v.strip() == b"\x1b%G" for v in values.get((1, 90), []))

    def text(raw: bytes) -> str | None:
        if utf8:
            return clean_text(raw.decode("utf-8", errors="replace"))
        return clean_text(raw)

    def first(dataset: int) -> str | None:
        items = values.get((2, dataset))
        return text(items[0]) if items else None

    caption = first(120)
    if not is_junk_caption(caption):
        facts.caption = caption
    facts.title = first(5)
    add_tags(facts.tags, [t for t in (text(v) for v in values.get((2, 25), [])) if t])
    date = parse_iptc_datetime(first(55), first(60))
    if date:
        facts.dates["iptc:DateCreated"] = date
    return facts
