"""What a Takeout sidecar states is kept beside what the file states (issue 13).

A date the user corrected in Google Photos becomes a question with both values;
a wall-clock EXIF time gets the offset the sidecar's UTC instant implies; both
of the sidecar's places are kept; a file name's date is used only when nothing
better is said.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photosync.emulators.samples import write_jpeg
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, new_archive, records

ROOT = "Takeout/Google Photos/Photos from 2021"


def _geo(lat: float, lng: float) -> dict[str, float]:
    return {"latitude": lat, "longitude": lng, "altitude": 0.0}


def _export(tmp: Path, photos: dict[str, tuple[datetime | None, dict[str, Any]]]) -> Path:
    """An unpacked Takeout: one JPEG (EXIF date or none) and its sidecar per entry."""
    part = tmp / "takeout"
    folder = part / ROOT
    folder.mkdir(parents=True)
    for seed, (name, (taken, sidecar)) in enumerate(sorted(photos.items())):
        write_jpeg(folder / name, seed=seed + 1, size=(64, 48), taken=taken)
        data = {"title": name, "url": f"https://photos.google.com/photo/KEY{seed}", **sidecar}
        (folder / f"{name}.json").write_text(json.dumps(data))
    return part


def _stamp(*args: int) -> dict[str, str]:
    return {"timestamp": str(int(datetime(*args, tzinfo=UTC).timestamp()))}  # type: ignore[misc]


def _by_name(archive_root: Path) -> dict[str, dict[str, Any]]:
    return {r["metadata"]["filename"]: r for r in records(archive_root)}


def test_google_dates_and_places_are_kept_and_an_edited_date_is_a_question(
    tmp_path: Path,
) -> None:
    part = _export(
        tmp_path,
        {
            # the user moved the date in Google Photos: EXIF 27 Jan, Google 25 Jan
            "edited.jpg": (
                datetime(2021, 1, 27, 19, 33, 39),
                {"photoTakenTime": _stamp(2021, 1, 25, 18, 33, 39)},
            ),
            # a phone before 2018: wall clock without offset; Google knows the instant
            "wallclock.jpg": (
                datetime(2021, 1, 27, 19, 33, 39),
                {
                    "photoTakenTime": _stamp(2021, 1, 27, 18, 33, 39),
                    "geoData": _geo(48.8584, 2.2945),
                    "geoDataExif": _geo(48.8584, 2.2945),
                },
            ),
            # the user moved the place in Google Photos (Paris -> Lyon)
            "moved.jpg": (
                datetime(2021, 3, 1, 12, 0, 0),
                {
                    "photoTakenTime": _stamp(2021, 3, 1, 11, 0, 0),
                    "geoData": _geo(45.764, 4.8357),
                    "geoDataExif": _geo(48.8584, 2.2945),
                },
            ),
            # no EXIF date: the sidecar is the only source
            "nodate.jpg": (None, {"photoTakenTime": _stamp(2021, 5, 5, 5, 5, 5)}),
        },
    )
    archive = new_archive(tmp_path, google={"type": "google-takeout", "paths": [str(part)]})
    archive.lock()
    report = discover(archive)
    assert report.failed == 0
    auto_resolve(archive)
    photos = _by_name(archive.root)

    edited = photos["edited.jpg"]
    (instance,) = edited["instances"]["google"]
    assert {
        "source": "google-takeout:photoTakenTime",
        "field": "taken_date",
        "value": "2021-01-25T18:33:39Z",
    } in instance["observed"]["sources"]
    (question,) = [c for c in edited["conflicts"] if c["id"] == "metadata_mismatch:taken_date"]
    assert question["status"] == "open"
    assert {o["value"] for o in question["options"]} == {
        "2021-01-27T19:33:39",
        "2021-01-25T18:33:39Z",
    }

    wall = photos["wallclock.jpg"]
    assert wall["metadata"]["taken_date"] == "2021-01-27T19:33:39+01:00"
    assert wall["metadata"]["taken_date_source"] == "exif:DateTimeOriginal"
    assert not [c for c in wall["conflicts"] if c["type"] == "metadata_mismatch"]

    moved = photos["moved.jpg"]
    (instance,) = moved["instances"]["google"]
    places = {
        e["source"]: e["value"] for e in instance["observed"]["sources"] if e["field"] == "location"
    }
    assert places["google-takeout:geoData"]["lat"] == 45.764
    assert places["google-takeout:geoDataExif"]["lat"] == 48.8584
    (question,) = [c for c in moved["conflicts"] if c["id"] == "metadata_mismatch:location"]
    assert len({(o["value"]["lat"], o["value"]["lng"]) for o in question["options"]}) == 2
    assert not [c for c in moved["conflicts"] if c["id"] == "metadata_mismatch:taken_date"]

    # the sidecar JSON itself is kept, byte for byte, as a blob the Google copy names
    (kept,) = instance["sidecars"]
    data = (part / ROOT / "moved.jpg.json").read_bytes()
    assert kept == {
        "name": "moved.jpg.json",
        "content_hash": "sha256:" + hashlib.sha256(data).hexdigest(),
        "size": len(data),
    }
    digest = kept["content_hash"][7:]
    assert (archive.root / "blobs" / "sha256" / digest[:2] / digest).read_bytes() == data

    nodate = photos["nodate.jpg"]
    assert nodate["metadata"]["taken_date"] == "2021-05-05T05:05:05Z"
    assert nodate["metadata"]["taken_date_source"] == "google-takeout:photoTakenTime"
    archive.close()
    assert_check_clean(archive.root)


def test_a_file_name_date_is_used_when_the_file_has_none_before_its_mtime(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    write_jpeg(lib / "IMG_20210127_193339.jpg", seed=1, size=(64, 48))
    write_jpeg(lib / "IMG-20190101-WA0001.jpg", seed=2, size=(64, 48))
    write_jpeg(lib / "2014-04-04 09.12.11.jpg", seed=3, size=(64, 48))
    write_jpeg(lib / "Screenshot_2020-05-01-12-34-56.png", seed=4, size=(64, 48))
    # an embedded date beats the name
    write_jpeg(
        lib / "PXL_20210127_193339123.jpg",
        seed=5,
        size=(64, 48),
        taken=datetime(2020, 2, 2, 2, 2, 2),
    )
    write_jpeg(lib / "holiday.jpg", seed=6, size=(64, 48))
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(lib)})
    archive.lock()
    discover(archive)
    dates = {
        name: (r["metadata"]["taken_date"], r["metadata"]["taken_date_source"])
        for name, r in _by_name(archive.root).items()
    }
    assert dates["IMG_20210127_193339.jpg"] == ("2021-01-27T19:33:39", "filename")
    assert dates["IMG-20190101-WA0001.jpg"] == ("2019-01-01", "filename")
    assert dates["2014-04-04 09.12.11.jpg"] == ("2014-04-04T09:12:11", "filename")
    assert dates["Screenshot_2020-05-01-12-34-56.png"] == ("2020-05-01T12:34:56", "filename")
    assert dates["PXL_20210127_193339123.jpg"] == ("2020-02-02T02:02:02", "exif:DateTimeOriginal")
    assert dates["holiday.jpg"][1] == "file:mtime"
    archive.close()
    assert_check_clean(archive.root)


def test_prefer_settles_a_mismatch_by_the_source_the_user_named(tmp_path: Path) -> None:
    """`prefer: {"taken_date": ["google-photos"]}`: a date edited in Google Photos wins
    over the file's EXIF without a question; the decision names the rule. A preference
    that names no option leaves the question open."""
    part = _export(
        tmp_path,
        {
            "edited.jpg": (
                datetime(2021, 1, 27, 19, 33, 39),
                {"photoTakenTime": _stamp(2021, 1, 25, 18, 33, 39)},
            ),
            "moved.jpg": (
                datetime(2021, 3, 1, 12, 0, 0),
                {
                    "photoTakenTime": _stamp(2021, 3, 1, 11, 0, 0),
                    "geoData": _geo(45.764, 4.8357),
                    "geoDataExif": _geo(48.8584, 2.2945),
                },
            ),
        },
    )
    archive = new_archive(
        tmp_path, **{"google-photos": {"type": "google-takeout", "paths": [str(part)]}}
    )
    prefs = archive.preferences()
    prefs["prefer"] = {"taken_date": ["google-photos"], "location": ["flickr"]}
    archive.save_preferences(prefs)
    archive.commit("config: prefer Google's dates")
    archive.lock()
    assert discover(archive).failed == 0
    report = auto_resolve(archive)
    photos = _by_name(archive.root)
    edited = photos["edited.jpg"]
    (decided,) = [c for c in edited["conflicts"] if c["id"] == "metadata_mismatch:taken_date"]
    assert decided["status"] == "resolved"
    assert decided["resolution"]["rule"] == "prefer: google-photos"
    assert decided["resolution"]["choice"] == "google-photos:google-takeout:photoTakenTime"
    assert edited["metadata"]["taken_date"] == "2021-01-25T18:33:39Z"
    assert edited["metadata"]["taken_date_source"] == "google-takeout:photoTakenTime"
    assert edited["processing_state"] == "resolved"
    assert any(
        "prefer: google-photos" in what and name == "edited.jpg"
        for _p, name, what in report.decisions
    )
    # no flickr copy states a place: the place question stays for a human
    moved = photos["moved.jpg"]
    (place,) = [c for c in moved["conflicts"] if c["id"] == "metadata_mismatch:location"]
    assert place["status"] == "open"
    # resolving again changes nothing: the rule's decision is kept as it was
    head = archive.git.run("rev-parse", "HEAD").strip()
    auto_resolve(archive)
    assert archive.git.run("rev-parse", "HEAD").strip() == head
    assert _by_name(archive.root)["edited.jpg"] == edited
    archive.close()
    assert_check_clean(archive.root)


def test_what_else_google_knew_is_kept_on_the_google_copy(tmp_path: Path) -> None:
    """People, favourite, origin and app are observations of the Google copy, each
    labelled with the sidecar field that said it (the view count stays in the kept
    sidecar blob: it changes with every look)."""
    origin = {"mobileUpload": {"deviceFolder": {"localFolderName": "WhatsApp Images"}}}
    part = _export(
        tmp_path,
        {
            "IMG-20190101-WA0001.jpg": (
                None,
                {
                    "photoTakenTime": _stamp(2019, 1, 1, 10, 0, 0),
                    "description": "New year",
                    "people": [{"name": "Ada"}, {"name": "Grace"}],
                    "favorited": True,
                    "googlePhotosOrigin": origin,
                    "appSource": {"androidPackageName": "com.whatsapp"},
                    "imageViews": "17",
                },
            ),
            "plain.jpg": (None, {"photoTakenTime": _stamp(2019, 1, 2, 10, 0, 0)}),
        },
    )
    archive = new_archive(tmp_path, google={"type": "google-takeout", "paths": [str(part)]})
    archive.lock()
    assert discover(archive).failed == 0
    photos = _by_name(archive.root)
    (instance,) = photos["IMG-20190101-WA0001.jpg"]["instances"]["google"]
    said = {e["field"]: (e["source"], e["value"]) for e in instance["observed"]["sources"]}
    assert said["people"] == ("google-takeout:people", ["Ada", "Grace"])
    assert said["favorite"] == ("google-takeout:favorited", True)
    assert said["origin"] == ("google-takeout:googlePhotosOrigin", origin)
    assert said["app"] == ("google-takeout:appSource", "com.whatsapp")
    assert said["caption"] == ("google-takeout:description", "New year")
    assert "views" not in said
    (plain,) = photos["plain.jpg"]["instances"]["google"]
    assert {e["field"] for e in plain["observed"]["sources"]} == {"taken_date"}
    # nothing of this is a question: only dates, places and captions are compared
    auto_resolve(archive)
    assert not [
        c for r in records(archive.root) for c in r["conflicts"] if c["type"] == "metadata_mismatch"
    ]
    archive.close()
    assert_check_clean(archive.root)
