"""Refused for good: a free account's originals (discover) and a file type Flickr does not
take (replicate) are said once with what to do, noted, and not asked for again until
--retry-failed; they do not hold the cursor back. Real HTTP against the Flickr emulator."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from photosync.workflow.status import status
from tests.helpers import assert_check_clean, make_library, new_archive, records, run_cli
from tests.services.flickr.test_workflow import _authorise, _settings

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def free() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState(pro=False)
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def _downloads(state: FlickrState) -> int:
    return sum(n for call, n in state.calls.items() if "getSizes" in call or "download" in call)


def test_a_free_accounts_originals_are_refused_once_with_what_to_do(
    tmp_path: Path, free: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = free
    state.seed(4, video_every=0)
    titles = {photo.title for photo in state.photos.values()}
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    root = str(archive.root)
    archive.close()

    first = run_cli("--archive", root, "discover", "--json")
    assert first.exit_code == 4  # needs attention, once
    (service,) = json.loads(first.output)["services"]
    assert len(service["refused"]) == 4 and service["failed"] == []
    for line in service["refused"]:
        assert any(title in line for title in titles)  # the photo as the user knows it
        assert "original" in line and "flickr-export" in line  # the reason, and what to do
    sync = json.loads((archive.root / "config/sync-state.json").read_text())
    assert sync["services"]["flickr"]["cursor"]  # the cursor moved past them

    asked = _downloads(state)
    again = run_cli("--archive", root, "discover", "--json")
    assert again.exit_code == 0, again.output  # not a failure every run
    assert json.loads(again.output)["services"][0]["refused"] == []
    assert _downloads(state) == asked  # Flickr was not asked again

    shown = json.loads(run_cli("--archive", root, "status", "--json").output)["refused"]
    assert sorted(r["phase"] for r in shown) == ["discover"] * 4
    listed = json.loads(run_cli("--archive", root, "resolve", "--list", "--json").output)
    assert len(listed["refused"]) == 4
    assert "refused for good" in run_cli("--archive", root, "status").output

    retried = run_cli("--archive", root, "discover", "--retry-failed", "--json")
    assert retried.exit_code == 4
    assert len(json.loads(retried.output)["services"][0]["refused"]) == 4

    state.pro = True  # the account upgraded: --retry-failed fetches them now
    fetched = run_cli("--archive", root, "discover", "--retry-failed", "--json")
    assert fetched.exit_code == 0, fetched.output
    assert json.loads(fetched.output)["services"][0]["new"] == 4
    assert len(records(archive.root)) == 4
    assert json.loads(run_cli("--archive", root, "status", "--json").output)["refused"] == []
    assert_check_clean(archive.root)


@pytest.fixture
def pro() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def test_an_upload_flickr_refuses_is_a_problem_on_the_photo_not_a_failure_every_run(
    tmp_path: Path, pro: tuple[FlickrEmulator, FlickrState], testdata: Path
) -> None:
    emulator, state = pro
    library = tmp_path / "lib"
    make_library(library, 2)
    shutil.copy(testdata / "breadth/photos/raw/DNG.dng", library / "DNG.dng")
    _authorise(emulator, state, "flickr", "write")
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(library)},
        flickr=_settings(emulator, target=True, source=False),
    )
    archive.lock()
    discover(archive, services=["lib"])
    auto_resolve(archive)
    first = replicate(archive, execute=True)
    assert first.failed == [] and len(first.refused) == 1, (first.failed, first.refused)
    assert "DNG.dng" in first.refused[0] and "Filetype was not recognised" in first.refused[0]
    assert "stays in the archive" in first.refused[0]  # what it means for the user
    assert len(state.photos) == 2
    (raw,) = [r for r in records(archive.root) if r["metadata"]["filename"] == "DNG.dng"]
    (problem,) = raw["problems"]
    assert problem["code"] == "refused_by_service" and problem["service"] == "flickr"
    assert status(archive).with_problems == 1
    uploads = state.calls["upload"]
    second = replicate(archive, execute=True)
    assert second.failed == [] and second.refused == [] and second.refused_before == 1
    assert state.calls["upload"] == uploads  # not tried again
    plan = replicate(archive, execute=False)
    assert not any(a.filename == "DNG.dng" for a in plan.planned)
    retried = replicate(archive, execute=True, retry_failed=True)
    assert len(retried.refused) == 1 and state.calls["upload"] == uploads + 1
    (raw,) = [r for r in records(archive.root) if r["metadata"]["filename"] == "DNG.dng"]
    assert len(raw["problems"]) == 1  # the same refusal, not one more each time
    archive.close()
    out = run_cli("--archive", str(archive.root), "replicate", "--execute")
    assert out.exit_code == 0, out.output
    assert "refused for good in an earlier run" in " ".join(out.output.split())
    assert_check_clean(archive.root)
