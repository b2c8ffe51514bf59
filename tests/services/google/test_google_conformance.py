"""The Google services run the shared conformance suite; discover reads a generated Takeout."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from photosync.emulators.google import GoogleEmulator
from photosync.emulators.takeout import TakeoutManifest, generate_takeout
from photosync.services import registry
from photosync.services.google.auth import GoogleAuth
from photosync.services.google.library import GooglePhotosLibrary
from photosync.services.google.takeout import TakeoutSource
from photosync.workflow.discover import discover
from tests.helpers import new_archive, records
from tests.services.conformance import (
    SourceCase,
    SourceConformance,
    TargetCase,
    TargetConformance,
    sample_record,
)

from .conftest import fast_http, listing
from .test_google_library import jpeg


def expected_ids(manifest: TakeoutManifest) -> dict[str, str]:
    """instance_id -> sha256, from the generator's truth and the documented id scheme."""
    key_of_sha = {item.sha256: item.google_key for item in manifest.items}
    out: dict[str, str] = {}
    for item in manifest.items:
        if item.google_key:
            out[item.google_key] = item.sha256
        elif item.edit_of_sha256:
            out[f"{key_of_sha[item.edit_of_sha256]}#edit:{item.filename}"] = item.sha256
        elif item.live_of_sha256:
            out[f"{key_of_sha[item.live_of_sha256]}#live:{item.filename}"] = item.sha256
        else:
            out[f"path:{item.path}:{item.size}"] = item.sha256
    return out


class TestTakeoutSource(SourceConformance):
    @pytest.fixture
    def source_case(self, tmp_path: Path) -> SourceCase:
        manifest = generate_takeout(tmp_path / "parts", None, parts=3, fmt="zip", seed=31)
        unpacked = tmp_path / "unpacked"
        for part in manifest.parts:
            with zipfile.ZipFile(part) as archive:
                archive.extractall(unpacked)
        service = TakeoutSource("google-photos", {"paths": [str(unpacked)]})
        target = next(i for i in manifest.items if i.quirk == "geo-data-when-exif-zero")
        assert target.sidecar is not None and target.google_key is not None

        def change_one() -> str:
            sidecar = unpacked / "Takeout" / manifest.product_folder / target.sidecar  # type: ignore[operator]
            data = json.loads(sidecar.read_text(encoding="utf-8"))
            data["description"] = "a caption added later"
            sidecar.write_text(json.dumps(data), encoding="utf-8")
            return target.google_key  # type: ignore[return-value]

        return SourceCase(service, expected_ids(manifest), change_one)


class TestGooglePhotosLibraryTarget(TargetConformance):
    @pytest.fixture
    def target_case(
        self, signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
    ) -> TargetCase:
        service = GooglePhotosLibrary(
            "google-photos",
            {"endpoints": emulator.endpoints()},
            auth=signed_in,
            http=fast_http(),
            journal_dir=tmp_path / "journal",
        )

        def contents() -> list[tuple[str, str, str | None]]:
            return [(i.id, i.sha256, "private") for i in emulator.state.app_items()]

        photos = [(sample_record(jpeg(n), name=f"IMG_{n}.jpg"), jpeg(n)) for n in range(3)]
        return TargetCase(service, contents, photos)


def test_discover_reads_a_generated_takeout_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(
        registry.SERVICE_TYPES, "google-takeout", "photosync.services.google.takeout:TakeoutSource"
    )
    manifest = generate_takeout(tmp_path / "parts", None, parts=3, fmt="tgz", locale="fr", seed=41)
    archive = new_archive(
        tmp_path, gp={"type": "google-takeout", "paths": [str(p) for p in manifest.parts]}
    )
    archive.lock()
    try:
        report = discover(archive)
        assert report.failed == 0
        assert report.new == len(manifest.items)
        truth = manifest.by_sha()
        found = records(archive.root)
        assert len(found) == len(manifest.items)
        for record in found:
            expected = truth[record["content_hash"].removeprefix("sha256:")]
            (instance,) = record["instances"]["gp"]
            if expected.google_key:
                assert instance["id"] == expected.google_key
            if expected.taken_date:
                assert record["metadata"]["taken_date"] == expected.taken_date
            assert record["visibility"]["canonical"] == "private"
            assert instance["extra"]["albums"] == expected.albums
        again = discover(archive)
        assert again.new == 0 and again.updated == 0
        assert again.services[0].unchanged == len(manifest.items)
    finally:
        archive.close()


def test_listing_matches_hashes_in_discover_terms(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "parts", None, parts=2, seed=43)
    source = TakeoutSource.from_paths(manifest.parts)
    items, _ = listing(source)
    expected = expected_ids(manifest)
    for item in items:
        with source.open_item(item) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == expected[item.instance_id]
