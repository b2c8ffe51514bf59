"""A week later: new photos, a caption changed on Flickr, a photo deleted from a folder,
then a second run the next day. Nothing is ever deleted from the archive or the backup."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.credentials import CredentialStore
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from tests.helpers import assert_check_clean, git_log, make_library, records
from tests.journeys.conftest import Shell


@pytest.fixture
def flickr() -> Iterator[FlickrEmulator]:
    state = FlickrState()
    state.seed(4, video_every=0)
    emulator = FlickrEmulator(state).start()
    try:
        yield emulator
    finally:
        emulator.stop()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _week_ago(paths: list[Path]) -> None:
    then = time.time() - 8 * 24 * 3600
    for path in paths:
        os.utime(path, (then, then))


def test_a_week_later_and_the_day_after(
    shell: Shell, flickr: FlickrEmulator, tmp_path: Path
) -> None:
    phone, nas = tmp_path / "phone", tmp_path / "nas"
    first_photos = make_library(phone, 5)
    _week_ago(first_photos)
    state = flickr.state
    token, secret = state.issue_access_token("read")
    CredentialStore().set(
        "flickr",
        {
            "api_key": state.api_key,
            "api_secret": state.api_secret,
            "oauth_token": token,
            "oauth_token_secret": secret,
            "perms": "read",
            "user_nsid": state.nsid,
        },
    )
    endpoints = " ".join(f"--endpoint {k}={v}" for k, v in flickr.endpoints().items())

    flickr_id = sorted(state.photos)[0]
    old_caption = "Caption of the first day"
    state.touch(flickr_id, description=old_caption)

    # day 1: the first session
    shell.run(f"photosync init {tmp_path / 'archive'}")
    shell.cwd = root = tmp_path / "archive"
    shell.run(f"photosync service add phone --type local --path {phone}")
    shell.run(f"photosync service add flickr --type flickr {endpoints} --requests-per-hour 100000")
    shell.run(f"photosync service add nas --type local --path {nas} --target --no-source")
    shell.run("photosync discover")
    # what Flickr shows more widely than private is adopted explicitly, as the demo does
    shell.run("photosync visibility approve --service flickr --yes --reason 'my Flickr shares'")
    shell.run("photosync resolve --auto-resolve simple")
    shell.run("photosync replicate --execute")
    day_one = records(root)
    assert len(day_one) == 9
    backup_day_one = _files(nas)
    assert len(backup_day_one) == 9

    # a week later: three new photos, a caption changed on Flickr, one photo deleted
    new_photos = make_library(phone, 3, start_seed=50)
    gone = first_photos[0]
    gone_bytes = gone.read_bytes()
    gone.unlink()
    state.touch(flickr_id, description="Written a week later")
    head = git_log(root)

    # the regular run, as the README has it (Flickr: an incremental listing from its cursor)
    week = json.loads(shell.run("photosync discover --json").stdout)
    by_service = {s["service"]: s for s in week["services"]}
    assert by_service["phone"]["new"] == 3 and by_service["phone"]["failed"] == []
    assert by_service["flickr"]["updated"] == 1 and by_service["flickr"]["new"] == 0
    resolved = shell.run("photosync resolve --auto-resolve simple").stdout
    shell.run("photosync resolve --list")
    shell.run("photosync replicate --execute", ok=(0, 4))

    after = records(root)
    assert len(after) == 12  # 9 + 3 new; the deleted photo's record is still there
    gone_hash = "sha256:" + hashlib.sha256(gone_bytes).hexdigest()
    (kept,) = [r for r in after if r["content_hash"] == gone_hash]
    assert kept["instances"]["phone"], "the deleted file's copy is not forgotten"
    assert (root / "blobs" / "sha256" / gone_hash[7:9] / gone_hash[7:]).read_bytes() == gone_bytes
    assert gone_bytes in _files(nas).values()  # never deleted from the backup either
    backup = _files(nas)
    assert all(backup.get(name) == data for name, data in backup_day_one.items())
    assert {p.read_bytes() for p in new_photos} <= set(backup.values())
    # the new caption is known; the old one is kept in the history
    (touched,) = [
        r for r in after if any(i["id"] == flickr_id for i in r["instances"].get("flickr", []))
    ]
    (copy,) = touched["instances"]["flickr"]
    assert copy["observed"]["caption"] == "Written a week later"
    history = subprocess.run(
        ["git", "-C", str(root), "log", "-p", "--format=%s"], capture_output=True, text=True
    ).stdout
    assert old_caption in history
    # a caption the archive had is not overwritten by a later edit: it becomes a question
    assert "1 need a decision" in resolved
    assert touched["metadata"]["caption"] == old_caption
    (question,) = [c for c in touched["conflicts"] if c["status"] == "open"]
    offered = json.dumps(question["options"])
    assert "Written a week later" in offered and old_caption in offered
    listed = json.loads(shell.run("photosync resolve --list --json").stdout)["pending"]
    assert [p["photo_id"] for p in listed] == [touched["photo_id"]]
    assert len(git_log(root)) > len(head)

    # the day after: nothing changed, nothing to do, no new commit
    head = git_log(root)
    again = shell.run("photosync discover").stdout
    assert "nothing new" in again
    assert "nothing to replicate" in shell.run("photosync replicate --dry-run").stdout
    assert git_log(root) == head
    shell.run("photosync status")
    assert_check_clean(root)
