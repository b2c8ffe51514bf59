"""Which files are photos or videos: by extension and, where that says nothing, by content.

A folder source archives every file one of these recognises, so a raw file with
an exotic extension, or a JPEG saved without one, is never left behind; what
neither recognises is left out *and named* (never skipped in silence).
"""

from __future__ import annotations

from typing import Literal

Kind = Literal["photo", "video"]

#: Bytes a listing reads from a file whose extension says nothing (Photo CD's
#: signature sits at offset 2048).
SNIFF_BYTES = 2056

PHOTO_EXTENSIONS = frozenset(
    {
        # common
        *("jpg", "jpeg", "jpe", "jfif", "png", "webp", "tif", "tiff", "gif", "bmp", "mpo"),
        *("heic", "heif", "hif", "avif", "jxl", "jp2", "j2k", "jpf", "jpx", "jpm", "bpg"),
        *("psd", "psb", "pcd", "pmp", "lfp", "lfr", "mie"),
        # raw formats exiftool reads
        *("dng", "cr2", "cr3", "crw", "nef", "nrw", "arw", "srf", "sr2", "orf", "ori"),
        *("rw2", "rwl", "raf", "srw", "pef", "ptx", "x3f", "mrw", "mdc", "iiq", "3fr"),
        *("fff", "erf", "eip", "kdc", "dcr", "dcs", "k25", "mef", "mos", "raw", "rwz"),
        *("gpr", "ari", "bay", "cap", "cs1", "drf", "sti", "pxn"),
    }
)
VIDEO_EXTENSIONS = frozenset(
    {
        *("mp4", "mov", "qt", "m4v", "3gp", "3g2", "avi", "mkv", "mts", "m2ts", "webm"),
        *("mpg", "mpeg", "m2v", "mpv", "vob", "mod", "tod", "wmv", "asf", "mxf", "dv"),
        *("r3d", "flv", "f4v", "ogv", "insv", "lrv", "braw", "crm"),
    }
)


def kind_by_name(name: str) -> Kind | None:
    """Photo or video by the file's extension (case-insensitive), else None."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext in PHOTO_EXTENSIONS:
        return "photo"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    return None


#: (offset, signature, format, kind): checked in order, first match wins
_SIGNATURES: tuple[tuple[int, bytes, str, Kind], ...] = (
    (0, b"\xff\xd8\xff", "jpeg", "photo"),
    (0, b"\x89PNG\r\n\x1a\n", "png", "photo"),
    (0, b"GIF87a", "gif", "photo"),
    (0, b"GIF89a", "gif", "photo"),
    (6, b"HEAPCCDR", "crw", "photo"),
    (0, b"II*\x00", "tiff", "photo"),
    (0, b"MM\x00*", "tiff", "photo"),
    (0, b"IIRO", "orf", "photo"),
    (0, b"IIU\x00", "rw2", "photo"),
    (0, b"FUJIFILMCCD-RAW", "raf", "photo"),
    (0, b"FOVb", "x3f", "photo"),
    (0, b"\x00MRM", "mrw", "photo"),
    (25, b"ARECOYK", "kyocera-raw", "photo"),
    (0, b"8BPS", "psd", "photo"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "jp2", "photo"),
    (0, b"\xff\x4f\xff\x51", "j2k", "photo"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "jxl", "photo"),
    (0, b"BPG\xfb", "bpg", "photo"),
    (2048, b"PCD_IPI", "pcd", "photo"),
    (0, b"\x89LFP\r\n\x1a\n", "lfp", "photo"),
    (4, b"RED1", "r3d", "video"),
    (4, b"RED2", "r3d", "video"),
    (0, b"0&\xb2u\x8ef\xcf\x11\xa6\xd9\x00\xaa\x00b\xcel", "asf", "video"),
    (0, b"\x06\x0e+4\x02\x05\x01\x01\x0d\x01\x02", "mxf", "video"),
    (0, b"\x00\x00\x01\xba", "mpeg", "video"),
    (0, b"\x00\x00\x01\xb3", "mpeg", "video"),
    (0, b"\x1a\x45\xdf\xa3", "mkv", "video"),
    (0, b"FLV\x01", "flv", "video"),
)


def sniff_media(head: bytes) -> tuple[str, Kind] | None:
    """(format, kind) from a file's first ``SNIFF_BYTES`` bytes, or None.

    Only signatures that leave little doubt: a file these miss is reported, not guessed.
    """
    for offset, magic, fmt, kind in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return fmt, kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp", "photo"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi", "video"
    if head[:1] == b"~" and head[1:3] in (b"\x10\x04", b"\x18\x04") and head[4:8] == b"0MIE":
        return "mie", "photo"  # exiftool's Meta Information Encapsulation
    if head[8:12] == b"\x00\x00\x00\x7c" and head[124:128] == b"\xff\xd8\xff\xdb":
        return "pmp", "photo"  # Sony DSC-F1
    if head[:3] == b"\x1f\x07\x00" and len(head) > 3 and head[3] in (0x3F, 0xBF):
        return "dv", "video"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1", b"heim", b"heis", b"hevc"):
            return "heic", "photo"
        if brand in (b"avif", b"avis"):
            return "avif", "photo"
        if brand == b"crx ":
            return "cr3", "photo"
        return "mp4", "video"
    if head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return "mov", "video"
    if len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts", "video"
    if len(head) >= 197 and head[4] == 0x47 and head[196] == 0x47:
        return "m2ts", "video"
    return None


#: kind of every format ``sniff_media`` names
SNIFFED_KINDS: dict[str, Kind] = {fmt: kind for _o, _m, fmt, kind in _SIGNATURES} | {
    "webp": "photo",
    "heic": "photo",
    "avif": "photo",
    "cr3": "photo",
    "pmp": "photo",
    "mie": "photo",
    "avi": "video",
    "dv": "video",
    "mp4": "video",
    "mov": "video",
    "mpeg-ts": "video",
    "m2ts": "video",
}
