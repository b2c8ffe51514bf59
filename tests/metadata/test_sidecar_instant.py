"""An XMP sidecar that states the moment in UTC gives a naive EXIF time its offset."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from tests.helpers import write_xmp

from photosync.metadata.extract import extract_media_info


@pytest.mark.parametrize(
    ("sidecar_date", "expected"),
    [
        ("2008-05-30T13:56:01Z", "2008-05-30T15:56:01+02:00"),  # the same moment in UTC
        ("2008-05-30T21:26:01+00:00", "2008-05-30T15:56:01-05:30"),
        ("2008-05-30T12:00:00Z", "2008-05-30T15:56:01"),  # another moment: no zone from it
    ],
)
def test_a_sidecar_utc_instant_gives_the_exif_wall_clock_its_offset(
    tmp_path: Path, testdata: Path, sidecar_date: str, expected: str
) -> None:
    """Hole: offsets came from a GPS fix or QuickTime's UTC time only; a sidecar stating
    the same moment in UTC (EXIF 15:56:01, XMP 13:56:01Z) left the date without a zone."""
    photo = tmp_path / "IMG_1.jpg"
    shutil.copy(testdata / "photos" / "camera" / "Canon_40D.jpg", photo)  # naive EXIF, no GPS
    write_xmp(tmp_path / "IMG_1.jpg.xmp", date=sidecar_date)
    info = extract_media_info(photo, sidecars=[tmp_path / "IMG_1.jpg.xmp"])
    assert (info.taken_date, info.taken_date_source) == (expected, "exif:DateTimeOriginal")
