"""A lost upload reply must not double a photo when Flickr's search index lags.

The emulator's search shows a new upload only ``search_lag_s`` after it landed,
measured on the same fake clock the service uses: no real sleeps. An upload
whose reply was lost is not repeated until it has been absent from search for
longer than the lag the service declares.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from photosync.emulators.base import FaultPlan
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.rehearsal import flickr_browser
from photosync.services.flickr.auth import run_oauth_flow
from photosync.services.flickr.service import FlickrService
from photosync.workflow import context
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import (
    FakeClock,
    assert_check_clean,
    make_library,
    new_archive,
    records,
    run_cli,
)

pytestmark = pytest.mark.timeout(240)
LAG_S = 20.0
RECORDS = 11


def _machine_tags(state: FlickrState) -> Counter[str]:
    return Counter(
        tag for photo in state.photos.values() for tag in photo.tags if "photosync:sha256" in tag
    )


@pytest.mark.parametrize(
    "faults",
    [
        FaultPlan(rate_truncate=0.3, only_prefixes=("/services/upload",), seed=11),
        # lost replies, and uploads refused before they landed (those must be redone)
        FaultPlan(rate_truncate=0.3, rate_5xx=0.2, only_prefixes=("/services/upload",), seed=5),
    ],
    ids=["replies-lost", "replies-lost-and-refused"],
)
def test_lost_replies_with_a_lagging_search_leave_exactly_one_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, faults: FaultPlan
) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    state = FlickrState(clock=clock.time)
    state.search_lag_s = LAG_S
    make_library(tmp_path / "lib", RECORDS)
    with FlickrEmulator(state) as emulator:
        run_oauth_flow(
            state.api_key,
            state.api_secret,
            "write",
            emulator.endpoints(),
            flickr_browser,
            service_name="flickr",
        )
        archive = new_archive(
            tmp_path,
            lib={"type": "local", "path": str(tmp_path / "lib")},
            flickr={
                "type": "flickr",
                "target": True,
                "source": False,
                "endpoints": emulator.endpoints(),
                "rate_limit": {"requests_per_hour": 36_000_000},
                "search_lag_s": LAG_S,
            },
        )
        archive.lock()
        discover(archive, services=["lib"])
        auto_resolve(archive)
        made = context.make_service

        def with_fake_clock(name: str, settings: dict[str, Any]) -> Any:
            if settings["type"] == "flickr":
                return FlickrService(name, settings, clock=clock)
            return made(name, settings)

        monkeypatch.setattr(context, "make_service", with_fake_clock)
        emulator.faults = faults
        pending_seen = 0
        for _run in range(15):
            report = replicate(archive, execute=True)
            assert not report.failed, report.failed
            pending_seen += len(report.pending_uploads)
            # never more copies than records, at any moment
            assert max(_machine_tags(state).values(), default=0) == 1, _machine_tags(state)
            if not report.pending_uploads:
                break
            clock.now += 7.0  # a while later, the user runs it again
        else:
            pytest.fail(f"still waiting after 15 runs: {report.pending_uploads}")
        assert pending_seen > 0  # the lost replies really happened
        emulator.faults = FaultPlan()
        assert not replicate(archive, execute=True).planned
        archive.close()
    tags = _machine_tags(state)
    assert len(state.photos) == RECORDS and len(tags) == RECORDS
    assert set(tags.values()) == {1}
    for record in records(archive.root):
        (copy,) = record["instances"]["flickr"]
        assert copy["id"] in state.photos
        assert record["processing_state"] == "replicated"
    assert_check_clean(archive.root)


def test_a_lagging_search_is_the_default_for_real_flickr_only() -> None:
    real = FlickrService("flickr", {"type": "flickr", "target": True})
    emulated = FlickrService(
        "flickr",
        {"type": "flickr", "target": True, "endpoints": {"rest": "http://127.0.0.1:9/rest/"}},
    )
    configured = FlickrService("flickr", {"type": "flickr", "search_lag_s": 5})
    assert real.search_lag_s >= 60 and emulated.search_lag_s == 0
    assert configured.search_lag_s == 5


def test_the_cli_says_an_upload_is_pending_and_exits_4_until_search_shows_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(start=1_700_000_000.0)
    state = FlickrState(clock=clock.time)
    state.search_lag_s = LAG_S
    make_library(tmp_path / "lib", 1)
    with FlickrEmulator(state) as emulator:
        run_oauth_flow(
            state.api_key,
            state.api_secret,
            "write",
            emulator.endpoints(),
            flickr_browser,
            service_name="flickr",
        )
        archive = new_archive(
            tmp_path,
            lib={"type": "local", "path": str(tmp_path / "lib")},
            flickr={
                "type": "flickr",
                "target": True,
                "source": False,
                "endpoints": emulator.endpoints(),
                "rate_limit": {"requests_per_hour": 36_000_000},
                "search_lag_s": LAG_S,
            },
        )
        archive.lock()
        discover(archive, services=["lib"])
        auto_resolve(archive)
        archive.close()
        made = context.make_service
        monkeypatch.setattr(
            context,
            "make_service",
            lambda name, settings: (
                FlickrService(name, settings, clock=clock)
                if settings["type"] == "flickr"
                else made(name, settings)
            ),
        )

        def run() -> tuple[int, dict[str, Any]]:
            result = run_cli("--archive", str(archive.root), "replicate", "--execute", "--json")
            return result.exit_code, json.loads(result.output)

        emulator.faults = FaultPlan(rate_truncate=1.0, only_prefixes=("/services/upload",))
        code, out = run()
        assert code == 4 and len(out["pending_uploads"]) == 1 and not out["failed"]
        emulator.faults = FaultPlan()
        clock.now += LAG_S / 2  # the search does not show it yet: asked, not uploaded again
        code, out = run()
        assert code == 4 and len(out["pending_uploads"]) == 1
        assert state.calls["upload"] == 1
        clock.now += LAG_S  # now it does
        code, out = run()
        assert code == 0 and not out["pending_uploads"], out
        assert state.calls["upload"] == 1 and len(state.photos) == 1
    (record,) = records(archive.root)
    assert [i["id"] for i in record["instances"]["flickr"]] == list(state.photos)
    assert_check_clean(archive.root)
