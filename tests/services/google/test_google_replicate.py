"""replicate to Google Photos end to end: batchCreate batches, parallel bytes, per-item failures."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.credentials import CredentialStore
from photosync.emulators.base import FaultPlan
from photosync.emulators.google import GoogleEmulator, GoogleState
from photosync.emulators.rehearsal import google_browser
from photosync.services.google.auth import GoogleAuth
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, make_library, new_archive, records, set_prefs

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    with GoogleEmulator(GoogleState()) as emu:
        yield emu


def _archive(tmp_path: Path, emulator: GoogleEmulator, photos: int) -> Archive:
    settings: dict[str, Any] = {
        "type": "google-photos",
        "endpoints": emulator.endpoints(),
        "target": True,
        "source": False,
        "requests_per_hour": 1_000_000_000,
    }
    store = CredentialStore()
    client_id, client_secret = next(iter(emulator.state.clients.items()))
    store.set("gphotos", {"client_id": client_id, "client_secret": client_secret})
    GoogleAuth.for_service("gphotos", settings, store=store).authorize(google_browser, timeout=30)
    make_library(tmp_path / "lib", photos, size=(16, 12))
    archive = new_archive(
        tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")}, gphotos=settings
    )
    archive.lock()
    discover(archive, services=["lib"])
    auto_resolve(archive)
    return archive


def _held(tmp_path: Path) -> set[str]:
    return {hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "lib").rglob("*.jpg")}


def test_uploads_go_in_batches_of_50_each_photo_once(
    tmp_path: Path, emulator: GoogleEmulator
) -> None:
    archive = _archive(tmp_path, emulator, 60)
    done = replicate(archive, execute=True)
    assert not done.failed, done.failed
    stats = emulator.state.stats
    assert stats["batch_create_calls"] == 2  # 50 + 10, not one call per photo
    assert stats["batch_create_max_items"] == 50
    assert stats["uploads"] == 60 and stats["batch_create_concurrent_rejections"] == 0
    assert {i.sha256 for i in emulator.state.app_items()} == _held(tmp_path)
    ids = set()
    for record in records(archive.root):
        assert record["processing_state"] == "replicated"
        (copy,) = record["instances"]["gphotos"]
        assert copy["visibility"] == "private" and copy["id"] in emulator.state.items
        ids.add(copy["id"])
    assert len(ids) == 60
    again = replicate(archive, execute=True)
    assert not again.failed and stats["batch_create_calls"] == 2 and stats["uploads"] == 60
    archive.close()
    assert_check_clean(archive.root)


def test_items_batchcreate_refuses_fail_alone_and_land_in_the_next_run(
    tmp_path: Path, emulator: GoogleEmulator
) -> None:
    archive = _archive(tmp_path, emulator, 8)
    refused = sorted(_held(tmp_path))[:3]
    emulator.state.refuse_sha256 = set(refused)
    first = replicate(archive, execute=True)
    assert len(first.failed) == 3, first.failed
    assert all("batchCreate" in line for line in first.failed)
    assert emulator.state.stats["batch_create_calls"] == 1  # the other five in the same call
    stored = {i.sha256 for i in emulator.state.app_items()}
    assert stored == _held(tmp_path) - set(refused)
    for record in records(archive.root):
        digest = record["content_hash"].removeprefix("sha256:")
        assert bool(record["instances"].get("gphotos")) is (digest not in refused)
    emulator.state.refuse_sha256 = set()
    second = replicate(archive, execute=True)
    assert not second.failed, second.failed
    assert len(emulator.state.app_items()) == 8
    assert {i.sha256 for i in emulator.state.app_items()} == _held(tmp_path)
    assert all(r["processing_state"] == "replicated" for r in records(archive.root))
    archive.close()
    assert_check_clean(archive.root)


def test_parallel_uploads_with_lost_replies_make_no_duplicate(
    tmp_path: Path, emulator: GoogleEmulator
) -> None:
    """Replies lost to bytes uploads and to batchCreate (the call retried finds its
    tokens used up): every photo lands exactly once, found by its marker."""
    archive = _archive(tmp_path, emulator, 30)
    set_prefs(archive, max_parallel_uploads=6)
    emulator.server.faults = FaultPlan(
        rate_truncate=0.3, seed=5, only_prefixes=("/v1/uploads", "/v1/mediaItems:batchCreate")
    )
    for _ in range(4):  # a run may end with some failed; the next one finishes them
        report = replicate(archive, execute=True)
        if not report.failed and not report.pending_uploads:
            break
    assert not report.failed, report.failed
    emulator.server.faults = FaultPlan()
    items = emulator.state.app_items()
    assert len(items) == 30, "a photo was created twice"
    assert {i.sha256 for i in items} == _held(tmp_path)
    assert emulator.state.stats["batch_create_max_items"] <= 50
    held_ids = {r["instances"]["gphotos"][0]["id"] for r in records(archive.root)}
    assert held_ids == {i.id for i in items}
    archive.close()
    assert_check_clean(archive.root)
