"""Writing the canonical metadata out: an XMP sidecar (by hand) or embedded (exiftool).

``xmp.py`` reads XMP (defusedxml); this module writes it with its own escaping,
so any caption or tag a service stated ends up as well-formed XML: markup
characters escaped, characters XML 1.0 cannot carry replaced. Embedding goes
through exiftool, which knows every container; photosync never rewrites an
original itself.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

# XML 1.0 allows tab, LF, CR and everything from U+0020 except surrogates and U+FFFE/F
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class MetadataOut:
    """What goes with an exported file: the record's canonical metadata."""

    taken_date: str | None = None  # ISO 8601, with its offset when one is known
    lat: float | None = None
    lng: float | None = None
    alt: float | None = None
    caption: str | None = None
    title: str | None = None
    keywords: tuple[str, ...] = field(default_factory=tuple)  # tags, then albums


def xml_text(value: str) -> str:
    """Text safe inside an XML element or attribute."""
    return escape(_NOT_XML.sub("\ufffd", value), {'"': "&quot;"})


def _gps_xmp(value: float, positive: str, negative: str) -> str:
    """XMP's GPS coordinate: ``DDD,MM.mmmmmmk`` (degrees, decimal minutes, a reference letter)."""
    ref = positive if value >= 0 else negative
    value = abs(value)
    degrees = int(value)
    minutes = (value - degrees) * 60
    return f"{degrees},{minutes:.8f}{ref}"


def xmp_packet(meta: MetadataOut) -> bytes:
    """A complete XMP sidecar (UTF-8) holding ``meta``; empty fields are left out."""
    props: list[str] = []
    if meta.taken_date:
        date = xml_text(meta.taken_date)  # XMP dates are ISO 8601 like the record's
        props += [
            f"   <exif:DateTimeOriginal>{date}</exif:DateTimeOriginal>",
            f"   <photoshop:DateCreated>{date}</photoshop:DateCreated>",
            f"   <xmp:CreateDate>{date}</xmp:CreateDate>",
        ]
    if meta.lat is not None and meta.lng is not None:
        props += [
            "   <exif:GPSVersionID>2.3.0.0</exif:GPSVersionID>",
            f"   <exif:GPSLatitude>{_gps_xmp(meta.lat, 'N', 'S')}</exif:GPSLatitude>",
            f"   <exif:GPSLongitude>{_gps_xmp(meta.lng, 'E', 'W')}</exif:GPSLongitude>",
        ]
        if meta.alt is not None:
            props += [
                f"   <exif:GPSAltitude>{round(abs(meta.alt) * 1000)}/1000</exif:GPSAltitude>",
                f"   <exif:GPSAltitudeRef>{0 if meta.alt >= 0 else 1}</exif:GPSAltitudeRef>",
            ]
    for tag, value in (("description", meta.caption), ("title", meta.title)):
        if value:
            props += [
                f"   <dc:{tag}>",
                "    <rdf:Alt>",
                f'     <rdf:li xml:lang="x-default">{xml_text(value)}</rdf:li>',
                "    </rdf:Alt>",
                f"   </dc:{tag}>",
            ]
    if meta.keywords:
        props += ["   <dc:subject>", "    <rdf:Bag>"]
        props += [f"     <rdf:li>{xml_text(word)}</rdf:li>" for word in meta.keywords]
        props += ["    </rdf:Bag>", "   </dc:subject>"]
    lines = [
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>',
        '<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="photosync">',
        ' <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">',
        '  <rdf:Description rdf:about=""',
        '    xmlns:dc="http://purl.org/dc/elements/1.1/"',
        '    xmlns:exif="http://ns.adobe.com/exif/1.0/"',
        '    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"',
        '    xmlns:xmp="http://ns.adobe.com/xap/1.0/">',
        *props,
        "  </rdf:Description>",
        " </rdf:RDF>",
        "</x:xmpmeta>",
        '<?xpacket end="w"?>',
        "",
    ]
    return "\n".join(lines).encode("utf-8")


# -- embedding with exiftool ------------------------------------------------------------

EXIFTOOL_HINT = (
    "Install exiftool (Debian/Ubuntu: apt-get install libimage-exiftool-perl; "
    "macOS: brew install exiftool; Windows: exiftool.org), or use --metadata xmp."
)


def exiftool_path() -> str | None:
    return shutil.which("exiftool")


def _exif_date(value: str) -> tuple[str, str | None]:
    """(``YYYY:MM:DD HH:MM:SS``, ``+HH:MM`` or None) from an ISO date of a record."""
    text = value.replace("Z", "+00:00")
    if "T" not in text:
        text += "T00:00:00"
    parsed = datetime.fromisoformat(text)
    offset = None
    if parsed.utcoffset() is not None:
        offset = parsed.strftime("%z")
        offset = f"{offset[:3]}:{offset[3:]}"
    return parsed.strftime("%Y:%m:%d %H:%M:%S"), offset


def exiftool_args(meta: MetadataOut) -> list[str]:
    """The tag assignments that write ``meta`` into a file (EXIF, IPTC and XMP alike)."""
    args = ["-charset", "iptc=UTF8", "-codedcharacterset=utf8"]
    if meta.taken_date:
        stamp, offset = _exif_date(meta.taken_date)
        args += [f"-DateTimeOriginal={stamp}", f"-CreateDate={stamp}"]
        args += [f"-XMP-photoshop:DateCreated={stamp}{offset or ''}"]
        if offset:
            args += [f"-OffsetTimeOriginal={offset}", f"-OffsetTime={offset}"]
    if meta.lat is not None and meta.lng is not None:
        args += [
            f"-GPSLatitude={abs(meta.lat)}",
            f"-GPSLatitudeRef={'N' if meta.lat >= 0 else 'S'}",
            f"-GPSLongitude={abs(meta.lng)}",
            f"-GPSLongitudeRef={'E' if meta.lng >= 0 else 'W'}",
        ]
        if meta.alt is not None:
            args += [
                f"-GPSAltitude={abs(meta.alt)}",
                f"-GPSAltitudeRef={0 if meta.alt >= 0 else 1}",
            ]
    if meta.caption:
        caption = _NOT_XML.sub("\ufffd", meta.caption)
        args += [
            f"-ImageDescription={caption}",
            f"-XMP-dc:Description={caption}",
            f"-IPTC:Caption-Abstract={caption}",
        ]
    if meta.title:
        title = _NOT_XML.sub("\ufffd", meta.title)
        args += [f"-XMP-dc:Title={title}", f"-IPTC:ObjectName={title}"]
    for word in meta.keywords:
        word = _NOT_XML.sub("\ufffd", word)
        args += [f"-XMP-dc:Subject={word}", f"-IPTC:Keywords={word}"]
    return args


def embed(path: Path, meta: MetadataOut, *, exiftool: str) -> str | None:
    """Write ``meta`` into the file at ``path`` in place; None, or exiftool's complaint."""
    args = exiftool_args(meta)
    if len(args) <= 3:
        return None  # nothing to write
    result = subprocess.run(
        [exiftool, "-q", "-m", "-overwrite_original", *args, str(path)],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if result.returncode == 0:
        return None
    said = (result.stderr or result.stdout).strip().splitlines()
    return said[-1] if said else f"exiftool exit {result.returncode}"
