"""Album membership: read from Takeout and Flickr, kept canonically, carried to Flickr and Google.

Membership is only ever added automatically (a union over every copy); replicate
creates missing albums by title on each target and marks each copy with the
albums photosync put it in, so a re-run makes no call and a run killed between
the service's answer and the commit repeats the call harmlessly.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.emulators.rehearsal import Rehearsal, authorise, start_rehearsal
from photosync.emulators.takeout import generate_takeout
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from photosync.workflow.status import status
from tests.helpers import assert_check_clean, new_archive

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def rehearsal() -> Iterator[Rehearsal]:
    running = start_rehearsal(flickr_photos=0)
    # the real limiter, at a rate that does not make the test wait
    for name in ("flickr", "google-photos"):
        running.settings[name]["rate_limit"] = {"requests_per_hour": 36_000_000}
    running.settings["flickr"]["ticket_poll_s"] = 0.05
    try:
        authorise(running)
        yield running
    finally:
        running.stop()


def _records(root: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (root / "photos").rglob("*.json")]


def _flickr_albums(rehearsal: Rehearsal) -> dict[str, set[str]]:
    state = rehearsal.flickr.state
    return {
        s.title: {hashlib.sha256(state.photos[p].content()).hexdigest() for p in s.photos}
        for s in state.photosets.values()
    }


def _google_albums(rehearsal: Rehearsal) -> dict[str, set[str]]:
    state = rehearsal.google.state
    return {a["title"]: {state.items[i].sha256 for i in a["items"]} for a in state.albums.values()}


def _expected(archive: Archive, target: str) -> dict[str, set[str]]:
    """Album title -> content hashes of the photos that reached ``target``."""
    out: dict[str, set[str]] = {}
    for record in _records(archive.root):
        if record["instances"].get(target):
            for title in record["metadata"].get("albums", []):
                out.setdefault(title, set()).add(record["content_hash"][7:])
    return out


def test_takeout_albums_reach_flickr_and_google_once(tmp_path: Path, rehearsal: Rehearsal) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=2, seed=5)
    truth = {item.sha256: sorted(set(item.albums)) for item in manifest.items}
    assert any(truth.values()), "the generated Takeout must put photos in albums"
    archive = new_archive(
        tmp_path,
        takeout={"type": "google-takeout", "paths": [str(p) for p in manifest.parts]},
        **rehearsal.settings,
    )
    archive.lock()
    discover(archive)
    for record in _records(archive.root):  # canonical membership = the Takeout's album folders
        assert record["metadata"].get("albums", []) == truth[record["content_hash"][7:]], record[
            "metadata"
        ]["filename"]
    per_album = Counter(title for titles in truth.values() for title in titles)
    assert status(archive).albums == per_album  # `photosync status --json` shows photos per album
    # photos in the Takeout's shared albums are asked about (shown wider on Google than
    # private): this user keeps them private everywhere, by rule
    prefs = archive.preferences()
    prefs["auto_resolve"] = [*prefs["auto_resolve"], "most_restrictive_visibility"]
    archive.save_preferences(prefs)
    archive.commit("config: shared photos stay private")
    auto_resolve(archive)
    first = replicate(archive, execute=True)
    assert not first.failed, first.failed
    flickr_albums, google_albums = _flickr_albums(rehearsal), _google_albums(rehearsal)
    assert flickr_albums == _expected(archive, "flickr") and flickr_albums
    assert google_albums == _expected(archive, "google-photos") and google_albums
    unicode_names = [
        r for r in _records(archive.root) if not r["metadata"]["filename"].isascii()
    ]  # headers carry Latin-1 at most: the upload must encode the name, not crash
    assert unicode_names and all(r["instances"].get("google-photos") for r in unicode_names)
    assert first.done["flickr:add_to_album"] == sum(len(m) for m in flickr_albums.values())

    # a re-run makes no album call; discovering Flickr (now holding the photos in their
    # sets) keeps photosync's marks, so the run after that makes none either
    calls = dict(rehearsal.flickr.state.calls)
    second = replicate(archive, execute=True)
    assert not second.counts() and not second.done
    discover(archive)
    for record in _records(archive.root):  # Flickr's own answer: the photosets it is in
        for copy in record["instances"].get("flickr", []):
            assert copy["observed"]["albums"] == record["metadata"].get("albums", [])
    third = replicate(archive, execute=True)
    assert not third.counts() and not third.done, third.counts()
    state_calls = rehearsal.flickr.state.calls
    for method in ("flickr.photosets.create", "flickr.photosets.addPhoto"):
        assert state_calls[method] == calls.get(method), method
    assert _flickr_albums(rehearsal) == flickr_albums and _google_albums(rehearsal) == google_albums
    archive.close()
    assert_check_clean(archive.root)


def test_a_membership_call_repeated_after_a_crash_is_harmless(
    tmp_path: Path, rehearsal: Rehearsal
) -> None:
    """The service said yes but the mark never reached the archive: the next run repeats it."""
    manifest = generate_takeout(tmp_path / "takeout", None, parts=1, seed=5)
    archive = new_archive(
        tmp_path,
        takeout={"type": "google-takeout", "paths": [str(p) for p in manifest.parts]},
        **rehearsal.settings,
    )
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    assert not replicate(archive, execute=True).failed
    before = (_flickr_albums(rehearsal), _google_albums(rehearsal))
    forgotten = 0
    for record in archive.iter_records():
        for target in ("flickr", "google-photos"):
            for copy in record["instances"].get(target, []):
                forgotten += len(copy.get("extra", {}).pop("photosync_albums", None) or [])
        archive.write_record(record)
    archive.commit("test: lose the album marks, as a crash before the commit would")
    assert forgotten
    again = replicate(archive, execute=True)
    assert not again.failed, again.failed
    assert sum(again.done.values()) == forgotten  # every membership asked again, accepted
    assert (_flickr_albums(rehearsal), _google_albums(rehearsal)) == before
    assert not replicate(archive, execute=True).done
    archive.close()
    assert_check_clean(archive.root)


def test_photos_google_already_holds_are_not_forced_into_app_albums(
    tmp_path: Path, rehearsal: Rehearsal
) -> None:
    """The Library API only lets an app put its own uploads into albums (found by the demo)."""
    from photosync.services.google.takeout import TakeoutSource

    manifest = generate_takeout(tmp_path / "takeout", None, parts=1, seed=5)
    archive = new_archive(tmp_path, **rehearsal.settings)
    archive.lock()
    # the Takeout recorded under the target's own name, as `discover --takeout` does
    discover(archive, sources={"google-photos": TakeoutSource.from_paths(manifest.parts)})
    auto_resolve(archive)
    plan = replicate(archive).counts()
    assert "add_to_album" not in plan.get("google-photos", {}) and plan["flickr"]["add_to_album"]
    done = replicate(archive, execute=True)
    assert not done.failed, done.failed
    assert not _google_albums(rehearsal) and _flickr_albums(rehearsal)
    archive.close()
    assert_check_clean(archive.root)


def test_photos_already_in_a_flickr_set_are_not_added_again(
    tmp_path: Path, rehearsal: Rehearsal
) -> None:
    from photosync.emulators.flickr import EmuPhotoset

    state = rehearsal.flickr.state
    state.seed(6, video_every=0)
    ids = sorted(state.photos)
    for photo_id in ids:  # private everywhere: nothing waits for a visibility decision
        state.touch(photo_id, is_public=0, is_friend=0, is_family=0)
    state.photosets["72150"] = EmuPhotoset("72150", "Hiking", "", ids[0], ids[:4], 1, 1)
    archive = new_archive(tmp_path, **rehearsal.settings)
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    plan = replicate(archive).counts()
    assert "add_to_album" not in plan.get("flickr", {})  # Flickr's own listing says they are in
    assert plan["google-photos"] == {"upload": 6, "add_to_album": 4}
    done = replicate(archive, execute=True)
    assert not done.failed, done.failed
    assert state.calls["flickr.photosets.addPhoto"] == 0
    assert _google_albums(rehearsal) == _flickr_albums(rehearsal)
    archive.close()
    assert_check_clean(archive.root)
