"""TakeoutSource against generated multi-part Takeouts with every known quirk."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from photosync.emulators.takeout import TakeoutManifest, generate_takeout
from photosync.errors import PhotosyncError
from photosync.services.base import RemoteItem
from photosync.services.google.takeout import TakeoutError, TakeoutSource

from .conftest import digest_of, listing

CASES = [("zip", "en"), ("tgz", "de"), ("zip", "fr"), ("tgz", "pl")]


def check_against_manifest(
    source: TakeoutSource, items: list[RemoteItem], warnings: list[str], manifest: TakeoutManifest
) -> None:
    truth = manifest.by_sha()
    by_sha: dict[str, RemoteItem] = {}
    for item in items:
        digest = digest_of(source, item)
        assert digest not in by_sha, f"{item.filename} listed twice"
        by_sha[digest] = item
    # every photo listed exactly once, nothing extra
    assert set(by_sha) == set(truth)
    assert len(items) == len(manifest.items)
    id_of_sha = {sha: item.instance_id for sha, item in by_sha.items()}
    assert len(set(id_of_sha.values())) == len(items)
    matched = 0
    for sha, expected in truth.items():
        item = by_sha[sha]
        label = f"{expected.quirk}: {expected.filename}"
        assert item.filename == expected.filename, label
        assert item.size == expected.size, label
        assert item.media_type == expected.media_type, label
        if expected.google_key:
            matched += 1
            assert item.instance_id == expected.google_key, label
            assert item.extra["sidecar"] == expected.sidecar, label
            assert item.url == f"https://photos.google.com/photo/{expected.google_key}"
        assert item.observed.taken_date == expected.taken_date, label
        if expected.location is None:
            assert item.observed.location is None, label
        else:
            assert item.observed.location == pytest.approx(expected.location), label
        assert item.observed.caption == expected.caption, label
        assert item.extra["albums"] == expected.albums, label
        assert item.extra["people"] == expected.people, label
        assert item.extra["favorited"] is expected.favorited, label
        assert item.extra["archived"] is expected.archived, label
        assert item.extra["trashed"] is expected.trashed, label
        assert item.extra["locked"] is expected.locked, label
        assert item.extra["failed_video"] is expected.failed_video, label
        assert item.extra["do_not_replicate"] is (expected.trashed or expected.locked), label
        assert item.visibility is not None, label
        assert item.visibility.level.value == expected.visibility, label
        if expected.edit_of_sha256:
            parent = id_of_sha[expected.edit_of_sha256]
            assert item.extra["edit_of"] == parent, label
            assert item.instance_id in by_sha[expected.edit_of_sha256].extra["edits"]
        else:
            assert "edit_of" not in item.extra, label
        if expected.live_of_sha256:
            parent = id_of_sha[expected.live_of_sha256]
            assert item.extra["live_photo_of"] == parent, label
            assert item.instance_id in by_sha[expected.live_of_sha256].extra["live_photo_video"]
        else:
            assert "live_photo_of" not in item.extra, label
    # 100% of the sidecars that have media were matched
    assert matched == sum(1 for e in manifest.items if e.google_key)
    orphan_warnings = [w for w in warnings if w.startswith("sidecar with no media")]
    assert len(orphan_warnings) == len(manifest.orphan_sidecars)
    for orphan in manifest.orphan_sidecars:
        assert any(orphan in w for w in orphan_warnings)
    lonely = [w for w in warnings if w.startswith("media with no sidecar")]
    assert sorted(w.rpartition(": ")[2] for w in lonely) == sorted(manifest.media_without_sidecar)


@pytest.mark.parametrize(("fmt", "locale"), CASES)
def test_generated_takeout_imports_completely(tmp_path: Path, fmt: str, locale: str) -> None:
    manifest = generate_takeout(tmp_path / "out", None, parts=3, fmt=fmt, locale=locale, seed=7)
    assert len(manifest.parts) == 3
    assert manifest.split_across_parts, "the generator must split some pairs across parts"
    source = TakeoutSource.from_paths(manifest.parts)
    items, report = listing(source)
    check_against_manifest(source, items, report.warnings, manifest)


def test_localized_folders_really_differ(tmp_path: Path) -> None:
    de = generate_takeout(tmp_path / "de", None, parts=1, fmt="zip", locale="de", seed=1)
    with zipfile.ZipFile(de.parts[0]) as archive:
        names = archive.namelist()
    assert any(n.startswith("Takeout/Google Fotos/Papierkorb/") for n in names)
    assert any(n.endswith("/Metadaten.json") for n in names)
    assert any("-bearbeitet." in n for n in names)
    assert any(n.endswith(".supplemental-metad.json") for n in names)
    assert any(n.endswith(".supple.json") for n in names)
    assert any(n.endswith(".s.json") for n in names)
    assert any(n.endswith("reconstructed..json") for n in names)
    assert any(n.endswith(".j.json") for n in names)
    assert any(n.endswith("IMG_3479.JPG(1).json") for n in names)
    assert any(n.endswith(".supplemental-metadata(1).json") for n in names)
    assert any(n.endswith("Peanut Butter Balls.supplemental-metadata.json") for n in names)


def test_real_photos(tmp_path: Path, testdata: Path) -> None:
    photos = sorted(p for p in (testdata / "photos").rglob("*") if p.is_file())
    manifest = generate_takeout(tmp_path / "out", photos, parts=2, fmt="zip", locale="it", seed=3)
    source = TakeoutSource.from_paths(manifest.parts)
    items, report = listing(source)
    check_against_manifest(source, items, report.warnings, manifest)


def versions(source: TakeoutSource) -> dict[str, str]:
    return {item.instance_id: item.version for item in listing(source)[0]}


def test_reimport_is_stable_across_runs_formats_and_unpacking(tmp_path: Path) -> None:
    zipped = generate_takeout(tmp_path / "z", None, parts=3, fmt="zip", locale="en", seed=11)
    tarred = generate_takeout(tmp_path / "t", None, parts=2, fmt="tgz", locale="en", seed=11)
    first = versions(TakeoutSource.from_paths(zipped.parts))
    assert versions(TakeoutSource.from_paths(zipped.parts)) == first
    # the same export downloaded as .tgz in other part sizes: nothing changes
    assert versions(TakeoutSource.from_paths(tarred.parts)) == first
    # unpacked into a folder by the user
    unpacked = tmp_path / "unpacked"
    for part in zipped.parts:
        with zipfile.ZipFile(part) as archive:
            archive.extractall(unpacked)
    folder_source = TakeoutSource("google-photos", {"paths": [str(unpacked)]})
    assert versions(folder_source) == first
    items, _ = listing(folder_source)
    assert all(i.local_path is not None and i.local_path.is_file() for i in items)
    # the folder of downloaded parts works too
    assert versions(TakeoutSource.from_paths([tmp_path / "z"])) == first


def test_incremental_export_adds_only_new(tmp_path: Path) -> None:
    full = generate_takeout(tmp_path / "full", None, parts=2, seed=21, export_name="takeout-A")
    later = generate_takeout(tmp_path / "incr", None, parts=2, seed=22, export_name="takeout-B")
    before = versions(TakeoutSource.from_paths(full.parts))
    together = versions(TakeoutSource.from_paths(full.parts + later.parts))
    alone = versions(TakeoutSource.from_paths(later.parts))
    for instance_id, version in before.items():
        assert together[instance_id] == version
    assert set(together) - set(before) == set(alone)
    # files at the same path in two exports are different photos: none is lost
    assert len(together) == len(before) + len(alone)


def test_since_filters_by_upload_time(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    manifest = generate_takeout(tmp_path / "o", None, parts=1, seed=5)
    source = TakeoutSource.from_paths(manifest.parts)
    everything, _ = listing(source)
    cut = datetime(2020, 1, 1, tzinfo=UTC)
    report_items = list(source.list_items(since=cut, cursor=None, report=listing(source)[1]))
    assert 0 < len(report_items) < len(everything)
    assert all(i.modified_at is None or i.modified_at >= cut for i in report_items)


# -- hostile and broken input -----------------------------------------------------------------


def _zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def _sidecar(key: str, taken: int = 1600000000) -> bytes:
    return json.dumps(
        {
            "title": "x",
            "photoTakenTime": {"timestamp": str(taken), "formatted": "nonsense"},
            "url": f"https://photos.google.com/photo/{key}",
        }
    ).encode()


BASE = "Takeout/Google Photos/Photos from 2020/"


def test_zip_slip_entries_are_skipped(tmp_path: Path) -> None:
    part = _zip(
        tmp_path / "evil-001.zip",
        {
            BASE + "good.jpg": b"\xff\xd8good",
            BASE + "good.jpg.json": _sidecar("GOOD"),
            "../../escape.jpg": b"\xff\xd8bad1",
            "/etc/abs.jpg": b"\xff\xd8bad2",
            BASE + "../../../../up.jpg": b"\xff\xd8bad3",
            "C:/windows.jpg": b"\xff\xd8bad4",
        },
    )
    source = TakeoutSource.from_paths([part])
    items, report = listing(source)
    assert [i.instance_id for i in items] == ["GOOD"]
    assert sum("zip-slip" in w for w in report.warnings) == 4
    assert not (tmp_path.parent / "escape.jpg").exists()


def test_zip_bomb_and_oversized_entries_are_refused(tmp_path: Path) -> None:
    part = _zip(
        tmp_path / "bomb-001.zip",
        {
            BASE + "bomb.jpg": b"\0" * (16 * 1024 * 1024),
            BASE + "big.jpg": bytes(range(256)) * 64,
            BASE + "ok.jpg": b"\xff\xd8ok",
            BASE + "ok.jpg.json": _sidecar("OK"),
        },
    )
    source = TakeoutSource("g", {"paths": [str(part)], "max_entry_bytes": 10_000})
    items, report = listing(source)
    assert [i.instance_id for i in items] == ["OK"]
    assert any("zip bomb" in w and "bomb.jpg" in w for w in report.warnings)
    assert any("over the cap" in w and "big.jpg" in w for w in report.warnings)


def test_malformed_and_oversized_sidecars_are_reported_not_fatal(tmp_path: Path) -> None:
    part = _zip(
        tmp_path / "bad-001.zip",
        {
            BASE + "a.jpg": b"\xff\xd8a",
            BASE + "a.jpg.json": b"{not json",
            BASE + "b.jpg": b"\xff\xd8b",
            BASE + "b.jpg.json": b'{"title": "' + b"x" * 5000 + b'"}',
            BASE + "c.jpg": b"\xff\xd8c",
            BASE + "c.jpg.json": b"[" * 4000,
            BASE + "d.jpg": b"\xff\xd8d",
            BASE + "d.jpg.json": b'["a list"]',
            BASE + "e.jpg": b"\xff\xd8e",
            BASE + "e.jpg.json": json.dumps(
                {
                    "photoTakenTime": {"timestamp": "garbage"},
                    "geoData": {"latitude": "north", "longitude": 3},
                    "geoDataExif": {"latitude": 91.0, "longitude": 3},
                    "people": "nobody",
                    "url": 12,
                }
            ).encode(),
        },
    )
    source = TakeoutSource("g", {"paths": [str(part)], "max_sidecar_bytes": 4096})
    items, report = listing(source)
    by_name = {i.filename: i for i in items}
    assert sorted(by_name) == ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert "malformed JSON" in by_name["a.jpg"].problems[0]
    assert "oversized" in by_name["b.jpg"].problems[0]
    assert "malformed JSON" in by_name["c.jpg"].problems[0]
    assert "not a JSON object" in by_name["d.jpg"].problems[0]
    assert by_name["e.jpg"].problems == []
    assert by_name["e.jpg"].observed.taken_date is None
    assert by_name["e.jpg"].observed.location is None
    assert sum("sidecar" in w for w in report.warnings) >= 4
    for item in items:  # the bytes are still there
        assert digest_of(source, item)


@pytest.mark.parametrize("fmt", ["zip", "tgz"])
def test_truncated_or_fake_archives_fail_clearly(tmp_path: Path, fmt: str) -> None:
    manifest = generate_takeout(tmp_path / "o", None, parts=1, fmt=fmt, seed=2)
    part = manifest.parts[0]
    cut = tmp_path / f"cut-001.{'zip' if fmt == 'zip' else 'tgz'}"
    cut.write_bytes(part.read_bytes()[: part.stat().st_size // 2])
    with pytest.raises(TakeoutError, match=r"download this part again|not a readable"):
        listing(TakeoutSource.from_paths([cut]))
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"this is not an archive")
    with pytest.raises(PhotosyncError):
        listing(TakeoutSource.from_paths([fake]))
    with pytest.raises(TakeoutError, match="not found"):
        listing(TakeoutSource.from_paths([tmp_path / "missing.zip"]))
    with pytest.raises(TakeoutError):
        TakeoutSource("g", {"paths": []})


def test_tar_links_and_devices_are_skipped(tmp_path: Path) -> None:
    part = tmp_path / "links-001.tgz"
    with tarfile.open(part, "w:gz") as archive:
        for name, data in ((BASE + "ok.jpg", b"\xff\xd8ok"), (BASE + "ok.jpg.json", _sidecar("K"))):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo(BASE + "passwd.jpg")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        archive.addfile(link)
    items, report = listing(TakeoutSource.from_paths([part]))
    assert [i.instance_id for i in items] == ["K"]
    assert any("link" in w for w in report.warnings)


def test_open_item_streams_without_unpacking(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "o", None, parts=2, fmt="tgz", seed=4)
    source = TakeoutSource.from_paths(manifest.parts)
    items, _ = listing(source)
    before = sorted(p.name for p in tmp_path.rglob("*"))
    for item in items:
        with source.open_item(item) as stream:
            first = stream.read(7)
            rest = stream.read()
        assert len(first) + len(rest) == item.size
    assert sorted(p.name for p in tmp_path.rglob("*")) == before
    fresh = TakeoutSource.from_paths(manifest.parts)  # open_item without listing first
    assert digest_of(fresh, items[0]) == digest_of(source, items[0])


def test_trash_and_locked_are_kept_but_not_replicated(tmp_path: Path) -> None:
    manifest = generate_takeout(tmp_path / "o", None, parts=1, locale="es", seed=9)
    items, _ = listing(TakeoutSource.from_paths(manifest.parts))
    flagged = {i.filename: i for i in items if i.extra["do_not_replicate"]}
    assert sorted(flagged) == ["IMG_0301.jpg", "IMG_0302.jpg"]
    assert flagged["IMG_0302.jpg"].visibility is not None
    assert flagged["IMG_0302.jpg"].visibility.raw == "locked-folder"
    assert any("trash" in p for p in flagged["IMG_0301.jpg"].problems)


def test_product_folder_without_year_folders_is_found_by_structure(tmp_path: Path) -> None:
    part = _zip(
        tmp_path / "odd-001.zip",
        {
            "Takeout/YouTube и YouTube Music/videos/a.mp4": b"\0\0\0\x18ftypmp42" + b"1" * 50,
            "Takeout/YouTube и YouTube Music/videos/b.mp4": b"\0\0\0\x18ftypmp42" + b"2" * 50,
            "Takeout/YouTube и YouTube Music/videos/c.mp4": b"\0\0\0\x18ftypmp42" + b"3" * 50,
            "Takeout/Google Фото/Отпуск/IMG_1.jpg": b"\xff\xd8one",
            "Takeout/Google Фото/Отпуск/IMG_1.jpg.json": _sidecar("ONE"),
            "Takeout/Google Фото/Отпуск/метаданные.json": json.dumps(
                {"title": "Отпуск 2020"}
            ).encode(),
        },
    )
    items, report = listing(TakeoutSource.from_paths([part]))
    assert [(i.instance_id, i.extra["albums"]) for i in items] == [("ONE", ["Отпуск 2020"])]
    assert not any("no media" in w for w in report.warnings)


def _active_instances(root: Path) -> dict[str, list[str]]:
    """content hash -> ids of the google instances that are not superseded."""
    out: dict[str, list[str]] = {}
    for path in (root / "photos").rglob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        out[record["content_hash"]] = [
            i["id"] for i in record["instances"].get("google", []) if i["status"] != "superseded"
        ]
    return out


def test_a_part_missing_then_supplied_keeps_one_instance_per_photo(tmp_path: Path) -> None:
    """Part 1 alone lists files whose sidecars sit in other parts by path; the full export by id."""
    from photosync.workflow.discover import discover
    from tests.helpers import new_archive

    manifest = generate_takeout(tmp_path / "takeout", None, parts=3, seed=3)
    assert manifest.split_across_parts, "the generator must split some sidecars from their media"
    archive = new_archive(
        tmp_path, google={"type": "google-takeout", "paths": [str(manifest.parts[0])]}
    )
    archive.lock()
    first = discover(archive)
    partial = _active_instances(archive.root)
    # a copy without its sidecar in part 1 still joins a copy with one (album vs year folder)
    assert all(len(ids) == 1 for ids in partial.values()), [
        ids for ids in partial.values() if len(ids) != 1
    ]
    by_path = [h for h, ids in partial.items() if any(i.startswith("path:") for i in ids)]
    assert by_path, "some items of part 1 must lack their sidecar"
    services = archive.services()
    services["google"]["paths"] = [str(p) for p in manifest.parts]
    archive.save_services(services)
    archive.commit("config: the whole export")
    second = discover(archive)
    assert first.failed == 0 and second.failed == 0
    complete = _active_instances(archive.root)
    assert len(complete) == len(manifest.items)
    assert all(len(ids) == 1 for ids in complete.values()), [
        ids for ids in complete.values() if len(ids) != 1
    ]
    for digest in by_path:  # the path id was replaced by the Google id, and kept as history
        (active,) = complete[digest]
        if digest[7:] in manifest.split_across_parts:
            assert not active.startswith("path:"), active
    archive.close()
