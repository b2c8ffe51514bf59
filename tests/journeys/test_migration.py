"""A service shuts down: the README's migration recipe. The old target is retired with
``photosync service disable``, a new one added, and ``replicate --execute`` brings every
photo there exactly once, with its caption and the visibility the user approved."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.credentials import CredentialStore
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from tests.helpers import assert_check_clean, make_library, records, write_xmp
from tests.journeys.conftest import Shell


@pytest.fixture
def two_flickrs() -> Iterator[tuple[FlickrEmulator, FlickrEmulator]]:
    first, second = FlickrEmulator(FlickrState()).start(), FlickrEmulator(FlickrState()).start()
    try:
        yield first, second
    finally:
        first.stop()  # stopping twice is harmless: the first one "shuts down" mid-test
        second.stop()


def _add_flickr(shell: Shell, name: str, emulator: FlickrEmulator, *, source: bool) -> None:
    state = emulator.state
    token, secret = state.issue_access_token("write")
    CredentialStore().set(
        name,
        {
            "api_key": state.api_key,
            "api_secret": state.api_secret,
            "oauth_token": token,
            "oauth_token_secret": secret,
            "perms": "write",
            "user_nsid": state.nsid,
        },
    )
    endpoints = " ".join(f"--endpoint {k}={v}" for k, v in emulator.endpoints().items())
    shell.run(
        f"photosync service add {name} --type flickr {endpoints} --target"
        f"{'' if source else ' --no-source'} --requests-per-hour 100000"
    )


def _by_photo(state: FlickrState, root: Path) -> dict[str, list[tuple[str, int]]]:
    """photo_id -> [(description, is_public)] of each copy the service holds."""
    photo_of = {
        str(r["content_hash"]).removeprefix("sha256:"): r["photo_id"] for r in records(root)
    }
    held: dict[str, list[tuple[str, int]]] = {}
    for photo in state.photos.values():
        digest = hashlib.sha256(photo.content()).hexdigest()
        held.setdefault(photo_of[digest], []).append((photo.description, photo.is_public))
    return held


def test_a_service_shuts_down_and_everything_moves_to_another(
    shell: Shell, two_flickrs: tuple[FlickrEmulator, FlickrEmulator], tmp_path: Path
) -> None:
    old, new = two_flickrs
    phone = tmp_path / "phone"
    photos = make_library(phone, 5)
    captions = {photos[0].name: "Grandma's garden", photos[3].name: "First day at school"}
    for photo in photos:
        if photo.name in captions:
            write_xmp(photo.with_suffix(".xmp"), caption=captions[photo.name])

    shell.run(f"photosync init {tmp_path / 'archive'}")
    shell.cwd = root = tmp_path / "archive"
    shell.run(f"photosync service add phone --type local --path {phone}")
    _add_flickr(shell, "oldflickr", old, source=True)
    shell.run("photosync discover")
    shell.run("photosync resolve --auto-resolve simple")
    public_id = next(
        r["photo_id"] for r in records(root) if r["metadata"]["filename"] == photos[0].name
    )
    shell.run(f"photosync visibility set {public_id} public --yes")
    shell.run("photosync replicate --execute")
    shell.run("photosync discover")  # the old service lists back what it was given: no new photo
    assert len(records(root)) == 5
    on_old = _by_photo(old.state, root)
    assert len(on_old) == 5 and all(len(copies) == 1 for copies in on_old.values())

    # the old service shuts down: retired in config, a new one takes its place
    old.stop()
    shell.run("photosync service disable oldflickr")
    _add_flickr(shell, "newflickr", new, source=False)
    shell.run("photosync discover")  # a retired service is not read: no error from it
    shell.run("photosync replicate --execute")

    on_new = _by_photo(new.state, root)
    assert set(on_new) == {r["photo_id"] for r in records(root)}
    assert all(len(copies) == 1 for copies in on_new.values()), on_new
    by_name = {r["photo_id"]: r["metadata"]["filename"] for r in records(root)}
    for photo_id, [(description, is_public)] in on_new.items():
        assert description == captions.get(by_name[photo_id], "")
        assert is_public == (1 if photo_id == public_id else 0)
    # the retired service's copies are still recorded: nothing is forgotten
    assert all(r["instances"].get("oldflickr") for r in records(root))
    assert_check_clean(root)
