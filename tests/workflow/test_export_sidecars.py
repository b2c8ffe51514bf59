"""Sidecars the archive keeps (an XMP beside a folder photo, a Takeout JSON) go out
with ``photosync export`` beside their photo, named so tools find them, and
``restore`` brings a lost one back like an original (issue 13, part 1)."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photosync.workflow.export import sidecar_name
from tests.chaos.harness import run
from tests.helpers import assert_check_clean, make_library, new_archive, run_cli, write_xmp
from tests.workflow.test_takeout_dates import ROOT, _export


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _files(dest: Path) -> dict[str, bytes]:
    return {
        p.relative_to(dest).as_posix(): p.read_bytes()
        for p in sorted(dest.rglob("*"))
        if p.is_file() and ".photosync-export" not in p.parts
    }


def test_sidecar_names_follow_the_exported_photo() -> None:
    assert (
        sidecar_name("2021/01/IMG_1.jpg", "IMG_1.jpg.xmp", "IMG_1.jpg") == "2021/01/IMG_1.jpg.xmp"
    )
    assert sidecar_name("2021/01/IMG_1.jpg", "IMG_1.XMP", "IMG_1.jpg") == "2021/01/IMG_1.XMP"
    # the exported name (numbered, or another copy's) leads; the source's form is kept
    assert sidecar_name("a/IMG_1 (1).jpg", "img_1.xmp", "IMG_1.JPG") == "a/IMG_1 (1).xmp"
    assert sidecar_name("a/x.jpg", "x.jpg.supplemental-metadata.json", "x.jpg") == "a/x.jpg.json"
    assert sidecar_name("a/x.jpg", "x.jpg(1).json", "x(1).jpg") == "a/x.jpg.json"
    assert sidecar_name("a/x.jpg", "other.xmp", "x.jpg") == "a/x.jpg.xmp"


def test_export_writes_kept_sidecars_beside_their_photo_and_restore_brings_them_back(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    stem_form, full_form = make_library(lib, 2)
    write_xmp(stem_form.with_suffix(".xmp"), caption="Lightroom: 5 stars")
    write_xmp(Path(f"{full_form}.xmp"), caption="darktable: 3 stars")
    when = datetime(2021, 5, 5, 5, 5, 5, tzinfo=UTC)
    part = _export(
        tmp_path,
        {"nodate.jpg": (None, {"photoTakenTime": {"timestamp": str(int(when.timestamp()))}})},
    )
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(lib)},
        google={"type": "google-takeout", "paths": [str(part)]},
    )
    root = archive.root
    archive.close()
    _ok("--archive", str(root), "discover")

    dest = tmp_path / "out"
    report = json.loads(run(root, "export", str(dest), "--metadata", "none", "--json").stdout)
    assert report["sidecars"] == 3 and not report["failed"]
    out = _files(dest)
    by_name = {Path(rel).name: rel for rel in out}
    json_side = (part / ROOT / "nodate.jpg.json").read_bytes()
    assert out[by_name["nodate.jpg.json"]] == json_side
    assert by_name["nodate.jpg.json"] == by_name["nodate.jpg"] + ".json"
    lightroom = stem_form.with_suffix(".xmp")
    assert out[by_name[lightroom.name]] == lightroom.read_bytes()
    assert Path(by_name[lightroom.name]).parent == Path(by_name[stem_form.name]).parent
    assert out[by_name[full_form.name + ".xmp"]] == Path(f"{full_form}.xmp").read_bytes()
    # exported with photosync's own XMP: that takes IMG.jpg.xmp, the kept one IMG.xmp
    other = tmp_path / "with-xmp"
    run(root, "export", str(other), "--metadata", "xmp")
    written = _files(other)
    kept_rel = str(Path(by_name[full_form.name]).with_suffix(".xmp"))
    assert written[kept_rel] == Path(f"{full_form}.xmp").read_bytes()
    assert written[by_name[full_form.name] + ".xmp"] != written[kept_rel]
    # again: nothing new, nothing doubled
    again = json.loads(
        run(root, "export", str(dest), "--update", "--metadata", "none", "--json").stdout
    )
    assert again["written"] == [] and again["updated"] == [] and _files(dest) == out

    # a kept sidecar lost from the archive's store comes back with restore
    digest = hashlib.sha256(json_side).hexdigest()
    blob = root / "blobs" / "sha256" / digest[:2] / digest
    os.chmod(blob, stat.S_IRUSR | stat.S_IWUSR)
    blob.unlink()
    _ok("--archive", str(root), "storage", "add", "spare", "--type", "local",
        "--path", str(tmp_path / "spare"))  # fmt: skip
    blob_copy = tmp_path / "spare" / "sha256" / digest[:2] / digest
    blob_copy.parent.mkdir(parents=True)
    blob_copy.write_bytes(json_side)
    _ok("--archive", str(root), "restore")
    assert blob.read_bytes() == json_side
    assert_check_clean(root)


def test_update_with_photosyncs_xmp_over_a_kept_name_ext_xmp_writes_no_second_photo(
    tmp_path: Path,
) -> None:
    """A photo whose kept sidecar is ``IMG.jpg.xmp``: every ``--update`` (the metadata
    changed, or XMP asked for after ``--metadata none``) updates it in place, never
    writing ``IMG (1).jpg``."""
    lib = tmp_path / "lib"
    (photo,) = make_library(lib, 1)
    write_xmp(Path(f"{photo}.xmp"), caption="darktable: 3 stars")
    archive = new_archive(tmp_path, phone={"type": "local", "path": str(lib)})
    root = archive.root
    archive.close()
    _ok("--archive", str(root), "discover")
    for first in ("xmp", "none"):
        dest = tmp_path / f"out-{first}"
        run(root, "export", str(dest), "--metadata", first)
        for _ in range(2):
            update = json.loads(
                run(root, "export", str(dest), "--update", "--metadata", "xmp", "--json").stdout
            )
            assert update["written"] == [] and not update["failed"], update
            names = sorted(Path(rel).name for rel in _files(dest))
            assert names == sorted([photo.name, photo.name + ".xmp", photo.stem + ".xmp"]), names
    # both sidecar names taken (the kept one, a file of the user's): updated in place, said
    dest = tmp_path / "out-full"
    run(root, "export", str(dest), "--metadata", "none")
    (exported,) = (p for p in dest.rglob("*.jpg"))
    users = exported.with_suffix(".xmp")
    users.write_text("the user's own notes")
    update = json.loads(
        run(root, "export", str(dest), "--update", "--metadata", "xmp", "--json").stdout
    )
    assert update["written"] == [] and not update["failed"], update
    assert any("no free name for its XMP sidecar" in note for note in update["notes"])
    assert sorted(p.name for p in exported.parent.iterdir()) == sorted(
        [photo.name, photo.name + ".xmp", photo.stem + ".xmp"]
    )
    assert users.read_text() == "the user's own notes"
    assert_check_clean(root)
