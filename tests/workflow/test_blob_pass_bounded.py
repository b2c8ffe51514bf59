"""The blob half of ``replicate --execute`` as one streamed pass (issue 17: memory bounded
at a million records): the originals wanted in digest order against each location's
listing, records told their locations from what the pass saw. Whatever a location lost
or holds torn (a record of several originals too, in the first pass over every record
and in the incremental one after), every original ends in every location with its size
and every record names every location."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.blobstore.base import BlobStat
from photosync.blobstore.local import LocalBlobStore
from photosync.model import record_originals
from photosync.workflow.blobreplicate import TMP_DIR
from photosync.workflow.config import add_location
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, make_library, new_archive
from tests.workflow.test_identity_resolution import _photo, _reencode


@pytest.fixture
def sized_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Local folders listed with sizes, as S3 is: the listing's sizes decide which copy
    is torn and what a record is told (``Settled.sizes``), not a ``stat`` per record."""

    def iter_stats(self: LocalBlobStore) -> Iterator[BlobStat]:
        for digest in self.iter_digests():
            found = self.stat(digest)
            if found is not None:
                yield found

    monkeypatch.setattr(LocalBlobStore, "lists_sizes", True)
    monkeypatch.setattr(LocalBlobStore, "iter_stats", iter_stats)


def _archive(tmp_path: Path) -> tuple[Archive, str]:
    """Three photos and one record of two originals (a copy resolve joined in); a second
    location ``nas``. Returns the archive (locked) and the joined copy's digest."""
    original = _photo(tmp_path / "phone", 1)
    copy = _reencode(original, tmp_path / "google" / original.name)
    make_library(tmp_path / "phone", 3, start_seed=40)
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        google={"type": "local", "path": str(tmp_path / "google")},
    )
    archive.lock()
    add_location(archive, {"name": "nas", "type": "local", "path": str(tmp_path / "nas")})
    archive.commit("config: a storage location")
    discover(archive)
    auto_resolve(archive)
    joined = hashlib.sha256(copy.read_bytes()).hexdigest()
    assert any(
        joined in record_originals(r) and len(record_originals(r)) == 2 for r in _all(archive)
    )
    return archive, joined


def _all(archive: Archive) -> list[dict]:  # type: ignore[type-arg]
    return list(archive.iter_records())  # type: ignore[arg-type]


def _nas_blob(tmp_path: Path, digest: str) -> Path:
    return tmp_path / "nas" / "sha256" / digest[:2] / digest


def _everything_everywhere(archive: Archive, tmp_path: Path) -> None:
    for record in _all(archive):
        assert sorted(loc["store"] for loc in record["blob_locations"]) == ["local", "nas"]
        for digest, size in record_originals(record).items():  # type: ignore[arg-type]
            for store in ("blobs", "nas"):
                held = (archive.root / "blobs" if store == "blobs" else tmp_path / "nas") / (
                    f"sha256/{digest[:2]}/{digest}"
                )
                data = held.read_bytes()
                assert hashlib.sha256(data).hexdigest() == digest, (store, digest)
                assert size is None or len(data) == size


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_lost_and_a_torn_copy_come_back_and_every_record_names_both(
    tmp_path: Path, sized_folders: None, full: bool
) -> None:
    archive, joined = _archive(tmp_path)
    first = replicate(archive, execute=True)
    assert first.blobs is not None and first.blobs.settled_all and not first.blobs.failed
    _everything_everywhere(archive, tmp_path)
    # the joined copy (a size no record states) lost from the nas, another torn there
    lost = _nas_blob(tmp_path, joined)
    os.chmod(lost, stat.S_IRUSR | stat.S_IWUSR)
    lost.unlink()
    single = next(
        d
        for r in _all(archive)
        for d in record_originals(r)  # type: ignore[arg-type]
        if len(record_originals(r)) == 1  # type: ignore[arg-type]
    )
    torn = _nas_blob(tmp_path, single)
    os.chmod(torn, stat.S_IRUSR | stat.S_IWUSR)
    torn.write_bytes(torn.read_bytes()[:100])
    run = replicate(archive, execute=True, full=full)
    assert run.blobs is not None and run.blobs.incremental is not full
    assert sorted(run.blobs.copied["nas"]) == sorted([joined, single])
    assert run.blobs.replaced == {"nas": [single]}
    assert run.blobs.photo_of[joined] and run.blobs.photo_of[single]
    assert run.blobs.settled_all and not run.blobs.failed
    _everything_everywhere(archive, tmp_path)
    again = replicate(archive, execute=True, full=full)
    assert again.blobs is not None and again.blobs.copied_count == 0
    assert again.blobs.records_updated == 0 and again.blobs.settled_all
    assert not list((archive.root / TMP_DIR).glob("*.sqlite*"))  # the pass's scratch gone
    archive.close()
    assert_check_clean(archive.root)


def test_a_record_not_yet_naming_a_location_is_told_after_its_copies(tmp_path: Path) -> None:
    """A location added later: the first pass reads every record (sorted on disk), copies
    every original there and writes each record once its originals are all settled."""
    archive, _joined = _archive(tmp_path)
    replicate(archive, execute=True)
    add_location(archive, {"name": "usb", "type": "local", "path": str(tmp_path / "usb")})
    archive.commit("config: another location")
    run = replicate(archive, execute=True)
    assert run.blobs is not None and not run.blobs.incremental and run.blobs.settled_all
    wanted = {d for r in _all(archive) for d in record_originals(r)}  # type: ignore[arg-type]
    assert sorted(run.blobs.copied["usb"]) == sorted(wanted)
    assert run.blobs.records_updated == len(_all(archive))
    for record in _all(archive):
        assert sorted(loc["store"] for loc in record["blob_locations"]) == ["local", "nas", "usb"]
    archive.close()
    assert_check_clean(archive.root)
