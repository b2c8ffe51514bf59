"""Extraction against the exiftool ground truth of ../shared/testdata/breadth (242 real files of
many makes and formats), with the built-in reader alone and assisted by exiftool.

Shares are asserted at what we measure (``python bench/metadata_accuracy.py --set breadth``
lists each remaining miss with its reason); each fix of the built-in reader has a test on
the real file that showed the miss.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.helpers import metadata_accuracy_bench

from photosync.metadata import extract_media_info
from photosync.metadata.exiftool import ExiftoolReader

EXIFTOOL = shutil.which("exiftool")

# Measured: built-in date 238/242 against the manifest alone (241/242 where the bench also
# takes exiftool's MWG dates as truth), gps 242/242, make/model 242/242; with exiftool (dates
# also by its MWG composite: bench.exiftool_truth) date 241/242 (Pentax.avi: REASONS in the
# bench), gps and make/model 242/242.
BUILTIN = {"date": 0.98, "gps": 1.0, "make_model": 1.0}
ASSISTED = {"date": 0.99, "gps": 1.0, "make_model": 1.0}


@pytest.fixture(scope="module")
def breadth(testdata: Path) -> Path:
    root = testdata / "breadth"
    if not (root / "MANIFEST.tsv").is_file():
        pytest.skip("../shared/testdata/breadth is absent: breadth tests need it")
    return root


@pytest.mark.shared
def test_builtin_reader_share(breadth: Path) -> None:
    report = metadata_accuracy_bench().evaluate(breadth, repeat=0)
    for field, share in BUILTIN.items():
        lines = [m for m in report.mismatches if m.startswith(field + " ")]
        assert report.share(field) >= share, "\n".join(lines)


@pytest.mark.shared
@pytest.mark.skipif(EXIFTOOL is None, reason="exiftool is not installed")
def test_exiftool_assisted_share_and_every_miss_explained(breadth: Path) -> None:
    bench = metadata_accuracy_bench()
    assert EXIFTOOL is not None
    extra = bench.exiftool_truth(
        breadth, [r["file"] for r in bench.read_manifest(breadth)], EXIFTOOL
    )
    with ExiftoolReader(EXIFTOOL) as deep:
        report = bench.evaluate(breadth, repeat=0, deep=deep, extra=extra)
        assert deep.asked < report.files / 2  # only what the built-in reader could not answer
    for field, share in ASSISTED.items():
        lines = [m for m in report.mismatches if m.startswith(field + " ")]
        assert report.share(field) >= share, "\n".join(lines)
        assert all(" -- " in line for line in lines), "\n".join(lines)  # each with its reason


@pytest.mark.shared
def test_xmp_packet_with_the_tail_of_an_older_one(breadth: Path) -> None:
    # rewritten in place: junk after </x:xmpmeta> used to lose the whole packet
    info = extract_media_info(breadth / "photos/other/Issue 356 (dotnet).png", file_time=False)
    assert (info.taken_date, info.taken_date_source) == (
        "1988-12-01T18:53:44",
        "xmp:DateTimeOriginal",
    )
    assert info.problems == []


@pytest.mark.shared
def test_a_day_alone_takes_the_time_another_source_states(breadth: Path) -> None:
    # XMP photoshop:DateCreated says 2006-10-29; IPTC DateCreated + TimeCreated the time
    info = extract_media_info(breadth / "photos/jpeg-nomake/PhotoMechanic.jpg", file_time=False)
    assert (info.taken_date, info.taken_date_source) == (
        "2006-10-29T06:27:51-05:00",
        "iptc:DateCreated",
    )


@pytest.mark.shared
def test_dates_in_ifd0(breadth: Path) -> None:
    # an Olympus TIFF writes DateTimeOriginal into IFD0, not the EXIF IFD
    tif = breadth / "photos/other/ce50e53224a3b62bb821bc294bf6a588.tif"
    info = extract_media_info(tif, file_time=False)
    assert (info.taken_date, info.taken_date_source) == (
        "2009-01-19T22:56:26",
        "exif:DateTimeOriginal",
    )
    assert (info.camera_make, info.camera_model) == ("OLYMPUS IMAGING CORP.", "FE190/X750")


@pytest.mark.shared
def test_cr3_is_a_photo_with_its_camera_and_exif_date(breadth: Path) -> None:
    # a CR3 is QuickTime inside; its camera and EXIF sit in CMT1/CMT2 boxes of a Canon uuid
    info = extract_media_info(breadth / "photos/raw/CanonRaw.cr3", file_time=False)
    assert (info.kind, info.format) == ("photo", "cr3")
    assert (info.camera_make, info.camera_model) == ("Canon", "Canon EOS M50")
    assert (info.taken_date, info.taken_date_source) == (
        "2018-02-21T12:08:56.21+00:00",
        "exif:DateTimeOriginal",
    )
    assert info.width is None and info.duration_s is None  # the tracks are its previews


@pytest.mark.shared
def test_mrw_camera_and_date_from_its_tiff_block(breadth: Path) -> None:
    info = extract_media_info(breadth / "photos/raw/Minolta.mrw", file_time=False)
    assert (info.kind, info.format) == ("photo", "mrw")
    assert (info.camera_make, info.camera_model) == ("Konica Minolta Camera, Inc.", "DiMAGE A2")
    assert (info.taken_date, info.taken_date_source) == (
        "2004-11-18T23:14:58",
        "exif:DateTimeOriginal",
    )


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "when"),
    [
        ("RIFF.avi", "2003-03-10T15:04:43"),  # "Mon Mar 10 15:04:43 2003"
        ("MVI_4823.AVI", "2012-09-10T20:52:00"),
        ("Pentax.avi", "2009-10-27T12:14:34"),  # "2009/10/27 12:14:34"
    ],
)
def test_avi_date_from_its_idit_chunk(breadth: Path, name: str, when: str) -> None:
    info = extract_media_info(breadth / "photos/video" / name, file_time=False)
    assert (info.kind, info.format) == ("video", "avi")
    assert (info.taken_date, info.taken_date_source) == (when, "riff:DateTimeOriginal")
    assert info.problems == []


@pytest.mark.shared
def test_png_creation_time_text(breadth: Path) -> None:
    png = breadth / "photos/other/ebfb1cd42314a557e72d4da75c21fc1c.png"  # zTXt create-date
    info = extract_media_info(png, file_time=False)
    assert (info.taken_date, info.taken_date_source) == (
        "2008-10-13T10:18:30-05:00",
        "png:CreationTime",
    )


@pytest.mark.shared
def test_video_place_from_a_3gpp_loci_box(breadth: Path) -> None:
    info = extract_media_info(breadth / "photos/video/FLIR Thermal.mp4", file_time=False)
    assert info.location == {"lat": 34.07539, "lng": -118.2543, "alt": 0.0}


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "camera", "when"),
    [
        ("raw/CanonRaw.crw", ("Canon", "Canon EOS DIGITAL REBEL"), "2003-11-10T17:39:26"),
        # an early Canon JPEG: the CIFF heap sits in an APP0 segment, no EXIF at all
        ("jpeg-canon/sony-powershota5.jpg", ("Canon", "Canon PowerShot A5"), "2000-10-27T22:56:26"),
    ],
)
def test_canon_ciff_camera_and_date(
    breadth: Path, name: str, camera: tuple[str, str], when: str
) -> None:
    info = extract_media_info(breadth / "photos" / name, file_time=False)
    assert (info.camera_make, info.camera_model) == camera
    assert (info.taken_date, info.taken_date_source) == (when, "ciff:DateTimeOriginal")
    assert info.problems == []


@pytest.mark.shared
def test_kyocera_raw_header(breadth: Path) -> None:
    # make, model and date are stored as reversed strings ("ARECOYK")
    info = extract_media_info(breadth / "photos/raw/KyoceraRaw.raw", file_time=False)
    assert (info.camera_make, info.camera_model) == ("KYOCERA", "N DIGITAL")
    assert info.taken_date == "2005-07-16T18:14:30"


@pytest.mark.shared
def test_jpeg2000_xmp_box(breadth: Path) -> None:
    info = extract_media_info(breadth / "photos/other/balloon.jp2", file_time=False)
    assert (info.taken_date, info.taken_date_source) == (
        "2008-07-19T16:14:14-07:00",
        "xmp:CreateDate",
    )
    assert info.width is not None  # Pillow still gives the size
