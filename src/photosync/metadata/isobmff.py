"""A seeking ISO-BMFF / QuickTime box walker for MP4, MOV and 3GP metadata.

Only ``moov`` and its small children are read; ``mdat`` (the media) is skipped
by seeking, so a 4 GB video costs a few kilobytes of reads.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from typing import BinaryIO

from photosync.metadata.dates import parse_xmp_datetime, quicktime_datetime
from photosync.metadata.exif import facts_from_tiff, is_junk_caption
from photosync.metadata.facts import Facts, add_tags, clean_text, decode_text, valid_location
from photosync.metadata.tiff import bytes_reader, read_tiff
from photosync.metadata.vendor import movie_tags_camera
from photosync.metadata.xmp import parse_xmp_packet
from photosync.model.record import Location

MAX_SMALL_BOX = 1024 * 1024
MAX_BOXES = 10_000
XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
#: Canon CR3's metadata box in moov: CMT1 (IFD0: make, model), CMT2 (the EXIF IFD)
CANON_UUID = bytes.fromhex("85C0B687820F11E08111F4CE462B6A48")

HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
AVIF_BRANDS = frozenset({b"avif", b"avis"})
GENERIC_IMAGE_BRANDS = frozenset({b"mif1", b"msf1", b"mif2", b"MiHE", b"MiHB", b"MiPr"})
QT_LEGACY_TOP = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})

_ISO6709 = re.compile(r"^\s*([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)([+-]\d+(?:\.\d+)?)?")


def sniff_brand(head: bytes) -> str | None:
    """Format from the first bytes of an ISO-BMFF file: heic/heif/avif/cr3/mov/3gp/m4v/mp4."""
    if len(head) >= 12 and head[4:8] == b"ftyp":
        (size,) = struct.unpack(">I", head[:4])
        major = head[8:12]
        brands = {major}
        end = min(len(head), max(size, 16))
        brands.update(head[i : i + 4] for i in range(16, end - 3, 4))
        if major in AVIF_BRANDS:
            return "avif"
        if major in HEIF_BRANDS:
            return "heic"
        if major in GENERIC_IMAGE_BRANDS or brands & (HEIF_BRANDS | AVIF_BRANDS):
            # Like exiftool: a generic major brand ('mif1') makes it HEIF, whatever the codec.
            if major not in GENERIC_IMAGE_BRANDS and brands & AVIF_BRANDS:
                return "avif"
            return "heif"
        if major == b"crx ":
            return "cr3"  # Canon's raw photo in a QuickTime container
        if major == b"qt  ":
            return "mov"
        if major.startswith((b"3gp", b"3g2", b"3ge", b"3gg", b"3gs")):
            return "3gp"
        if major in (b"M4V ", b"M4VH", b"M4VP"):
            return "m4v"
        return "mp4"
    if len(head) >= 8 and head[4:8] in QT_LEGACY_TOP:
        return "mov"
    return None


class _Walker:
    def __init__(self, fh: BinaryIO, file_size: int, facts: Facts) -> None:
        self.fh = fh
        self.size = file_size
        self.facts = facts
        self.count = 0

    def boxes(self, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
        """(type, payload start, box end) for each box in [start, end)."""
        pos = start
        while pos + 8 <= end:
            self.count += 1
            if self.count > MAX_BOXES:
                self.facts.problems.append("video has too many boxes; stopped reading")
                return
            self.fh.seek(pos)
            head = self.fh.read(16)
            if len(head) < 8:
                return
            size, typ = struct.unpack(">I4s", head[:8])
            header = 8
            if size == 1:
                if len(head) < 16:
                    return
                (size,) = struct.unpack(">Q", head[8:16])
                header = 16
            elif size == 0:
                size = end - pos
            if size < header:
                self.facts.problems.append(f"corrupt video box {typ!r} at byte {pos}")
                return
            box_end = pos + size
            if box_end > end:
                self.facts.problems.append(f"truncated video (box {typ!r} runs past the end)")
                box_end = end
            yield typ, pos + header, box_end
            pos = pos + size

    def read(self, start: int, end: int, limit: int = MAX_SMALL_BOX) -> bytes:
        if end - start > limit:
            return b""
        self.fh.seek(start)
        return self.fh.read(end - start)


def read_video(fh: BinaryIO, file_size: int) -> Facts:
    """Date, GPS, camera, dimensions, duration and text from a QuickTime/MP4 file."""
    facts = Facts(origin="quicktime")
    walker = _Walker(fh, file_size, facts)
    found_moov = False
    for typ, start, end in walker.boxes(0, file_size):
        if typ == b"moov":
            found_moov = True
            _moov(walker, start, end, facts)
        elif typ == b"uuid" and end - start > 16 and walker.read(start, start + 16) == XMP_UUID:
            _merge_xmp(facts, walker.read(start + 16, end))
    if not found_moov:
        facts.problems.append("no 'moov' box (truncated or incomplete video)")
    return facts


def _merge_xmp(facts: Facts, packet: bytes) -> None:
    if not packet:
        return
    xmp = parse_xmp_packet(packet, prefix="xmp", label="embedded XMP")
    facts.problems.extend(xmp.problems)
    for source, value in xmp.dates.items():
        facts.dates.setdefault(source, value)
    facts.location = facts.location or xmp.location
    facts.caption = facts.caption or xmp.caption
    facts.title = facts.title or xmp.title
    add_tags(facts.tags, xmp.tags)


def _moov(w: _Walker, start: int, end: int, facts: Facts) -> None:
    apple: dict[str, str] = {}
    udta: dict[bytes, str] = {}
    video_dims: tuple[int, int, int | None] | None = None
    any_dims: tuple[int, int, int | None] | None = None
    for typ, s, e in w.boxes(start, end):
        if typ == b"mvhd":
            _mvhd(w.read(s, min(e, s + 40)), facts)
        elif typ == b"trak":
            dims, handler = _trak(w, s, e)
            if dims and handler == b"vide" and video_dims is None:
                video_dims = dims
            if dims and any_dims is None:
                any_dims = dims
        elif typ == b"udta":
            _udta(w, s, e, udta, apple, facts)
        elif typ == b"meta":
            _meta(w, s, e, apple, udta)
        elif typ == b"uuid" and e - s > 16 and w.read(s, s + 16) == CANON_UUID:
            _canon_cmt(w, s + 16, e, facts)
    dims = video_dims or any_dims
    if dims:
        facts.width, facts.height, facts.orientation = dims
    _apply_tags(apple, udta, facts)


def _canon_cmt(w: _Walker, start: int, end: int, facts: Facts) -> None:
    """A CR3's camera and EXIF dates: each CMTn box is a little TIFF of its own."""
    for typ, s, e in w.boxes(start, end):
        if typ not in (b"CMT1", b"CMT2"):
            continue
        found = facts_from_tiff(read_tiff(bytes_reader(w.read(s, e)), what="CR3 " + typ.decode()))
        facts.problems.extend(found.problems)
        facts.camera_make = facts.camera_make or found.camera_make
        facts.camera_model = facts.camera_model or found.camera_model
        for source, value in found.dates.items():
            facts.dates.setdefault(source, value)


def _mvhd(data: bytes, facts: Facts) -> None:
    if len(data) < 20:
        return
    if data[0] == 1:
        if len(data) < 32:
            return
        created, _mod, scale, duration = struct.unpack(">QQIQ", data[4:32])
    else:
        created, _mod, scale, duration = struct.unpack(">IIII", data[4:20])
    when = quicktime_datetime(created)
    if when:
        facts.dates["quicktime:CreateDate"] = when
    if scale and duration and duration != 0xFFFFFFFF:
        facts.duration_s = round(duration / scale, 3)


def _trak(
    w: _Walker, start: int, end: int
) -> tuple[tuple[int, int, int | None] | None, bytes | None]:
    dims: tuple[int, int, int | None] | None = None
    handler: bytes | None = None
    for typ, s, e in w.boxes(start, end):
        if typ == b"tkhd":
            dims = _tkhd(w.read(s, min(e, s + 100)))
        elif typ == b"mdia":
            for t2, s2, e2 in w.boxes(s, e):
                if t2 == b"hdlr":
                    data = w.read(s2, min(e2, s2 + 12))
                    handler = data[8:12] if len(data) >= 12 else None
    return dims, handler


def _tkhd(data: bytes) -> tuple[int, int, int | None] | None:
    base = 40 if data[:1] != b"\x01" else 52
    if len(data) < base + 44:
        return None
    a, b, _u, c, d = struct.unpack(">iiiii", data[base : base + 20])
    width, height = struct.unpack(">II", data[base + 36 : base + 44])
    width, height = width >> 16, height >> 16
    if not width or not height:
        return None
    one = 1 << 16
    rotation = {
        (one, 0, 0, one): 1,
        (0, one, -one, 0): 6,
        (-one, 0, 0, -one): 3,
        (0, -one, one, 0): 8,
    }
    return width, height, rotation.get((a, b, c, d))


def _qt_string(payload: bytes) -> str | None:
    """A QuickTime udta text atom ('©xyz' etc.) or an iTunes-style 'data' child."""
    if len(payload) >= 16 and payload[4:8] == b"data":
        return clean_text(decode_text(payload[16:]))
    if len(payload) >= 4:
        (length,) = struct.unpack(">H", payload[:2])
        text = payload[4 : 4 + length] if length else payload[4:]
        return clean_text(decode_text(text))
    return None


def _udta(
    w: _Walker, start: int, end: int, udta: dict[bytes, str], apple: dict[str, str], facts: Facts
) -> None:
    for typ, s, e in w.boxes(start, end):
        if typ[:1] == b"\xa9" and e - s <= 65536:
            text = _qt_string(w.read(s, e))
            if text:
                udta.setdefault(typ, text)
        elif typ == b"meta":
            _meta(w, s, e, apple, udta)
        elif typ == b"XMP_":
            _merge_xmp(facts, w.read(s, e))
        elif typ == b"TAGS" and facts.camera_make is None:
            # a compact camera's own record (Pentax, Nikon, ...): below '©mak' and Apple's keys
            facts.camera_make, facts.camera_model = movie_tags_camera(w.read(s, min(e, s + 128)))
        elif typ == b"loci" and e - s <= 4096:
            place = _loci(w.read(s, e))
            if place:
                udta.setdefault(b"loci", place)


def _loci(data: bytes) -> str | None:
    """3GPP 'loci' (Samsung, FLIR, ... phones): name, role, then 16.16 longitude, latitude,
    altitude; returned in ISO 6709 like the other location tags."""
    pos = 6  # version/flags, language
    if data[pos : pos + 2] in (b"\xfe\xff", b"\xff\xfe"):
        ends = [i for i in range(pos + 2, len(data) - 1, 2) if data[i : i + 2] == b"\x00\x00"]
        pos = ends[0] + 2 if ends else len(data)
    else:
        zero = data.find(b"\x00", pos)
        pos = zero + 1 if zero >= 0 else len(data)
    pos += 1  # role
    if len(data) < pos + 12:
        return None
    lng, lat, alt = (v / 65536 for v in struct.unpack(">iii", data[pos : pos + 12]))
    return f"{lat:+.5f}{lng:+.5f}{alt:+.2f}/"


def _meta(w: _Walker, start: int, end: int, apple: dict[str, str], udta: dict[bytes, str]) -> None:
    peek = w.read(start, min(end, start + 12))
    if len(peek) >= 8 and peek[4:8] not in (b"hdlr", b"keys", b"ilst"):
        start += 4  # ISO full box: skip version/flags
    keys: list[str] = []
    for typ, s, e in w.boxes(start, end):
        if typ == b"keys":
            keys = _keys(w.read(s, e))
        elif typ == b"ilst":
            for item, s2, e2 in w.boxes(s, e):
                value = _ilst_value(w, s2, e2)
                if value is None:
                    continue
                index = int.from_bytes(item, "big")
                if keys and 1 <= index <= len(keys):
                    apple.setdefault(keys[index - 1], value)
                elif item[:1] == b"\xa9":
                    udta.setdefault(item, value)


def _keys(data: bytes) -> list[str]:
    out: list[str] = []
    if len(data) < 8:
        return out
    (count,) = struct.unpack(">I", data[4:8])
    pos = 8
    for _ in range(min(count, 1000)):
        if pos + 8 > len(data):
            break
        (size,) = struct.unpack(">I", data[pos : pos + 4])
        if size < 8:
            break
        out.append(data[pos + 8 : pos + size].decode("utf-8", errors="replace"))
        pos += size
    return out


def _ilst_value(w: _Walker, start: int, end: int) -> str | None:
    for typ, s, e in w.boxes(start, end):
        if typ != b"data" or e - s > 65536:
            continue
        data = w.read(s, e)
        if len(data) < 8:
            return None
        kind = int.from_bytes(data[1:4], "big")
        value = data[8:]
        if kind == 1:
            return clean_text(value.decode("utf-8", errors="replace"))
        if kind == 2:
            return clean_text(value.decode("utf-16-be", errors="replace"))
        return None
    return None


def iso6709(text: str | None) -> Location | None:
    """'+32.0929+034.8620+028.516/' (also ±DDMM.M / ±DDMMSS forms) to a location."""
    if not text:
        return None
    m = _ISO6709.match(text)
    if not m:
        return None
    lat = _iso6709_part(m.group(1), 2)
    lng = _iso6709_part(m.group(2), 3)
    location = valid_location(lat, lng)
    if location is not None and m.group(3):
        location["alt"] = round(float(m.group(3)), 2)
    return location


def _iso6709_part(part: str, degree_digits: int) -> float:
    sign = -1.0 if part[0] == "-" else 1.0
    body = part[1:]
    whole, _, frac = body.partition(".")
    frac_value = float("0." + frac) if frac else 0.0
    if len(whole) <= degree_digits:
        return sign * (int(whole) + frac_value)
    if len(whole) == degree_digits + 2:
        deg, minutes = int(whole[:degree_digits]), int(whole[degree_digits:]) + frac_value
        return sign * (deg + minutes / 60)
    deg = int(whole[:degree_digits])
    minutes = int(whole[degree_digits : degree_digits + 2])
    seconds = int(whole[degree_digits + 2 :]) + frac_value
    return sign * (deg + minutes / 60 + seconds / 3600)


def _apply_tags(apple: dict[str, str], udta: dict[bytes, str], facts: Facts) -> None:
    created = parse_xmp_datetime(apple.get("com.apple.quicktime.creationdate"))
    dates = {}
    if created:
        dates["quicktime:CreationDate"] = created
    dates.update(facts.dates)
    content = parse_xmp_datetime(udta.get(b"\xa9day"))
    if content and "quicktime:ContentCreateDate" not in dates:
        dates["quicktime:ContentCreateDate"] = content
    facts.dates = dates
    location_text = (
        apple.get("com.apple.quicktime.location.ISO6709")
        or udta.get(b"\xa9xyz")
        or udta.get(b"loci")
    )
    if location_text:
        location = iso6709(location_text)
        facts.location = location or facts.location
        facts.location_null = location is None
    facts.camera_make = (
        apple.get("com.apple.quicktime.make") or udta.get(b"\xa9mak") or facts.camera_make
    )
    facts.camera_model = (
        apple.get("com.apple.quicktime.model") or udta.get(b"\xa9mod") or facts.camera_model
    )
    facts.title = apple.get("com.apple.quicktime.title") or udta.get(b"\xa9nam") or facts.title
    caption = apple.get("com.apple.quicktime.description") or udta.get(b"\xa9des")
    if caption and not is_junk_caption(caption, make=facts.camera_make, model=facts.camera_model):
        facts.caption = caption
    keywords = apple.get("com.apple.quicktime.keywords")
    if keywords:
        add_tags(facts.tags, re.split(r"[,;]", keywords))
