"""The "Download your data" importer on a generated export."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from photosync.emulators.flickr import make_jpeg
from photosync.emulators.flickr_export import write_export
from photosync.errors import ConfigError, ItemUnavailable
from photosync.model import Visibility
from photosync.services.base import ListingReport, RemoteItem
from photosync.services.flickr.export import FlickrExportService, unsafe_member_name
from photosync.services.flickr.mapping import observed_from_listing
from photosync.workflow.discover import discover
from tests.helpers import assert_check_clean, new_archive, records

pytestmark = pytest.mark.timeout(60)


def listing(service: FlickrExportService) -> tuple[list[RemoteItem], ListingReport]:
    report = ListingReport()
    return list(service.list_items(since=None, cursor=None, report=report)), report


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")}


def test_export_lists_every_item_with_metadata_and_original(tmp_path: Path) -> None:
    expected = write_export(tmp_path / "export", 25, parts=3)
    before = tree(tmp_path)
    service = FlickrExportService(
        "flickr-export", {"type": "flickr-export", "path": str(tmp_path / "export")}
    )
    items, report = listing(service)
    assert report.warnings == []
    assert [i.instance_id for i in items] == [p.id for p in expected]
    for item, photo in zip(items, expected, strict=True):
        with service.open_item(item) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == photo.sha256
        assert item.size == photo.size and item.original_available
        assert item.media_type == ("video" if photo.video else "photo")
        assert item.filename == f"img_{photo.title[4:]}.{'mp4' if photo.video else 'jpg'}"
        assert item.observed.title == photo.title and item.observed.tags == photo.tags
        assert item.observed.taken_date == photo.taken
        if photo.lat is None:
            assert item.observed.location is None
        else:
            assert item.observed.location == {
                "lat": pytest.approx(photo.lat),
                "lng": pytest.approx(photo.lng),
            }
        level = {"public": Visibility.PUBLIC, "private": Visibility.PRIVATE}.get(
            photo.privacy, Visibility.FRIENDS
        )
        assert item.visibility is not None and item.visibility.level is level
        assert [a["id"] for a in item.extra.get("albums", [])] == photo.albums
        assert item.problems == []
    service.close()
    assert tree(tmp_path) == before  # nothing was extracted


def test_versions_are_stable_and_track_changes(tmp_path: Path) -> None:
    write_export(tmp_path, 3, parts=1)
    service = FlickrExportService("x", {"path": str(tmp_path)})
    first = [i.version for i in listing(service)[0]]
    assert first == [i.version for i in listing(service)[0]]
    service.close()


def test_zip_slip_names_are_refused(tmp_path: Path) -> None:
    write_export(tmp_path, 2, parts=1)
    with zipfile.ZipFile(tmp_path / "data-download-9.zip", "w") as evil:
        evil.writestr("../../evil_61000000000_o.jpg", make_jpeg(1, "2020-01-01 00:00:00"))
        evil.writestr("/etc/abs_61000000001_o.jpg", b"x")
        evil.writestr("C:/win_61000000002_o.jpg", b"x")
    items, report = listing(FlickrExportService("x", {"path": str(tmp_path)}))
    assert len(items) == 2 and not any(i.instance_id.startswith("61") for i in items)
    assert sum("unsafe member name" in w for w in report.warnings) == 3
    forged = RemoteItem(
        instance_id="1",
        version="",
        filename="x",
        extra={"archive": "data-download-9.zip", "member": "../../evil_61000000000_o.jpg"},
    )
    with pytest.raises(ItemUnavailable):
        FlickrExportService("x", {"path": str(tmp_path)}).open_item(forged).__enter__()


@pytest.mark.parametrize("name", ["../a", "a/../../b", "/abs", "C:/x", "a\\b", ""])
def test_unsafe_names(name: str) -> None:
    assert unsafe_member_name(name)


def test_safe_names() -> None:
    assert not unsafe_member_name("folder/img_1_2_o.jpg")
    assert not unsafe_member_name("photo_12.json")


def test_broken_pieces_become_problems_not_crashes(tmp_path: Path) -> None:
    write_export(tmp_path, 3, parts=1, video_every=0)
    meta = next(p for p in tmp_path.glob("*_part1.zip"))
    with zipfile.ZipFile(meta, "a") as archive:
        archive.writestr(
            "photo_70000000000.json",
            json.dumps({"id": "70000000000", "name": "lost", "privacy": "public"}),
        )
        archive.writestr("photo_70000000001.json", "{not json")
    with zipfile.ZipFile(tmp_path / "data-download-2.zip", "w") as media:
        media.writestr("orphan_70000000001_o.jpg", make_jpeg(5, "2020-01-01 00:00:00"))
        media.writestr("nometa_70000000002_o.png", b"\x89PNG\r\n\x1a\n")
    (tmp_path / "junk.zip").write_bytes(b"this is not a zip")
    service = FlickrExportService("x", {"path": str(tmp_path)})
    items, report = listing(service)
    by_id = {i.instance_id: i for i in items}
    assert len(items) == 6
    assert any("junk.zip is not a readable zip" in w for w in report.warnings)
    lost = by_id["70000000000"]
    assert not lost.original_available and lost.observed.title == "lost"
    with pytest.raises(ItemUnavailable):
        service.open_item(lost).__enter__()
    garbled = by_id["70000000001"]
    assert garbled.original_available and any(
        "malformed photo_70000000001.json" in p for p in garbled.problems
    )
    assert garbled.visibility is not None and garbled.visibility.level is Visibility.PRIVATE
    nometa = by_id["70000000002"]
    assert nometa.problems and nometa.filename == "nometa.png"
    service.close()


def test_missing_path_and_settings(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        FlickrExportService("x", {})
    with pytest.raises(ConfigError):
        listing(FlickrExportService("x", {"path": str(tmp_path / "nope")}))
    with pytest.raises(ConfigError):
        listing(FlickrExportService("x", {"path": str(tmp_path)}))  # empty folder: no zips


def test_a_single_zip_path_works(tmp_path: Path) -> None:
    write_export(tmp_path, 2, parts=1)
    # a single combined zip: metadata and media in one archive
    combined = tmp_path / "all.zip"
    with zipfile.ZipFile(combined, "w") as out:
        for part in sorted(tmp_path.glob("*.zip")):
            if part == combined:
                continue
            with zipfile.ZipFile(part) as archive:
                for info in archive.infolist():
                    out.writestr(info.filename, archive.read(info))
    service = FlickrExportService("x", {"path": str(combined)})
    items, _ = listing(service)
    assert len(items) == 2
    with service.open_item(items[0]) as stream:
        assert stream.read(3) == b"\xff\xd8\xff"
    service.close()


def _dated_export(folder: Path, photos: dict[str, dict[str, object]]) -> None:
    """An export of undated PNGs whose photo_<id>.json hold the given date fields."""
    folder.mkdir(parents=True)
    with (
        zipfile.ZipFile(folder / "72157_part1.zip", "w") as meta,
        zipfile.ZipFile(folder / "data-download-1.zip", "w") as media,
    ):
        for n, (photo_id, dates) in enumerate(photos.items()):
            record = {"id": photo_id, "name": f"p{n}", "privacy": "private",
                      "date_imported": "2020-06-01 10:00:00", **dates}  # fmt: skip
            meta.writestr(f"photo_{photo_id}.json", json.dumps(record))
            png = b"\x89PNG\r\n\x1a\n" + bytes([n]) * 40
            media.writestr(f"p{n}_{photo_id}_o.png", png)


@pytest.mark.parametrize(
    ("dates", "taken", "label", "unknown"),
    [
        ({"date_taken": "2011-05-01 00:00:00", "date_taken_granularity": "4"},
         "2011-05-01", "(month)", False),
        ({"date_taken": "2011-01-01 00:00:00", "datetakengranularity": 6},
         "2011-01-01", "(year)", False),
        ({"date_taken": "2011-01-01 00:00:00", "date_taken_granularity": "8"},
         "2011-01-01", "(circa)", False),
        ({"date_taken": "2020-06-01 10:00:00", "date_taken_unknown": "1"},
         None, "(unknown)", True),
        ({"date_taken": "2011-05-17 10:15:00", "date_taken_granularity": "0"},
         "2011-05-17T10:15:00", "", False),
    ],
)  # fmt: skip
def test_export_keeps_the_date_granularity_flickr_states_like_the_api(
    tmp_path: Path, dates: dict[str, object], taken: str | None, label: str, unknown: bool
) -> None:
    """'Date unknown' is no date (not the upload time Flickr fills in) and 'May 2011' a
    month, labelled: the same rule as the API listing, only the source's name differs."""
    _dated_export(tmp_path / "export", {"70000000001": dates})
    service = FlickrExportService("x", {"path": str(tmp_path / "export")})
    (item,), _report = listing(service)
    service.close()
    assert (item.observed.taken_date, item.observed.taken_date_source, item.taken_unknown) == (
        taken,
        f"flickr-export:date_taken{label}",
        unknown,
    )
    api = observed_from_listing(
        {
            "datetaken": dates["date_taken"],
            "datetakengranularity": dates.get(
                "date_taken_granularity", dates.get("datetakengranularity")
            ),
            "datetakenunknown": dates.get("date_taken_unknown", "0"),
        }
    )
    assert api.taken_date == taken
    assert api.taken_date_source == f"flickr:datetaken{label}"


def test_discover_files_an_export_photo_of_unknown_date_as_undated(tmp_path: Path) -> None:
    _dated_export(
        tmp_path / "export",
        {
            "70000000001": {"date_taken": "2020-06-01 10:00:00", "date_taken_unknown": "1"},
            "70000000002": {"date_taken": "2011-05-01 00:00:00", "date_taken_granularity": "4"},
        },
    )
    archive = new_archive(
        tmp_path, flickr={"type": "flickr-export", "path": str(tmp_path / "export")}
    )
    archive.lock()
    assert discover(archive).new == 2
    dates = {
        r["instances"]["flickr"][0]["id"]: (  # type: ignore[index]
            r["metadata"]["taken_date"],  # type: ignore[index]
            r["metadata"]["taken_date_source"],  # type: ignore[index]
        )
        for r in records(archive.root)
    }
    assert dates == {
        "70000000001": (None, "flickr-export:date_taken(unknown)"),
        "70000000002": ("2011-05-01", "flickr-export:date_taken(month)"),
    }
    archive.close()
    assert_check_clean(archive.root)
