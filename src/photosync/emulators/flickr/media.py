"""Generated media for the emulated account, and what Flickr reads from an upload:
its format from magic bytes, its EXIF date, the smaller copy a free account gets.
"""

from __future__ import annotations

import hashlib
import io
import struct


def make_jpeg(index: int, taken: str, *, size: tuple[int, int] = (24, 16)) -> bytes:
    """A small, unique, deterministic JPEG whose EXIF says when it was taken."""
    from PIL import Image

    rng_bytes = hashlib.sha256(f"photo-{index}".encode()).digest()
    image = Image.new("RGB", size, (rng_bytes[0], rng_bytes[1], rng_bytes[2]))
    pixels = image.load()
    assert pixels is not None
    for x in range(size[0]):
        pixels[x, x % size[1]] = (rng_bytes[3], rng_bytes[4], rng_bytes[5])
    exif = Image.Exif()
    exif[0x010F] = "EmuCam"  # Make
    exif[0x0110] = f"Model {index % 7}"  # Model
    exif[0x0132] = taken.replace("-", ":")  # DateTime
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = taken.replace("-", ":")  # DateTimeOriginal
    exif_ifd[0xA420] = f"{index:032x}"  # ImageUniqueID: makes the bytes unique
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, exif=exif)
    return out.getvalue()


def make_mp4(index: int, created_unix: int) -> bytes:
    """A tiny MP4 (ftyp + moov/mvhd + mdat) with a creation time; unique per index."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    mac_time = created_unix + 2_082_844_800  # seconds since 1904-01-01
    mvhd = struct.pack(">B3xIIII", 0, mac_time, mac_time, 1000, 1000)
    mvhd += struct.pack(">I", 0x00010000) + struct.pack(">H", 0x0100) + b"\0" * 10
    mvhd += struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd += b"\0" * 24 + struct.pack(">I", 2)
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", mvhd))
    mdat = box(b"mdat", hashlib.sha256(f"video-{index}".encode()).digest() * 4)
    return ftyp + moov + mdat


def sniff_format(data: bytes) -> tuple[str, str] | None:
    """(media, originalformat) from magic bytes, or None when Flickr would refuse the file."""
    if data[:3] == b"\xff\xd8\xff":
        return "photo", "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "photo", "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "photo", "gif"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "photo", "heic"
        if brand == b"qt  ":
            return "video", "mov"
        return "video", "mp4"
    return None


def exif_taken(data: bytes) -> str | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    except Exception:
        return None
    if not isinstance(raw, str) or len(raw) < 19:
        return None
    return f"{raw[0:4]}-{raw[5:7]}-{raw[8:10]} {raw[11:19]}"


def derivative(data: bytes) -> bytes:
    """A re-encoded smaller JPEG: what a free account may still fetch."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            small = image.convert("RGB")
            small.thumbnail((1024, 1024))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=60)
            return out.getvalue()
    except Exception:
        return b""
