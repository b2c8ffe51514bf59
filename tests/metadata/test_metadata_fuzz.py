"""Mutated real files must never make extraction raise (it must report instead)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photosync.metadata import MediaInfo, extract_media_info
from photosync.metadata.exif import facts_from_exif_bytes
from photosync.metadata.xmp import parse_xmp_packet

SAMPLES = [
    "photos/camera/Canon_40D.jpg",
    "photos/camera/Google.jpg",
    "photos/png_webp/sampleWithExifData.png",
    "photos/png_webp/Issue 62.png",
    "photos/video/QuickTime.mov",
    "photos/video/with-gps.mp4",
    "photos/heic/samplefilehub.heif",
    "photos/xmp/BlueSquare.jpg",
]


@pytest.fixture(scope="module")
def samples(testdata: Path) -> list[tuple[str, bytes]]:
    out = []
    for name in SAMPLES:
        data = (testdata / name).read_bytes()
        out.append((Path(name).suffix, data[: 256 * 1024]))
    return out


def _check(info: MediaInfo) -> None:
    assert isinstance(info, MediaInfo)
    assert info.kind in ("photo", "video", "unknown")
    assert all(isinstance(p, str) for p in info.problems)
    if info.location is not None:
        assert -90 <= info.location["lat"] <= 90 and -180 <= info.location["lng"] <= 180


@pytest.mark.shared
@settings(
    max_examples=int(os.environ.get("PHOTOSYNC_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    index=st.integers(min_value=0, max_value=len(SAMPLES) - 1),
    edits=st.lists(
        st.tuples(st.floats(min_value=0, max_value=1, exclude_max=True), st.integers(0, 255)),
        max_size=12,
    ),
    cut=st.none() | st.floats(min_value=0, max_value=1),
    header_bias=st.booleans(),
)
def test_mutated_real_files_never_raise(
    samples: list[tuple[str, bytes]],
    index: int,
    edits: list[tuple[float, int]],
    cut: float | None,
    header_bias: bool,
) -> None:
    suffix, original = samples[index]
    data = bytearray(original)
    # Most metadata lives in the first few KB: aim half the edits there.
    span = min(len(data), 4096) if header_bias else len(data)
    for where, value in edits:
        data[int(where * span)] = value
    if cut is not None:
        data = data[: int(cut * len(data))]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(bytes(data))
        _check(extract_media_info(path))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_random_exif_bytes_never_raise(data: bytes) -> None:
    for payload in (
        data,
        b"Exif\x00\x00II*\x00\x08\x00\x00\x00" + data,
        b"MM\x00*\x00\x00\x00\x08" + data,
    ):
        facts, tags = facts_from_exif_bytes(payload)
        assert isinstance(facts.problems, list) and isinstance(tags.problems, list)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_random_xmp_text_never_raises(text: str) -> None:
    wrapped = f'<x:xmpmeta xmlns:x="adobe:ns:meta/">{text}</x:xmpmeta>'
    for packet in (text, wrapped):
        facts = parse_xmp_packet(packet)
        assert all(isinstance(p, str) for p in facts.problems)
