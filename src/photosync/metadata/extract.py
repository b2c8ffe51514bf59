"""``extract_media_info``: one call that reads everything we keep about a file.

Never raises for bad content: corrupt, truncated and empty files give a
``MediaInfo`` with what could be read and notes in ``problems``.  Headers only:
no pixel decoding, no reading a video's media data.
"""

from __future__ import annotations

import io
import mimetypes
import os
import stat
import struct
import warnings
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from photosync.metadata.containers import Blocks, scan_jpeg, scan_png, scan_webp
from photosync.metadata.dates import (
    FILENAME_SOURCE,
    PNG_DATE_SOURCE,
    date_from_filename,
    png_datetime,
    utc_iso,
)
from photosync.metadata.exif import GPS_TIME_SOURCE, facts_from_exif_bytes, facts_from_tiff
from photosync.metadata.facts import Facts, add_tags, clean_text
from photosync.metadata.formats import SNIFF_BYTES, SNIFFED_KINDS, sniff_media
from photosync.metadata.iptc import iim_from_photoshop, parse_iim
from photosync.metadata.isobmff import read_video, sniff_brand
from photosync.metadata.legacy import (
    CIFF_DATE_SOURCE,
    PMP_DATE_SOURCE,
    QVCI_DATE_SOURCE,
    RIFF_DATE_SOURCE,
    FileBytes,
    read_avi,
    read_ciff,
    read_jp2_xmp,
    read_kyocera,
    read_mrw,
    read_pmp,
    read_qvci,
)
from photosync.metadata.sidecars import parse_xmp_sidecar
from photosync.metadata.stills_legacy import (
    LYTRO_DATE_SOURCE,
    MIE_CREATE_SOURCE,
    MIE_DATE_SOURCE,
    PHOTOCD_DATE_SOURCE,
    SIGMA_DATE_SOURCE,
    read_still,
)
from photosync.metadata.tiff import file_reader, read_tiff
from photosync.metadata.types import MediaInfo
from photosync.metadata.vendor import FLIR_DATE_SOURCE, RECONYX_DATE_SOURCE, read_flir
from photosync.metadata.video_legacy import DATE_SOURCES as VIDEO_HEADER_DATES
from photosync.metadata.video_legacy import READERS as VIDEO_HEADER_READERS
from photosync.metadata.video_legacy import read_video_header
from photosync.metadata.xmp import parse_xmp_packet
from photosync.model import find_offset
from photosync.model.record import StatedValue

if TYPE_CHECKING:
    from photosync.metadata.exiftool import ExiftoolReader

#: Taken-date sources, best first.  EXIF beats a sidecar (the camera clock is
#: the record of when); a sidecar beats embedded XMP (it is the user's edit).
DATE_PRIORITY: tuple[str, ...] = (
    "exif:DateTimeOriginal",
    "exif:DateTimeDigitized",
    CIFF_DATE_SOURCE,
    PMP_DATE_SOURCE,
    QVCI_DATE_SOURCE,
    *(RECONYX_DATE_SOURCE, FLIR_DATE_SOURCE, SIGMA_DATE_SOURCE, LYTRO_DATE_SOURCE),
    MIE_DATE_SOURCE,
    "sidecar:DateTimeOriginal",
    "sidecar:DateCreated",
    "sidecar:CreateDate",
    "xmp:DateTimeOriginal",
    "xmp:DateCreated",
    "xmp:CreateDate",
    "iptc:DateCreated",
    PNG_DATE_SOURCE,
    "quicktime:CreationDate",
    "quicktime:CreateDate",
    "quicktime:ContentCreateDate",
    RIFF_DATE_SOURCE,
    *VIDEO_HEADER_DATES,
    MIE_CREATE_SOURCE,
    PHOTOCD_DATE_SOURCE,  # when the scan was written to the disc
)

MIME = {
    "jpeg": "image/jpeg",
    "mpo": "image/jpeg",
    "png": "image/png",
    "webp": "image/webp",
    "tiff": "image/tiff",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "heic": "image/heic",
    "heif": "image/heif",
    "avif": "image/avif",
    "mp4": "video/mp4",
    "m4v": "video/x-m4v",
    "mov": "video/quicktime",
    "3gp": "video/3gpp",
    "cr3": "image/x-canon-cr3",
    "xmp": "application/rdf+xml",
}
VIDEO_FORMATS = frozenset({"mp4", "m4v", "mov", "3gp"})
RAW_TIFF_EXTENSIONS = frozenset(
    {".dng", ".cr2", ".nef", ".nrw", ".arw", ".pef", ".srw", ".orf", ".rw2"}
)
#: a RAF's embedded JPEG preview (offset and length at byte 84) carries its EXIF
RAF_PREVIEW_LIMIT = 32 * 1024 * 1024

#: formats ``stills_legacy`` reads (Pillow opens none of them, or a Photo CD without its date)
STILL_FORMATS = frozenset({"bpg", "lfp", "mie", "pcd", "x3f"})
#: sniffed formats Pillow can open for size and embedded EXIF/XMP
PILLOW_READS = frozenset({"psd", "jp2", "j2k", "webp", "heic", "avif"})

_heif_ready = False
_NO_READER = "no built-in metadata reader for"
#: origin of an empty ``Facts`` saying "the built-in reader read every metadata block"
_READ_IN_FULL = "read-in-full"


def sniff_format(head: bytes, suffix: str = "") -> str | None:
    """Short format name from magic bytes (extension only refines TIFF-based raw files)."""
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return suffix.lstrip(".").lower() if suffix.lower() in RAW_TIFF_EXTENSIONS else "tiff"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM" and len(head) >= 14:
        return "bmp"
    if head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"<?xpacket", b"<x:xmpmeta")):
        return "xmp"
    return sniff_brand(head)


def _kind_for(fmt: str | None) -> str:
    if fmt is None or fmt == "xmp":
        return "unknown"
    if fmt in SNIFFED_KINDS:
        return SNIFFED_KINDS[fmt]
    return "video" if fmt in VIDEO_FORMATS else "photo"


def extract_media_info(
    path: Path,
    *,
    sidecars: Sequence[Path] = (),
    fallback_mtime: datetime | None = None,
    fallback_source: str = "file:mtime",
    file_time: bool = True,
    name: str | None = None,
    deep: ExiftoolReader | None = None,
    handle: BinaryIO | None = None,
) -> MediaInfo:
    """Everything we keep about one file; see ``MediaInfo`` for the field rules.

    ``handle``: ``path`` already open (discover's descriptor, whose bytes it just
    hashed and stored), read from its start instead of opening the name again: the
    facts are those of the very bytes archived, and a file costs one open, not two.
    The caller keeps it open and closes it.

    ``sidecars`` (from ``find_sidecars``) override embedded caption/title/tags
    and give dates and GPS only where the file has none.  ``fallback_mtime`` is
    the time to use when the file carries no date, labelled ``fallback_source``
    (else the file's mtime, unless ``file_time`` is False: a downloaded copy's
    mtime is the moment of the download, not a date of the photo).  Before
    either, a date the file's ``name`` (default: the path's) states is used,
    labelled ``filename`` (``IMG_20210127_193339.jpg``).

    ``deep`` (exiftool) is asked only about a file whose date, camera (or a
    video's place) the built-in reader could not find, or whose format it does
    not read, and fills only those gaps; with ``deep.every_file`` it is asked
    about every file and what it states wins.
    """
    path = Path(path)
    info = MediaInfo()
    embedded: list[Facts] = []
    fmt: str | None = None
    try:
        if handle is not None:
            handle.seek(0)
        elif not stat.S_ISREG(os.stat(path).st_mode):  # a FIFO would block open() forever
            raise IsADirectoryError(f"not a regular file: {path.name}")
        with nullcontext(handle) if handle is not None else open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(64)
            fmt = sniff_format(head, path.suffix)
            if fmt is None and size:
                fh.seek(0)
                found = sniff_media(fh.read(SNIFF_BYTES))
                fmt = found[0] if found else None
            if size == 0:
                info.problems.append("empty file")
                fmt = _format_from_name(path)
            elif fmt is None:
                info.problems.append("unrecognised file format")
                fmt = _format_from_name(path)
            else:
                embedded = _read_embedded(fh, size, fmt, path, info)
    except OSError as exc:
        info.problems.append(f"cannot read file: {exc.strerror or exc}")
        fmt = _format_from_name(path)
    except Exception as exc:  # a reader bug must not stop a scan of 100k files
        info.problems.append(f"metadata reader failed: {type(exc).__name__}: {exc}")
    if info.format is None:
        info.format = fmt
    info.kind = _kind_for(info.format)
    info.mime_type = MIME.get(info.format or "") or mimetypes.guess_type(path.name)[0]

    side: list[Facts] = []
    for sidecar in sidecars:
        facts, problems = parse_xmp_sidecar(Path(sidecar))
        info.problems.extend(problems)
        side.append(facts)
    _merge(info, embedded, side)
    if deep is not None and (deep.every_file or _wants_deeper(info, embedded)):
        _add_deeper(info, deep.read(path), replace=deep.every_file)
    if info.taken_date is None:
        named = date_from_filename(name or path.name)
        if named is not None:
            info.taken_date, info.taken_date_source = named, FILENAME_SOURCE
    if info.taken_date is None and fallback_mtime is not None:
        info.taken_date, info.taken_date_source = utc_iso(fallback_mtime), fallback_source
    elif info.taken_date is None and file_time:
        _file_time(info, path)
    return info


#: formats the built-in reader reads in full and that carry no camera facts
_NOTHING_DEEPER = frozenset({"gif", "bmp", "xmp"})
_BLOCK_FORMATS = frozenset({"jpeg", "mpo", "png", "webp"})


def _wants_deeper(info: MediaInfo, embedded: list[Facts]) -> bool:
    """Could exiftool answer what the built-in reader did not? (Asked sparingly: ~5 ms a file.)

    Not for a JPEG/PNG/WebP whose every block we read (no EXIF maker note, no
    vendor segment, no text chunk): a messenger's or an editor's stripped copy.
    """
    if info.format in _NOTHING_DEEPER:
        return False
    if info.format in _BLOCK_FORMATS and any(f.origin == _READ_IN_FULL for f in embedded):
        return False
    if info.format is None or any(p.startswith(_NO_READER) for p in info.problems):
        return True
    if info.taken_date is None or (info.camera_make is None and info.camera_model is None):
        return True
    return info.kind == "video" and info.location is None


def _add_deeper(info: MediaInfo, facts: Facts, *, replace: bool) -> None:
    """Fill what the built-in reader missed with exiftool's answer (``replace``: its answer wins)."""
    info.problems.extend(facts.problems)
    date = next(iter(facts.dates.items()), None)
    if date is not None and (replace or info.taken_date is None):
        info.taken_date_source, info.taken_date = date
    if facts.location is not None and (replace or info.location is None):
        info.location = facts.location.copy()
    if (facts.camera_make or facts.camera_model) and (
        replace or (info.camera_make is None and info.camera_model is None)
    ):
        info.camera_make, info.camera_model = facts.camera_make, facts.camera_model
    if facts.orientation is not None and (replace or info.orientation is None):
        info.orientation = facts.orientation
    if facts.width and facts.height and info.width is None:
        info.width, info.height = facts.width, facts.height


def _format_from_name(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    aliases = {
        "jpg": "jpeg",
        "jpe": "jpeg",
        "tif": "tiff",
        "qt": "mov",
        "3g2": "3gp",
        "hif": "heif",
    }
    suffix = aliases.get(suffix, suffix)
    return suffix if suffix in MIME else None


def _read_embedded(fh: BinaryIO, size: int, fmt: str, path: Path, info: MediaInfo) -> list[Facts]:
    """Facts of each embedded source, best first: EXIF, XMP, IPTC (or the video's own)."""
    if fmt == "jpeg":
        blocks = scan_jpeg(fh, size)
        if blocks.mpo:
            info.format = "mpo"
        found = _from_blocks(blocks, info)
        if blocks.flir:  # a thermal camera's own record: its capture time
            found += _moved_problems([read_flir(fh, blocks.flir)], info)
        return found
    if fmt == "png":
        return _from_blocks(scan_png(fh, size), info)
    if fmt == "webp":
        return _from_blocks(scan_webp(fh, size), info)
    if fmt in VIDEO_FORMATS or fmt == "cr3":
        facts = read_video(fh, size)
        info.problems.extend(facts.problems)
        facts.problems = []
        if fmt != "cr3":  # a CR3's tracks are its previews: their size is not the photo's
            info.width, info.height, info.duration_s = facts.width, facts.height, facts.duration_s
        else:
            facts.orientation = None  # nor is their rotation
        return [facts]
    if fmt == "tiff" or fmt in {e.lstrip(".") for e in RAW_TIFF_EXTENSIONS}:
        return _from_tiff_file(fh, info)
    if fmt in ("heic", "heif", "avif"):
        return _from_heif(path, fmt, info)
    if fmt in ("gif", "bmp"):
        _simple_size(fh, fmt, info)
        return []
    if fmt == "xmp":
        info.problems.append("an XMP sidecar, not a photo")
        return []
    if fmt == "crw":
        found = read_ciff(FileBytes(fh, size))
        info.problems.extend(found[0].problems)
        found[0].problems = []
        return found
    if fmt == "kyocera-raw":
        return read_kyocera(fh)
    if fmt in ("jp2", "j2k", "jpf", "jpx"):
        packet = read_jp2_xmp(fh, size)  # Pillow gives the size, not the 'xml ' box
        found = _from_pillow(path, info)
        return found + (_from_payloads(None, packet, None, info) if packet else [])
    if fmt in ("mrw", "avi"):
        found = read_mrw(fh, size) if fmt == "mrw" else read_avi(fh, size)
        for facts in found:
            info.problems.extend(facts.problems)
            facts.problems = []
        return found
    if fmt == "raf":
        fh.seek(84)
        offset, length = struct.unpack(">II", fh.read(8))
        if 0 < length <= RAF_PREVIEW_LIMIT and offset + length <= size:
            fh.seek(offset)
            preview = io.BytesIO(fh.read(length))
            blocks = scan_jpeg(preview, length)
            width, height = info.width, info.height
            preview_facts = _from_blocks(blocks, info)
            info.width, info.height = width, height  # the preview's size is not the raw's
            return preview_facts
    if fmt in VIDEO_HEADER_READERS or fmt == "pmp":  # DV, AVCHD, MXF, R3D; Sony DSC-F1
        found = [read_video_header(fmt, fh, size) if fmt != "pmp" else read_pmp(fh, size)]
        info.problems.extend(found[0].problems)
        found[0].problems = []
        if found[0].width:
            info.width, info.height = found[0].width, found[0].height
        return found
    if fmt in STILL_FORMATS:
        found = _moved_problems(read_still(fmt, fh, size), info)
        sized = next((f for f in found if f.width and f.height), None)
        if sized is not None:
            info.width, info.height = sized.width, sized.height
        return found
    if fmt in SNIFFED_KINDS and fmt not in PILLOW_READS:
        # archived bit-exact all the same; its date falls back to the file's time
        info.problems.append(f"{_NO_READER} {fmt} files")
        return []
    return _from_pillow(path, info)


def _moved_problems(found: list[Facts], info: MediaInfo) -> list[Facts]:
    """The reader's notes go to the file's problems (once), its facts stay."""
    for facts in found:
        info.problems.extend(facts.problems)
        facts.problems = []
    return found


def _from_blocks(blocks: Blocks, info: MediaInfo) -> list[Facts]:
    info.problems.extend(blocks.problems)
    info.width, info.height = blocks.width, blocks.height
    facts = _from_payloads(blocks.exif, blocks.xmp, blocks.iptc_photoshop, info)
    if blocks.ciff is not None:
        ciff = read_ciff(blocks.ciff)[0]
        info.problems.extend(ciff.problems)
        ciff.problems = []
        facts.append(ciff)
    if blocks.qvci is not None:
        qvci = read_qvci(blocks.qvci)
        info.problems.extend(qvci.problems)
        qvci.problems = []
        facts.append(qvci)
    created = png_datetime(blocks.png_created)
    if created:
        facts.append(Facts(origin="png", dates={PNG_DATE_SOURCE: created}))
    if blocks.exif is None and not blocks.foreign:
        facts.append(Facts(origin=_READ_IN_FULL))  # no maker note, no vendor segment
    return facts


def _from_payloads(
    exif: bytes | None,
    xmp: bytes | None,
    photoshop: bytes | None,
    info: MediaInfo,
    *,
    iim: bytes | None = None,
) -> list[Facts]:
    out: list[Facts] = []
    if exif:
        facts, _tags = facts_from_exif_bytes(exif)
        out.append(facts)
    if xmp:
        out.append(parse_xmp_packet(xmp))
    if photoshop and iim is None:
        iim = iim_from_photoshop(photoshop)
    if iim:
        out.append(parse_iim(iim))
    for facts in out:
        info.problems.extend(facts.problems)
        facts.problems = []
    return out


def _from_tiff_file(fh: BinaryIO, info: MediaInfo) -> list[Facts]:
    tags = read_tiff(file_reader(fh), what="TIFF")
    facts = facts_from_tiff(tags)
    info.problems.extend(facts.problems)
    facts.problems = []
    width, height = tags.ifd0.get(0x0100), tags.ifd0.get(0x0101)
    if (
        isinstance(width, tuple)
        and isinstance(height, tuple)
        and width
        and height
        and isinstance(width[0], int)
        and isinstance(height[0], int)
    ):
        info.width, info.height = width[0], height[0]
    xmp = tags.ifd0.get(0x02BC)
    iim = tags.ifd0.get(0x83BB)
    rest = _from_payloads(
        None,
        xmp if isinstance(xmp, bytes) else None,
        None,
        info,
        iim=iim if isinstance(iim, bytes) else None,
    )
    return [facts, *rest]


def _from_heif(path: Path, fmt: str, info: MediaInfo) -> list[Facts]:
    """pillow-heif gives the size after HEIF rotation, so orientation is reported as 1."""
    global _heif_ready
    try:
        import pillow_heif

        if not _heif_ready:
            pillow_heif.register_heif_opener()
            _heif_ready = True
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            heif = pillow_heif.open_heif(str(path), convert_hdr_to_8bit=False)
            width, height = heif.size
            exif = heif.info.get("exif")
            xmp = heif.info.get("xmp")
    except Exception as exc:
        label = "AVIF" if fmt == "avif" else "HEIF"
        info.problems.append(f"unreadable {label}: {exc}")
        if fmt == "avif":
            return _from_pillow(path, info)
        return []
    info.width, info.height = width, height
    out = _from_payloads(
        exif if isinstance(exif, bytes) else None,
        xmp if isinstance(xmp, bytes) else None,
        None,
        info,
    )
    for facts in out:
        facts.orientation = None
    info.orientation = 1
    return out


def _simple_size(fh: BinaryIO, fmt: str, info: MediaInfo) -> None:
    """GIF logical screen / BMP DIB header size; these formats carry no metadata we keep."""
    fh.seek(0)
    head = fh.read(32)
    if fmt == "gif" and len(head) >= 10:
        info.width, info.height = struct.unpack("<HH", head[6:10])
    elif fmt == "bmp" and len(head) >= 26:
        (dib_size,) = struct.unpack("<I", head[14:18])
        if dib_size == 12:
            info.width, info.height = struct.unpack("<HH", head[18:22])
        else:
            width, height = struct.unpack("<ii", head[18:26])
            info.width, info.height = abs(width), abs(height)
    if not info.width or not info.height:
        info.width = info.height = None
        info.problems.append(f"unreadable {fmt.upper()} header")


def _from_pillow(path: Path, info: MediaInfo) -> list[Facts]:
    """Anything else Pillow can identify (AVIF without pillow-heif support): size, EXIF, XMP."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                info.width, info.height = im.size
                if info.format is None and im.format:
                    info.format = im.format.lower()
                exif = im.info.get("exif")
                xmp = im.info.get("xmp") or im.info.get("XML:com.adobe.xmp")
    except Exception as exc:
        info.problems.append(f"unreadable image: {type(exc).__name__}: {exc}")
        return []
    return _from_payloads(
        exif if isinstance(exif, bytes) else None,
        xmp.encode() if isinstance(xmp, str) else xmp if isinstance(xmp, bytes) else None,
        None,
        info,
    )


def _first(values: list[str | None]) -> str | None:
    return next((v for v in values if v), None)


# Who wins for caption/title/tags among embedded sources: XMP is what modern
# tools keep in sync, IPTC is older, EXIF ImageDescription is often camera junk.
_TEXT_RANK = {"xmp": 0, "iptc": 1, "quicktime": 2, "exif": 3}
# Who wins for location: the camera's own EXIF fix, then the user's sidecar.
_LOCATION_RANK = {"exif": 0, "sidecar": 1, "xmp": 2, "quicktime": 3, "iptc": 4}


def _merge(info: MediaInfo, embedded: list[Facts], side: list[Facts]) -> None:
    """Apply the precedence rules of the issue in one place."""
    everything = [*embedded, *side]
    dates: dict[str, str] = {}
    for facts in everything:
        for source, value in facts.dates.items():
            dates.setdefault(source, value)
    for source in DATE_PRIORITY:
        if source in dates:
            info.taken_date, info.taken_date_source = dates[source], source
            break
    if info.taken_date is not None and len(info.taken_date) == 10:
        # a day alone (XMP photoshop:DateCreated): another source of that day may
        # state the time too (IPTC DateCreated + TimeCreated, as Photo Mechanic writes)
        for source in DATE_PRIORITY:
            value = dates.get(source, "")
            if len(value) > 10 and value[:10] == info.taken_date:
                info.taken_date, info.taken_date_source = value, source
                break
    if info.taken_date is not None:
        info.taken_date = _borrow_offset(info.taken_date, dates.values())
        info.taken_date = _find_offset(info.taken_date, dates)

    for facts in sorted(everything, key=lambda f: _LOCATION_RANK.get(f.origin, 9)):
        if facts.location:
            info.location = facts.location.copy()
            break

    info.camera_make = clean_text(_first([f.camera_make for f in everything]))
    info.camera_model = clean_text(_first([f.camera_model for f in everything]))
    if info.orientation is None:
        info.orientation = next((f.orientation for f in everything if f.orientation), None)

    # Text: a sidecar (the user's edit) replaces embedded values.
    text_order = [*side, *sorted(embedded, key=lambda f: _TEXT_RANK.get(f.origin, 9))]
    info.caption = _first([f.caption for f in text_order])
    info.title = _first([f.title for f in text_order])
    side_tags = next((f.tags for f in side if f.tags), None)
    if side_tags is not None:
        info.tags = list(side_tags)
    else:
        for facts in text_order:
            add_tags(info.tags, facts.tags)
    if side and embedded:
        info.sources = _both_stated(info, embedded, side)


def _both_stated(info: MediaInfo, embedded: list[Facts], side: list[Facts]) -> list[StatedValue]:
    """Each field the file and its XMP sidecar both state: both values, labelled.

    One of them won above (EXIF's date and place, the sidecar's caption and tags);
    the other is kept here, so a date fixed in Lightroom or a place set in digiKam is
    a question (``model.sources_disagree``) rather than lost behind the camera's.
    """
    out: list[StatedValue] = []
    dated: list[StatedValue] = []
    for group in (embedded, side):
        dates = {k: v for facts in group for k, v in facts.dates.items()}
        best = next((source for source in DATE_PRIORITY if source in dates), None)
        if best is not None:
            value = info.taken_date if best == info.taken_date_source else dates[best]
            dated.append({"source": best, "field": "taken_date", "value": value})
    if len(dated) == 2:
        out.extend(dated)
    ranked = sorted(embedded, key=lambda f: _LOCATION_RANK.get(f.origin, 9))
    file_place = next((f.location for f in ranked if f.location), None)
    side_place = next((f.location for f in side if f.location), None)
    if file_place and side_place:
        out.append({"source": "file", "field": "location", "value": dict(file_place)})
        out.append({"source": "sidecar", "field": "location", "value": dict(side_place)})
    text_order = sorted(embedded, key=lambda f: _TEXT_RANK.get(f.origin, 9))
    for name in ("caption", "title"):
        file_text = _first([getattr(f, name) for f in text_order])
        side_text = _first([getattr(f, name) for f in side])
        if file_text and side_text:
            out.append({"source": "file", "field": name, "value": file_text})
            out.append({"source": "sidecar", "field": name, "value": side_text})
    file_tags: list[str] = []
    for facts in text_order:
        add_tags(file_tags, facts.tags)
    side_tags = next((f.tags for f in side if f.tags), None)
    if file_tags and side_tags and sorted(file_tags) != sorted(side_tags):
        out.append({"source": "file", "field": "tags", "value": sorted(file_tags)})
        out.append({"source": "sidecar", "field": "tags", "value": sorted(side_tags)})
    return out


def _borrow_offset(value: str, others: Iterable[str]) -> str:
    """Give a naive EXIF time the offset of another source stating the same wall-clock second.

    Cameras without OffsetTimeOriginal often write the same moment with an
    offset into XMP (xmp:CreateDate); that offset belongs to this time too.
    """
    if len(value) < 19 or value.endswith("Z") or value[-6] in "+-":
        return value
    for other in others:
        if len(other) >= 25 and other[:19] == value[:19] and other[-6] in "+-":
            return value + other[-6:]
    return value


#: sources that state a UTC instant, best first: with a naive wall clock of the same
#: moment they give its time zone
INSTANT_SOURCES = (GPS_TIME_SOURCE, "quicktime:CreateDate")


def _find_offset(value: str, dates: dict[str, str]) -> str:
    """A naive wall clock plus a UTC instant of the same moment (GPS fix, QuickTime's mvhd,
    then any other source that states one: an XMP sidecar written in UTC) give the
    offset (``model.find_offset``: whole quarter hours, within a minute)."""
    if len(value) < 19 or value.endswith("Z") or value[-6] in "+-":
        return value
    stated = [s for s in INSTANT_SOURCES if s in dates] + [
        s for s, v in dates.items() if s not in INSTANT_SOURCES and _is_instant(v)
    ]
    for source in stated:
        offset = find_offset(value, dates[source])
        if offset is not None:
            return value + offset
    return value


def _is_instant(value: str) -> bool:
    """A date with a zone (``Z`` or ``+02:00``): a UTC instant, not a wall clock."""
    return len(value) >= 20 and (value.endswith("Z") or value[-6] in "+-")


def _file_time(info: MediaInfo, path: Path) -> None:
    try:
        taken = datetime.fromtimestamp(os.stat(path).st_mtime).astimezone()
    except (OSError, ValueError, OverflowError):  # gone, or a year no date can hold
        return
    info.taken_date = utc_iso(taken)
    info.taken_date_source = "file:mtime"
