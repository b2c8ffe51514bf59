"""Extraction rules checked on files generated here, so every case is known exactly."""

from __future__ import annotations

import io
import os
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from md_builders import (
    apple_meta,
    box,
    exif_block,
    iptc_app13,
    jpeg_bytes,
    mp4_bytes,
    mvhd,
    qt_text,
    video_trak,
    write,
    xmp_packet,
)
from PIL import Image, PngImagePlugin

from photosync.metadata import MediaInfo, extract_media_info, find_sidecars, parse_xmp_sidecar
from photosync.metadata.dates import parse_exif_datetime, parse_xmp_datetime, quicktime_datetime
from photosync.metadata.exif import facts_from_exif_bytes
from photosync.metadata.isobmff import iso6709

QT_EPOCH = datetime(1904, 1, 1, tzinfo=UTC)


def qt_seconds(when: datetime) -> int:
    return int((when - QT_EPOCH).total_seconds())


# ---------------------------------------------------------------- EXIF dates


def test_exif_date_with_offset_and_subseconds(tmp_path: Path) -> None:
    exif = exif_block(dto="2020:01:02 03:04:05", offset="+05:30", subsec="120")
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(exif=exif)))
    assert info.taken_date == "2020-01-02T03:04:05.12+05:30"
    assert info.taken_date_source == "exif:DateTimeOriginal"
    assert datetime.fromisoformat(info.taken_date).utcoffset() == timedelta(hours=5, minutes=30)


def test_exif_date_without_offset_stays_naive(tmp_path: Path) -> None:
    info = extract_media_info(
        write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(dto="1999:12:31 23:59:59")))
    )
    assert info.taken_date == "1999-12-31T23:59:59"
    assert datetime.fromisoformat(info.taken_date).tzinfo is None


@pytest.mark.parametrize(
    "bad", ["0000:00:00 00:00:00", "    :  :     :  :  ", "2020:13:45 99:00:00", "garbage", ""]
)
def test_zero_and_garbage_dates_fall_back(tmp_path: Path, bad: str) -> None:
    exif = exif_block(dto=bad, digitized="2011:02:03 04:05:06")
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(exif=exif)))
    assert info.taken_date == "2011-02-03T04:05:06"
    assert info.taken_date_source == "exif:DateTimeDigitized"


def test_no_date_uses_given_fallback_then_file_mtime(tmp_path: Path) -> None:
    path = write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(dto="0000:00:00 00:00:00")))
    given_time = datetime(2015, 6, 7, 8, 9, 10, tzinfo=timezone(timedelta(hours=2)))
    info = extract_media_info(path, fallback_mtime=given_time)
    assert (info.taken_date, info.taken_date_source) == ("2015-06-07T06:09:10Z", "file:mtime")
    stamp = datetime(2012, 3, 4, 5, 6, 7, tzinfo=UTC).timestamp()
    os.utime(path, (stamp, stamp))
    info = extract_media_info(path)
    assert (info.taken_date, info.taken_date_source) == ("2012-03-04T05:06:07Z", "file:mtime")


@given(
    when=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2199, 12, 31)),
    offset_minutes=st.integers(min_value=-12 * 60, max_value=14 * 60).map(lambda m: m - m % 15),
    subsec=st.integers(min_value=0, max_value=999),
)
def test_exif_date_round_trip(when: datetime, offset_minutes: int, subsec: int) -> None:
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    offset = f"{sign}{hours:02d}:{minutes:02d}"
    text = when.strftime("%Y:%m:%d %H:%M:%S")
    iso = parse_exif_datetime(text, subsec=f"{subsec:03d}", offset=offset)
    assert iso is not None
    parsed = datetime.fromisoformat(iso)
    expected = when.replace(
        microsecond=subsec * 1000, tzinfo=timezone(timedelta(minutes=offset_minutes))
    )
    assert parsed == expected
    assert parsed.utcoffset() == expected.utcoffset()


@given(st.text(max_size=40))
def test_date_parsers_never_raise(text: str) -> None:
    for value in (parse_exif_datetime(text), parse_xmp_datetime(text)):
        if value is not None:
            datetime.fromisoformat(value)  # whatever we return must be valid ISO 8601


def test_xmp_date_forms() -> None:
    assert parse_xmp_datetime("2005-09-07T15:07:40-07:00") == "2005-09-07T15:07:40-07:00"
    assert parse_xmp_datetime("2002-02-02T02:02:02Z") == "2002-02-02T02:02:02Z"
    assert parse_xmp_datetime("2011-03-12T15:36:11.00+01:00") == "2011-03-12T15:36:11+01:00"
    assert parse_xmp_datetime("2014-04-27") == "2014-04-27"
    assert parse_xmp_datetime("2014-04") is None
    assert parse_xmp_datetime("0000-00-00T00:00:00") is None


def test_quicktime_epoch() -> None:
    assert quicktime_datetime(qt_seconds(datetime(2019, 7, 24, 8, 25, 57, tzinfo=UTC))) == (
        "2019-07-24T08:25:57Z"
    )
    assert quicktime_datetime(0) is None


# ---------------------------------------------------------------- GPS


def test_gps_south_west_refs_make_negative_values(tmp_path: Path) -> None:
    gps = {1: "S", 2: (33.0, 51.0, 21.6), 3: "W", 4: (151.0, 12.0, 36.0)}
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(gps=gps))))
    assert info.location is not None
    assert info.location["lat"] == pytest.approx(-(33 + 51 / 60 + 21.6 / 3600), abs=1e-6)
    assert info.location["lng"] == pytest.approx(-(151 + 12 / 60 + 36 / 3600), abs=1e-6)


@pytest.mark.parametrize(
    "gps",
    [
        {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},
        {0: b"\x02\x02\x00\x00"},  # a GPS block with only a version: no fix
        {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)},  # impossible latitude
    ],
)
def test_null_island_empty_and_impossible_gps_are_none(
    tmp_path: Path, gps: dict[int, object]
) -> None:
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(gps=gps))))
    assert info.location is None


@settings(max_examples=60)
@given(
    lat=st.floats(min_value=-89.999, max_value=89.999),
    lng=st.floats(min_value=-179.999, max_value=179.999),
)
def test_gps_sign_rule_holds_for_all_coordinates(lat: float, lng: float) -> None:
    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        deg = int(value)
        minutes = int((value - deg) * 60)
        seconds = round((value - deg - minutes / 60) * 3600, 2)
        return float(deg), float(minutes), seconds

    gps = {1: "S" if lat < 0 else "N", 2: dms(lat), 3: "W" if lng < 0 else "E", 4: dms(lng)}
    facts, _ = facts_from_exif_bytes(exif_block(gps=gps).tobytes())
    if abs(lat) < 1e-4 and abs(lng) < 1e-4:
        return
    assert facts.location is not None
    assert facts.location["lat"] == pytest.approx(lat, abs=1e-5)
    assert facts.location["lng"] == pytest.approx(lng, abs=1e-5)


def test_iso6709_forms() -> None:
    assert iso6709("+32.0929+034.8620+028.516/") == {"lat": 32.0929, "lng": 34.862, "alt": 28.52}
    assert iso6709("-3351.360+15112.600/") == pytest.approx({"lat": -33.856, "lng": 151.21})
    assert iso6709("+00.0000+000.0000/") is None
    assert iso6709("nonsense") is None


# ---------------------------------------------------------------- camera, text, tags


def test_make_model_padding_and_orientation(tmp_path: Path) -> None:
    exif = exif_block(make="NIKON CORPORATION\x00\x00  ", model="  NIKON D70 ", orientation=8)
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes((64, 48), exif=exif)))
    assert (info.camera_make, info.camera_model, info.orientation) == (
        "NIKON CORPORATION",
        "NIKON D70",
        8,
    )
    assert (info.width, info.height) == (64, 48)  # stored frame, not rotated
    assert (info.kind, info.format, info.mime_type) == ("photo", "jpeg", "image/jpeg")


@pytest.mark.parametrize("junk", ["OLYMPUS DIGITAL CAMERA         ", "   ", "\x00\x00", "SONY DSC"])
def test_camera_junk_captions_are_ignored(tmp_path: Path, junk: str) -> None:
    info = extract_media_info(
        write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(description=junk)))
    )
    assert info.caption is None


def test_real_caption_kept(tmp_path: Path) -> None:
    info = extract_media_info(
        write(tmp_path / "a.jpg", jpeg_bytes(exif=exif_block(description="Sunset at Ocean Beach ")))
    )
    assert info.caption == "Sunset at Ocean Beach"


def test_iptc_caption_title_keywords_and_date(tmp_path: Path) -> None:
    app13 = iptc_app13(
        [
            (5, b"Titel"),
            (120, "Käse am Strand".encode()),
            (25, b"beach"),
            (25, b"cheese"),
            (55, b"20190803"),
            (60, b"141516+0200"),
        ]
    )
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(app13=app13)))
    assert (info.title, info.caption, info.tags) == ("Titel", "Käse am Strand", ["beach", "cheese"])
    assert (info.taken_date, info.taken_date_source) == (
        "2019-08-03T14:15:16+02:00",
        "iptc:DateCreated",
    )


def test_embedded_xmp_text_gps_and_hierarchical_tags(tmp_path: Path) -> None:
    xmp = xmp_packet(
        '<dc:description><rdf:Alt><rdf:li xml:lang="de">Hallo</rdf:li>'
        '<rdf:li xml:lang="x-default">Hello</rdf:li></rdf:Alt></dc:description>'
        '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">A title</rdf:li></rdf:Alt></dc:title>'
        "<dc:subject><rdf:Bag><rdf:li>beach</rdf:li><rdf:li>sun</rdf:li></rdf:Bag></dc:subject>"
        "<lr:hierarchicalSubject><rdf:Bag><rdf:li>Places|Spain|Madrid</rdf:li></rdf:Bag></lr:hierarchicalSubject>"
        "<exif:GPSLatitude>40,24.004N</exif:GPSLatitude><exif:GPSLongitude>3,42.879W</exif:GPSLongitude>"
        "<xmp:CreateDate>2013-09-23T10:09:46+02:00</xmp:CreateDate>"
    )
    info = extract_media_info(write(tmp_path / "a.jpg", jpeg_bytes(xmp=xmp)))
    assert (info.caption, info.title) == ("Hello", "A title")
    assert info.tags == ["beach", "sun", "Places", "Spain", "Madrid"]
    assert info.location == pytest.approx({"lat": 40 + 24.004 / 60, "lng": -(3 + 42.879 / 60)})
    assert (info.taken_date, info.taken_date_source) == (
        "2013-09-23T10:09:46+02:00",
        "xmp:CreateDate",
    )


def test_naive_exif_time_borrows_offset_of_same_moment_in_xmp(tmp_path: Path) -> None:
    xmp = xmp_packet("<xmp:CreateDate>2008-03-15T09:52:01-04:00</xmp:CreateDate>")
    data = jpeg_bytes(exif=exif_block(dto="2008:03:15 09:52:01"), xmp=xmp)
    info = extract_media_info(write(tmp_path / "a.jpg", data))
    assert (info.taken_date, info.taken_date_source) == (
        "2008-03-15T09:52:01-04:00",
        "exif:DateTimeOriginal",
    )


# ---------------------------------------------------------------- sidecars


def test_find_sidecars_both_naming_styles_case_insensitive(tmp_path: Path) -> None:
    photo = write(tmp_path / "IMG_1.JPG", jpeg_bytes())
    write(tmp_path / "IMG_1.xmp", xmp_packet(""))
    write(tmp_path / "IMG_1.jpg.XMP", xmp_packet(""))
    write(tmp_path / "IMG_10.xmp", xmp_packet(""))
    assert [p.name for p in find_sidecars(photo)] == ["IMG_1.jpg.XMP", "IMG_1.xmp"]
    other = write(tmp_path / "IMG_2.heic", b"")
    assert find_sidecars(other) == []


def test_sidecar_overrides_text_but_not_exif_date(tmp_path: Path) -> None:
    exif = exif_block(dto="2020:05:06 07:08:09", description="camera-side caption")
    photo = write(
        tmp_path / "p.jpg",
        jpeg_bytes(
            exif=exif,
            xmp=xmp_packet("<dc:subject><rdf:Bag><rdf:li>old</rdf:li></rdf:Bag></dc:subject>"),
        ),
    )
    sidecar = write(
        tmp_path / "p.xmp",
        xmp_packet(
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">User caption</rdf:li></rdf:Alt></dc:description>'
            '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">User title</rdf:li></rdf:Alt></dc:title>'
            "<dc:subject><rdf:Bag><rdf:li>new</rdf:li></rdf:Bag></dc:subject>"
            "<exif:DateTimeOriginal>2001-01-01T00:00:00</exif:DateTimeOriginal>"
        ),
    )
    info = extract_media_info(photo, sidecars=find_sidecars(photo))
    assert find_sidecars(photo) == [sidecar]
    assert (info.caption, info.title, info.tags) == ("User caption", "User title", ["new"])
    assert (info.taken_date, info.taken_date_source) == (
        "2020-05-06T07:08:09",
        "exif:DateTimeOriginal",
    )


def test_sidecar_date_and_gps_used_when_file_has_none(tmp_path: Path) -> None:
    photo = write(tmp_path / "p.jpg", jpeg_bytes())
    write(
        tmp_path / "p.jpg.xmp",
        xmp_packet(
            "",
            attrs='photoshop:DateCreated="2014-04-27T12:42:47" exif:GPSLatitude="53,7.95354N" '
            'exif:GPSLongitude="8,43.15176E"',
        ),
    )
    info = extract_media_info(photo, sidecars=find_sidecars(photo))
    assert (info.taken_date, info.taken_date_source) == (
        "2014-04-27T12:42:47",
        "sidecar:DateCreated",
    )
    assert info.location == pytest.approx({"lat": 53 + 7.95354 / 60, "lng": 8 + 43.15176 / 60})


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>&lol3;</dc:title>
</rdf:Description></rdf:RDF></x:xmpmeta>"""


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"<x:xmpmeta><rdf:RDF>unclosed", "malformed XML"),
        (BILLION_LAUGHS, "forbidden XML"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            b"<x>&e;</x>",
            "forbidden XML",
        ),
        (b"<x>" + b"a" * (1024 * 1024 + 10) + b"</x>", "larger than 1 MB"),
        (b"", "empty"),
    ],
    ids=["bad-xml", "billion-laughs", "xxe", "oversized", "empty"],
)
def test_malformed_sidecar_is_reported_and_ignored(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    exif = exif_block(dto="2020:05:06 07:08:09", description="kept caption")
    photo = write(tmp_path / "p.jpg", jpeg_bytes(exif=exif))
    sidecar = write(tmp_path / "p.xmp", content)
    info = extract_media_info(photo, sidecars=[sidecar])
    assert any(needle in p and "p.xmp" in p for p in info.problems), info.problems
    assert (info.caption, info.taken_date) == ("kept caption", "2020-05-06T07:08:09")
    facts, problems = parse_xmp_sidecar(sidecar)
    assert problems and facts.title is None and not facts.dates


# ---------------------------------------------------------------- damaged files


def test_empty_file(tmp_path: Path) -> None:
    info = extract_media_info(write(tmp_path / "x.heic", b""))
    assert "empty file" in info.problems
    assert (info.kind, info.format, info.mime_type) == ("photo", "heic", "image/heic")


def test_truncated_jpeg_in_header_and_in_scan(tmp_path: Path) -> None:
    data = jpeg_bytes((300, 200), exif=exif_block(dto="2020:01:01 00:00:00", make="Canon"))
    in_scan = extract_media_info(write(tmp_path / "a.jpg", data[: len(data) - 300]))
    assert any(p.startswith("truncated JPEG") for p in in_scan.problems)
    assert (in_scan.camera_make, in_scan.width) == ("Canon", 300)  # headers still read
    in_header = extract_media_info(write(tmp_path / "b.jpg", data[:100]))
    assert any(p.startswith("truncated JPEG") for p in in_header.problems)
    assert in_header.kind == "photo" and in_header.format == "jpeg"
    whole = extract_media_info(write(tmp_path / "c.jpg", data))
    assert whole.problems == []


def test_unknown_and_missing_files_do_not_raise(tmp_path: Path) -> None:
    info = extract_media_info(write(tmp_path / "notes.txt", b"hello world, not a photo"))
    assert info.kind == "unknown" and "unrecognised file format" in info.problems
    missing = extract_media_info(tmp_path / "gone.jpg")
    assert missing.format == "jpeg" and any(
        p.startswith("cannot read file") for p in missing.problems
    )


def test_corrupt_exif_is_a_problem_not_an_error(tmp_path: Path) -> None:
    bad = b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x7f\xff" + b"\x00" * 10
    segment = b"\xff\xe1" + struct.pack(">H", len(bad) + 2) + bad
    data = jpeg_bytes()
    info = extract_media_info(write(tmp_path / "a.jpg", data[:2] + segment + data[2:]))
    assert any(p.startswith("unreadable EXIF") for p in info.problems)
    assert info.width == 40


# ---------------------------------------------------------------- other image formats


def test_png_exif_after_idat_and_xmp_itxt(tmp_path: Path) -> None:
    buf = io.BytesIO()
    meta = PngImagePlugin.PngInfo()
    meta.add_itxt(
        "XML:com.adobe.xmp",
        xmp_packet(
            '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">T</rdf:li></rdf:Alt></dc:title>'
        ).decode(),
        zip=True,
    )
    Image.new("RGB", (20, 10)).save(buf, "PNG", pnginfo=meta)
    data = buf.getvalue()
    exif = exif_block(orientation=3, dto="2019:01:02 03:04:05").tobytes()[6:]
    chunk = struct.pack(">I", len(exif)) + b"eXIf" + exif + b"\x00\x00\x00\x00"
    iend = data.rfind(b"IEND") - 4
    info = extract_media_info(write(tmp_path / "a.png", data[:iend] + chunk + data[iend:]))
    assert (info.format, info.width, info.height, info.orientation) == ("png", 20, 10, 3)
    assert (info.title, info.taken_date) == ("T", "2019-01-02T03:04:05")


def test_webp_exif(tmp_path: Path) -> None:
    exif = exif_block(make="HTC", dto="2011:05:06 09:59:48")
    buf = io.BytesIO()
    Image.new("RGB", (33, 22)).save(buf, "WEBP", exif=exif)
    info = extract_media_info(write(tmp_path / "a.webp", buf.getvalue()))
    assert (info.format, info.width, info.height, info.camera_make) == ("webp", 33, 22, "HTC")
    assert info.taken_date == "2011-05-06T09:59:48"


def test_tiff_file_with_exif_sub_ifd(tmp_path: Path) -> None:
    # Pillow's TIFF writer drops the Exif sub-IFD, so write the tag structure directly.
    exif = exif_block(make="Nikon", dto="2004:05:06 07:08:09", orientation=5)
    exif[0x0100] = 33
    exif[0x0101] = 22
    info = extract_media_info(write(tmp_path / "a.tif", exif.tobytes()[6:]))
    assert (info.format, info.mime_type, info.width, info.height) == ("tiff", "image/tiff", 33, 22)
    assert (info.camera_make, info.orientation, info.taken_date) == (
        "Nikon",
        5,
        "2004-05-06T07:08:09",
    )


def test_heic_orientation_is_one_and_size_is_displayed_size(tmp_path: Path) -> None:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    try:
        Image.new("RGB", (48, 32)).save(
            buf, "HEIF", exif=exif_block(make="Apple", dto="2021:04:11 15:47:53")
        )
    except Exception as exc:  # an encoder-less build of libheif
        pytest.skip(f"no HEIF encoder: {exc}")
    info = extract_media_info(write(tmp_path / "a.heic", buf.getvalue()))
    assert (info.format, info.kind, info.orientation, info.width, info.height) == (
        "heic",
        "photo",
        1,
        48,
        32,
    )
    assert (info.camera_make, info.taken_date) == ("Apple", "2021-04-11T15:47:53")


def test_gif_is_tolerated(tmp_path: Path) -> None:
    buf = io.BytesIO()
    Image.new("P", (7, 5)).save(buf, "GIF")
    info = extract_media_info(write(tmp_path / "a.gif", buf.getvalue()))
    assert (info.format, info.width, info.height, info.kind) == ("gif", 7, 5, "photo")


# ---------------------------------------------------------------- video


def test_mp4_mvhd_date_xyz_gps_tkhd_size(tmp_path: Path) -> None:
    when = datetime(2017, 2, 22, 8, 20, 28, tzinfo=UTC)
    udta = box(b"udta", qt_text(b"\xa9xyz", "+51.4169-000.0806/") + qt_text(b"\xa9mak", "samsung"))
    data = mp4_bytes(mvhd(qt_seconds(when), 600, 1800) + video_trak(1920, 1080) + udta)
    info = extract_media_info(write(tmp_path / "v.mp4", data))
    assert (info.kind, info.format, info.mime_type) == ("video", "mp4", "video/mp4")
    assert (info.taken_date, info.taken_date_source) == (
        "2017-02-22T08:20:28Z",
        "quicktime:CreateDate",
    )
    assert info.location == {"lat": 51.4169, "lng": -0.0806}
    assert (info.width, info.height, info.duration_s, info.camera_make) == (
        1920,
        1080,
        3.0,
        "samsung",
    )


def test_mov_apple_keys_and_rotation(tmp_path: Path) -> None:
    apple = apple_meta(
        {
            "com.apple.quicktime.location.ISO6709": "+32.0929+034.8620+028.516/",
            "com.apple.quicktime.make": "Apple",
            "com.apple.quicktime.model": "iPhone 6",
            "com.apple.quicktime.creationdate": "2019-07-24T11:25:40+0300",
        }
    )
    moov = (
        mvhd(qt_seconds(datetime(2019, 7, 24, 8, 25, 57, tzinfo=UTC)))
        + video_trak(568, 320, (0, 1, -1, 0))
        + apple
    )
    info = extract_media_info(write(tmp_path / "v.mov", mp4_bytes(moov, brand=b"qt  ")))
    assert (info.format, info.mime_type) == ("mov", "video/quicktime")
    assert (info.taken_date, info.taken_date_source) == (
        "2019-07-24T11:25:40+03:00",
        "quicktime:CreationDate",
    )
    assert (info.camera_make, info.camera_model, info.orientation) == ("Apple", "iPhone 6", 6)
    assert info.location is not None and info.location["lat"] == 32.0929


def test_3gp_brand_and_missing_moov(tmp_path: Path) -> None:
    data = mp4_bytes(mvhd(qt_seconds(datetime(2010, 1, 1, tzinfo=UTC))), brand=b"3gp4")
    assert extract_media_info(write(tmp_path / "v.3gp", data)).format == "3gp"
    cut = data[: data.find(b"moov") - 4]
    info = extract_media_info(write(tmp_path / "cut.3gp", cut))
    assert info.kind == "video" and any("moov" in p for p in info.problems)


def test_video_media_data_is_skipped_not_read(tmp_path: Path) -> None:
    """A 4 GB sparse mdat before moov: reading it would take seconds and gigabytes."""
    path = tmp_path / "big.mp4"
    ftyp = box(b"ftyp", b"isom\x00\x00\x00\x00isom")
    mdat_size = 4 * 1024**3
    moov = box(b"moov", mvhd(qt_seconds(datetime(2020, 1, 1, tzinfo=UTC))) + video_trak(640, 480))
    with open(path, "wb") as fh:
        fh.write(ftyp + struct.pack(">I", 1) + b"mdat" + struct.pack(">Q", mdat_size + 16))
        fh.seek(len(ftyp) + 16 + mdat_size)
        fh.write(moov)
    opened: list[int] = []
    real_open = open

    class CountingFile(io.FileIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            opened.append(len(data or b""))
            return data

    import photosync.metadata.extract as extract_module

    def counting_open(file: Path, mode: str = "r", *args: object, **kwargs: object) -> object:
        if mode == "rb":
            return io.BufferedReader(CountingFile(str(file), "r"))
        return real_open(file, mode, *args, **kwargs)  # type: ignore[call-overload]

    extract_module.open = counting_open  # type: ignore[attr-defined]
    try:
        info = extract_media_info(path)
    finally:
        del extract_module.open  # type: ignore[attr-defined]
    assert (info.width, info.height, info.taken_date) == (640, 480, "2020-01-01T00:00:00Z")
    assert sum(opened) < 1024 * 1024


def test_media_info_shape() -> None:
    info = MediaInfo()
    assert info.kind == "unknown" and info.tags == [] and info.problems == []


def test_a_sidecar_of_megabytes_of_edit_history_still_gives_its_facts(tmp_path: Path) -> None:
    # Lightroom/Photoshop keep every edit step in the sidecar: 3 MB of history
    # around a caption and a date that are the photo's facts
    steps = b"".join(
        b'<rdf:li stEvt:action="saved" stEvt:instanceID="xmp.iid:%032d" '
        b'stEvt:when="2019-01-01T10:00:00" stEvt:softwareAgent="Adobe Photoshop"/>' % i
        for i in range(20_000)
    )
    sidecar = write(
        tmp_path / "p.xmp",
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" '
        b'xmlns:xmpMM="http://ns.adobe.com/xap/1.0/mm/" '
        b'xmlns:stEvt="http://ns.adobe.com/xap/1.0/sType/ResourceEvent#" '
        b'xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        b"<exif:DateTimeOriginal>2018-07-08T09:10:11</exif:DateTimeOriginal>"
        b'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">by the lake</rdf:li>'
        b"</rdf:Alt></dc:description>"
        b"<xmpMM:History><rdf:Seq>" + steps + b"</rdf:Seq></xmpMM:History>"
        b"</rdf:Description></rdf:RDF></x:xmpmeta>",
    )
    assert sidecar.stat().st_size > 3 * 1024 * 1024
    facts, problems = parse_xmp_sidecar(sidecar)
    assert problems == []
    assert facts.caption == "by the lake"
    photo = write(tmp_path / "p.jpg", jpeg_bytes(exif=exif_block(dto="2018:07:08 09:10:11")))
    info = extract_media_info(photo, sidecars=[sidecar])
    assert info.caption == "by the lake", info.problems


def test_an_open_handle_is_read_not_the_name_that_now_holds_other_bytes(tmp_path: Path) -> None:
    """discover reads a file's facts through the descriptor it hashed: a file swapped in
    under the name meanwhile does not lend the archived bytes its date or size."""
    from photosync.emulators.samples import write_jpeg

    path = write_jpeg(
        tmp_path / "IMG_1.jpg", seed=1, size=(64, 48), taken=datetime(2019, 5, 4, 3, 2, 1)
    )
    with open(path, "rb") as handle:
        handle.read()  # at its end, as after hashing
        os.replace(
            write_jpeg(tmp_path / "other.jpg", seed=2, size=(32, 24), taken=datetime(2001, 1, 1)),
            path,
        )
        through_handle = extract_media_info(path, handle=handle)
        assert not handle.closed  # the caller's to close
    assert through_handle.taken_date == "2019-05-04T03:02:01"
    assert (through_handle.width, through_handle.height) == (64, 48)
    assert extract_media_info(path).taken_date == "2001-01-01T00:00:00"
