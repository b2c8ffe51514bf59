"""Turn the many date spellings of EXIF, XMP, IPTC and QuickTime into ISO 8601.

Output follows ``MediaInfo.taken_date``: ``YYYY-MM-DDTHH:MM:SS[.fff][±HH:MM|Z]``;
a value without a known offset stays naive (camera local time).  Zero dates,
blanks and impossible values give ``None``: a wrong date is worse than none.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

MIN_YEAR = 1800
MAX_YEAR = 2200

_EXIF_RE = re.compile(
    r"^\s*(\d{4})[:\-/.](\d{1,2})[:\-/.](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2}))?"
    r"(?:[.,](\d+))?\s*(Z|[+-]\d{2}:?\d{2})?)?\s*$"
)
_XMP_RE = re.compile(
    r"^\s*(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?\s*$"
)
_OFFSET_RE = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")
_QT_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def normalize_offset(text: str | None) -> str | None:
    """'+0200' / '+02:00' / 'Z' -> '+02:00' / 'Z'; None for anything else."""
    if not text:
        return None
    text = text.strip()
    if text.upper() == "Z":
        return "Z"
    m = _OFFSET_RE.match(text)
    if not m:
        if re.fullmatch(r"[+-]\d{2}", text):
            m = _OFFSET_RE.match(text + ":00")
        if not m:
            return None
    sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3))
    if hh > 14 or mm > 59:
        return None
    return f"{sign}{hh:02d}:{mm:02d}"


def _fraction(digits: str | None) -> str:
    if not digits:
        return ""
    digits = "".join(ch for ch in digits if ch.isdigit()).rstrip("0")
    return f".{digits}" if digits else ""


def _compose(
    parts: tuple[int, int, int, int, int, int], subsec: str | None, offset: str | None
) -> str | None:
    year, month, day, hour, minute, second = parts
    if not MIN_YEAR <= year <= MAX_YEAR:
        return None
    try:
        datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return None
    if second > 60:
        return None
    tz = normalize_offset(offset) or ""
    return (
        f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:{second:02d}"
        f"{_fraction(subsec)}{tz}"
    )


def parse_exif_datetime(
    value: str | None, *, subsec: str | None = None, offset: str | None = None
) -> str | None:
    """EXIF 'YYYY:MM:DD HH:MM:SS' (+ SubSecTime*/OffsetTime*) to ISO, or None."""
    if not value:
        return None
    m = _EXIF_RE.match(value.replace("\x00", ""))
    if not m or m.group(4) is None:
        return None
    y, mo, d, h, mi, s, frac, tz = m.groups()
    parts = (int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    return _compose(parts, subsec if subsec else frac, offset or tz)


def parse_xmp_datetime(value: str | None) -> str | None:
    """XMP/ISO 8601 date ('2005-09-07T15:07:40-07:00', '2014-04-27') to ISO, or None.

    A date without a time becomes 'YYYY-MM-DD' (still ``fromisoformat``-able);
    year-only or year-month values are too vague for a taken date and give None.
    """
    if not value:
        return None
    m = _XMP_RE.match(value)
    if not m:
        # Some writers put EXIF syntax into XMP.
        return parse_exif_datetime(value)
    y, mo, d, h, mi, s, frac, tz = m.groups()
    if h is None:
        try:
            datetime(int(y), int(mo), int(d))
        except ValueError:
            return None
        if not MIN_YEAR <= int(y) <= MAX_YEAR:
            return None
        return f"{int(y):04d}-{int(mo):02d}-{int(d):02d}"
    parts = (int(y), int(mo), int(d), int(h), int(mi), int(s or 0))
    return _compose(parts, frac, tz)


def parse_iptc_datetime(date: str | None, time: str | None) -> str | None:
    """IPTC DateCreated 'CCYYMMDD' + TimeCreated 'HHMMSS±HHMM' to ISO, or None."""
    if not date:
        return None
    date = date.strip()
    if not re.fullmatch(r"\d{8}", date) or date == "00000000":
        return None
    y, mo, d = int(date[:4]), int(date[4:6]), int(date[6:8])
    if not time:
        try:
            datetime(y, mo, d)
        except ValueError:
            return None
        return f"{y:04d}-{mo:02d}-{d:02d}" if MIN_YEAR <= y <= MAX_YEAR else None
    m = re.fullmatch(r"(\d{2}):?(\d{2}):?(\d{2})\s*(Z|[+-]\d{2}:?\d{2})?", time.strip())
    if not m:
        return _compose((y, mo, d, 0, 0, 0), None, None) if MIN_YEAR <= y <= MAX_YEAR else None
    return _compose((y, mo, d, int(m.group(1)), int(m.group(2)), int(m.group(3))), None, m.group(4))


def quicktime_datetime(seconds: int) -> str | None:
    """Seconds since 1904-01-01 UTC (mvhd) to ISO with 'Z'; None for 0 or absurd values."""
    if seconds <= 0:
        return None
    try:
        when = _QT_EPOCH + timedelta(seconds=seconds)
    except OverflowError:
        return None
    if not 1970 <= when.year <= MAX_YEAR:
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_iso(when: datetime) -> str:
    """A datetime as UTC ISO with 'Z'; naive values are taken as local time."""
    if when.tzinfo is None:
        when = when.astimezone()
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


#: the ``taken_date_source`` of a date read from the file's name
FILENAME_SOURCE = "filename"

# Names phones, cameras and apps give files, each with the date (and time) they
# were taken in local wall-clock time.  Searched in the name without extension;
# a match outside MIN_YEAR..now-ish or an impossible date is ignored.
_NAME_PATTERNS: tuple[re.Pattern[str], ...] = (
    # IMG_20210127_193339.jpg, VID_20210127_193339.mp4, PXL_20210127_193339123.jpg,
    # 20210127_193339.jpg (Samsung), MVIMG_20190101_101010.jpg, IMG_20210127_193339_1.jpg
    re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})[_-](\d{2})(\d{2})(\d{2})(?:\d{0,3})(?!\d)"),
    # 2014-04-04 09.12.11.jpg (Dropbox), Screenshot_2020-05-01-12-34-56.png,
    # Screen Shot 2020-05-01 at 12.34.56.png (macOS), signal-2021-01-27-193339.jpg
    re.compile(
        r"(?<!\d)((?:19|20)\d{2})-(\d{2})-(\d{2})(?:[ _T-]|\sat\s)(\d{2})[.:_-]?(\d{2})[.:_-]?(\d{2})(?!\d)"
    ),
)
# IMG-20190101-WA0001.jpg (WhatsApp): a day, no time
_DAY_PATTERN = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})-WA\d+", re.IGNORECASE)


def date_from_filename(name: str) -> str | None:
    """The taken date a file's name states (naive wall clock, or a day), or None.

    Used only when the file carries no date of its own, before its modification time.
    """
    stem = name.rsplit("/", 1)[-1]
    stem = stem.rsplit(".", 1)[0] if "." in stem else stem
    for pattern in _NAME_PATTERNS:
        match = pattern.search(stem)
        if match:
            y, mo, d, h, mi, s = (int(g) for g in match.groups())
            try:
                when = datetime(y, mo, d, h, mi, s)
            except ValueError:
                continue
            if when.year >= MIN_YEAR and when <= datetime.now() + timedelta(days=2):
                return when.strftime("%Y-%m-%dT%H:%M:%S")
    match = _DAY_PATTERN.search(stem)
    if match:
        y, mo, d = (int(g) for g in match.groups())
        try:
            day = datetime(y, mo, d)
        except ValueError:
            return None
        if day <= datetime.now() + timedelta(days=2):
            return day.strftime("%Y-%m-%d")
    return None


#: label of a date from a PNG's "Creation Time" / "create-date" text
PNG_DATE_SOURCE = "png:CreationTime"


def png_datetime(text: str | None) -> str | None:
    """A PNG creation-time text: ISO/EXIF spelling, or RFC 1123 as the PNG spec suggests."""
    if not text:
        return None
    parsed = parse_xmp_datetime(text)
    if parsed:
        return parsed
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or not MIN_YEAR <= when.year <= MAX_YEAR:
        return None
    return when.isoformat()
