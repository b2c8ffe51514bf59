"""GooglePhotosLibrary (upload target) against the Library API emulator."""

from __future__ import annotations

import hashlib
import io
import json
import threading
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image

from photosync.emulators.base import FaultPlan
from photosync.emulators.google import GoogleEmulator
from photosync.errors import ChecksumMismatch, ServiceError
from photosync.model import Record, Visibility, new_record
from photosync.services.google.auth import GoogleAuth
from photosync.services.google.library import (
    GooglePhotosLibrary,
    description_for,
    marker_in,
)

from .conftest import fast_http


def jpeg(seed: int) -> bytes:
    image = Image.new("RGB", (16, 12), ((seed * 7) % 256, (seed * 13) % 256, (seed * 31) % 256))
    image.putpixel((seed % 16, (seed // 16) % 12), (seed % 251, 0, 255))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, comment=str(seed).encode())
    return out.getvalue()


def record_for(data: bytes, name: str, caption: str | None = None) -> Record:
    record = new_record(
        content_hash="sha256:" + hashlib.sha256(data).hexdigest(),
        size=len(data),
        media={"mime_type": "image/jpeg"},
        canonical_source="test:1",
        source_of_truth_path=None,
    )
    record["metadata"]["filename"] = name
    record["metadata"]["caption"] = caption
    return record


def make_library(emulator: GoogleEmulator, auth: GoogleAuth, tmp_path: Path) -> GooglePhotosLibrary:
    return GooglePhotosLibrary(
        "gphotos",
        {"endpoints": emulator.endpoints()},
        auth=auth,
        http=fast_http(),
        journal_dir=tmp_path / "journal",
    )


def test_120_uploads_with_faults_each_land_exactly_once(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    emulator.server.faults = FaultPlan(
        rate_429=0.25, retry_after_s=0, rate_5xx=0.05, rate_truncate=0.05, seed=3,
        exempt_prefixes=("/token", "/o/oauth2"),
    )  # fmt: skip
    library = make_library(emulator, signed_in, tmp_path)
    photos = [jpeg(i) for i in range(120)]
    batch = [
        (record_for(data, f"IMG_{i:04d}.jpg"), io.BytesIO(data)) for i, data in enumerate(photos)
    ]
    results = library.upload_batch(batch[:100], visibility=Visibility.PRIVATE)
    results += [
        library.upload(record, stream, visibility=Visibility.PRIVATE)
        for record, stream in batch[100:]
    ]
    failures = [r for r in results if isinstance(r, Exception)]
    assert failures == []
    ids = [r.instance_id for r in results if not isinstance(r, Exception)]
    assert len(set(ids)) == 120
    stored = emulator.state.app_items()
    assert len(stored) == 120
    assert {i.sha256 for i in stored} == {hashlib.sha256(d).hexdigest() for d in photos}
    stats = emulator.state.stats
    assert 1 <= stats["batch_create_max_items"] <= 50
    assert stats["batch_create_concurrent_rejections"] == 0
    assert library.api.http.transient_failures > 0, "the fault plan must have bitten"
    assert library.journal.pending() == []
    # a later run finds every photo instead of uploading it again
    emulator.server.faults = FaultPlan()
    again = make_library(emulator, signed_in, tmp_path)
    for (record, _), instance_id in zip(batch, ids, strict=True):
        found = again.find_existing(record)
        assert found is not None and found.instance_id == instance_id


def test_crash_between_upload_and_batch_create_reuses_the_token(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    data = jpeg(500)
    record = record_for(data, "crash.jpg", caption="Harbour at dawn")
    first = make_library(emulator, signed_in, tmp_path)
    first._upload_bytes(record, io.BytesIO(data))  # then the process dies
    assert first.journal.pending() == [record["content_hash"]]
    assert emulator.state.stats["uploads"] == 1
    second = make_library(emulator, signed_in, tmp_path)
    assert second.find_existing(record) is None
    result = second.upload(record, io.BytesIO(data), visibility=Visibility.PRIVATE)
    assert emulator.state.stats["uploads"] == 1  # bytes not sent twice
    assert second.journal.pending() == []
    item = emulator.state.items[result.instance_id]
    assert item.description.startswith("Harbour at dawn\n")
    assert marker_in(item.description) == record["content_hash"]
    # crash after batchCreate, before the archive recorded it: found, not duplicated
    third = make_library(emulator, signed_in, tmp_path)
    found = third.find_existing(record)
    assert found is not None and found.instance_id == result.instance_id
    assert len(emulator.state.app_items()) == 1


def test_same_bytes_twice_are_deduplicated(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    data = jpeg(600)
    library = make_library(emulator, signed_in, tmp_path)
    a = library.upload(
        record_for(data, "first.jpg"), io.BytesIO(data), visibility=Visibility.PRIVATE
    )
    library.journal.forget([record_for(data, "x")["content_hash"]])
    b = library.upload(
        record_for(data, "second.jpg"), io.BytesIO(data), visibility=Visibility.PRIVATE
    )
    assert a.instance_id == b.instance_id
    assert emulator.state.items[a.instance_id].filename == "first.jpg"
    assert emulator.state.stats["dedup_hits"] == 1


def test_only_app_created_items_are_visible(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    data = jpeg(700)
    emulator.state.add_library_item(data, "phone.jpg")
    library = make_library(emulator, signed_in, tmp_path)
    assert list(library.app_items()) == []
    assert library.find_existing(record_for(data, "phone.jpg")) is None


def test_private_only_and_checksums_are_enforced(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    library = make_library(emulator, signed_in, tmp_path)
    assert library.max_visibility() is Visibility.PRIVATE
    data = jpeg(800)
    with pytest.raises(ServiceError, match="only hold private"):
        library.upload(record_for(data, "a.jpg"), io.BytesIO(data), visibility=Visibility.PUBLIC)
    with pytest.raises(ChecksumMismatch):
        library.upload(
            record_for(data, "a.jpg"), io.BytesIO(data + b"x"), visibility=Visibility.PRIVATE
        )
    assert emulator.state.app_items() == []


def test_description_marker_survives_long_captions() -> None:
    record = record_for(b"abc", "a.jpg", caption="word " * 400)
    text = description_for(record)
    assert len(text) <= 1000
    assert marker_in(text) == record["content_hash"]
    assert marker_in("photosync:sha256:short") is None


def _bearer(auth: GoogleAuth) -> dict[str, str]:
    return {"Authorization": f"Bearer {auth.access_token()}"}


def test_emulator_enforces_the_documented_limits(
    signed_in: GoogleAuth, emulator: GoogleEmulator
) -> None:
    url = emulator.url
    headers = _bearer(signed_in)
    no_raw = requests.post(
        f"{url}/v1/uploads",
        data=b"abc",
        headers={**headers, "Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert no_raw.status_code == 400
    too_many = {"newMediaItems": [{"simpleMediaItem": {"uploadToken": "t", "fileName": "a"}}] * 51}
    assert (
        requests.post(
            f"{url}/v1/mediaItems:batchCreate", json=too_many, headers=headers, timeout=10
        ).status_code
        == 400
    )
    assert (
        requests.get(f"{url}/v1/mediaItems?pageSize=101", headers=headers, timeout=10).status_code
        == 400
    )
    ids = "&".join(f"mediaItemIds=x{i}" for i in range(51))
    assert (
        requests.get(f"{url}/v1/mediaItems:batchGet?{ids}", headers=headers, timeout=10).status_code
        == 400
    )
    assert requests.get(f"{url}/v1/sharedAlbums", headers=headers, timeout=10).status_code == 403
    unknown = {"newMediaItems": [{"simpleMediaItem": {"uploadToken": "nope", "fileName": "a.jpg"}}]}
    reply = requests.post(
        f"{url}/v1/mediaItems:batchCreate", json=unknown, headers=headers, timeout=10
    )
    assert reply.json()["newMediaItemResults"][0]["status"]["code"] != 0


def test_emulator_allows_one_batch_create_at_a_time(
    signed_in: GoogleAuth, emulator: GoogleEmulator
) -> None:
    emulator.state.batch_create_hold_s = 0.3
    headers = _bearer(signed_in)
    token = requests.post(
        f"{emulator.url}/v1/uploads",
        data=jpeg(900),
        headers={
            **headers,
            "Content-Type": "application/octet-stream",
            "X-Goog-Upload-Content-Type": "image/jpeg",
            "X-Goog-Upload-Protocol": "raw",
        },
        timeout=10,
    ).text
    body = {"newMediaItems": [{"simpleMediaItem": {"uploadToken": token, "fileName": "a.jpg"}}]}
    statuses: list[int] = []
    started = threading.Barrier(3)

    def call() -> None:
        started.wait()
        reply = requests.post(
            f"{emulator.url}/v1/mediaItems:batchCreate", json=body, headers=headers, timeout=10
        )
        statuses.append(reply.status_code)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(statuses)[0] == 200 and 429 in statuses
    assert emulator.state.stats["batch_create_concurrent_rejections"] >= 1


def test_parallel_uploaders_in_one_process_never_collide(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    emulator.state.batch_create_hold_s = 0.02
    errors: list[Any] = []

    def worker(offset: int) -> None:
        library = make_library(emulator, signed_in, tmp_path / str(offset))
        for i in range(5):
            data = jpeg(1000 + offset * 10 + i)
            try:
                library.upload(
                    record_for(data, f"{offset}-{i}.jpg"),
                    io.BytesIO(data),
                    visibility=Visibility.PRIVATE,
                )
            except Exception as exc:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len(emulator.state.app_items()) == 20
    assert emulator.state.stats["batch_create_concurrent_rejections"] == 0
    assert json.dumps(emulator.state.stats)


def test_a_file_over_googles_limit_is_refused_for_good_by_name(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Too large for Google Photos will not change on a retry: ItemRefused, naming the file."""
    from photosync.errors import ItemRefused
    from photosync.services.google import library as library_module

    library = make_library(emulator, signed_in, tmp_path)
    data = jpeg(801)
    monkeypatch.setattr(library_module, "MAX_PHOTO_BYTES", len(data) - 1)
    with pytest.raises(
        ItemRefused, match=r"big\.jpg is larger than Google Photos takes"
    ) as refused:
        library.upload(record_for(data, "big.jpg"), io.BytesIO(data), visibility=Visibility.PRIVATE)
    assert refused.value.hint and "retry-failed" in refused.value.hint
    assert emulator.state.app_items() == []
