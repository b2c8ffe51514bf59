"""The built-in reader dates DV, AVCHD, MXF and R3D videos, Sony PMP photos and Casio QVCI
JPEGs as exiftool does (the breadth manifest is the truth), reads a bounded number of bytes
whatever the file's size, and never raises on damaged headers."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.helpers import assert_check_clean, metadata_accuracy_bench, new_archive, records

from photosync.metadata import extract_media_info
from photosync.metadata.facts import Facts
from photosync.metadata.legacy import read_pmp, read_qvci
from photosync.metadata.video_legacy import (
    MAX_TS_PACKETS,
    READ_BUDGET,
    read_dv,
    read_m2ts,
    read_mxf,
    read_r3d,
)
from photosync.workflow.discover import discover

#: breadth file -> (format, date label) the built-in reader must give
FILES = {
    "photos/video/DV.dv": ("dv", "dv:DateTimeOriginal"),
    "photos/video/M2TS.mts": ("m2ts", "h264:DateTimeOriginal"),
    "photos/video/Sony ILCE-7M3 (A7M3).mts": ("m2ts", "h264:DateTimeOriginal"),
    "photos/video/MXF.mxf": ("mxf", "mxf:CreateDate"),
    "photos/video/Red.r3d": ("r3d", "red:DateTimeOriginal"),
    "photos/other/Sony.pmp": ("pmp", "pmp:DateTimeOriginal"),
    "photos/jpeg-nomake/CasioQVCI.jpg": ("jpeg", "qvci:DateTimeOriginal"),
}
READERS: dict[str, Callable[[BinaryIO, int], Facts]] = {
    "dv": read_dv,
    "m2ts": read_m2ts,
    "mxf": read_mxf,
    "r3d": read_r3d,
    "pmp": read_pmp,
    "jpeg": lambda fh, size: read_qvci(fh.read(size)),
}


@pytest.fixture(scope="module")
def breadth(testdata: Path) -> Path:
    root = testdata / "breadth"
    if not (root / "MANIFEST.tsv").is_file():
        pytest.skip("../shared/testdata/breadth is absent: breadth tests need it")
    return root


@pytest.fixture(scope="module")
def manifest(breadth: Path) -> dict[str, dict[str, str]]:
    return {row["file"]: row for row in metadata_accuracy_bench().read_manifest(breadth)}


@pytest.mark.shared
@pytest.mark.parametrize("name", sorted(FILES))
def test_date_and_camera_agree_with_exiftool(
    breadth: Path, manifest: dict[str, dict[str, str]], name: str
) -> None:
    bench = metadata_accuracy_bench()
    row = manifest[name]
    info = extract_media_info(breadth / name, file_time=False)
    fmt, label = FILES[name]
    assert (info.format, info.taken_date_source) == (fmt, label), info.problems
    assert info.taken_date is not None
    expected = bench.ground_truth_date(row)
    assert expected is not None
    ours = datetime.fromisoformat(info.taken_date)
    assert (ours.tzinfo is None) == (expected.tzinfo is None), info.taken_date
    assert bench._same_time(expected, ours), (expected, info.taken_date)
    assert (info.camera_make, info.camera_model) == (
        row["Make"].strip() or None,
        row["Model"].strip() or None,
    )
    assert info.problems == []


@pytest.mark.shared
def test_avchd_maker_code_time_zone_and_sony_model(breadth: Path) -> None:
    # the MDPM states the zone (+02:00, DST) and a maker code, 264: Sony, so a model too
    info = extract_media_info(breadth / "photos/video/Sony ILCE-7M3 (A7M3).mts", file_time=False)
    assert info.kind == "video"
    assert info.taken_date == "2019-04-24T22:24:00+02:00"
    assert (info.camera_make, info.camera_model) == ("264", "ILCE-7M3")


@pytest.fixture(scope="module")
def samples(breadth: Path) -> list[tuple[str, bytes]]:
    """The first 64 KB of each file (a Casio JPEG: its QVCI segment)."""
    out = []
    for name, (fmt, _label) in FILES.items():
        data = (breadth / name).read_bytes()
        if fmt == "jpeg":
            data = data[data.index(b"QVCI") :]
        out.append((fmt, data[: 64 * 1024]))
    return out


class CountingFile(io.RawIOBase):
    """A file that counts the bytes read from it and the reads."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner, self.bytes_read, self.reads = inner, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.inner.seek(pos, whence)

    def read(self, size: int | None = -1) -> bytes:
        data = self.inner.read(size)
        self.bytes_read += len(data)
        self.reads += 1
        return data


@pytest.mark.shared
@settings(
    max_examples=int(os.environ.get("PHOTOSYNC_FUZZ_EXAMPLES", "200")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    index=st.integers(min_value=0, max_value=len(FILES) - 1),
    edits=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(0, 255)),
        max_size=12,
    ),
    cut=st.none() | st.floats(min_value=0, max_value=1),
)
def test_damaged_headers_never_raise_and_reads_stay_bounded(
    samples: list[tuple[str, bytes]], index: int, edits: list[tuple[float, int]], cut: float | None
) -> None:
    fmt, original = samples[index]
    data = bytearray(original)
    span = min(len(data), 2048)  # the headers: where these formats keep their facts
    for where, value in edits:
        data[int(where * span)] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    counting = CountingFile(io.BytesIO(bytes(data)))
    facts = READERS[fmt](counting, len(data))  # type: ignore[arg-type]
    assert isinstance(facts, Facts)
    assert all(isinstance(p, str) for p in facts.problems)
    assert counting.bytes_read <= READ_BUDGET
    for value in facts.dates.values():
        datetime.fromisoformat(value)  # a date given is a valid one
    if not facts.dates:
        assert facts.problems  # no date: a reason


#: an M2TS packet (timecode, sync, PID 0x1011) starting a video PES, and one continuing it
PES_START = b"\x00\x00\x00\x00\x47\x50\x11\x10" + b"\x00\x00\x01\xe0\x00\x00\x80\x00\x00"
VIDEO_PACKET = b"\x00\x00\x00\x00\x47\x10\x11\x10".ljust(192, b"\x00")
MXF_PARTITION = bytes.fromhex("060e2b34020501010d01020101020400")


@pytest.mark.parametrize("fmt", ["dv", "m2ts", "mxf", "r3d"])
def test_a_4_gb_video_without_a_date_costs_only_its_header(tmp_path: Path, fmt: str) -> None:
    heads = {
        # a DIF header block, then nothing but zeros: 24 DIF sequences looked at, no more
        "dv": b"\x1f\x07\x00\x3f" + b"\xff" * 76,
        # more transport packets than a reader may walk, a video stream without an MDPM
        "m2ts": PES_START.ljust(192, b"\xff") + VIDEO_PACKET * (MAX_TS_PACKETS + 100),
        # an MXF header partition pack whose length runs to the end of the file
        "mxf": MXF_PARTITION + b"\x88" + (2**32).to_bytes(8, "big"),
        # a RED2 header claiming a 4 GB first block
        "r3d": b"\xff\xff\xff\xf0RED2" + b"\x00" * 120,
    }
    path = tmp_path / f"big.{fmt}"
    with open(path, "wb") as fh:
        fh.write(heads[fmt])
        fh.truncate(4 * 1024**3)  # sparse: costs no disk
    size = path.stat().st_size
    with open(path, "rb") as raw:
        counting = CountingFile(raw)  # type: ignore[arg-type]
        facts = READERS[fmt](counting, size)  # type: ignore[arg-type]
    assert facts.dates == {} and facts.problems, facts
    assert counting.bytes_read <= READ_BUDGET, counting.bytes_read
    info = extract_media_info(path, file_time=False)  # through the dispatch: no date, a reason
    assert info.taken_date is None and info.kind == "video"
    assert info.problems


@pytest.mark.shared
def test_discover_records_the_dates_and_cameras_of_these_formats(
    tmp_path: Path, breadth: Path
) -> None:
    library = tmp_path / "library"
    library.mkdir()
    for name in ("photos/video/Sony ILCE-7M3 (A7M3).mts", "photos/video/DV.dv"):
        (library / Path(name).name).write_bytes((breadth / name).read_bytes())
    archive = new_archive(tmp_path, local={"type": "local", "path": str(library)})
    prefs = archive.preferences()
    prefs["metadata"] = {"reader": "builtin"}  # the built-in reader alone, even with exiftool
    archive.save_preferences(prefs)
    archive.commit("config: built-in reader")
    archive.lock()
    report = discover(archive)
    assert (report.new, report.failed) == (2, 0)
    archive.close()
    found = {
        r["metadata"]["filename"]: (
            r["media"]["kind"],
            r["metadata"]["taken_date"],
            r["metadata"]["taken_date_source"],
            r["metadata"]["camera_info"]["model"],
        )
        for r in records(archive.root)
    }
    assert found == {
        "Sony ILCE-7M3 (A7M3).mts": (
            "video",
            "2019-04-24T22:24:00+02:00",
            "h264:DateTimeOriginal",
            "ILCE-7M3",
        ),
        "DV.dv": ("video", "2010-02-16T21:36:28", "dv:DateTimeOriginal", None),
    }
    assert_check_clean(archive.root)


def _escaped(nal: bytes) -> bytes:
    """H.264 emulation prevention as an encoder writes it: 00 00 0x (x <= 3) -> 00 00 03 0x."""
    out, zeros = bytearray(), 0
    for byte in nal:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def avchd(entries: list[tuple[int, bytes]]) -> bytes:
    """An M2TS whose H.264 stream starts with an MDPM SEI of ``entries``, cut into packets."""
    record = bytes([len(entries)]) + b"".join(bytes([tag]) + value for tag, value in entries)
    payload = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM" + record
    sei = b"\x06\x05" + bytes([len(payload)]) + payload + b"\x80"
    stream = b"\x00\x00\x00\x01\x09\x10" + b"\x00\x00\x00\x01" + _escaped(sei) + b"\x00\x00\x01\x65"
    pes = b"\x00\x00\x01\xe0\x00\x00\x80\x00\x00" + stream
    out = bytearray()
    for index, start in enumerate(range(0, len(pes), 184)):
        head = b"\x47" + (b"\x50" if index == 0 else b"\x10") + b"\x11" + bytes([0x10 | index & 15])
        out += b"\x00\x00\x00\x00" + head + pes[start : start + 184].ljust(184, b"\xff")
    return bytes(out + (b"\x00\x00\x00\x00\x47\x1f\xff\x10").ljust(192, b"\xff") * 2)


def _bcd(value: int) -> int:
    return value // 10 * 16 + value % 10


@given(
    when=st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2099, 12, 31)),
    zone=st.integers(0, 255),
)
def test_mdpm_date_and_zone_for_every_value(when: datetime, zone: int) -> None:
    stamp = bytes([zone, _bcd(when.year // 100), _bcd(when.year % 100), _bcd(when.month)])
    stamp += bytes(_bcd(v) for v in (when.day, when.hour, when.minute, when.second))
    data = avchd([(0x18, stamp[:4]), (0x19, stamp[4:]), (0xE0, b"\x10\x11\x30\x00")])
    facts = read_m2ts(io.BytesIO(data), len(data))  # type: ignore[arg-type]
    assert facts.camera_make == "4113" and facts.problems == []
    wall = when.replace(microsecond=0).isoformat()
    hours = zone >> 1 & 0x0F
    if zone & 0x80 or hours > 14:  # the zone is unknown: the wall clock alone
        assert facts.dates == {"h264:DateTimeOriginal": wall}
    else:
        sign = "-" if zone & 0x20 else "+"
        offset = f"{sign}{hours:02d}:{30 if zone & 1 else 0:02d}"
        assert facts.dates == {"h264:DateTimeOriginal": wall + offset}


def test_mdpm_gps_fix_of_a_camcorder() -> None:
    def rational(numerator: int, denominator: int) -> bytes:
        return numerator.to_bytes(2, "big") + denominator.to_bytes(2, "big")

    data = avchd(
        [
            (0x18, b"\x02\x20\x11\x06"),
            (0x19, b"\x14\x10\x30\x00"),
            (0xB1, b"S\x00\x00\x00"),
            (0xB2, rational(33, 1)),
            (0xB3, rational(51, 1)),
            (0xB4, rational(3456, 100)),  # 34.56 s
            (0xB5, b"E\x00\x00\x00"),
            (0xB6, rational(151, 1)),
            (0xB7, rational(12, 1)),
            (0xB8, rational(0, 1)),  # 00 00 00 01: escaped in the stream
        ]
    )
    path_facts = read_m2ts(io.BytesIO(data), len(data))  # type: ignore[arg-type]
    assert path_facts.dates == {"h264:DateTimeOriginal": "2011-06-14T10:30:00+01:00"}
    assert path_facts.location == {"lat": round(-(33 + 51 / 60 + 34.56 / 3600), 7), "lng": 151.2}
