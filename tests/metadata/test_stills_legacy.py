"""The built-in reader on still formats and vendor records exiftool reads: BPG, Lytro LFP,
MIE, Photo CD, Sigma X3F, a Reconyx maker note, a FLIR APP1 record, a QuickTime 'TAGS'
atom and a scanner TIFF naming its camera after IFD0.

Each real file is checked against the exiftool manifest; each parser against its
truncations, mutations and crafted lengths (notes, never an exception, bounded reads).
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers import metadata_accuracy_bench
from tests.metadata.md_builders import flir_fff

from photosync.metadata import extract_media_info
from photosync.metadata.containers import scan_jpeg
from photosync.metadata.facts import Facts
from photosync.metadata.stills_legacy import (
    read_bpg,
    read_lfp,
    read_mie,
    read_photocd,
    read_x3f,
)
from photosync.metadata.vendor import movie_tags_camera, read_flir, reconyx_date

READERS: dict[str, Callable[[io.BytesIO, int], list[Facts]]] = {
    "bpg": read_bpg,
    "lfp": read_lfp,
    "mie": read_mie,
    "pcd": read_photocd,
    "x3f": read_x3f,
}
# (set, path, date label, make, model)
REAL = [
    (
        "breadth",
        "photos/other/BPG.bpg",
        "exif:DateTimeOriginal",
        "Canon",
        "Canon EOS DIGITAL REBEL",
    ),
    ("breadth", "photos/other/Lytro.lfp", "lytro:DateTimeOriginal", "Lytro, Inc.", "F01"),
    ("breadth", "photos/other/MIE.mie", "mie:DateTimeOriginal", "FUJIFILM", "FinePix2400Zoom"),
    ("breadth", "photos/other/PhotoCD.pcd", "photocd:CreateDate", None, None),
    ("breadth", "photos/raw/Sigma.x3f", "sigma:DateTimeOriginal", "SIGMA", "SIGMA SD10"),
    (
        "breadth",
        "photos/jpeg-nomake/Reconyx_HC500_Hyperfire.jpg",
        "reconyx:DateTimeOriginal",
        None,
        None,
    ),
    (
        "photos",
        "photos/gps/FLIR iPhone device.jpg",
        "flir:DateTimeOriginal",
        "FLIR Systems AB",
        None,
    ),
]
SMALL = ["photos/other/BPG.bpg", "photos/other/Lytro.lfp", "photos/other/MIE.mie"]
SMALL += ["photos/other/PhotoCD.pcd", "photos/raw/Sigma.x3f"]


def _root(testdata: Path, which: str) -> Path:
    root = testdata / "breadth" if which == "breadth" else testdata
    if not (root / "MANIFEST.tsv").is_file():
        pytest.skip(f"../shared/testdata/{which} is absent: real-file tests need it")
    return root


def _truth(root: Path, path: str) -> dict[str, str]:
    rows = metadata_accuracy_bench().read_manifest(root)
    return next(row for row in rows if row["file"] == path)


@pytest.mark.shared
@pytest.mark.parametrize(("which", "path", "source", "make", "model"), REAL)
def test_real_file_date_and_camera_agree_with_exiftool(
    testdata: Path, which: str, path: str, source: str, make: str | None, model: str | None
) -> None:
    root = _root(testdata, which)
    row = _truth(root, path)
    expected = metadata_accuracy_bench().ground_truth_date(row)
    info = extract_media_info(root / path, file_time=False)
    assert info.taken_date_source == source, info.problems
    assert info.taken_date is not None and expected is not None
    ours = datetime.fromisoformat(info.taken_date)
    assert (ours.tzinfo is None) == (expected.tzinfo is None), info.taken_date
    assert ours == expected, info.taken_date
    assert (info.camera_make, info.camera_model) == (row["Make"] or None, row["Model"] or None)
    assert (info.camera_make, info.camera_model) == (make, model)
    assert info.kind == "photo" and info.problems == []


@pytest.mark.shared
def test_photo_cd_size_and_turn_as_decoders_show_it(testdata: Path) -> None:
    info = extract_media_info(_root(testdata, "breadth") / "photos/other/PhotoCD.pcd")
    # IPI attributes 0x09: a quarter turn, 16Base; Pillow applies the turn itself
    assert (info.width, info.height, info.orientation) == (2048, 3072, 1)
    assert info.taken_date == "2001-06-27T05:29:36Z"  # a Unix time: an instant


@pytest.mark.shared
def test_movie_make_from_a_pentax_tags_atom(testdata: Path) -> None:
    root = _root(testdata, "photos")
    info = extract_media_info(root / "photos/video/QuickTime.mov", file_time=False)
    assert (info.camera_make, info.camera_model) == ("PENTAX DIGITAL CAMERA", None)
    assert _truth(root, "photos/video/QuickTime.mov")["Make"] == info.camera_make


@pytest.mark.shared
def test_scanner_model_from_the_tiff_pages_after_ifd0(testdata: Path) -> None:
    # IFD0 names no camera; IFD1-3 (the other pages) do, and exiftool reports the first
    root = _root(testdata, "breadth")
    path = "photos/other/0c84d07e1b22b76f24cccc70d8788e4a.tif"
    info = extract_media_info(root / path, file_time=False)
    assert (info.camera_make, info.camera_model) == (None, _truth(root, path)["Model"])


def test_maker_note_reconyx_layouts_and_a_wrong_one() -> None:
    hyperfire = b"\x01\xf1\x03\x00" + bytes(18) + struct.pack("<6H", 5, 4, 3, 2, 1, 2020)
    assert reconyx_date(hyperfire) == "2020-02-01T03:04:05"
    swapped = b"\x01\xf1\x03\x00" + bytes(18) + struct.pack(">6H", 5, 4, 3, 2, 1, 2020)
    assert reconyx_date(swapped) == "2020-02-01T03:04:05"  # written big-endian
    ultra = b"RECONYXUF\x00" + bytes(49) + bytes([5, 4, 3, 1, 2, 2020 & 0xFF, 2020 >> 8])
    assert reconyx_date(ultra) == "2020-02-01T03:04:05"
    hf2 = b"RECONYXH2\x00" + bytes(52) + struct.pack("<6H", 5, 4, 3, 1, 2, 2020)
    assert reconyx_date(hf2) == "2020-02-01T03:04:05"
    assert reconyx_date(hyperfire[:30]) is None
    assert (
        reconyx_date(b"\x01\xf1\x03\x00" + bytes(18) + struct.pack("<6H", 0, 0, 0, 13, 1, 1))
        is None
    )
    assert reconyx_date(b"Nikon\x00\x02\x10\x00\x00" + bytes(80)) is None


# --- malformed input: notes, never an exception, reads bounded by the file


class CountingIO(io.BytesIO):
    """Counts what a parser reads, so an endless or quadratic walk shows."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.calls = 0
        self.bytes = 0

    def read(self, size: int | None = -1) -> bytes:
        self.calls += 1
        out = super().read(size)
        self.bytes += len(out)
        return out


def _run(fmt: str, data: bytes) -> list[Facts]:
    fh = CountingIO(data)
    found = READERS[fmt](fh, len(data))
    assert all(isinstance(f, Facts) for f in found)
    assert all(isinstance(p, str) for f in found for p in f.problems)
    assert fh.calls <= 30_000 and fh.bytes <= 64 * len(data) + 4096, (fh.calls, fh.bytes)
    return found


@pytest.fixture(scope="module")
def small_files(testdata: Path) -> dict[str, bytes]:
    root = _root(testdata, "breadth")
    return {Path(name).suffix[1:]: (root / name).read_bytes() for name in SMALL}


@pytest.mark.shared
def test_every_truncation_gives_notes_not_exceptions(small_files: dict[str, bytes]) -> None:
    for fmt, data in small_files.items():
        assert _run(fmt, data)[0].problems == [] or fmt == "bpg"
        for cut in range(0, len(data), 7):
            found = _run(fmt, data[:cut])
            if not any(f.dates for f in found):
                assert any(f.problems for f in found), (fmt, cut)  # "no date", with a reason


@pytest.mark.shared
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    fmt=st.sampled_from(sorted(READERS)),
    edits=st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=16),
)
def test_mutated_files_never_raise(
    small_files: dict[str, bytes], fmt: str, edits: list[tuple[float, int]]
) -> None:
    data = bytearray(small_files[fmt])
    for where, value in edits:
        data[int(where * len(data))] = value
    _run(fmt, bytes(data))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(READERS)), st.binary(max_size=600))
def test_random_bytes_behind_each_signature_never_raise(fmt: str, tail: bytes) -> None:
    magic = {
        "bpg": b"BPG\xfb\x40\x08",
        "lfp": b"\x89LFP\r\n\x1a\n" + bytes(8),
        "mie": b"~\x10\x04\x000MIE",
        "pcd": bytes(2048) + b"PCD_IPI",
        "x3f": b"FOVb\x02\x00\x02\x00",
    }[fmt]
    _run(fmt, magic + tail)
    assert isinstance(reconyx_date(tail), str | None)
    assert isinstance(movie_tags_camera(b"NIKON DIGITAL CAMERA\x00" + tail), tuple)


@pytest.mark.shared
def test_x3f_time_of_other_unicode_digits_is_no_date(small_files: dict[str, bytes]) -> None:
    # a changed byte made TIME '978²09395': str.isdigit() says yes, int() raised
    data = small_files["x3f"]
    at = data.index("978309395".encode("utf-16-le"))
    bent = data[:at] + "978²09395".encode("utf-16-le") + data[at + 18 :]
    (facts,) = _run("x3f", bent)
    assert facts.dates == {} and facts.problems == ["X3F without a date in its properties"]
    assert facts.camera_model == "SIGMA SD10"


def test_crafted_lengths_stay_bounded() -> None:
    # a BPG claiming 4 MB of extensions in a 20-byte file
    assert _run("bpg", b"BPG\xfb\x40\x08\x10\x10\x00\x81\xff\xff\x7f" + bytes(7))[0].problems
    # MIE: 5,000 nested groups, and an element claiming 2**63 bytes
    nested = b"".join(b"~\x10\x01\x00G" for _ in range(5000))
    assert _run("mie", b"~\x10\x04\x000MIE" + nested)[-1].problems
    huge = b"~\x10\x04\x000MIE~\x20\x04\xfdDate" + b"\x7f" + bytes(7)
    assert _run("mie", huge)[-1].problems
    # X3F: a directory of 2**32-1 entries pointing at itself
    x3f = bytearray(b"FOVb\x02\x00\x02\x00" + bytes(56))
    x3f += b"SECd\x00\x00\x02\x00\xff\xff\xff\xff" + struct.pack("<II4s", 64, 12, b"PROP")
    x3f += struct.pack("<I", 64)
    assert _run("x3f", bytes(x3f))[0].problems
    # LFP: thousands of empty chunks end with the file
    lfp = b"\x89LFP\r\n\x1a\n" + bytes(8) + (b"\x89LFM\r\n\x1a\n" + bytes(88)) * 2000
    assert _run("lfp", lfp)[0].problems == ["LFP without a date in its metadata"]


def test_flir_capture_time_across_chunks_and_malformed_records() -> None:
    fff = flir_fff(1621193256, 107, 420)
    # split over three APP1 chunks, listed out of order
    parts = [fff[:100], fff[100:900], fff[900:]]
    blob, chunks, pos = b"", [], 0
    for index, part in enumerate(parts):
        chunks.append((index, pos + 8, len(part)))
        blob += b"FLIR\x00\x01" + bytes([index, 2]) + part
        pos += 8 + len(part)
    found = read_flir(io.BytesIO(blob), [chunks[2], chunks[0], chunks[1]])
    assert found.dates == {"flir:DateTimeOriginal": "2021-05-16T12:27:36.107-07:00"}
    # a missing chunk, a cut file: a note each; a directory of 2**32-1 entries is cut short
    assert read_flir(io.BytesIO(blob), [chunks[0], chunks[2]]).problems
    assert read_flir(io.BytesIO(blob[:500]), chunks).problems
    many = CountingIO(flir_fff(1621193256, 107, 420, count=0xFFFFFFFF))
    assert read_flir(many, [(0, 0, len(many.getvalue()))]).dates
    assert many.bytes < 16 * 1024
    west = flir_fff(1621193256, 0, 5000)  # a zone no clock has
    assert read_flir(io.BytesIO(west), [(0, 0, len(west))]).problems


@pytest.mark.shared
def test_flir_place_from_its_gps_record(testdata: Path) -> None:
    # no EXIF GPS: the fix is in FLIR record 0x2b, 300 KB into the FFF data (chunk 5 of 5)
    root = _root(testdata, "photos")
    info = extract_media_info(root / "photos/gps/FLIR iPhone device.jpg", file_time=False)
    assert info.location == {"lat": 34.0754262, "lng": -118.2542682, "alt": 139.34}
    assert "34.0754 N, 118.2543 W" in _truth(root, "photos/gps/FLIR iPhone device.jpg")["notes"]


def test_flir_gps_record_signs_and_validity() -> None:
    def place(valid: int, refs: bytes, lat: float, lng: float) -> object:
        gps = struct.pack("<I4s4s4sddf", valid, b"", refs, b"", lat, lng, 12.5)
        fff = flir_fff(1621193256, 0, 0, gps=gps)
        return read_flir(io.BytesIO(fff), [(0, 0, len(fff))]).location

    assert place(1, b"S\x00W\x00", 33.5, 70.25) == {"lat": -33.5, "lng": -70.25, "alt": 12.5}
    assert place(1, b"N\x00E\x00", 33.5, 70.25) == {"lat": 33.5, "lng": 70.25, "alt": 12.5}
    assert place(1, b"S\x00W\x00", -33.5, -70.25) == {"lat": -33.5, "lng": -70.25, "alt": 12.5}
    assert place(0, b"N\x00E\x00", 33.5, 70.25) is None  # GPSValid 0: no fix
    assert place(1, b"N\x00E\x00", 0.0, 0.0) is None
    assert place(1, b"N\x00E\x00", 95.0, 70.0) is None


@pytest.mark.shared
def test_flir_jpeg_chunks_are_found_by_the_jpeg_walk(testdata: Path) -> None:
    path = _root(testdata, "photos") / "photos/gps/FLIR iPhone device.jpg"
    with open(path, "rb") as fh:
        blocks = scan_jpeg(fh, path.stat().st_size)
        assert [c[0] for c in blocks.flir] == [0, 1, 2, 3, 4]
        for cut in (0, 1, 3, 4):  # the record needs chunks 0 and 1 only
            chunks = blocks.flir[:cut]
            assert bool(read_flir(fh, chunks).dates) == (cut >= 2)
