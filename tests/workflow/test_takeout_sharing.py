"""Google sharing read from a Takeout (issue 13): a photo in an album shared by link or
with people, or saved from someone's share, shows in the visibility audit at the
widest level it may be seen at; photosync itself still pushes it at private."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.emulators.takeout import generate_takeout
from photosync.model import Visibility, pushable_level
from photosync.services.google.takeout import album_access, sharing_level
from tests.helpers import assert_check_clean, new_archive, records, run_cli


@pytest.mark.parametrize(
    ("meta", "access", "level"),
    [
        ({"title": "a", "access": "protected"}, "protected", Visibility.PUBLIC),
        ({"albumData": {"title": "a", "access": ""}}, "", Visibility.PRIVATE),
        ({"title": "a", "shared": True}, "shared", Visibility.FRIENDS),
        ({"title": "a", "access": "Private", "shared": True}, "shared", Visibility.FRIENDS),
        ({"title": "a", "access": "ANYONE_WITH_LINK"}, "anyone_with_link", Visibility.PUBLIC),
        ({"title": "a", "access": 7}, "unreadable", Visibility.PUBLIC),
    ],
)
def test_album_sharing_maps_to_the_widest_level_it_may_mean(
    meta: dict[str, object], access: str, level: Visibility
) -> None:
    assert album_access(meta) == access
    assert sharing_level({"a": access}) is level
    assert album_access({"title": "not shared"}) == ""
    assert sharing_level({}) is Visibility.PRIVATE
    # the widest share wins: the audit must see every way the photo can be seen
    assert sharing_level({"a": access, "b": "protected"}) is Visibility.PUBLIC


def test_a_photo_in_a_shared_album_shows_in_the_audit_and_is_pushed_private(
    tmp_path: Path,
) -> None:
    manifest = generate_takeout(tmp_path / "takeout", None, parts=1, seed=5)
    expected = {item.sha256: item.visibility for item in manifest.items}
    assert {"public", "friends", "private"} <= set(expected.values())
    archive = new_archive(
        tmp_path, **{"google-photos": {"type": "google-photos", "target": True, "source": False}}
    )
    root = archive.root
    archive.close()
    parts = [str(p) for p in manifest.parts]
    result = run_cli(
        "--archive", str(root), "discover", "--service", "google-photos", "--takeout", *parts
    )
    assert result.exit_code in (0, 4), result.output  # 4: the Takeout's own warnings
    audit = run_cli("--archive", str(root), "audit", "--visibility-check", "--json")
    assert audit.exit_code == 6, audit.output
    found = json.loads(audit.output)["discrepancies"]
    by_photo = {f["photo_id"]: f for f in found if f["service"] == "google-photos"}
    for record in records(root):
        level = expected[record["content_hash"][7:]]
        assert record["visibility"]["canonical"] == "private"
        # what photosync pushes: private, even were every approval trusted (there is none)
        assert pushable_level(record, trusted=lambda _p, _a: True) is Visibility.PRIVATE
        finding = by_photo.get(record["photo_id"])
        if level == "private":
            assert finding is None, record["metadata"]["filename"]
        else:
            assert finding is not None, record["metadata"]["filename"]
            assert finding["current"] == level and finding["wider"] is True
    shared = [r for r in records(root) if r["visibility"]["per_service"].get("google-photos")]
    (instance,) = next(
        r["instances"]["google-photos"]
        for r in shared
        if r["metadata"]["filename"] == "Café ☕ déjà vu.jpg"
    )
    assert instance["visibility"] == "friends"
    assert instance["visibility_raw"] == {"shared": {"Kraków ❤": "shared"}}

    # once photosync uploads it to the same Google account, the upload reads back
    # private: the copy in the shared album is still seen, and the audit still says so
    archive = Archive(root)
    archive.lock()
    record = next(r for r in records(root) if expected[r["content_hash"][7:]] == "public")
    record["visibility"]["per_service"]["google-photos"] = "private"
    archive.write_record(record)
    archive.commit("replicate: the uploaded copy reads back private")
    archive.close()
    audit = run_cli("--archive", str(root), "audit", "--visibility-check", "--json")
    assert audit.exit_code == 6, audit.output
    (finding,) = [
        f for f in json.loads(audit.output)["discrepancies"] if f["photo_id"] == record["photo_id"]
    ]
    assert finding["current"] == "public" and finding["wider"] is True
    assert_check_clean(root)


def _takeout(folder: Path, album_access: str | None) -> Path:
    """One unpacked Takeout holding the same photo, in an album with ``album_access``
    (``None``: in no album)."""
    from photosync.emulators.samples import write_jpeg

    google = folder / "Takeout" / "Google Photos"
    year = google / "Photos from 2021"
    year.mkdir(parents=True)
    sidecar = {"title": "IMG_1.jpg", "url": "https://photos.google.com/photo/KEY1"}
    write_jpeg(year / "IMG_1.jpg", seed=11, size=(64, 48))
    (year / "IMG_1.jpg.json").write_text(json.dumps(sidecar))
    if album_access is not None:
        album = google / "Trip"
        album.mkdir()
        write_jpeg(album / "IMG_1.jpg", seed=11, size=(64, 48))
        (album / "IMG_1.jpg.json").write_text(json.dumps(sidecar))
        meta = {"title": "Trip", "access": album_access}
        (album / "metadata.json").write_text(json.dumps(meta))
    return folder


@pytest.mark.parametrize("shared_first", [True, False])
def test_the_audit_shows_the_widest_sharing_any_takeout_showed(
    tmp_path: Path, shared_first: bool
) -> None:
    """The same photo in two Takeout exports, shared by link in one only: whichever was
    read last, the audit reports it public (fail closed); photosync pushes it private."""
    shared = _takeout(tmp_path / "export-shared", "protected")
    private = _takeout(tmp_path / "export-private", None)
    archive = new_archive(
        tmp_path, **{"google-photos": {"type": "google-photos", "target": True, "source": False}}
    )
    root = archive.root
    archive.close()
    for part in (shared, private) if shared_first else (private, shared):
        result = run_cli(
            "--archive", str(root), "discover", "--service", "google-photos", "--takeout", str(part)
        )
        assert result.exit_code in (0, 4), result.output
    (record,) = records(root)
    assert record["visibility"]["canonical"] == "private"
    assert pushable_level(record, trusted=lambda _p, _a: True) is Visibility.PRIVATE
    audit = run_cli("--archive", str(root), "audit", "--visibility-check", "--json")
    assert audit.exit_code == 6, audit.output
    (finding,) = [
        f for f in json.loads(audit.output)["discrepancies"] if f["service"] == "google-photos"
    ]
    assert finding["current"] == "public" and finding["wider"] is True
    assert_check_clean(root)
