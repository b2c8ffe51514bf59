"""The archive hands the workflow typed records (``Archive.load_photo``/``iter_photos``/
``write_photo``, through ``model.codec``): a record read and written back unchanged is
the same bytes and no change to git; a change made on the typed record is written."""

from __future__ import annotations

import json
from pathlib import Path

from photosync.workflow.discover import discover
from tests.helpers import assert_check_clean, make_library, new_archive


def test_a_typed_record_is_written_back_as_it_was_read(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    discover(archive)
    files = {p: p.read_bytes() for p in sorted((archive.root / "photos").rglob("*.json"))}
    photos = list(archive.iter_photos())
    assert len(photos) == len(files) == 3
    for photo in photos:
        assert not archive.write_photo(photo)  # unchanged: nothing written
        assert archive.load_photo(photo.photo_id) == photo
    assert {p: p.read_bytes() for p in files} == files
    photo = photos[0]
    path = archive.record_path(photo.photo_id)
    assert path is not None
    before = json.loads(path.read_bytes())
    photo.metadata.caption = "at the lake"
    assert archive.write_photo(photo)
    after = json.loads(path.read_bytes())
    assert after["metadata"] == {**before["metadata"], "caption": "at the lake"}
    assert after["updated_at"] == photo.updated_at
    assert {k: v for k, v in after.items() if k not in ("metadata", "updated_at")} == {
        k: v for k, v in before.items() if k not in ("metadata", "updated_at")
    }
    archive.commit("test: a caption")
    assert_check_clean(archive.root)
