"""Builders for synthetic photo and video files used by the metadata tests."""

from __future__ import annotations

import io
import struct
from pathlib import Path
from typing import Any

from PIL import Image


def exif_block(
    *,
    make: str | None = None,
    model: str | None = None,
    orientation: int | None = None,
    description: str | None = None,
    dto: str | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    digitized: str | None = None,
    gps: dict[int, Any] | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if orientation is not None:
        exif[0x0112] = orientation
    if description is not None:
        exif[0x010E] = description
    sub: dict[int, Any] = {}
    if dto is not None:
        sub[0x9003] = dto
    if digitized is not None:
        sub[0x9004] = digitized
    if offset is not None:
        sub[0x9011] = offset
    if subsec is not None:
        sub[0x9291] = subsec
    if sub:
        exif.get_ifd(0x8769).update(sub)
    if gps is not None:
        exif.get_ifd(0x8825).update(gps)
    return exif


def xmp_packet(body: str, namespaces: str = "", *, attrs: str = "") -> bytes:
    ns = (
        'xmlns:dc="http://purl.org/dc/elements/1.1/" '
        'xmlns:exif="http://ns.adobe.com/exif/1.0/" '
        'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/" '
        'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
        'xmlns:lr="http://ns.adobe.com/lightroom/1.0/" ' + namespaces
    )
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        f'<rdf:Description rdf:about="" {ns} {attrs}>{body}</rdf:Description>'
        "</rdf:RDF></x:xmpmeta>\n"
        '<?xpacket end="w"?>'
    ).encode()


def iptc_app13(datasets: list[tuple[int, bytes]], *, utf8: bool = True) -> bytes:
    """A JPEG APP13 segment (marker included) holding IPTC record 2 datasets."""
    iim = b""
    if utf8:
        iim += b"\x1c\x01\x5a" + struct.pack(">H", 3) + b"\x1b%G"
    for dataset, value in datasets:
        iim += b"\x1c\x02" + bytes([dataset]) + struct.pack(">H", len(value)) + value
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    if len(iim) % 2:
        resource += b"\x00"
    payload = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload


def jpeg_bytes(
    size: tuple[int, int] = (40, 30),
    *,
    exif: Image.Exif | None = None,
    xmp: bytes | None = None,
    app13: bytes | None = None,
) -> bytes:
    buf = io.BytesIO()
    kwargs: dict[str, Any] = {}
    if exif is not None:
        kwargs["exif"] = exif
    if xmp is not None:
        kwargs["xmp"] = xmp
    Image.new("RGB", size, (200, 30, 30)).save(buf, "JPEG", quality=80, **kwargs)
    data = buf.getvalue()
    if app13 is not None:
        data = data[:2] + app13 + data[2:]
    return data


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload) + 8) + kind + payload


def full_box(kind: bytes, payload: bytes, version: int = 0) -> bytes:
    return box(kind, bytes([version, 0, 0, 0]) + payload)


def mvhd(creation_1904: int, timescale: int = 600, duration: int = 1800) -> bytes:
    body = struct.pack(">IIII", creation_1904, creation_1904, timescale, duration)
    return full_box(b"mvhd", body + b"\x00" * 80)


def tkhd(width: int, height: int, matrix: tuple[int, int, int, int] = (1, 0, 0, 1)) -> bytes:
    one = 1 << 16
    a, b, c, d = (v * one for v in matrix)
    body = struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\x00" * 16
    body += struct.pack(">9i", a, b, 0, c, d, 0, 0, 0, 1 << 30)
    body += struct.pack(">II", width << 16, height << 16)
    return full_box(b"tkhd", body)


def video_trak(width: int, height: int, matrix: tuple[int, int, int, int] = (1, 0, 0, 1)) -> bytes:
    hdlr = full_box(b"hdlr", b"\x00\x00\x00\x00vide" + b"\x00" * 12 + b"VideoHandler\x00")
    return box(b"trak", tkhd(width, height, matrix) + box(b"mdia", hdlr))


def qt_text(kind: bytes, text: str) -> bytes:
    raw = text.encode("utf-8")
    return box(kind, struct.pack(">HH", len(raw), 0x15C7) + raw)


def apple_meta(items: dict[str, str]) -> bytes:
    """moov/meta with mdta keys and an ilst, the way iPhones store video metadata."""
    hdlr = full_box(b"hdlr", b"\x00\x00\x00\x00mdta" + b"\x00" * 12 + b"\x00")
    keys = b"".join(struct.pack(">I", len(k) + 8) + b"mdta" + k.encode() for k in items)
    keys_box = full_box(b"keys", struct.pack(">I", len(items)) + keys)
    entries = b""
    for index, value in enumerate(items.values(), start=1):
        data = box(b"data", struct.pack(">I", 1) + b"\x00\x00\x00\x00" + value.encode("utf-8"))
        entries += box(struct.pack(">I", index), data)
    return box(b"meta", hdlr + keys_box + box(b"ilst", entries))


def mp4_bytes(moov_children: bytes, *, brand: bytes = b"mp42", mdat: bytes = b"\x00" * 64) -> bytes:
    ftyp = box(b"ftyp", brand + b"\x00\x00\x00\x00" + brand + b"isom")
    return ftyp + box(b"mdat", mdat) + box(b"moov", moov_children)


def flir_fff(
    seconds: int, millis: int, west_minutes: int, *, count: int = 0, gps: bytes | None = None
) -> bytes:
    """A FLIR FFF record set (big-endian header, little-endian records) whose capture time
    is ``seconds`` since 1970 UTC, on a clock ``west_minutes`` behind UTC; ``gps`` is the
    body of a GPS record (0x2b) after it; ``count`` overrides the directory's entry count."""
    info = bytearray(0x400)
    info[0:2] = b"\x02\x00"  # the record's byte-order mark
    info[0x384:0x38E] = struct.pack("<IIh", seconds, millis, west_minutes)
    entries = 2 if gps is not None else 1
    table_end = 0x40 + 0x20 * entries
    header = (
        b"FFF\x00" + bytes(16) + struct.pack(">III", 100, 0x40, count or entries) + bytes(0x40 - 32)
    )
    table = struct.pack(">HHIIII", 0x20, 1, 0x64, 1, table_end, len(info)) + bytes(12)
    if gps is not None:
        where = table_end + len(info)
        table += struct.pack(">HHIIII", 0x2B, 1, 0x64, 1, where, len(gps)) + bytes(12)
    return header + table + bytes(info) + (gps or b"")
