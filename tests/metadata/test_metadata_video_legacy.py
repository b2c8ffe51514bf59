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
