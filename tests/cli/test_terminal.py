"""The interactive prompt on a real (pseudo) terminal, as a person would use it."""

from __future__ import annotations

import json
import os
import pty
import sys
from pathlib import Path

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.rehearsal import flickr_browser
from photosync.emulators.samples import write_jpeg, write_xmp_sidecar
from photosync.services.flickr.auth import run_oauth_flow
from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    git_clean,
    git_log,
    new_archive,
    read_until,
    records,
    run_cli,
)


def test_interactive_resolve_on_a_pseudo_terminal(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a" / "IMG_1.jpg", seed=3)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "IMG_1.jpg").write_bytes((tmp_path / "a" / "IMG_1.jpg").read_bytes())
    write_xmp_sidecar(tmp_path / "a" / "IMG_1.jpg.xmp", caption="Sunset at the beach")
    write_xmp_sidecar(tmp_path / "b" / "IMG_1.xmp", caption="Ocean Beach sunset with friends")
    archive = new_archive(
        tmp_path,
        a={"type": "local", "path": str(tmp_path / "a")},
        b={"type": "local", "path": str(tmp_path / "b")},
    )
    root = archive.root
    pid, fd = pty.fork()
    if pid == 0:  # the child: photosync on a terminal
        os.environ["PHOTOSYNC_USER"] = "terminal-user"
        os.execv(
            sys.executable, [sys.executable, "-m", "photosync", "--archive", str(root), "discover"]
        )
    read_until(fd, b"discover")
    os.waitpid(pid, 0)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PHOTOSYNC_USER"] = "terminal-user"
        os.execv(
            sys.executable,
            [sys.executable, "-m", "photosync", "--archive", str(root), "resolve", "--interactive"],
        )
    screen = read_until(fd, b"Choice [1-5]")
    assert b"Conflict:" in screen and b"Use a version" in screen and b"Combine" in screen
    os.write(fd, b"4\n")  # Custom
    read_until(fd, b"Caption")
    os.write(fd, b"Golden hour at Ocean Beach\n")
    read_until(fd, b"decision(s) recorded")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    (record,) = records(root)
    assert record["metadata"]["caption"] == "Golden hour at Ocean Beach"
    decision = record["conflicts"][0]["resolution"]
    assert decision["choice"] == "custom" and decision["by"] == "terminal-user"


def _resolve_on_a_terminal(root: str, *extra: str) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PHOTOSYNC_USER"] = "terminal-user"
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "photosync",
                "--archive",
                root,
                "resolve",
                "--interactive",
                *extra,
            ],
        )
    return pid, fd


def test_counter_help_and_custom_dates_and_places(tmp_path: Path) -> None:
    """Issue 11 (4): '1 of 3', '?' explains the keys, Custom for a date and a place too."""
    root = conflicting_library(tmp_path, count=1)
    pid, fd = _resolve_on_a_terminal(root)
    screen = read_until(fd, b"Choice [1-5]")
    assert b"[1 of 3] Conflict:" in screen and b"Photo IMG_0000.jpg" in screen
    assert b"caption" in screen and b"? help, q quit" in screen
    os.write(fd, b"?\n")
    read_until(fd, b"the decisions so far are kept")
    os.write(fd, b"4\n")  # Custom caption
    read_until(fd, b"Caption")
    os.write(fd, b"Golden hour\n")
    screen = read_until(fd, b"Choice [1-4]")
    assert b"[2 of 3] Conflict:" in screen and b"location" in screen and b"Custom value" in screen
    os.write(fd, b"3\n")  # Custom place
    read_until(fd, b"Location (latitude, longitude")
    os.write(fd, b"91, 8\n")  # no such latitude: asked again
    read_until(fd, b"latitude is -90..90")
    os.write(fd, b"47.5, 8.25\n")
    screen = read_until(fd, b"Choice [1-4]")
    assert b"[3 of 3] Conflict:" in screen and b"taken date" in screen
    os.write(fd, b"3\n")  # Custom date
    read_until(fd, b"Taken date (YYYY-MM-DD")
    os.write(fd, b"2020-02-29 07:30\n")
    read_until(fd, b"3 decision(s) recorded")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    (record,) = records(Path(root))
    assert record["metadata"]["caption"] == "Golden hour"
    assert record["metadata"]["location"] == {"lat": 47.5, "lng": 8.25}
    assert record["metadata"]["taken_date"] == "2020-02-29T07:30"
    assert record["metadata"]["taken_date_source"] == "user"
    assert record["processing_state"] == "resolved"
    assert_check_clean(Path(root))


def test_q_stops_and_keeps_the_decisions_so_far(tmp_path: Path) -> None:
    root = conflicting_library(tmp_path, count=2)
    pid, fd = _resolve_on_a_terminal(root)
    read_until(fd, b"[1 of 6] Conflict:")
    os.write(fd, b"2\n")  # b's caption
    read_until(fd, b"[2 of 6] Conflict:")
    os.write(fd, b"q\n")
    read_until(fd, b"stopped: 1 decision(s) recorded, 5 question(s) left for later")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    first = next(r for r in records(Path(root)) if r["metadata"]["filename"] == "IMG_0000.jpg")
    assert first["metadata"]["caption"] == "Lake 0"
    assert git_log(Path(root))[0] == "resolve: decisions by terminal-user (interactive)"
    assert git_clean(Path(root))
    listed = run_cli("--archive", root, "resolve", "--list", "--json")
    assert len(json.loads(listed.output)["pending"]) == 5
    assert_check_clean(Path(root))


def test_the_prompt_names_the_file_by_its_real_name(tmp_path: Path) -> None:
    """A photo first seen on Flickr (which keeps no file name) is asked about by the name
    of the file on the phone, not Flickr's made-up ``<id>.jpg``."""
    state = FlickrState()
    state.seed(5, video_every=0)
    # the fifth is private (no visibility question) and has a description (the caption differs)
    photo = next(p for p in state.photos.values() if p.seed_index == 4)
    for other in [key for key in state.photos if key != photo.id]:
        del state.photos[other]
    (tmp_path / "phone").mkdir()
    (tmp_path / "phone" / "Holiday at the lake.jpg").write_bytes(photo.content())
    write_xmp_sidecar(tmp_path / "phone" / "Holiday at the lake.jpg.xmp", caption="Lake at dawn")
    with FlickrEmulator(state) as emulator:
        run_oauth_flow(
            state.api_key,
            state.api_secret,
            "read",
            emulator.endpoints(),
            flickr_browser,
            service_name="flickr",
        )
        archive = new_archive(
            tmp_path,
            flickr={
                "type": "flickr",
                "endpoints": emulator.endpoints(),
                "rate_limit": {"requests_per_hour": 36_000_000},
            },
            phone={"type": "local", "path": str(tmp_path / "phone")},
        )
        root = str(archive.root)
        archive.close()
        assert run_cli("--archive", root, "discover", "--service", "flickr").exit_code == 0
        assert run_cli("--archive", root, "discover", "--service", "phone").exit_code == 0
    (record,) = [r for r in records(Path(root)) if "phone" in r["instances"]]
    assert record["metadata"]["filename"] == f"{photo.title}.jpg"  # made up from the title
    pid, fd = _resolve_on_a_terminal(root)
    screen = read_until(fd, b"Choice [")
    assert b"Photo Holiday at the lake.jpg" in screen, screen
    os.write(fd, b"q\n")
    read_until(fd, b"stopped: 0 decision(s)")
    os.waitpid(pid, 0)
    listed = json.loads(run_cli("--archive", root, "resolve", "--list", "--json").output)
    assert {item["filename"] for item in listed["pending"]} == {"Holiday at the lake.jpg"}
    assert_check_clean(Path(root))
