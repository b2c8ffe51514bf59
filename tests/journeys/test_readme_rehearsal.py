"""The README's Flickr and Google Photos section, rehearsed on the bundled emulators.

The emulators run as the README starts them; the service lines they print are
pasted as printed; the OAuth pages are opened from the URL photosync prints
(whole, on one line, even on a narrow terminal).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest
import requests

from tests.helpers import assert_check_clean, git_log, make_library, records
from tests.journeys.conftest import Emulator, Shell, interact, readme_block_with


@pytest.fixture
def emulators() -> Iterator[tuple[Emulator, Emulator]]:
    flickr = Emulator("flickr", "--seed-photos", "6", until="then:")
    google = Emulator("google", until="picker sessions")
    try:
        yield flickr, google
    finally:
        flickr.stop()
        google.stop()


def _open_in_browser(url: str) -> None:
    """The consent page redirects to photosync's loopback listener: follow it in the background."""
    threading.Thread(target=lambda: requests.get(url, timeout=30), daemon=True).start()


def test_flickr_and_google_rehearsal_as_the_readme_says(
    shell: Shell, emulators: tuple[Emulator, Emulator], tmp_path: Path
) -> None:
    flickr, google = emulators
    readme = readme_block_with("photosync service add flickr")
    assert "photosync auth flickr" in readme[1]
    assert any(
        line.startswith("photosync discover --service google-photos --takeout") for line in readme
    )
    # the README's own rehearsal lines keep the rate limit out of the way
    rehearsal = readme_block_with("python -m photosync.emulators.flickr")
    assert all("--requests-per-hour" in line for line in rehearsal if "service add" in line)
    shell.env["COLUMNS"] = "40"  # a narrow terminal: the URLs must still come out whole
    shell.env["BROWSER"] = "true"  # click.launch opens nothing; the test plays the browser
    shell.run("photosync init ~/photo-archive".replace("~", str(shell.home)))
    shell.cwd = shell.home / "photo-archive"

    # the service lines exactly as the emulators printed them
    flickr_add = next(
        line.strip() for line in flickr.lines if "photosync service add flickr" in line
    )
    google_add = next(
        line.strip() for line in google.lines if "photosync service add google" in line
    )
    assert "--requests-per-hour" in flickr_add and "--requests-per-hour" in google_add
    shell.run(flickr_add)
    shell.run(google_add)

    key, secret = flickr.line_after("API key:"), flickr.line_after("API secret:")
    assert google.line_after("client id:") and google.line_after("client secret:")

    def flickr_page(url: str) -> str:
        return dict(parse_qsl(requests.get(url, timeout=10).text))["oauth_verifier"]

    said = interact(
        shell, f"photosync auth flickr --api-key {key} --api-secret {secret}", flickr_page
    )
    assert "Authorised emulated-user" in said and "perms=write" in said
    said = interact(
        shell,
        "photosync auth google-photos --client-id {} --client-secret {}".format(
            google.line_after("client id:"), google.line_after("client secret:")
        ),
        lambda url: _open_in_browser(url),
    )
    assert "Authorised" in said

    # a Takeout in two parts, read with one --takeout as the README writes it
    phone = make_library(tmp_path / "phone", 4)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "photosync.emulators.takeout",
            str(tmp_path / "takeout"),
            "--parts",
            "2",
            "--photos",
            *map(str, phone),
        ],
        check=True,
        env=shell.environment(),
    )
    parts = sorted(str(p) for p in (tmp_path / "takeout").glob("*.zip"))
    assert len(parts) == 2
    shell.run(
        f"photosync discover --service google-photos --takeout {parts[0]} {parts[1]}", ok=(0, 4)
    )
    shell.run("photosync discover", ok=(0, 4))
    flickr_copies = {i["id"] for r in records(shell.cwd) for i in r["instances"].get("flickr", [])}
    assert len(flickr_copies) == 6
    shell.run("photosync resolve --auto-resolve simple")
    shell.run("photosync replicate --execute", ok=(0, 4))
    assert any(m.startswith("replicate: ") for m in git_log(shell.cwd))

    uploaded = json.loads(shell.run("photosync google uploaded --json").stdout)["items"]
    assert uploaded, "replicate uploaded nothing to the emulated Google Photos"
    picked = interact(
        shell, "photosync google pick --timeout 60", lambda url: _open_in_browser(url)
    )
    # the Picker hands out derivatives (re-encoded, location stripped): recorded, never merged blindly
    assert f"{len(uploaded)} picked," in picked
    shell.run("photosync resolve --auto-resolve simple")
    shell.run("photosync status")
    assert_check_clean(shell.cwd)
