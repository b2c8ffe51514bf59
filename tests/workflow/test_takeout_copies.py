"""Takeout files that share one Google identity: every file's bytes are kept.

Real exports hold one photo in its year folder and in an album folder, and the two
files can differ (one re-encoded); two files can also name the same sidecar ``url``.
Identity groups them; it never decides whether bytes are stored.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from photosync.blobstore.local import LocalBlobStore
from photosync.emulators.samples import write_jpeg
from photosync.emulators.takeout import generate_takeout
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, new_archive, records

ROOT = "Takeout/Google Photos"


def _photo(tmp: Path, seed: int) -> bytes:
    taken = datetime(2021, 7, 1 + seed, 10, 0, 0)
    return write_jpeg(tmp / f"src{seed}.jpg", seed=seed, size=(800, 600), taken=taken).read_bytes()


def _reencoded(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").resize((400, 300)).save(out, "JPEG", quality=60)
    return out.getvalue()


def _sidecar(key: str, title: str, **more: Any) -> bytes:
    return json.dumps(
        {
            "title": title,
            "url": f"https://photos.google.com/photo/{key}",
            "photoTakenTime": {"timestamp": "1625133600"},
            **more,
        }
    ).encode()


def _takeout(tmp: Path, fmt: str) -> tuple[Path, dict[str, bytes]]:
    original, other = _photo(tmp, 1), _photo(tmp, 2)
    media = {
        # the worse copy comes first (year folder), the original in the album
        "Photos from 2021/IMG_0001.jpg": _reencoded(original),
        "Summer/IMG_0001.jpg": original,
        # two different pictures whose sidecars name one Google item
        "Photos from 2021/IMG_0002.jpg": other,
        "Photos from 2021/IMG_0003.jpg": _reencoded(_photo(tmp, 3)),
    }
    sidecars = {
        "Photos from 2021/IMG_0001.jpg.json": _sidecar("KEY1", "IMG_0001.jpg"),
        "Summer/IMG_0001.jpg.json": _sidecar("KEY1", "IMG_0001.jpg", archived=True),
        "Summer/metadata.json": json.dumps({"title": "Summer"}).encode(),
        "Photos from 2021/IMG_0002.jpg.json": _sidecar("KEY2", "IMG_0002.jpg"),
        "Photos from 2021/IMG_0003.jpg.json": _sidecar("KEY2", "IMG_0003.jpg"),
    }
    files = {f"{ROOT}/{name}": data for name, data in {**media, **sidecars}.items()}
    if fmt == "zip":
        part = tmp / "takeout-001.zip"
        with zipfile.ZipFile(part, "w") as archive:
            for name, data in files.items():
                archive.writestr(name, data)
    else:
        part = tmp / "unpacked"
        for name, data in files.items():
            (part / name).parent.mkdir(parents=True, exist_ok=True)
            (part / name).write_bytes(data)
    return part, media


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("fmt", ["zip", "folder"])
def test_every_file_of_one_google_item_is_stored_and_the_best_is_the_original(
    tmp_path: Path, fmt: str
) -> None:
    part, media = _takeout(tmp_path, fmt)
    archive = new_archive(
        tmp_path, google={"type": "google-takeout", "paths": [str(part)], "target": False}
    )
    archive.lock()
    report = discover(archive).services[0]
    assert report.failed == [] and report.adds_up()
    held: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for record in records(archive.root):
        for instance in record["instances"]["google"]:
            held.setdefault(instance["content_hash"], []).append((record["photo_id"], instance))
    store = LocalBlobStore(archive.root / "blobs")
    for name, data in media.items():  # every file read is a blob held by a record
        assert store.has(_sha(data)), name
        assert _sha(data) in held, name
    (key1,) = [i for _, i in held[_sha(media["Summer/IMG_0001.jpg"])]]
    assert key1["id"] == "KEY1"  # the full-size original, though the re-encode came first
    assert key1["extra"]["archived"] is True  # said by the album copy's sidecar only
    (worse,) = [i for _, i in held[_sha(media["Photos from 2021/IMG_0001.jpg"])]]
    assert worse["id"] == "KEY1#copy:Photos from 2021/IMG_0001.jpg"
    assert worse["extra"]["copy_of"] == "KEY1"
    key2 = {
        i["id"]
        for name in ("IMG_0002.jpg", "IMG_0003.jpg")
        for _, i in held[_sha(media[f"Photos from 2021/{name}"])]
    }
    assert key2 == {"KEY2", "KEY2#copy:Photos from 2021/IMG_0003.jpg"}

    again = discover(archive).services[0]  # nothing read twice, nothing new
    assert (again.new, again.updated, again.failed) == (0, 0, [])
    auto_resolve(archive)
    kept = {i["content_hash"] for r in records(archive.root) for i in r["instances"]["google"]}
    assert kept == {_sha(data) for data in media.values()}
    archive.close()
    assert_check_clean(archive.root)


def test_a_generated_takeout_with_a_differing_album_copy_keeps_both_files(
    tmp_path: Path,
) -> None:
    manifest = generate_takeout(
        tmp_path / "takeout", None, parts=2, seed=7, differing_album_copy=True
    )
    ((path, (copy_sha, item_sha)),) = manifest.differing_copies.items()
    archive = new_archive(
        tmp_path,
        google={
            "type": "google-takeout",
            "paths": [str(p) for p in manifest.parts],
            "target": False,
        },
    )
    archive.lock()
    report = discover(archive).services[0]
    assert report.failed == [] and report.adds_up()
    held = {
        i["content_hash"]: i["id"] for r in records(archive.root) for i in r["instances"]["google"]
    }
    store = LocalBlobStore(archive.root / "blobs")
    for sha in [*(item.sha256 for item in manifest.items), copy_sha]:
        assert store.has(f"sha256:{sha}") and f"sha256:{sha}" in held, sha
    key = manifest.by_sha()[item_sha].google_key
    assert held[f"sha256:{item_sha}"] == key  # the full-size file is the item's original
    assert held[f"sha256:{copy_sha}"] == f"{key}#copy:{path}"
    archive.close()
    assert_check_clean(archive.root)
