"""Dates and places the built-in reader finds on synthetic files.

A naive camera clock gets its time zone from another source stating the same moment in
UTC: EXIF before 2.31 has no offset; the GPS fix (GPSDateStamp + GPSTimeStamp, UTC) of
the same moment tells it. A fix taken minutes earlier (a stale GPS) or a different moment
gives none: a wrong zone is worse than no zone. Also PNG creation-time spellings and a
3GPP ``loci`` place.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tests.metadata.md_builders import exif_block, jpeg_bytes, write

from photosync.metadata import extract_media_info

WALL = "2021:01:27 19:33:39"


def _gps(date: str, hms: tuple[int, int, int]) -> dict[int, object]:
    return {
        1: "N",
        2: (Fraction(48), Fraction(51), Fraction(24)),
        3: "E",
        4: (Fraction(2), Fraction(21), Fraction(3)),
        7: tuple(Fraction(v) for v in hms),
        29: date,
    }


def _taken(tmp_path: Path, gps: dict[int, object], wall: str = WALL) -> str | None:
    data = jpeg_bytes(exif=exif_block(dto=wall, gps=gps))
    return extract_media_info(write(tmp_path / "a.jpg", data)).taken_date


def test_gps_time_gives_the_offset(tmp_path: Path) -> None:
    assert _taken(tmp_path, _gps("2021:01:27", (18, 33, 39))) == "2021-01-27T19:33:39+01:00"
    # across midnight UTC: New York evening is the next day in UTC
    assert (
        _taken(tmp_path, _gps("2021:01:28", (0, 33, 40)), wall="2021:01:27 19:33:39")
        == "2021-01-27T19:33:39-05:00"
    )


def test_a_stale_or_missing_gps_time_gives_none(tmp_path: Path) -> None:
    # the last fix was 7 minutes before the shot: no whole-quarter-hour zone fits
    assert _taken(tmp_path, _gps("2021:01:27", (18, 26, 39))) == "2021-01-27T19:33:39"
    no_date = _gps("2021:01:27", (18, 33, 39))
    del no_date[29]
    assert _taken(tmp_path, no_date) == "2021-01-27T19:33:39"


@given(quarters=st.integers(min_value=-12 * 4, max_value=14 * 4), drift=st.integers(-50, 50))
def test_any_zone_within_a_minute_is_found(
    tmp_path_factory: pytest.TempPathFactory, quarters: int, drift: int
) -> None:
    from datetime import datetime, timedelta

    wall = datetime(2019, 6, 30, 12, 0, 0)
    utc = wall - timedelta(minutes=15 * quarters) + timedelta(seconds=drift)
    gps = _gps(utc.strftime("%Y:%m:%d"), (utc.hour, utc.minute, utc.second))
    taken = _taken(tmp_path_factory.mktemp("z"), gps, wall=wall.strftime("%Y:%m:%d %H:%M:%S"))
    assert taken is not None
    minutes = abs(quarters) * 15
    sign = "+" if quarters >= 0 else "-"
    assert taken == f"2019-06-30T12:00:00{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def test_png_creation_time_spellings() -> None:
    from photosync.metadata.dates import png_datetime

    assert png_datetime("Mon, 13 Oct 2008 10:18:30 -0500") == "2008-10-13T10:18:30-05:00"
    assert png_datetime("2008:10:13 10:18:30") == "2008-10-13T10:18:30"
    assert png_datetime("yesterday") is None
    assert png_datetime("Mon, 13 Oct 1066 10:18:30 -0500") is None  # before MIN_YEAR


def test_loci_with_a_utf16_name(tmp_path: Path) -> None:
    """A 3GPP loci whose place name is UTF-16 (with BOM) still gives its coordinates."""
    import struct

    from tests.metadata.md_builders import box, full_box, mp4_bytes, mvhd

    name = b"\xfe\xff" + "Kyiv".encode("utf-16-be") + b"\x00\x00"
    coords = struct.pack(">iii", int(30.5234 * 65536), int(50.4501 * 65536), 179 * 65536)
    loci = full_box(b"loci", b"\x15\xc7" + name + b"\x00" + coords + b"earth\x00\x00")
    data = mp4_bytes(mvhd(3_700_000_000) + box(b"udta", loci))
    info = extract_media_info(write(tmp_path / "a.mp4", data))
    assert info.location is not None
    assert info.location["lat"] == pytest.approx(50.4501, abs=1e-4)
    assert info.location["lng"] == pytest.approx(30.5234, abs=1e-4)


@given(st.binary(max_size=300), st.sampled_from([b"II", b"MM"]))
def test_a_ciff_heap_of_any_bytes_never_raises(tail: bytes, order: bytes) -> None:
    from photosync.metadata.legacy import read_ciff

    header = order + (b"\x1a\x00\x00\x00" if order == b"II" else b"\x00\x00\x00\x1a")
    facts = read_ciff(header + b"HEAPCCDR" + b"\x00" * 12 + tail)
    assert len(facts) == 1  # whatever it found, or a problem noted


@given(st.binary(max_size=400))
def test_an_avi_of_any_bytes_never_raises_beyond_its_reader(tail: bytes) -> None:
    import io
    import struct

    from photosync.metadata.legacy import read_avi

    data = b"RIFF" + struct.pack("<I", len(tail) + 4) + b"AVI " + tail
    try:
        facts = read_avi(io.BytesIO(data), len(data))
    except (ValueError, struct.error):
        return  # truncated: extract_media_info turns it into a problem note
    assert len(facts) == 1
