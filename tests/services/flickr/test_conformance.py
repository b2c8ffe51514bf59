"""Flickr (API and export) through the shared service conformance suite."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrState, make_jpeg
from photosync.emulators.flickr_export import write_export
from photosync.services.flickr.export import FlickrExportService
from photosync.services.flickr.mapping import visibility_from_flags
from photosync.services.flickr.service import FlickrService
from tests.services.conformance import (
    SourceCase,
    SourceConformance,
    TargetCase,
    TargetConformance,
    sample_record,
)

from .conftest import FakeClock

pytestmark = pytest.mark.timeout(60)


def _service(emulator: FlickrEmulator, state: FlickrState, *, target: bool) -> FlickrService:
    token, secret = state.issue_access_token("write" if target else "read")
    return FlickrService(
        "flickr",
        {
            "type": "flickr",
            "target": target,
            "endpoints": emulator.endpoints(),
            "rate_limit": {"requests_per_hour": 36_000_000},
        },
        credentials={
            "api_key": state.api_key,
            "api_secret": state.api_secret,
            "oauth_token": token,
            "oauth_token_secret": secret,
            "perms": "write" if target else "read",
        },
        clock=FakeClock(),
    )


class TestFlickrSource(SourceConformance):
    @pytest.fixture
    def source_case(self) -> Iterator[SourceCase]:
        state = FlickrState()
        state.seed(12, video_every=5)
        with FlickrEmulator(state) as emulator:
            service = _service(emulator, state, target=False)
            expected = {
                p.id: hashlib.sha256(p.content()).hexdigest() for p in state.photos.values()
            }

            def change_one() -> str:
                photo_id = sorted(state.photos)[3]
                state.touch(photo_id, description="edited on flickr.com")
                return photo_id

            yield SourceCase(service, expected, change_one)
            service.close()


class TestFlickrTarget(TargetConformance):
    @pytest.fixture
    def target_case(self) -> Iterator[TargetCase]:
        state = FlickrState()  # account default is public: uploads must still land private
        with FlickrEmulator(state) as emulator:
            service = _service(emulator, state, target=True)
            photos = []
            for n in range(3):
                data = make_jpeg(500 + n, f"2021-0{n + 1}-01 12:00:00")
                photos.append((sample_record(data, name=f"IMG_{n}.jpg"), data))

            def contents() -> list[tuple[str, str, str | None]]:
                return [
                    (
                        p.id,
                        hashlib.sha256(p.content()).hexdigest(),
                        visibility_from_flags(*p.privacy).level.value,
                    )
                    for p in state.photos.values()
                ]

            yield TargetCase(service, contents, photos)
            service.close()


class TestFlickrExportSource(SourceConformance):
    @pytest.fixture
    def source_case(self, tmp_path: Path) -> Iterator[SourceCase]:
        exported = write_export(tmp_path, 8, parts=2, video_every=4)
        service = FlickrExportService(
            "flickr-export", {"type": "flickr-export", "path": str(tmp_path)}
        )
        expected = {p.id: p.sha256 for p in exported}

        def change_one() -> str:
            meta = next(tmp_path.glob("*_part1.zip"))
            target = exported[2].id
            rewritten = tmp_path / "rewritten.tmp"
            with zipfile.ZipFile(meta) as source, zipfile.ZipFile(rewritten, "w") as out:
                for info in source.infolist():
                    payload = source.read(info)
                    if info.filename == f"photo_{target}.json":
                        data = json.loads(payload)
                        data["description"] = "edited"
                        payload = json.dumps(data).encode()
                    out.writestr(info.filename, payload)
            service.close()
            rewritten.replace(meta)
            return target

        yield SourceCase(service, expected, change_one)
        service.close()
