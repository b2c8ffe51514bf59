"""End to end: discover from the Flickr emulator, replicate a local folder to it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from photosync.blobstore.base import hash_file
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.rehearsal import flickr_browser
from photosync.services.flickr.auth import run_oauth_flow
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, make_library, new_archive, records, set_prefs

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def running() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def _authorise(emulator: FlickrEmulator, state: FlickrState, name: str, perms: str) -> None:
    run_oauth_flow(
        state.api_key,
        state.api_secret,
        perms,
        emulator.endpoints(),
        flickr_browser,
        service_name=name,
    )


def _settings(emulator: FlickrEmulator, **extra: object) -> dict[str, object]:
    return {
        "type": "flickr",
        "endpoints": emulator.endpoints(),
        "rate_limit": {"requests_per_hour": 36_000_000},
        **extra,
    }


def test_discover_from_flickr_then_incrementally(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    state.seed(40, video_every=0)
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    report = discover(archive)
    assert report.new == 40 and report.failed == 0, report.services[0].failed
    by_id = {}
    for record in records(archive.root):
        (instance,) = record["instances"]["flickr"]
        photo = state.photos[instance["id"]]
        by_id[photo.id] = record
        assert (
            record["content_hash"]
            == "sha256:" + __import__("hashlib").sha256(photo.content()).hexdigest()
        )
        assert instance["visibility_raw"] == dict(
            zip(("is_public", "is_friend", "is_family"), photo.privacy, strict=True)
        )
        assert record["visibility"]["canonical"] in ("private", "friends", "public")
    assert state.calls["flickr.people.getPhotos"] == 1
    # two photos edited on flickr.com: the next run asks recentlyUpdated, not a full listing
    changed = sorted(state.photos)[:2]
    for photo_id in changed:
        state.touch(photo_id, is_public=0, is_friend=0, is_family=0)
    again = discover(archive)
    assert state.calls["flickr.people.getPhotos"] == 1
    assert state.calls["flickr.photos.recentlyUpdated"] == 1
    assert again.updated == 2 and again.new == 0 and again.failed == 0
    for record in records(archive.root):
        if record["instances"]["flickr"][0]["id"] in changed:
            assert record["visibility"]["canonical"] == "private"
    archive.close()


def test_replicate_a_folder_to_flickr_privately_and_idempotently(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    make_library(tmp_path / "lib", 5)
    _authorise(emulator, state, "flickr", "write")
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        flickr=_settings(emulator, target=True, source=False),
    )
    archive.lock()
    discover(archive, services=["lib"])
    auto_resolve(archive)
    done = replicate(archive, execute=True)
    assert not done.failed, done.failed
    assert state.calls["upload"] == 5 and len(state.photos) == 5
    held = {hash_file(p)[0] for p in (tmp_path / "lib").rglob("*.jpg")}
    assert {
        __import__("hashlib").sha256(p.content()).hexdigest() for p in state.photos.values()
    } == held
    assert all(p.privacy == (0, 0, 0) for p in state.photos.values())  # account default is public
    for record in records(archive.root):
        assert record["processing_state"] == "replicated"
        assert record["instances"]["flickr"][0]["id"] in state.photos
    again = replicate(archive, execute=True)
    assert not again.done and state.calls["upload"] == 5
    archive.close()


def test_uploads_to_flickr_go_in_parallel_bounded_by_the_preference(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """``max_parallel_uploads`` uploads at once, never more; each photo once."""
    emulator, state = running
    make_library(tmp_path / "lib", 9)
    _authorise(emulator, state, "flickr", "write")
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        flickr=_settings(emulator, target=True, source=False),
    )
    set_prefs(archive, max_parallel_uploads=3)
    archive.lock()
    discover(archive, services=["lib"])
    auto_resolve(archive)
    state.upload_latency_s = 0.3  # long enough for the uploads to overlap
    done = replicate(archive, execute=True)
    assert not done.failed, done.failed
    assert state.max_uploads_in_flight == 3
    assert state.calls["upload"] == 9 and len(state.photos) == 9
    assert {r["instances"]["flickr"][0]["id"] for r in records(archive.root)} == set(state.photos)
    assert all(p.privacy == (0, 0, 0) for p in state.photos.values())
    archive.close()
    assert_check_clean(archive.root)


def test_a_resolved_caption_is_pushed_to_flickr_once(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    from photosync.emulators.samples import write_xmp_sidecar
    from photosync.workflow.resolve import decide_in_archive, pending

    emulator, state = running
    paths = make_library(tmp_path / "a", 1)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / paths[0].name).write_bytes(paths[0].read_bytes())
    write_xmp_sidecar(paths[0].parent / f"{paths[0].name}.xmp", caption="Sunset")
    write_xmp_sidecar(tmp_path / "b" / f"{paths[0].name}.xmp", caption="Beach with friends")
    _authorise(emulator, state, "flickr", "write")
    archive = new_archive(
        tmp_path,
        a={"type": "local", "path": str(tmp_path / "a")},
        b={"type": "local", "path": str(tmp_path / "b")},
        flickr=_settings(emulator, target=True, source=True),
    )
    archive.lock()
    discover(archive, services=["a", "b"])
    auto_resolve(archive)
    record, conflict = next(iter(pending(archive)))
    decide_in_archive(archive, record["photo_id"], conflict["id"], choice="a", by="ada")
    assert not replicate(archive, execute=True).failed
    (photo,) = state.photos.values()
    assert photo.description == "Sunset" and state.calls["flickr.photos.setMeta"] == 0
    # the user changes their mind: the new decision reaches Flickr through setMeta, once
    record = archive.load_record(record["photo_id"])
    record["metadata"]["caption"] = "Beach with friends"
    archive.write_record(record)
    first = replicate(archive, execute=True)
    assert first.done["flickr:update_metadata"] == 1 and photo.description == "Beach with friends"
    assert not replicate(archive, execute=True).done
    archive.close()


def test_a_failing_service_leaves_the_rest_of_the_run_going(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    from photosync.emulators.base import FaultPlan

    emulator, state = running
    state.seed(30)
    make_library(tmp_path / "lib", 4)
    _authorise(emulator, state, "flickr", "read")
    emulator.faults = FaultPlan(rate_5xx=1.0, exempt_prefixes=("/services/oauth/",))
    archive = new_archive(
        tmp_path,
        flickr=_settings(emulator, circuit_breaker=3),
        lib={"type": "local", "path": str(tmp_path / "lib")},
    )
    archive.lock()
    report = discover(archive)
    by_name = {s.service: s for s in report.services}
    assert by_name["lib"].new == 4  # the folder after the broken service still ran
    assert by_name["flickr"].failed and "listing stopped" in by_name["flickr"].failed[0]
    assert archive.sync_state()["services"].get("flickr", {}).get("cursor") is None
    archive.close()


def test_a_photo_that_failed_is_fetched_by_the_next_incremental_run(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression (seen in CI): the cursor moved past a photo whose download gave up."""
    from photosync.emulators.base import FaultPlan
    from photosync.services.http import RetryPolicy

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt, rng: 0.001)
    emulator, state = running
    state.seed(10, video_every=0)
    _authorise(emulator, state, "flickr", "read")
    unlucky = state.photos[sorted(state.photos)[3]]
    emulator.faults = FaultPlan(rate_5xx=1.0, only_prefixes=(f"/{unlucky.server}/{unlucky.id}_",))
    archive = new_archive(tmp_path, flickr=_settings(emulator, circuit_breaker=100))
    archive.lock()
    first = discover(archive)
    assert first.new == 9 and first.failed == 1, first.services[0].failed
    assert unlucky.id in first.services[0].failed[0]
    emulator.faults = FaultPlan()
    second = discover(archive)
    assert second.new == 1 and second.failed == 0, second.services[0].failed
    assert len(records(archive.root)) == 10
    # once everything is in, the cursor moves and the next run is incremental
    third = discover(archive)
    assert third.new == 0 and archive.sync_state()["services"]["flickr"].get("cursor")
    assert state.calls["flickr.photos.recentlyUpdated"] >= 1
    archive.close()


@pytest.mark.parametrize("read_albums", [True, False])
def test_a_full_listing_reads_photosets_unless_told_not_to(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState], read_albums: bool
) -> None:
    emulator, state = running
    from photosync.emulators.flickr import EmuPhotoset

    state.seed(8, video_every=0)
    ids = sorted(state.photos)
    for number, (title, members) in enumerate(
        [("Summer 2019", ids[:3]), ("Kraków ❤", ids[2:5]), ("", ids[6:7])]
    ):
        state.photosets[f"7215{number}"] = EmuPhotoset(
            f"7215{number}", title, "", members[0], list(members), 1, 1
        )
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator, read_albums=read_albums))
    archive.lock()
    assert discover(archive).new == 8
    for record in records(archive.root):
        (copy,) = record["instances"]["flickr"]
        if read_albums:
            expected = sorted(
                {s.title for s in state.photosets.values() if copy["id"] in s.photos and s.title}
            )
            assert copy["observed"]["albums"] == expected
            assert record["metadata"].get("albums", []) == expected
        else:
            assert "albums" not in copy["observed"]
    assert bool(state.calls["flickr.photosets.getList"]) == read_albums
    archive.close()


def test_incremental_sync_days_makes_an_old_cursor_a_full_listing(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """A cursor is trusted for incremental_sync_days after the last full listing, then
    discover lists everything again (an item listed late is found)."""
    from tests.helpers import assert_check_clean, set_prefs

    emulator, state = running
    state.seed(5, video_every=0)
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    set_prefs(archive, incremental_sync_days=10)
    archive.lock()
    discover(archive)
    discover(archive)  # within the window: incremental
    assert state.calls["flickr.people.getPhotos"] == 1
    archive.state.set_meta("last_full_listing:flickr", "2020-01-01T00:00:00Z")
    again = discover(archive)
    assert state.calls["flickr.people.getPhotos"] == 2
    assert again.services[0].listed == 5 and again.failed == 0
    discover(archive)  # the full listing restarted the window
    assert state.calls["flickr.people.getPhotos"] == 2
    archive.close()
    assert_check_clean(archive.root)


def test_a_since_window_never_moves_the_cursor(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """Issue 11 (2): a first ``discover --since last-week`` must not hide the older photos."""
    emulator, state = running
    state.seed(10, video_every=0)  # uploaded in 2009
    week_ago = datetime.now(UTC) - timedelta(days=7)
    # three more uploaded in the last few days
    state.seed(3, video_every=0, start_upload=int(time.time()) - 2 * 86_400 - 12 * 37_003)
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    window = discover(archive, since=week_ago)
    assert window.new == 3 and window.failed == 0
    assert archive.sync_state()["services"].get("flickr", {}).get("cursor") is None
    plain = discover(archive)  # a full listing: nothing was ever listed in full
    assert plain.new == 10 and plain.failed == 0
    assert len(records(archive.root)) == 13
    cursor = archive.sync_state()["services"]["flickr"]["cursor"]
    # a later window leaves the cursor of the full listing where it was
    discover(archive, since=week_ago)
    assert archive.sync_state()["services"]["flickr"]["cursor"] == cursor
    archive.close()
    assert_check_clean(archive.root)


def test_a_since_window_sees_edits_to_older_photos(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """``--since`` means "changed since": a caption edited today on a photo uploaded in 2009
    is seen by ``discover --since yesterday`` (not only what was uploaded since)."""
    emulator, state = running
    state.seed(6, video_every=0)  # uploaded in 2009
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    assert discover(archive).new == 6
    cursor = archive.sync_state()["services"]["flickr"]["cursor"]
    edited = sorted(state.photos)[0]
    state.touch(edited, description="Written today")
    window = discover(archive, since=datetime.now(UTC) - timedelta(days=1))
    assert window.failed == 0 and window.new == 0
    observed = [
        inst["observed"].get("caption")
        for record in records(archive.root)
        for inst in record["instances"].get("flickr", [])
        if inst["id"] == edited
    ]
    assert observed == ["Written today"]
    assert archive.sync_state()["services"]["flickr"]["cursor"] == cursor  # a window
    archive.close()
    assert_check_clean(archive.root)
