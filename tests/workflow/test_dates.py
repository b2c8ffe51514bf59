"""A date's source says what it is; status counts estimated dates apart and lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.samples import write_jpeg
from photosync.metadata import extract_media_info
from photosync.model import date_kind
from photosync.workflow.discover import discover
from photosync.workflow.status import estimated_dates, status
from tests.helpers import assert_check_clean, new_archive, records, run_cli
from tests.services.flickr.test_workflow import _authorise, _settings

pytestmark = pytest.mark.timeout(120)


def test_a_file_with_no_date_inside_is_counted_and_listed_as_estimated(tmp_path: Path) -> None:
    library = tmp_path / "lib"
    for seed in range(3):
        write_jpeg(
            library / f"dated{seed}.jpg",
            seed=seed,
            size=(48, 32),
            taken=datetime(2019, 5, 1 + seed),
        )
    write_jpeg(library / "scan.jpg", seed=9, size=(48, 32), taken=None)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    archive.lock()
    discover(archive)
    result = status(archive)
    archive.close()
    assert (result.dates["taken"], result.dates["estimated"], result.dates["none"]) == (3, 1, 0)
    assert result.estimated_by_source == {"file:mtime": 1}
    root = str(archive.root)
    as_json = json.loads(run_cli("--archive", root, "status", "--json").output)
    assert as_json["dates"] == {
        "taken": 3,
        "estimated": 1,
        "none": 0,
        "estimated_by_source": {"file:mtime": 1},
    }
    text = " ".join(run_cli("--archive", root, "status").output.split())
    assert "3 from the photo, 1 estimated (1 file time), 0 none" in text
    listed = json.loads(run_cli("--archive", root, "status", "--estimated-dates", "--json").output)
    assert [e["filename"] for e in listed["estimated_dates"]] == ["scan.jpg"]
    assert listed["estimated_dates"][0]["taken_date_source"] == "file:mtime"
    assert "scan.jpg" in run_cli("--archive", root, "status", "--estimated-dates").output
    assert_check_clean(archive.root)


@pytest.fixture
def running() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def test_a_flickr_date_unknown_is_no_date_not_the_upload_time(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """Flickr says "date unknown" for a file without a date: the record keeps it
    unknown (labelled), never the upload time, so any other source's date wins."""
    emulator, state = running
    undated = write_jpeg(tmp_path / "undated.jpg", seed=5, size=(48, 32), taken=None)
    dated = write_jpeg(
        tmp_path / "dated.jpg", seed=6, size=(48, 32), taken=datetime(2018, 3, 4, 5, 6, 7)
    )
    unknown = state.add_photo(undated.read_bytes())
    assert unknown.taken_unknown
    state.add_photo(dated.read_bytes())
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    assert discover(archive).new == 2
    by_instance = {r["instances"]["flickr"][0]["id"]: r for r in records(archive.root)}
    meta = by_instance[unknown.id]["metadata"]
    assert meta["taken_date"] is None
    assert meta["taken_date_source"] == "flickr:datetaken(unknown)"
    assert date_kind(meta) == "none"
    assert estimated_dates(archive) == []
    assert status(archive).estimated_by_source == {}
    archive.close()
    assert_check_clean(archive.root)


def test_a_downloaded_copy_is_not_dated_by_its_download(tmp_path: Path) -> None:
    """The stored copy's mtime is the moment of the download: no date is better than that."""
    path = write_jpeg(tmp_path / "copy.jpg", seed=1, size=(16, 16), taken=None)
    assert extract_media_info(path, file_time=False).taken_date is None
    assert extract_media_info(path).taken_date_source == "file:mtime"


def test_records_written_with_older_labels_still_count_as_estimated() -> None:
    for source in ("file:mtime", "upload", "upload:flickr", "service:upload"):
        assert date_kind({"taken_date": "2020-01-01", "taken_date_source": source}) == "estimated"
    assert (
        date_kind({"taken_date": "2020-01-01", "taken_date_source": "exif:DateTimeOriginal"})
        == "taken"
    )
    assert date_kind({"taken_date": None, "taken_date_source": None}) == "none"
