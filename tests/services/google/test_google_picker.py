"""Picker API sessions end to end against the emulator."""

from __future__ import annotations

import hashlib
import io
import threading
from pathlib import Path

import pytest
import requests
from PIL import Image

from photosync.emulators.google import GoogleEmulator
from photosync.errors import ServiceError
from photosync.services.google.auth import GoogleAuth
from photosync.services.google.picker import GooglePicker, parse_duration, pick

from .conftest import fast_http


def jpeg_with_gps(seed: int) -> bytes:
    image = Image.new("RGB", (20, 10), (seed * 40 % 256, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "TestMake"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (52.0, 31.0, 12.0)
    gps[3] = "E"
    gps[4] = (13.0, 24.0, 0.0)
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def make_picker(emulator: GoogleEmulator, auth: GoogleAuth) -> GooglePicker:
    return GooglePicker("gphotos", {"endpoints": emulator.endpoints()}, auth=auth, http=fast_http())


def session_id_of(uri: str) -> str:
    return uri.rstrip("/").rpartition("/")[2]


def test_pick_end_to_end(signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path) -> None:
    originals = [jpeg_with_gps(i) for i in range(5)]
    ids = [emulator.state.add_library_item(d, f"IMG_{i}.jpg") for i, d in enumerate(originals)]
    links: list[str] = []

    def person(uri: str) -> None:
        links.append(uri)
        # the person opens the link in a browser and picks everything
        threading.Thread(target=requests.get, args=(uri,), kwargs={"timeout": 10}).start()

    picked = pick(make_picker(emulator, signed_in), person, timeout=20, dest_dir=tmp_path / "dl")
    assert len(links) == 1
    assert sorted(p.id for p in picked) == sorted(ids)
    for item in picked:
        assert item.problem is None and item.path is not None
        data = item.path.read_bytes()
        assert hashlib.sha256(data).hexdigest() == item.sha256
        assert item.quality == "derivative" and item.provenance == "picker"
        with Image.open(io.BytesIO(data)) as image:
            assert not image.getexif().get_ifd(0x8825), "location must be stripped"
        remote = item.to_remote_item()
        assert remote.quality == "derivative" and not remote.original_available
        assert remote.observed.location is None
    assert {p.sha256 for p in picked}.isdisjoint(hashlib.sha256(d).hexdigest() for d in originals)
    session = emulator.state.sessions[session_id_of(links[0])]
    assert session.deleted


def test_expired_base_urls_are_fetched_again(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    for i in range(3):
        emulator.state.add_library_item(jpeg_with_gps(10 + i), f"b{i}.jpg")
    emulator.state.expire_next_base_urls = 2
    picker = make_picker(emulator, signed_in)
    picked = picker.pick(
        lambda uri: emulator.state.pick(session_id_of(uri)), timeout=20, dest_dir=tmp_path
    )
    assert emulator.state.stats["expired_base_url_rejections"] == 2
    assert all(p.path is not None and p.problem is None for p in picked)
    assert len(picked) == 3


def test_base_urls_that_never_work_are_reported_not_fatal(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    emulator.state.add_library_item(jpeg_with_gps(20), "never.jpg")
    emulator.state.base_url_lifetime_s = 0
    links: list[str] = []

    def person(uri: str) -> None:
        links.append(uri)
        emulator.state.pick(session_id_of(uri))

    picked = make_picker(emulator, signed_in).pick(person, timeout=20, dest_dir=tmp_path)
    assert len(picked) == 1 and picked[0].path is None
    assert picked[0].problem is not None and "expired" in picked[0].problem
    assert picked[0].to_remote_item().problems
    assert emulator.state.sessions[session_id_of(links[0])].deleted


def test_nothing_picked_times_out_cleanly(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    links: list[str] = []
    with pytest.raises(ServiceError, match="timed out"):
        make_picker(emulator, signed_in).pick(links.append, timeout=0.3, dest_dir=tmp_path)
    assert emulator.state.sessions[session_id_of(links[0])].deleted


def test_media_items_before_picking_is_refused(
    signed_in: GoogleAuth, emulator: GoogleEmulator
) -> None:
    headers = {"Authorization": f"Bearer {signed_in.access_token()}"}
    session = requests.post(
        f"{emulator.url}/picker/v1/sessions", json={}, headers=headers, timeout=10
    ).json()
    reply = requests.get(
        f"{emulator.url}/picker/v1/mediaItems",
        params={"sessionId": session["id"]},
        headers=headers,
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["status"] == "FAILED_PRECONDITION"
    media = requests.get(f"{emulator.url}/media/whatever=d", timeout=10)
    assert media.status_code == 401  # downloads need the bearer header too


def test_parse_duration() -> None:
    assert parse_duration("5s", 1.0) == 5.0
    assert parse_duration("0.25s", 1.0) == 0.25
    assert parse_duration("soon", 1.0) == 1.0
