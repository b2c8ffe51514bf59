"""Read XMP packets (embedded or sidecar) safely with defusedxml.

XMP is RDF/XML: a property may be an attribute of ``rdf:Description`` or a child
element holding text or an ``rdf:Alt``/``rdf:Seq``/``rdf:Bag`` list.  We handle
both spellings; DTDs and entities are refused (billion laughs, XXE).
"""

from __future__ import annotations

import re
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from photosync.metadata.dates import parse_xmp_datetime
from photosync.metadata.exif import is_junk_caption
from photosync.metadata.facts import Facts, add_tags, clean_text, valid_location

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
EXIF_NS = "http://ns.adobe.com/exif/1.0/"
TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
XMP_NS = "http://ns.adobe.com/xap/1.0/"
PHOTOSHOP = "http://ns.adobe.com/photoshop/1.0/"
LIGHTROOM = "http://ns.adobe.com/lightroom/1.0/"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

#: the most XML parsed for one packet, once the bulky edit-history lists are cut
MAX_XMP_BYTES = 1024 * 1024
#: the most read of one XMP sidecar: Lightroom and Photoshop keep years of edit
#: history (xmpMM:History, DocumentAncestors) in it, megabytes around the few facts
MAX_SIDECAR_BYTES = 64 * 1024 * 1024

_GPS_RE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)(?:,(\d+(?:\.\d+)?))?(?:,(\d+(?:\.\d+)?))?\s*([NSEW])\s*$"
)

XmpValue = str | list[str]

# Big lists no field of ours needs (Photoshop keeps thousands of ancestor ids);
# cutting them before parsing keeps XMP cost flat.
_BULKY = re.compile(
    rb"<(photoshop:DocumentAncestors|xmpMM:History|xmpMM:Pantry|xmpMM:Ingredients|xmpMM:Manifest)\b"
    rb"[^>]*>.*?</\1>",
    re.DOTALL,
)
_BULKY_MARKERS = (
    b"DocumentAncestors",
    b"xmpMM:History",
    b"xmpMM:Pantry",
    b"xmpMM:Ingredients",
    b"xmpMM:Manifest",
)


def parse_xmp_packet(
    data: bytes | str, *, prefix: str = "xmp", label: str = "embedded XMP"
) -> Facts:
    """Facts from one XMP packet; a malformed packet gives only a ``problems`` entry."""
    facts = Facts(origin="sidecar" if prefix == "sidecar" else "xmp")
    if isinstance(data, str):
        data = data.encode("utf-8", errors="replace")
    if len(data) > MAX_SIDECAR_BYTES:
        facts.problems.append(f"{label} ignored: larger than {MAX_SIDECAR_BYTES >> 20} MB")
        return facts
    data = data.strip(b"\x00 \t\r\n")
    end = data.rfind(b"</x:xmpmeta>")
    if end >= 0 and data.rfind(b"<?xpacket end") < end:
        data = data[: end + len(b"</x:xmpmeta>")]
    if not data:
        return facts
    if len(data) > 4096 and any(m in data for m in _BULKY_MARKERS):
        data = _BULKY.sub(b"", data)
    if len(data) > MAX_XMP_BYTES:  # parsing is bounded whatever the file's size
        facts.problems.append(
            f"{label} ignored: larger than {MAX_XMP_BYTES >> 20} MB without its edit history"
        )
        return facts
    first_end = data.find(b"</x:xmpmeta>") + len(b"</x:xmpmeta>")
    # a packet rewritten in place can leave the tail of its older, longer self behind
    # the new one's end: the first complete packet is what the writer meant
    candidates = (
        [data, data[:first_end]] if len(b"</x:xmpmeta>") < first_end < len(data) else [data]
    )
    for attempt, candidate in enumerate(candidates, 1):
        try:
            root = fromstring(candidate, forbid_dtd=True)
            break
        except DefusedXmlException as exc:
            facts.problems.append(
                f"{label} ignored: forbidden XML construct ({type(exc).__name__})"
            )
            return facts
        except (ParseError, ValueError, UnicodeError) as exc:
            if attempt == len(candidates):
                facts.problems.append(f"{label} ignored: malformed XML ({exc})")
                return facts
    props = _collect(root)
    _apply(props, facts, prefix)
    return facts


def _collect(root: Element) -> dict[str, XmpValue]:
    """'{ns}Name' -> value over every rdf:Description; first writer wins."""
    props: dict[str, XmpValue] = {}
    for desc in root.iter(f"{{{RDF}}}Description"):
        for key, value in desc.attrib.items():
            if not key.startswith(f"{{{RDF}}}"):
                props.setdefault(key, value)
        for child in desc:
            value_of = _element_value(child)
            if value_of is not None:
                props.setdefault(child.tag, value_of)
    return props


def _element_value(el: Element) -> XmpValue | None:
    resource = el.get(f"{{{RDF}}}resource")
    if resource is not None:
        return resource
    for container in el:
        if container.tag == f"{{{RDF}}}Alt":
            items = list(container)
            chosen = next((li for li in items if li.get(XML_LANG) == "x-default"), None)
            if chosen is None and items:
                chosen = items[0]
            return (chosen.text or "") if chosen is not None else ""
        if container.tag in (f"{{{RDF}}}Seq", f"{{{RDF}}}Bag"):
            return [li.text or "" for li in container if li.text]
    if len(el):
        return None  # a structure (e.g. exif:Flash); not needed
    return el.text or ""


def _text(value: XmpValue | None) -> str | None:
    if isinstance(value, list):
        return clean_text(value[0]) if value else None
    return clean_text(value)


def xmp_gps(value: XmpValue | None) -> float | None:
    """XMP GPSCoordinate 'DDD,MM.mmmN' or 'DDD,MM,SSN' (or a plain signed decimal)."""
    text = _text(value)
    if not text:
        return None
    m = _GPS_RE.match(text.upper())
    if not m:
        try:
            return float(text)
        except ValueError:
            return None
    deg = float(m.group(1)) + float(m.group(2) or 0) / 60 + float(m.group(3) or 0) / 3600
    return -deg if m.group(4) in ("S", "W") else deg


def _apply(props: dict[str, XmpValue], facts: Facts, prefix: str) -> None:
    for key, name in (
        (f"{{{EXIF_NS}}}DateTimeOriginal", "DateTimeOriginal"),
        (f"{{{PHOTOSHOP}}}DateCreated", "DateCreated"),
        (f"{{{XMP_NS}}}CreateDate", "CreateDate"),
    ):
        value = parse_xmp_datetime(_text(props.get(key)))
        if value:
            facts.dates[f"{prefix}:{name}"] = value
    lat_raw, lng_raw = (
        props.get(f"{{{EXIF_NS}}}GPSLatitude"),
        props.get(f"{{{EXIF_NS}}}GPSLongitude"),
    )
    if lat_raw is not None or lng_raw is not None:
        facts.location = valid_location(xmp_gps(lat_raw), xmp_gps(lng_raw))
        facts.location_null = facts.location is None
    facts.camera_make = _text(props.get(f"{{{TIFF_NS}}}Make"))
    facts.camera_model = _text(props.get(f"{{{TIFF_NS}}}Model"))
    orientation = _text(props.get(f"{{{TIFF_NS}}}Orientation"))
    if orientation and orientation.isdigit() and 1 <= int(orientation) <= 8:
        facts.orientation = int(orientation)
    caption = _text(props.get(f"{{{DC}}}description"))
    if not is_junk_caption(caption, make=facts.camera_make, model=facts.camera_model):
        facts.caption = caption
    facts.title = _text(props.get(f"{{{DC}}}title"))
    subjects = props.get(f"{{{DC}}}subject")
    if isinstance(subjects, str):
        subjects = [s for s in re.split(r"[,;]", subjects)]
    add_tags(facts.tags, subjects or [])
    hierarchy = props.get(f"{{{LIGHTROOM}}}hierarchicalSubject")
    if isinstance(hierarchy, str):
        hierarchy = [hierarchy]
    for path in hierarchy or []:
        add_tags(facts.tags, path.split("|"))
