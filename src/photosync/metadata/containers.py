"""Header walkers for JPEG, PNG and WebP: find metadata blocks without decoding pixels.

Each walker reads only the bytes it needs (markers, chunk headers, metadata
payloads) and seeks over image data, so cost stays flat as files grow.
"""

from __future__ import annotations

import binascii
import struct
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from photosync.metadata.vendor import flir_chunk

MAX_HEADER_BYTES = 32 * 1024 * 1024
MAX_CHUNK_READ = 4 * 1024 * 1024
XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
#: APPn segments that hold no date, place or camera (JFIF, ICC profile, Adobe colour)
_PLAIN_APP = (b"JFIF\x00", b"JFXX\x00", b"ICC_PROFILE\x00", b"Adobe", b"MPF\x00")
#: PNG text keywords that state when the picture was made (not ImageMagick's
#: "date:create", the time a file was written)
_PNG_CREATED = (b"Creation Time", b"create-date")
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


@dataclass
class Blocks:
    """Raw metadata blocks and the stored frame size found in a container."""

    exif: bytes | None = None
    xmp: bytes | None = None
    iptc_photoshop: bytes | None = None
    width: int | None = None
    height: int | None = None
    mpo: bool = False
    #: a segment or chunk that may hold facts the built-in reader does not read (a
    #: vendor APPn, a PNG text chunk): only then may exiftool know more than we do
    foreign: bool = False
    #: a Canon CIFF heap in APP0 (PowerShot A5 era JPEGs: camera and date)
    ciff: bytes | None = None
    #: a Casio QV camera's APP1 "QVCI" segment (its date)
    qvci: bytes | None = None
    #: FLIR APP1 chunks (index, file offset of their data, length): one FFF record set
    flir: list[tuple[int, int, int]] = field(default_factory=list)
    #: a PNG's creation-time text ("Creation Time", exiftool's "create-date"), as written
    png_created: str | None = None
    problems: list[str] = field(default_factory=list)


def scan_jpeg(fh: BinaryIO, file_size: int) -> Blocks:
    """APP1 EXIF/XMP, APP13 IPTC, APP2 MPF and the first SOF frame size.

    Segments we do not need (ICC profiles, vendor APP1 blobs of 64 KB each) are
    skipped by seeking; only a short prefix tells what a segment is.
    """
    blocks = Blocks()
    pos = 2
    found_sos = False
    while True:
        fh.seek(pos)
        head = fh.read(4)
        if len(head) < 4 or pos > MAX_HEADER_BYTES:
            blocks.problems.append("truncated JPEG (file ends inside the header)")
            break
        if head[0] != 0xFF:
            blocks.problems.append(f"corrupt JPEG header (no marker at byte {pos})")
            break
        marker = head[1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        if marker == 0xD9:
            blocks.problems.append("corrupt JPEG (end-of-image before any image data)")
            break
        (length,) = struct.unpack(">H", head[2:4])
        if length < 2:
            blocks.problems.append(f"corrupt JPEG header (bad segment length at byte {pos})")
            break
        if marker == 0xDA:
            found_sos = True
            break
        seg_end = pos + 2 + length
        if seg_end > file_size:
            blocks.problems.append("truncated JPEG (file ends inside the header)")
            break
        if marker in (0xE1, 0xED, 0xE2) or (marker in _SOF and blocks.width is None):
            _jpeg_segment(marker, fh, length - 2, blocks)
        elif 0xE0 <= marker <= 0xEF and (not blocks.foreign or marker == 0xE0):
            prefix = fh.read(min(length - 2, 14))
            if marker == 0xE0 and prefix[6:14] == b"HEAPJPGM" and blocks.ciff is None:
                blocks.ciff = prefix + fh.read(length - 2 - len(prefix))  # early Canons
            blocks.foreign = blocks.foreign or not prefix.startswith(_PLAIN_APP)
        pos = seg_end
    if found_sos and not _jpeg_tail_ok(fh, file_size, blocks):
        blocks.problems.append("truncated JPEG (no end-of-image marker)")
    return blocks


def _jpeg_segment(marker: int, fh: BinaryIO, size: int, blocks: Blocks) -> None:
    start = fh.tell()
    prefix = fh.read(min(size, 32))
    if marker in _SOF:
        if len(prefix) >= 5:
            height, width = struct.unpack(">HH", prefix[1:5])
            if width and height:
                blocks.width, blocks.height = width, height
        return
    wanted = (
        (marker == 0xE1 and prefix.startswith(b"Exif\x00") and blocks.exif is None)
        or (marker == 0xE1 and prefix.startswith(XMP_APP1) and blocks.xmp is None)
        or (marker == 0xED and prefix.startswith(b"Photoshop 3.0\x00"))
        or (marker == 0xE2 and prefix.startswith(b"MPF\x00"))
    )
    if marker == 0xE1 and prefix.startswith(b"QVCI\x00") and blocks.qvci is None:
        blocks.qvci = prefix + fh.read(size - len(prefix))
    chunk = flir_chunk(prefix) if marker == 0xE1 else None
    if chunk is not None and size > 8 and len(blocks.flir) < 256:
        blocks.flir.append((chunk, start + 8, size - 8))
    if not wanted:
        known = prefix.startswith((b"Exif\x00", XMP_APP1, b"Photoshop 3.0\x00", *_PLAIN_APP))
        blocks.foreign = blocks.foreign or not known
        return
    payload = prefix + fh.read(size - len(prefix))
    if marker == 0xE1 and payload.startswith(b"Exif"):
        blocks.exif = payload
    elif marker == 0xE1:
        blocks.xmp = payload[len(XMP_APP1) :]
    elif marker == 0xED:
        blocks.iptc_photoshop = payload
    else:
        blocks.mpo = _mpf_image_count(payload[4:]) > 1


def _mpf_image_count(tiff: bytes) -> int:
    """NumberOfImages (0xB001) of an MPF index: a JPEG is an MPO only with more than one."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 0
    endian = "<" if tiff[:2] == b"II" else ">"
    (offset,) = struct.unpack(endian + "I", tiff[4:8])
    if offset + 2 > len(tiff):
        return 0
    (count,) = struct.unpack(endian + "H", tiff[offset : offset + 2])
    for i in range(min(count, 64)):
        entry = tiff[offset + 2 + 12 * i : offset + 14 + 12 * i]
        if len(entry) < 12:
            break
        tag, typ, _n = struct.unpack(endian + "HHI", entry[:8])
        if tag == 0xB001 and typ == 4:
            return int(struct.unpack(endian + "I", entry[8:12])[0])
    return 0


def _jpeg_tail_ok(fh: BinaryIO, file_size: int, blocks: Blocks) -> bool:
    """An EOI marker near the end; trailers of motion photos and Samsung phones are fine."""
    if blocks.xmp and (b"MotionPhoto" in blocks.xmp or b"MicroVideo" in blocks.xmp):
        return True
    span = min(file_size, 4096)
    fh.seek(file_size - span)
    tail = fh.read(span)
    stripped = tail.rstrip(b"\x00\r\n \t")
    if stripped.endswith(b"\xff\xd9") or tail.endswith(b"SEFT"):
        return True
    return b"\xff\xd9" in tail


def scan_png(fh: BinaryIO, file_size: int) -> Blocks:
    """IHDR size plus eXIf, XMP iTXt and ImageMagick raw-profile text chunks (also after IDAT)."""
    blocks = Blocks()
    pos = 8
    seen_end = False
    chunks = 0
    while pos + 8 <= file_size and chunks < 200_000:
        chunks += 1
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            break
        length, ctype = struct.unpack(">I4s", head)
        end = pos + 12 + length
        if end > file_size:
            blocks.problems.append(f"truncated PNG (chunk {ctype!r} runs past the end)")
            return blocks
        if ctype == b"IEND":
            seen_end = True
            break
        if ctype in (b"IHDR", b"eXIf", b"iTXt", b"tEXt", b"zTXt") and length <= MAX_CHUNK_READ:
            _png_chunk(ctype, fh.read(length), blocks)
        pos = end
    if not seen_end:
        blocks.problems.append("truncated PNG (no IEND chunk)")
    return blocks


def _inflate(data: bytes) -> bytes | None:
    try:
        return zlib.decompressobj().decompress(data, MAX_CHUNK_READ)
    except zlib.error:
        return None


def _png_chunk(ctype: bytes, payload: bytes, blocks: Blocks) -> None:
    if ctype == b"IHDR":
        if len(payload) >= 8:
            width, height = struct.unpack(">II", payload[:8])
            if width and height:
                blocks.width, blocks.height = width, height
        return
    if ctype == b"eXIf":
        blocks.exif = blocks.exif or payload
        return
    key, _, rest = payload.partition(b"\x00")
    if ctype == b"iTXt":
        if key != b"XML:com.adobe.xmp" or len(rest) < 2:
            blocks.foreign = True
            return
        compressed = rest[0] == 1
        _lang, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        value = _inflate(text) if compressed else text
        if value and blocks.xmp is None:
            blocks.xmp = value
        return
    if key in _PNG_CREATED:
        written = _inflate(rest[1:]) if ctype == b"zTXt" else rest
        if written and blocks.png_created is None:
            blocks.png_created = written.decode("latin-1").strip()
        return
    if not key.startswith(b"Raw profile type "):
        blocks.foreign = True  # "date:create" (a file time), a comment ...
        return
    raw = _inflate(rest[1:]) if ctype == b"zTXt" else rest
    decoded = _raw_profile(raw) if raw else None
    if decoded is None:
        blocks.problems.append(f"unreadable PNG text profile {key.decode('latin-1')!r}")
        return
    kind = key[len(b"Raw profile type ") :].lower()
    if kind in (b"exif", b"app1") and blocks.exif is None:
        blocks.exif = decoded
    elif kind == b"xmp" and blocks.xmp is None:
        blocks.xmp = decoded
    elif kind in (b"iptc", b"8bim") and blocks.iptc_photoshop is None:
        blocks.iptc_photoshop = decoded


def _raw_profile(raw: bytes) -> bytes | None:
    """ImageMagick's '\\nexif\\n   <length>\\n<hex...>' text encoding."""
    lines = raw.strip().split(b"\n", 2)
    if len(lines) < 3:
        return None
    try:
        return binascii.unhexlify(b"".join(lines[2].split()))
    except (binascii.Error, ValueError):
        return None


def scan_webp(fh: BinaryIO, file_size: int) -> Blocks:
    """RIFF chunks: VP8X/VP8/VP8L for the canvas size, EXIF and 'XMP '."""
    blocks = Blocks()
    fh.seek(0)
    head = fh.read(12)
    (riff_size,) = struct.unpack("<I", head[4:8])
    end_all = min(file_size, riff_size + 8)
    if riff_size + 8 > file_size:
        blocks.problems.append("truncated WebP (RIFF size larger than the file)")
    pos = 12
    while pos + 8 <= end_all:
        fh.seek(pos)
        fourcc, size = struct.unpack("<4sI", fh.read(8))
        if pos + 8 + size > file_size:
            blocks.problems.append(f"truncated WebP (chunk {fourcc!r} runs past the end)")
            break
        if fourcc in (b"VP8X", b"VP8 ", b"VP8L") and blocks.width is None:
            _webp_size(fourcc, fh.read(min(size, 32)), blocks)
        elif fourcc == b"EXIF" and size <= MAX_CHUNK_READ:
            blocks.exif = fh.read(size)
        elif fourcc == b"XMP " and size <= MAX_CHUNK_READ:
            blocks.xmp = fh.read(size)
        pos += 8 + size + (size & 1)
    return blocks


def _webp_size(fourcc: bytes, payload: bytes, blocks: Blocks) -> None:
    if fourcc == b"VP8X" and len(payload) >= 10:
        blocks.width = int.from_bytes(payload[4:7], "little") + 1
        blocks.height = int.from_bytes(payload[7:10], "little") + 1
    elif fourcc == b"VP8 " and len(payload) >= 10 and payload[3:6] == b"\x9d\x01\x2a":
        blocks.width = int.from_bytes(payload[6:8], "little") & 0x3FFF
        blocks.height = int.from_bytes(payload[8:10], "little") & 0x3FFF
    elif fourcc == b"VP8L" and len(payload) >= 5 and payload[0] == 0x2F:
        bits = int.from_bytes(payload[1:5], "little")
        blocks.width = (bits & 0x3FFF) + 1
        blocks.height = ((bits >> 14) & 0x3FFF) + 1
