"""A picked item (a derivative) never overrides what Takeout says about the photo."""

from __future__ import annotations

import hashlib
import threading
from datetime import datetime
from pathlib import Path

import requests

from photosync.emulators.google import GoogleEmulator
from photosync.emulators.samples import write_jpeg
from photosync.emulators.takeout import generate_takeout
from photosync.services.google.auth import GoogleAuth
from photosync.services.google.picker import PickedSource, pick
from photosync.services.google.takeout import TakeoutSource
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import new_archive, records

from .test_google_picker import make_picker


def test_picked_copies_join_the_takeout_original_and_never_win(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    photos = [
        write_jpeg(
            tmp_path / "src" / f"IMG_{i}.jpg",
            seed=40 + i,
            taken=datetime(2021, 3, 4 + i, 10, 0, 0),
            gps=(48.85, 2.29),
        )
        for i in range(3)
    ]
    generate_takeout(tmp_path / "takeout", photos, parts=2, fmt="zip", seed=3)
    parts = sorted((tmp_path / "takeout").rglob("*.zip"))
    for path in photos:
        emulator.state.add_library_item(path.read_bytes(), path.name)

    def person(uri: str) -> None:
        threading.Thread(
            target=requests.get, args=(uri,), kwargs={"timeout": 10}, daemon=True
        ).start()

    picked = pick(
        make_picker(emulator, signed_in), person, timeout=20, dest_dir=tmp_path / "picked"
    )
    assert len(picked) == 3
    archive = new_archive(tmp_path)
    archive.lock()
    discover(archive, sources={"google-photos": TakeoutSource.from_paths(parts)})
    before = {r["content_hash"]: r for r in records(archive.root)}
    discover(archive, sources={"google-photos": PickedSource("google-photos", picked)})
    auto_resolve(archive)
    for path in photos:
        digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
        matching = [r for r in records(archive.root) if r["content_hash"] == digest]
        assert len(matching) == 1, path.name
        record = matching[0]
        qualities = sorted(i["quality"] for i in record["instances"]["google-photos"])
        assert qualities == ["derivative", "original"], qualities  # joined into one photo
        assert record["content_hash"] in before  # the Takeout original stays canonical
        original = before[record["content_hash"]]
        assert record["metadata"]["location"] == original["metadata"]["location"] is not None
        assert record["metadata"]["taken_date"] == original["metadata"]["taken_date"]
        assert not [c for c in record["conflicts"] if c["type"] == "metadata_mismatch"]
    archive.close()
