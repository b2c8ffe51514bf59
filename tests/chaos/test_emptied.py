"""A source that suddenly lists nothing, or far fewer photos, is reported, never taken as deletions.

After such a listing nothing is marked missing or removed: not a record, not an
instance, not a blob, not a file in a target folder; discover exits 4 with a
warning that names the service.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.takeout import generate_takeout
from tests.chaos.clirun import photosync, snapshot
from tests.chaos.harness import Expect, check_invariants
from tests.chaos.test_crash import flickr_settings, store_flickr_token
from tests.helpers import assert_check_clean, make_library, new_archive, records

pytestmark = pytest.mark.timeout(180)


def _all_present(root: Path) -> list[tuple[str, str, str]]:
    return sorted(
        (service, inst["id"], inst["status"])
        for r in records(root)
        for service, insts in r["instances"].items()
        for inst in insts
    )


def _emptied_then_checked(
    root: Path,
    backup: Path,
    empty: Callable[[], None],
    *discover_args: str,
    records_unchanged: bool = True,
) -> str:
    """Discover + replicate, empty the source, discover again: a warning, and nothing lost.

    Returns the discover output with line wrapping undone.
    """
    photosync(root, "discover", *discover_args, expect=(0, 4))
    photosync(root, "resolve", "--auto-resolve", "simple")
    photosync(root, "replicate", "--execute")
    before_photos = snapshot(root / "photos")
    before_blobs = snapshot(root / "blobs" / "sha256")
    before_backup = snapshot(backup)
    before_instances = _all_present(root)
    assert before_instances and all(status == "present" for *_x, status in before_instances)
    empty()
    result = photosync(root, "discover", *discover_args, expect=4)
    # nothing marked missing or removed, nothing lost anywhere
    if records_unchanged:
        assert snapshot(root / "photos") == before_photos
        assert _all_present(root) == before_instances
    else:
        assert set(snapshot(root / "photos")) == set(before_photos)
        assert set(before_instances) <= set(_all_present(root))
        assert {status for *_x, status in _all_present(root)} == {"present"}
    assert snapshot(root / "blobs" / "sha256") == before_blobs
    photosync(root, "replicate", "--execute")
    assert snapshot(backup) == before_backup
    photosync(root, "verify")
    return " ".join(result.output.split())


def _archive(tmp: Path, **services: dict[str, Any]) -> Path:
    archive = new_archive(
        tmp,
        backup={"type": "local", "path": str(tmp / "backup"), "target": True, "source": False},
        **services,
    )
    archive.close()
    return archive.root


@pytest.mark.parametrize("left", [0, 5])
def test_local_folder_emptied_or_shrunk(tmp_path: Path, left: int) -> None:
    make_library(tmp_path / "lib", 30)
    root = _archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})

    def empty() -> None:
        (tmp_path / "moved").mkdir()
        for path in sorted((tmp_path / "lib").rglob("*.jpg"))[left:]:
            shutil.move(str(path), tmp_path / "moved" / path.name)

    output = _emptied_then_checked(root, tmp_path / "backup", empty)
    assert f"lib listed {left} items, 30 last time: nothing was marked deleted" in output
    check_invariants(root, Expect(records=30, present={"lib": 30, "backup": 30}, replicated=True))


def test_missing_folder_is_an_error_not_an_empty_library(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 12)
    root = _archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    photosync(root, "discover")
    before = snapshot(root / "photos")
    shutil.move(str(tmp_path / "lib"), tmp_path / "unplugged")
    result = photosync(root, "discover", expect=(3, 4))
    said = " ".join(result.output.split())
    assert "does not exist" in said and "a missing drive is not an empty library" in said
    assert snapshot(root / "photos") == before
    assert_check_clean(root)


@pytest.mark.parametrize("drop_every", [1, 2])
def test_flickr_listing_that_lies(tmp_path: Path, drop_every: int) -> None:
    """The emulator's lying mode drops photos from people.getPhotos (1: all, 2: half)."""
    state = FlickrState()
    state.seed(24, video_every=0)
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state, perms="read")
        root = _archive(tmp_path, flickr=flickr_settings(emulator))

        def lie() -> None:
            state.lying_drop_every = drop_every

        output = _emptied_then_checked(root, tmp_path / "backup", lie, "--full-scan")
    if drop_every == 1:
        assert "flickr listed 0 items, 24 last time: nothing was marked deleted" in output
    else:  # half: under the alarm threshold, but Flickr's own total gives it away
        assert "Flickr reported 24 photos but listed only 12" in output
    check_invariants(root, Expect(records=24, present={"flickr": 24}))


def test_takeout_with_far_fewer_items(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=3, seed=3)
    root = _archive(
        tmp_path, google={"type": "google-takeout", "paths": [str(p) for p in manifest.parts]}
    )

    def fewer() -> None:
        from photosync.archive.archive import Archive

        archive = Archive(root)
        services = archive.services()
        services["google"]["paths"] = [str(manifest.parts[0])]
        archive.save_services(services)
        archive.commit("config: only the first part of the next export")
        archive.close()

    # the first part lacks sidecars that sit in the others: those items are listed under
    # path-based ids, known as aliases of the recorded ones; nothing is added, lost or marked gone
    output = _emptied_then_checked(root, tmp_path / "backup", fewer)
    assert "google listed" in output and "nothing was marked deleted" in output
    check_invariants(root, Expect(records=len(records(root))))
