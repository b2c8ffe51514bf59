"""Red-team regressions of "every fact a photo carries is kept" (issue 13).

Each test runs photosync as a user does (``python -m photosync`` on real camera
files) and names the hole it closes: a file, a sidecar or a stated value that
was dropped without a word.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import assert_check_clean, records, write_xmp


def photosync(archive: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PHOTOSYNC_NO_PROMPT": "1"},
        stdin=subprocess.DEVNULL,
    )


def discover_folder(
    tmp_path: Path, folder: Path, *service_args: str, code: int = 0
) -> dict[str, Any]:
    """A new archive with ``folder`` as service ``phone``; discover's --json report of it."""
    archive = tmp_path / "archive"
    assert photosync(archive, "init", str(archive)).returncode == 0
    added = photosync(
        archive, "service", "add", "phone", "--type", "local", "--path", str(folder), *service_args
    )
    assert added.returncode == 0, added.stderr
    found = photosync(archive, "discover", "--json")
    assert found.returncode == code, found.stdout + found.stderr
    report: dict[str, Any] = json.loads(found.stdout)["services"][0]
    return report


@pytest.fixture
def camera(testdata: Path) -> Path:
    return testdata / "photos" / "camera"


def test_hidden_files_and_folders_are_named_not_skipped_in_silence(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: a file or folder whose name starts with a dot (an Android `.trashed-...jpg`,
    a `.thumbnails/` folder) was skipped without a word: neither archived nor named."""
    lib = tmp_path / "lib"
    (lib / ".trash").mkdir(parents=True)
    shutil.copy(camera / "Canon_40D.jpg", lib / "IMG_1.jpg")
    shutil.copy(camera / "Nikon_D70.jpg", lib / ".trashed-1700000000-IMG_2.jpg")
    shutil.copy(camera / "Pentax_K10D.jpg", lib / ".trash" / "IMG_3.jpg")

    report = discover_folder(tmp_path, lib)

    assert report["new"] == 1
    named = {line.split(": ", 1)[0] for line in report["left_out"]}
    assert named == {".trashed-1700000000-IMG_2.jpg", ".trash/"}
    archive = tmp_path / "archive"
    status = json.loads(photosync(archive, "status", "--json").stdout)
    assert len(status["left_out"]["phone"]["left_out"]) == 2
    assert_check_clean(archive)


def test_an_include_pattern_archives_a_hidden_photo(tmp_path: Path, camera: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(camera / "Nikon_D70.jpg", lib / ".IMG_2.jpg")

    report = discover_folder(tmp_path, lib, "--include", ".*.jpg")

    assert (report["new"], report["left_out"]) == (1, [])
    assert [r["metadata"]["filename"] for r in records(tmp_path / "archive")] == [".IMG_2.jpg"]
    assert_check_clean(tmp_path / "archive")


def test_two_sidecars_whose_names_differ_only_in_case_are_both_kept(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: on a case-sensitive disk `IMG_1.jpg.xmp` and `IMG_1.JPG.xmp` (two tools'
    spellings) are two files; the listing keyed them by lower-cased name, so one was
    neither kept nor named."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(camera / "Canon_40D.jpg", lib / "IMG_1.jpg")
    write_xmp(lib / "IMG_1.JPG.xmp", caption="from darktable")
    write_xmp(lib / "IMG_1.jpg.xmp", caption="from digiKam")

    report = discover_folder(tmp_path, lib)

    assert report["left_out"] == []
    (record,) = records(tmp_path / "archive")
    (instance,) = record["instances"]["phone"]
    kept = {s["name"]: s["content_hash"] for s in instance["sidecars"]}
    assert set(kept) == {"IMG_1.JPG.xmp", "IMG_1.jpg.xmp"}
    assert len(set(kept.values())) == 2
    assert_check_clean(tmp_path / "archive")


def test_a_sidecar_date_place_and_caption_against_the_files_own_are_kept_and_asked(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: the camera's EXIF date and place beat an XMP sidecar's in silence (a capture
    time fixed in Lightroom, a place set in digiKam), and the sidecar's caption replaced
    the file's own: the losing values were in no record and no question asked about them."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(camera / "Sony DSC-HX5V (2).jpg", lib / "IMG_1.jpg")  # EXIF date, GPS
    write_xmp(
        lib / "IMG_1.jpg.xmp", date="2015-06-01T10:00:00", gps="48,51.5N;2,21.0E", caption="Paris"
    )  # the file states no caption: the sidecar's is no question
    shutil.copy(camera.parent / "xmp" / "no_exif.jpg", lib / "IMG_2.jpg")  # an XMP caption
    write_xmp(lib / "IMG_2.xmp", caption="Goalie at the lake")
    archive = tmp_path / "archive"
    discover_folder(tmp_path, lib)

    first, second = records(archive)  # filed by date: 2010, then 2013
    captions = {
        s["source"]: s["value"]
        for s in second["instances"]["phone"][0]["observed"]["sources"]
        if s["field"] == "caption"
    }
    assert captions == {"file": "Der Goalie bin ig", "sidecar": "Goalie at the lake"}
    record = first
    observed = record["instances"]["phone"][0]["observed"]
    stated = {(s["source"], s["field"]): s["value"] for s in observed["sources"]}
    assert stated[("exif:DateTimeOriginal", "taken_date")].startswith("2010-05-15T17:12:05")
    assert stated[("sidecar:DateTimeOriginal", "taken_date")] == "2015-06-01T10:00:00"
    assert stated[("sidecar", "location")] == {"lat": 48.8583333, "lng": 2.35}
    assert round(stated[("file", "location")]["lat"], 3) == 51.779
    assert set(observed["disagree"]) == {"taken_date", "location"}

    assert photosync(archive, "resolve", "--auto-resolve", "simple").returncode == 0
    asked = {
        c["field"]: {o["source"] for o in c["options"]}
        for r in records(archive)
        for c in r["conflicts"]
    }
    assert asked == {
        "taken_date": {"phone:exif:DateTimeOriginal", "phone:sidecar:DateTimeOriginal"},
        "location": {"phone:file", "phone:sidecar"},
        "caption": {"phone:file", "phone:sidecar"},
    }
    assert_check_clean(archive)


def test_a_sidecar_that_agrees_with_the_file_asks_nothing(tmp_path: Path, testdata: Path) -> None:
    """The other side of the rule: an exported sidecar (same date, same place in XMP's
    degrees-and-minutes form, a blank caption) is no question."""
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("DSCN0010.jpg", "DSCN0010.xmp"):
        shutil.copy(testdata / "photos" / "gps" / name, lib / name)
    archive = tmp_path / "archive"
    discover_folder(tmp_path, lib)
    assert photosync(archive, "resolve", "--auto-resolve", "simple").returncode == 0
    (record,) = records(archive)
    assert record["conflicts"] == []
    assert "disagree" not in record["instances"]["phone"][0]["observed"]
    assert_check_clean(archive)


def test_a_takeout_date_before_1970_is_kept(tmp_path: Path, testdata: Path) -> None:
    """Hole: Google states a date before 1970 (a scan dated 1965 in Google Photos) as a
    negative photoTakenTime; it was read as "no date", and the photo was filed by its
    upload time, labelled an estimate. Year 1 (a placeholder) still says nothing."""
    year = tmp_path / "Takeout" / "Google Photos" / "Photos from 1965"
    year.mkdir(parents=True)
    shutil.copy(testdata / "photos" / "png_webp" / "hopper.png", year / "scan_001.png")
    shutil.copy(testdata / "photos" / "camera" / "Nikon_D70.jpg", year / "scan_002.jpg")
    for name, taken, key in (
        ("scan_001.png", "-141523200", "AF1QipAAA"),  # 1965-07-08
        ("scan_002.jpg", "-62135596800", "AF1QipBBB"),  # 0001-01-01
    ):
        (year / f"{name}.supplemental-metadata.json").write_text(
            json.dumps(
                {
                    "title": name,
                    "photoTakenTime": {"timestamp": taken},
                    "creationTime": {"timestamp": "1600000000"},
                    "url": f"https://photos.google.com/photo/{key}",
                }
            )
        )
    archive = tmp_path / "archive"
    assert photosync(archive, "init", str(archive)).returncode == 0
    added = photosync(archive, "service", "add", "gp", "--type", "google-photos", "--no-source")
    assert added.returncode == 0, added.stderr
    found = photosync(
        archive, "discover", "--service", "gp", "--takeout", str(tmp_path / "Takeout")
    )
    assert found.returncode == 0, found.stdout + found.stderr

    dates = {r["metadata"]["filename"]: r["metadata"] for r in records(archive)}
    assert dates["scan_001.png"]["taken_date"] == "1965-07-08T00:00:00Z"
    assert dates["scan_001.png"]["taken_date_source"] == "google-takeout:photoTakenTime"
    assert dates["scan_002.jpg"]["taken_date_source"] == "exif:DateTimeOriginal"
    placeholder = next(r for r in records(archive) if r["metadata"]["filename"] == "scan_002.jpg")
    stated = placeholder["instances"]["gp"][0]["observed"].get("sources", [])
    assert not any(s["source"] == "google-takeout:photoTakenTime" for s in stated)
    assert_check_clean(archive)


def discover_flickr_export(tmp_path: Path, photos: list[tuple[dict[str, Any], Path, str]]) -> Path:
    """A Flickr "Download your data" export of (photo JSON, original, title) discovered
    into a new archive as service ``fx``; the archive."""
    export = tmp_path / "flickr-export"
    export.mkdir(exist_ok=True)
    with (
        zipfile.ZipFile(export / "72157_account.zip", "w") as meta,
        zipfile.ZipFile(export / "data-download-1.zip", "w") as media,
    ):
        for photo, original, stem in photos:
            meta.writestr(f"photo_{photo['id']}.json", json.dumps(photo).encode())
            media.write(original, f"{stem}_{photo['id']}_o{original.suffix.lower()}")
    archive = tmp_path / "archive"
    assert photosync(archive, "init", str(archive)).returncode == 0
    added = photosync(
        archive, "service", "add", "fx", "--type", "flickr-export", "--path", str(export)
    )
    assert added.returncode == 0, added.stderr
    found = photosync(archive, "discover", "--service", "fx")
    assert found.returncode == 0, found.stdout + found.stderr
    return archive


def test_a_flickr_export_json_is_kept_as_a_sidecar_and_exported_beside_its_photo(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: a Flickr "Download your data" photo_<id>.json (comments, notes, counts, EXIF
    as Flickr read it: more than the record maps) was read and thrown away: no blob, no
    sidecar on the copy, nothing exported beside the photo."""
    photo = {
        "id": "52345678901",
        "name": "Harbour",
        "description": "",
        "date_taken": "2008-05-30 15:56:01",
        "date_imported": "2019-01-02 03:04:05",
        "privacy": "private",
        "tags": [{"tag": "boats"}],
        "comments": [{"user": "12@N01", "comment": "Lovely light!"}],
        "count_faves": "3",
    }
    meta_bytes = json.dumps(photo).encode()
    archive = discover_flickr_export(tmp_path, [(photo, camera / "Canon_40D.jpg", "harbour")])

    (record,) = records(archive)
    (instance,) = record["instances"]["fx"]
    (sidecar,) = instance["sidecars"]
    assert sidecar["name"] == "photo_52345678901.json"
    digest = sidecar["content_hash"].removeprefix("sha256:")
    assert (archive / "blobs" / "sha256" / digest[:2] / digest).read_bytes() == meta_bytes

    out = tmp_path / "out"
    exported = photosync(archive, "export", str(out), "--metadata", "none")
    assert exported.returncode == 0, exported.stdout + exported.stderr
    assert (out / "2008" / "05" / "harbour.jpg.json").read_bytes() == meta_bytes
    assert_check_clean(archive)


def test_a_photo_named_like_a_sidecar_is_archived_by_its_content(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: a JPEG whose extension lies (`scan.xmp`, no photo of its name beside it) was
    left out as "an XMP sidecar with no photo", though photos are recognised by content;
    a real orphan sidecar is still named."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(camera / "Canon_40D.jpg", lib / "scan.xmp")
    write_xmp(lib / "orphan.xmp", caption="no photo here")

    report = discover_folder(tmp_path, lib)

    assert [line.split(": ", 1)[0] for line in report["left_out"]] == ["orphan.xmp"]
    (record,) = records(tmp_path / "archive")
    (instance,) = record["instances"]["phone"]
    assert (instance["id"], record["media"]["format"]) == ("scan.xmp", "jpeg")
    assert "sidecars" not in instance
    assert_check_clean(tmp_path / "archive")


FAR_FUTURE_NS = 400_000_000_000 * 10**9  # year 14645: no Python date holds it


def _far_future_folder(tmp_path: Path) -> Path:
    """A folder on a disk that keeps a modification time past year 9999 (tmpfs, XFS,
    btrfs do; ext4 stops at 2446)."""
    for parent in (tmp_path, Path("/dev/shm")):
        if not parent.is_dir():
            continue
        probe = Path(tempfile.mkdtemp(dir=parent))
        (probe / "probe").write_bytes(b"")
        try:
            os.utime(probe / "probe", ns=(0, FAR_FUTURE_NS))
            if (probe / "probe").stat().st_mtime_ns == FAR_FUTURE_NS:
                return probe
        except OSError:
            pass
        shutil.rmtree(probe)
    pytest.skip("no disk here keeps a modification time past year 9999")


def test_a_file_time_past_year_9999_leaves_the_photo_undated_not_the_run_crashed(
    tmp_path: Path, testdata: Path
) -> None:
    """Hole: a file whose modification time no date can hold (a camera clock gone wild,
    kept by tmpfs/XFS/btrfs) stopped discover with a traceback (exit 1): no file of the
    folder was archived."""
    lib = _far_future_folder(tmp_path)
    try:
        shutil.copy(testdata / "photos" / "png_webp" / "hopper.png", lib / "far.png")
        os.utime(lib / "far.png", ns=(0, FAR_FUTURE_NS))
        shutil.copy(testdata / "photos" / "camera" / "Canon_40D.jpg", lib / "IMG_1.jpg")
        report = discover_folder(tmp_path, lib)
    finally:
        if lib.parent != tmp_path:
            shutil.rmtree(lib)
    assert report["new"] == 2 and report["failed"] == []
    dates = {
        r["metadata"]["filename"]: r["metadata"]["taken_date"]
        for r in records(tmp_path / "archive")
    }
    assert dates == {"far.png": None, "IMG_1.jpg": "2008-05-30T15:56:01"}
    assert_check_clean(tmp_path / "archive")


def test_a_fifo_under_a_sidecar_name_is_named_not_skipped_in_silence(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: a FIFO, device or socket was warned about only under a photo's name; under a
    sidecar's (`IMG_1.jpg.xmp`) or any other name it was skipped without a word."""
    lib = tmp_path / "lib"
    lib.mkdir()
    shutil.copy(camera / "Canon_40D.jpg", lib / "IMG_1.jpg")
    os.mkfifo(lib / "IMG_1.jpg.xmp")
    os.mkfifo(lib / "notes.txt")

    report = discover_folder(tmp_path, lib, code=4)  # warnings: exit 4, as for a photo's name

    assert report["new"] == 1
    warned = " ".join(report["warnings"])
    assert "IMG_1.jpg.xmp: not a regular file" in warned and "notes.txt: not a regular" in warned
    assert_check_clean(tmp_path / "archive")


def test_flickrs_place_and_description_against_the_files_own_are_kept_and_asked(
    tmp_path: Path, camera: Path
) -> None:
    """Hole: where Flickr's description or place and the file's own differ (edited on
    Flickr), Flickr's silently replaced the file's caption and place (and the file's date
    Flickr's), with no source kept and no question; a service with no sources of its own
    kept only the winner."""
    base = {"date_imported": "2019-01-02 03:04:05", "privacy": "private"}
    photos = [
        (  # EXIF: 2010-05-15 17:12:05, GPS near Paderborn; Flickr: the same time, Paris
            {
                **base,
                "id": "1001",
                "name": "Lake",
                "date_taken": "2010-05-15 17:12:05",
                "geo": {"latitude": "48858300", "longitude": "2350000"},
            },
            camera / "Sony DSC-HX5V (2).jpg",
            "lake",
        ),
        (  # XMP caption "Der Goalie bin ig"; Flickr: another description, a later date
            {
                **base,
                "id": "1002",
                "name": "Goalie",
                "description": "Our goalie",
                "date_taken": "2014-01-01 10:00:00",
            },
            camera.parent / "xmp" / "no_exif.jpg",
            "goalie",
        ),
    ]
    archive = discover_flickr_export(tmp_path, photos)
    assert photosync(archive, "resolve", "--auto-resolve", "simple").returncode == 0
    asked = {
        (r["instances"]["fx"][0]["id"], c["field"]): {o["source"] for o in c["options"]}
        for r in records(archive)
        for c in r["conflicts"]
    }
    assert asked == {
        ("1001", "location"): {"fx:flickr-export:location", "fx:file"},
        ("1002", "caption"): {"fx:flickr-export:description", "fx:file"},
        ("1002", "taken_date"): {"fx:flickr-export:date_taken", "fx:xmp:CreateDate"},
    }
    assert_check_clean(archive)
