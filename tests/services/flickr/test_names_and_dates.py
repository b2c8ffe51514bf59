"""What Flickr knows about a photo's name and date, kept as Flickr states it.

Flickr keeps no uploaded file name: a record is named after the photo's title with
the original's format (``originalformat``), never ``<id>.jpg``; the id stays the
instance's id. Real HTTP against the Flickr emulator.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.model import Visibility, display_name
from photosync.services.flickr.mapping import flickr_filename
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, new_archive, records
from tests.services.flickr.conftest import ServiceFactory
from tests.services.flickr.test_service import record_for
from tests.services.flickr.test_workflow import _authorise, _settings

pytestmark = pytest.mark.timeout(120)


def _image(color: tuple[int, int, int], fmt: str) -> bytes:
    """A small image without EXIF: Flickr finds no date in it."""
    out = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(out, fmt)
    return out.getvalue()


@pytest.fixture
def running() -> Iterator[tuple[FlickrEmulator, FlickrState]]:
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        yield emulator, state


def _by_flickr_id(root: Path) -> dict[str, dict[str, object]]:
    return {r["instances"]["flickr"][0]["id"]: r for r in records(root)}


def test_flickr_names_come_from_the_title_and_the_original_format() -> None:
    assert flickr_filename("Beach", "42", "png") == ("Beach.png", True)
    assert flickr_filename("IMG_0042.JPG", "42", "jpg") == ("IMG_0042.JPG", True)
    assert flickr_filename("scan.jpeg", "42", "jpg") == ("scan.jpeg", True)
    assert flickr_filename("v1.2 final", "42", "mp4") == ("v1.2 final.mp4", True)
    assert flickr_filename({"_content": "a/b\\c"}, "42", "gif") == ("a_b_c.gif", True)
    assert flickr_filename("", "42", "heic") == ("42.heic", False)
    assert flickr_filename(" .. ", "42", "jpg") == ("42.jpg", False)


@given(title=st.text(max_size=300), ext=st.sampled_from(["jpg", "png", "mp4", "heic", "gif"]))
def test_a_flickr_name_is_always_one_safe_file_name_of_its_format(title: str, ext: str) -> None:
    name, _ = flickr_filename(title, "42", ext)
    assert "/" not in name and "\\" not in name and name.isprintable()
    assert name.lower().endswith(("." + ext, ".jpeg", ".jpe", ".tif", ".m4v", ".mpeg4"))
    assert not name.startswith(".") and len(name) <= 130


def test_discover_names_flickr_photos_after_their_title_and_format(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    emulator, state = running
    beach = state.add_photo(_image((1, 2, 3), "PNG"), title="Beach at dawn")
    untitled = state.add_photo(_image((4, 5, 6), "JPEG"), title="")
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    report = discover(archive)
    assert report.new == 2, report.services[0].failed
    found = _by_flickr_id(archive.root)
    assert found[beach.id]["metadata"]["filename"] == "Beach at dawn.png"  # type: ignore[index]
    assert display_name(found[beach.id]) == "Beach at dawn.png"
    assert found[untitled.id]["metadata"]["filename"] == f"{untitled.id}.jpg"  # type: ignore[index]
    archive.close()
    assert_check_clean(archive.root)


def test_an_archive_named_by_flickr_ids_takes_the_title_name_when_flickr_lists_it_again(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """Records written before names came from titles say ``<id>.jpg``: they keep working,
    and the next listing of that photo names it after its title, losing nothing."""
    emulator, state = running
    photo = state.add_photo(_image((7, 8, 9), "JPEG"), title="Lake")
    _authorise(emulator, state, "flickr", "read")
    archive = new_archive(tmp_path, flickr=_settings(emulator))
    archive.lock()
    discover(archive)
    (record,) = records(archive.root)
    # as an older photosync wrote it
    record["metadata"]["filename"] = f"{photo.id}.jpg"
    (instance,) = record["instances"]["flickr"]
    instance["observed"]["filename"] = f"{photo.id}.jpg"
    del instance["extra"]["name_from"]
    archive.write_record(record)
    archive.commit("an archive written by an older photosync")
    assert display_name(record) == f"{photo.id}.jpg"
    assert discover(archive).updated == 0  # unchanged on Flickr: not read again
    state.touch(photo.id, description="seen again")
    assert discover(archive).updated == 1
    (record,) = records(archive.root)
    assert record["metadata"]["filename"] == "Lake.jpg"
    (instance,) = record["instances"]["flickr"]
    assert instance["id"] == photo.id and instance["observed"]["filename"] == "Lake.jpg"
    archive.close()
    assert_check_clean(archive.root)


def test_flickr_unknown_and_coarse_dates_stay_as_stated_and_a_stated_date_wins(
    tmp_path: Path, running: tuple[FlickrEmulator, FlickrState]
) -> None:
    """'Date unknown' is no date (never the upload time) and 'May 2011' is a month,
    labelled: a copy elsewhere that states the day settles it without a question; one
    that states another month is a question with both."""
    emulator, state = running
    unknown = state.add_photo(_image((1, 2, 3), "JPEG"), title="Unknown")
    month = state.add_photo(_image((9, 2, 3), "JPEG"), title="Month")
    state.touch(month.id, datetaken="2011-05-01 00:00:00", granularity=4, taken_unknown=False)
    year = state.add_photo(_image((9, 9, 3), "JPEG"), title="Year")
    state.touch(year.id, datetaken="2011-01-01 00:00:00", granularity=6, taken_unknown=False)
    assert unknown.taken_unknown  # the emulator says so, like Flickr, for a file with no date
    _authorise(emulator, state, "flickr", "read")
    phone = tmp_path / "phone"
    phone.mkdir()
    archive = new_archive(
        tmp_path, flickr=_settings(emulator), phone={"type": "local", "path": str(phone)}
    )
    archive.lock()
    assert discover(archive, services=["flickr"]).new == 3
    found = _by_flickr_id(archive.root)
    dates = {
        pid: (r["metadata"]["taken_date"], r["metadata"]["taken_date_source"])  # type: ignore[index]
        for pid, r in found.items()
    }
    assert dates == {
        unknown.id: (None, "flickr:datetaken(unknown)"),
        month.id: ("2011-05-01", "flickr:datetaken(month)"),
        year.id: ("2011-01-01", "flickr:datetaken(year)"),
    }
    assert "/undated/" in str(
        next((archive.root / "photos").rglob(f"*{found[unknown.id]['photo_id']}*"))
    )
    # the same files in a folder, their names stating the day
    (phone / "IMG_20090203_101500.jpg").write_bytes(unknown.content())
    (phone / "IMG_20110517_101500.jpg").write_bytes(month.content())
    (phone / "IMG_20120304_080000.jpg").write_bytes(year.content())  # not in 2011
    assert discover(archive, services=["phone"]).duplicate == 3
    report = auto_resolve(archive)
    found = _by_flickr_id(archive.root)
    assert found[unknown.id]["metadata"]["taken_date"] == "2009-02-03T10:15:00"  # type: ignore[index]
    assert found[month.id]["metadata"]["taken_date"] == "2011-05-17T10:15:00"  # type: ignore[index]
    for pid in (unknown.id, month.id):
        assert found[pid]["metadata"]["taken_date_source"] == "filename"  # type: ignore[index]
        assert not [c for c in found[pid]["conflicts"] if c["type"] == "metadata_mismatch"]  # type: ignore[union-attr]
    (question,) = [c for c in found[year.id]["conflicts"] if c["type"] == "metadata_mismatch"]  # type: ignore[union-attr]
    assert {o["value"] for o in question["options"]} == {"2011-01-01", "2012-03-04T08:00:00"}
    assert sum("missing_metadata" in what for _p, _n, what in report.decisions) >= 2
    archive.close()
    assert_check_clean(archive.root)


@pytest.mark.parametrize(
    ("taken", "source", "flickr_date", "granularity"),
    [
        ("2011-05-01", "flickr:datetaken(month)", "2011-05-01 00:00:00", 4),
        ("2011-01-01", "flickr:datetaken(year)", "2011-01-01 00:00:00", 6),
        ("2011-05-17T10:15:00", "filename", "2011-05-17 10:15:00", 0),
    ],
)
def test_an_upload_sets_a_coarse_date_at_its_granularity(
    make_service: ServiceFactory,
    state: FlickrState,
    taken: str,
    source: str,
    flickr_date: str,
    granularity: int,
) -> None:
    """A month another Flickr account stated goes up as that month, not as its first day."""
    data = _image((3, 3, 3), "PNG")
    record = record_for(data, taken_date=taken, taken_date_source=source)
    result = make_service().upload(record, io.BytesIO(data), visibility=Visibility.PRIVATE)
    photo = state.photos[result.instance_id]
    assert (photo.datetaken, photo.granularity) == (flickr_date, granularity)
    assert not photo.taken_unknown
