"""Flickr's fields <-> photosync's observed metadata and visibility.

Flickr's JSON is loose (numbers arrive as ints or strings, empty values as 0 or
""), so everything here coerces and never trusts a type.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from photosync.model import UNKNOWN_DATE_SUFFIX, ObservedMetadata, Visibility
from photosync.model.record import Location
from photosync.services.base import RemoteItem, VisibilityObservation

MACHINE_TAG_PREFIX = "photosync:sha256="
MACHINE_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*=.+$")

#: extras asked for in every listing: everything the mapping below reads
LISTING_EXTRAS = (
    "description,license,date_upload,date_taken,last_update,original_format,o_dims,"
    "geo,tags,machine_tags,media,path_alias,url_o"
)

#: Flickr's date-taken granularity codes
GRANULARITY_SECOND, GRANULARITY_MONTH, GRANULARITY_YEAR, GRANULARITY_CIRCA = 0, 4, 6, 8

_VISIBILITY_FLAGS: dict[Visibility, tuple[int, int, int]] = {
    Visibility.PUBLIC: (1, 0, 0),
    Visibility.FRIENDS: (0, 1, 1),
    Visibility.PRIVATE: (0, 0, 0),
}


def to_int(value: Any, default: int | None = None) -> int | None:
    """Flickr numbers arrive as 1, "1", "1.0" or ""; anything unusable is ``default``."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) else default
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return default
        try:
            return int(text)
        except ValueError:
            try:
                return to_int(float(text), default)
            except ValueError:
                return default
    return default


def to_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number


def content_text(value: Any) -> str:
    """``{"_content": "x"}`` or ``"x"`` -> ``"x"``."""
    if isinstance(value, dict):
        value = value.get("_content", "")
    return value if isinstance(value, str) else ("" if value is None else str(value))


# -- visibility ---------------------------------------------------------


def visibility_from_flags(is_public: Any, is_friend: Any, is_family: Any) -> VisibilityObservation:
    """``1,*,*`` public, ``0,0,0`` private, anything else friends; unknown fails closed."""
    triple = tuple(to_int(v) for v in (is_public, is_friend, is_family))
    raw = {"is_public": triple[0], "is_friend": triple[1], "is_family": triple[2]}
    if any(v is None for v in triple):
        return VisibilityObservation(Visibility.PRIVATE, raw)
    if triple[0]:
        level = Visibility.PUBLIC
    elif triple[1] or triple[2]:
        level = Visibility.FRIENDS
    else:
        level = Visibility.PRIVATE
    return VisibilityObservation(level, raw)


def flags_for_visibility(level: Visibility | str) -> tuple[int, int, int]:
    """Canonical -> Flickr: public 1,0,0; friends 0,1,1; private 0,0,0."""
    return _VISIBILITY_FLAGS[Visibility(level)]


# -- dates --------------------------------------------------------------


def taken_date_from_flickr(datetaken: Any, granularity: Any, unknown: Any) -> str | None:
    """Flickr's local wall-clock "YYYY-MM-DD HH:MM:SS" as ISO; unknown -> None.

    A month/year/circa date becomes the first day of that month/year (the archive
    schema wants a full day); ``taken_date_source`` says how precise it is.
    """
    if to_int(unknown, 0):
        return None
    text = content_text(datetaken).strip()
    try:
        moment = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    if moment.year < 1800:
        return None
    level = to_int(granularity, 0)
    if level == GRANULARITY_MONTH:
        return moment.strftime("%Y-%m-01")
    if level in (GRANULARITY_YEAR, GRANULARITY_CIRCA):
        return moment.strftime("%Y-01-01")
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def taken_date_source(granularity: Any, source: str = "flickr:datetaken") -> str:
    """``flickr:datetaken`` (or the export's ``source``), with the precision when it is
    coarser than a second."""
    name = {GRANULARITY_MONTH: "month", GRANULARITY_YEAR: "year", GRANULARITY_CIRCA: "circa"}.get(
        to_int(granularity, 0) or 0
    )
    return f"{source}({name})" if name else source


def stated_taken_date(
    datetaken: Any, granularity: Any, unknown: Any, source: str = "flickr:datetaken"
) -> tuple[str | None, str | None, bool]:
    """(taken date, its source label, "date unknown") as Flickr states them: the API's
    listing and the "Download your data" export agree through this one rule."""
    taken = taken_date_from_flickr(datetaken, granularity, unknown)
    is_unknown = bool(to_int(unknown, 0))
    if taken:
        return taken, taken_date_source(granularity, source), is_unknown
    return None, (f"{source}{UNKNOWN_DATE_SUFFIX}" if is_unknown else None), is_unknown


def flickr_date_from_iso(value: str) -> tuple[str, int]:
    """Canonical ISO date -> (Flickr "YYYY-MM-DD HH:MM:SS", granularity).

    Flickr keeps wall-clock time without a zone, so an offset is dropped, not applied.
    """
    text = value.strip()
    if re.fullmatch(r"\d{4}", text):
        return f"{text}-01-01 00:00:00", GRANULARITY_YEAR
    if re.fullmatch(r"\d{4}-\d{2}", text):
        return f"{text}-01 00:00:00", GRANULARITY_MONTH
    match = re.fullmatch(
        r"(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", text
    )
    if not match:
        raise ValueError(f"not an ISO date: {value!r}")
    day, clock = match.group(1), match.group(2) or "00:00:00"
    if len(clock) == 5:
        clock += ":00"
    datetime.strptime(f"{day} {clock}", "%Y-%m-%d %H:%M:%S")  # validates
    return f"{day} {clock}", GRANULARITY_SECOND


def unix_to_datetime(value: Any) -> datetime | None:
    stamp = to_int(value)
    if stamp is None or stamp <= 0:
        return None
    try:
        return datetime.fromtimestamp(stamp, UTC)
    except (OverflowError, OSError, ValueError):  # a service that lies about the year 300,000
        return None


# -- tags ---------------------------------------------------------------


def split_tags(tags: Any, machine_tags: Any = "") -> tuple[list[str], list[str]]:
    """(plain tags, machine tags) from Flickr's space-separated strings."""
    plain: list[str] = []
    machine: list[str] = []
    for word in content_text(tags).split() + content_text(machine_tags).split():
        bucket = machine if MACHINE_TAG.match(word) else plain
        if word not in bucket:
            bucket.append(word)
    return plain, machine


def tags_argument(tags: list[str]) -> str:
    """Flickr's tag syntax: space separated, multi-word tags in double quotes."""
    out = []
    for tag in tags:
        clean = tag.replace('"', "").strip()
        if not clean:
            continue
        out.append(f'"{clean}"' if any(ch.isspace() for ch in clean) else clean)
    return " ".join(out)


def machine_tag_for(content_hash: str) -> str:
    return MACHINE_TAG_PREFIX + content_hash.removeprefix("sha256:").lower()


# -- listing item -> RemoteItem -----------------------------------------


def location_from(photo: dict[str, Any]) -> Location | None:
    lat, lng = to_float(photo.get("latitude")), to_float(photo.get("longitude"))
    if lat is None or lng is None or (lat == 0 and lng == 0):
        return None
    if not (-90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return {"lat": lat, "lng": lng}


def observed_from_listing(photo: dict[str, Any]) -> ObservedMetadata:
    plain, _ = split_tags(photo.get("tags", ""), photo.get("machine_tags", ""))
    taken, source, _unknown = stated_taken_date(
        photo.get("datetaken"), photo.get("datetakengranularity"), photo.get("datetakenunknown")
    )
    return ObservedMetadata(
        taken_date=taken,
        taken_date_source=source,
        filename=None,  # Flickr does not keep the uploaded file name
        location=location_from(photo),
        tags=plain,
        caption=content_text(photo.get("description")) or None,
        title=content_text(photo.get("title")) or None,
    )


#: one format, two spellings: a title that already ends in either keeps its own
_SAME_FORMAT = {"jpeg": "jpg", "jpe": "jpg", "tif": "tiff", "mpeg4": "mp4", "m4v": "mp4"}
#: the longest stem kept from a title (a caption pasted into the title stays readable)
MAX_NAME_STEM = 120


def flickr_filename(title: Any, photo_id: str, ext: str) -> tuple[str, bool]:
    """(file name, True when made from the title): Flickr keeps no uploaded file name,
    only a title (set from the file's name when the uploader gave none) and the
    original's format. ``Beach`` + png -> ``Beach.png``; ``IMG_0042.JPG`` + jpg stays;
    no title -> ``<id>.<ext>``. Path separators and control characters never pass."""
    text = content_text(title)
    text = "".join(ch if ch.isprintable() and ch not in "/\\" else "_" for ch in text)
    text = text.strip().strip(".").strip()
    stem, dot, suffix = text.rpartition(".")
    wanted = _SAME_FORMAT.get(ext.lower(), ext.lower())
    if dot and stem.strip() and _SAME_FORMAT.get(suffix.lower(), suffix.lower()) == wanted:
        text, ext = stem.strip(), suffix
    text = text[:MAX_NAME_STEM].strip()
    if not text:
        return f"{photo_id}.{ext}", False
    return f"{text}.{ext}", True


def photopage_url(photo: dict[str, Any]) -> str:
    owner = content_text(photo.get("pathalias")) or content_text(photo.get("owner")) or "me"
    return f"https://www.flickr.com/photos/{owner}/{photo['id']}/"


def remote_item_from_listing(photo: dict[str, Any]) -> RemoteItem:
    """One ``photo`` element of people.getPhotos/recentlyUpdated (with LISTING_EXTRAS)."""
    photo_id = str(photo["id"])
    media = content_text(photo.get("media")) or "photo"
    original_secret = content_text(photo.get("originalsecret"))
    original_format = content_text(photo.get("originalformat")).lower()
    ext = original_format or ("mp4" if media == "video" else "jpg")
    lastupdate = to_int(photo.get("lastupdate"), 0) or 0
    _, machine = split_tags(photo.get("tags", ""), photo.get("machine_tags", ""))
    visibility = visibility_from_flags(
        photo.get("ispublic"), photo.get("isfriend"), photo.get("isfamily")
    )
    url_o = content_text(photo.get("url_o"))
    # url_o of a video is a still frame; the video original needs getSizes, which
    # only works when Flickr hands out originals at all (originalsecret present).
    available = bool(original_secret) if media == "video" else bool(url_o)
    extra: dict[str, Any] = {
        "dateupload": to_int(photo.get("dateupload")),
        "lastupdate": lastupdate,
        "originalsecret": original_secret or None,
        "originalformat": original_format or None,
        "secret": content_text(photo.get("secret")) or None,
        "server": content_text(photo.get("server")) or None,
        "media": media,
        "license": content_text(photo.get("license")) or None,
        "datetaken": content_text(photo.get("datetaken")) or None,
        "datetakengranularity": to_int(photo.get("datetakengranularity")),
        "datetakenunknown": bool(to_int(photo.get("datetakenunknown"), 0)),
        "machine_tags": machine,
        "geo_accuracy": to_int(photo.get("accuracy")),
        "width_o": to_int(photo.get("width_o") or photo.get("o_width")),
        "height_o": to_int(photo.get("height_o") or photo.get("o_height")),
        "url_o": url_o or None,
    }
    filename, from_title = flickr_filename(photo.get("title"), photo_id, ext)
    if from_title:
        extra["name_from"] = "title"
    return RemoteItem(
        instance_id=photo_id,
        version=f"{lastupdate}:{original_secret}",
        filename=filename,
        size=None,
        media_type="video" if media == "video" else "photo",
        observed=observed_from_listing(photo),
        visibility=visibility,
        url=photopage_url(photo),
        quality="original",
        original_available=available,
        modified_at=unix_to_datetime(photo.get("dateupload")),
        modified_at_source="service:upload",
        taken_unknown=bool(extra["datetakenunknown"]),
        extra={key: value for key, value in extra.items() if value not in (None, [], "")},
    )
