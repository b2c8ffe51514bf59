"""Issue 14 part 3, ``photosync export DEST``, and its drills.

The CLI runs as a subprocess on real archives; the real photos of
../shared/testdata go out with ``--metadata xmp`` and ``embed`` and exiftool
reads back the date, GPS and caption of every exported file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from defusedxml.ElementTree import fromstring
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.archive import Archive
from photosync.emulators.samples import write_jpeg
from photosync.metadata.xmp import DC, EXIF_NS, RDF, parse_xmp_packet, xmp_gps
from photosync.metadata.xmpwrite import MetadataOut, xmp_packet
from photosync.workflow.export import (
    FORMATS,
    MAX_COMPONENT_BYTES,
    STATE_DIR,
    XmpSidecar,
    export_library,
    numbered,
    render,
    safe_component,
)
from tests.chaos.harness import git, run, run_and_kill
from tests.helpers import assert_check_clean, make_library, records, run_cli
from tests.workflow.test_identity_resolution import _photo, _reencode

EXIFTOOL = shutil.which("exiftool")
needs_exiftool = pytest.mark.skipif(
    EXIFTOOL is None, reason="exiftool is not installed (CI: libimage-exiftool-perl)"
)


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _archive(tmp_path: Path, *folders: tuple[str, Path]) -> Path:
    root = tmp_path / "archive"
    _ok("init", str(root))
    for name, folder in folders:
        _ok("--archive", str(root), "service", "add", name, "--type", "local",
            "--path", str(folder))  # fmt: skip
    _ok("--archive", str(root), "discover")
    return root


def _files(dest: Path) -> dict[str, bytes]:
    """Every file in DEST but photosync's own state, by relative path."""
    return {
        str(p.relative_to(dest)): p.read_bytes()
        for p in sorted(dest.rglob("*"))
        if p.is_file() and STATE_DIR not in p.parts
    }


def _photos_out(dest: Path) -> dict[str, bytes]:
    return {k: v for k, v in _files(dest).items() if not k.endswith(".xmp")}


def _exif(*paths: Path) -> list[dict[str, Any]]:
    assert EXIFTOOL is not None
    out = subprocess.run(
        [EXIFTOOL, "-j", "-n", "-G1", *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
    )
    result: list[dict[str, Any]] = json.loads(out.stdout)
    return result


_STAMP = re.compile(
    r"^(\d{4})[-:](\d{2})[-:](\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"
)


def _when(value: str) -> tuple[str, str | None]:
    """(``YYYY-MM-DD HH:MM:SS``, offset) of an ISO or exiftool date."""
    match = _STAMP.match(value.strip())
    assert match, value
    y, mo, d, h, mi, s, off = match.groups()
    return f"{y}-{mo}-{d} {h or '00'}:{mi or '00'}:{s or '00'}", ("+00:00" if off == "Z" else off)


def _first(tags: dict[str, Any], *names: str) -> Any:
    for name in names:
        for key, value in tags.items():
            if key.split(":")[-1] == name and value not in (None, ""):
                return value
    return None


def _assert_reads_back(record: dict[str, Any], tags: dict[str, Any], embedded: bool) -> None:
    """exiftool sees the record's date (and offset), GPS and caption in what was exported."""
    meta = record["metadata"]
    where = tags["SourceFile"]
    if meta.get("taken_date"):
        stamp, offset = _when(meta["taken_date"])
        said = _first(tags, "DateTimeOriginal")
        assert said is not None, f"{where}: no DateTimeOriginal"
        got, got_offset = _when(str(said))
        assert got == stamp, f"{where}: date {said} != {meta['taken_date']}"
        if offset:
            got_offset = got_offset or _first(tags, "OffsetTimeOriginal")
            if got_offset is None:  # a container without EXIF: the XMP date carries it
                got_offset = _when(str(_first(tags, "DateCreated")))[1]
            assert got_offset == offset, f"{where}: offset {got_offset} != {offset}"
    location = meta.get("location")
    if location:
        # signed: Composite (EXIF's own value is unsigned, its sign in the Ref tag)
        lat = tags.get("Composite:GPSLatitude", _first(tags, "GPSLatitude"))
        lng = tags.get("Composite:GPSLongitude", _first(tags, "GPSLongitude"))
        assert lat is not None and lng is not None, f"{where}: no GPS"
        assert abs(float(lat) - location["lat"]) < 1e-5, where
        assert abs(float(lng) - location["lng"]) < 1e-5, where
    if meta.get("caption"):
        said = _first(tags, "Description", "ImageDescription", "Caption-Abstract")
        assert said == meta["caption"], f"{where}: caption {said!r} != {meta['caption']!r}"


# -- names and XMP: rules for every input ---------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=0, max_size=300))
def test_safe_component_is_safe_everywhere(name: str) -> None:
    safe = safe_component(name)
    assert safe and safe not in (".", "..")
    assert not re.search(r'[<>:"/\\|?*\x00-\x1f\x7f]', safe)
    assert not safe.endswith((".", " ")) and not safe.startswith(" ")
    assert safe.split(".")[0].upper() not in {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}
    assert len(safe.encode("utf-8")) <= MAX_COMPONENT_BYTES
    assert safe_component(safe) == safe  # stable: a re-run computes the same name
    assert len(numbered(safe, 99).encode("utf-8")) + len(".xmp") <= 255


def test_names_keep_their_extension_and_fields_cannot_climb_out() -> None:
    long = "x" * 400 + ".jpeg"
    assert safe_component(long).endswith(".jpeg")
    fields = {"year": "2023", "month": "05", "album": "../../etc", "filename": "a:b?.jpg"}
    assert render("{year}/{album}/{filename}", fields) == "2023/.._.._etc/a_b_.jpg"
    assert render("{year}/{month}/{filename}", {**fields, "month": ""}) == "2023/a_b_.jpg"
    assert safe_component("con.txt") == "_con.txt" and safe_component("Nul") == "_Nul"


_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=60
).filter(lambda t: t.strip() and all(ord(c) >= 0x20 and c not in "\ufffe\uffff\ufeff" for c in t))


@settings(max_examples=200, deadline=None)
@given(
    caption=_TEXT,
    tags=st.lists(_TEXT, max_size=5, unique=True),
    lat=st.floats(-89.9, 89.9),
    lng=st.floats(-179.9, 179.9),
)
def test_xmp_sidecar_round_trips_any_text(
    caption: str, tags: list[str], lat: float, lng: float
) -> None:
    packet = xmp_packet(
        MetadataOut("2021-06-01T12:30:05+02:00", lat, lng, None, caption, None, tuple(tags))
    )
    root = fromstring(packet)  # defusedxml: well-formed, no entities needed
    description = root.find(f".//{{{DC}}}description/{{{RDF}}}Alt/{{{RDF}}}li")
    assert description is not None and description.text == caption
    subject = [li.text for li in root.iterfind(f".//{{{DC}}}subject/{{{RDF}}}Bag/{{{RDF}}}li")]
    assert subject == tags
    lat_text = root.find(f".//{{{EXIF_NS}}}GPSLatitude")
    lng_text = root.find(f".//{{{EXIF_NS}}}GPSLongitude")
    assert lat_text is not None and lng_text is not None
    assert abs((xmp_gps(lat_text.text) or 0.0) - lat) < 1e-6
    assert abs((xmp_gps(lng_text.text) or 0.0) - lng) < 1e-6
    facts = parse_xmp_packet(packet)  # photosync reads its own sidecar's date back
    assert facts is not None and "2021-06-01T12:30:05+02:00" in facts.dates.values()


# -- the drills on the real photos -------------------------------------------------------


@needs_exiftool
@pytest.mark.parametrize("metadata", ["xmp", "embed"])
def test_export_real_photos_exiftool_reads_back_every_file(
    tmp_path: Path, testdata: Path, metadata: str
) -> None:
    root = _archive(tmp_path, ("photos", testdata / "photos"))
    dest = tmp_path / "out"
    result = run(root, "export", str(dest), "--metadata", metadata, "--json")
    report = json.loads(result.stdout)
    by_hash = {r["content_hash"].removeprefix("sha256:"): r for r in records(root)}
    intents = [
        json.loads(line)
        for line in (dest / STATE_DIR / "manifest.jsonl").read_text().splitlines()
        if '"intent"' in line
    ]
    manifest = [e for e in intents if "/sidecar:" not in e["key"]]
    kept = [e for e in intents if "/sidecar:" in e["key"]]
    assert len(manifest) == len(by_hash) == report["items"]
    assert len(kept) == report["sidecars"] and len(intents) == len(report["written"])
    for entry in kept:  # the XMP sidecars that came with the photos, as they came
        digest = entry["digest"]
        blob = root / "blobs" / "sha256" / digest[:2] / digest
        assert (dest / entry["path"]).read_bytes() == blob.read_bytes()
    checked = 0
    for entry in manifest:
        record = by_hash[entry["digest"]]
        path = dest / entry["path"]
        data = path.read_bytes()
        if metadata == "xmp" or entry["sidecar"]:
            if metadata == "xmp":
                assert hashlib.sha256(data).hexdigest() == entry["digest"]  # bit-exact
            (tags,) = _exif(dest / entry["sidecar"])
        else:
            (tags,) = _exif(path)
        _assert_reads_back(record, tags, embedded=metadata == "embed")
        taken = record["metadata"].get("taken_date")
        if taken and "T" in taken:
            expected = datetime.fromisoformat(taken.replace("Z", "+00:00")).timestamp()
            assert abs(path.stat().st_mtime - expected) < 1
        checked += 1
    assert checked > 50
    with_gps = [r for r in by_hash.values() if r["metadata"].get("location")]
    with_caption = [r for r in by_hash.values() if r["metadata"].get("caption")]
    assert with_gps and with_caption  # the set exercises what is checked
    assert git(root, "status", "--porcelain").stdout == ""  # read-only on the archive
    assert_check_clean(root)


# -- layouts, albums, collisions, updates ---------------------------------------------------


def _captioned(folder: Path, count: int) -> list[Path]:
    return [
        write_jpeg(
            folder / f"IMG_{i:03d}.jpg",
            seed=100 + i,
            size=(64, 48),
            taken=datetime(2022, 1 + i % 12, 1 + i, 10, i, 0),
            offset="+02:00",
            gps=(48.1 + i / 100, -3.5 - i / 100),
            description=f'Caption <{i}> & "quotes" \u00e9t\u00e9',
        )
        for i in range(count)
    ]


def _albums(root: Path, titles: dict[str, list[str]]) -> None:
    """Albums set on records the way a user edits the archive: by hand, then a git commit."""
    for record in records(root):
        name = record["metadata"]["filename"]
        if name in titles:
            record["metadata"]["albums"] = sorted(titles[name])
            path = next((root / "photos").rglob(f"{record['photo_id']}.json"))
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "albums by hand")


@needs_exiftool
def test_album_layout_collisions_and_update_never_overwrite(tmp_path: Path) -> None:
    _captioned(tmp_path / "lib", 3)
    root = _archive(tmp_path, ("phone", tmp_path / "lib"))
    _albums(root, {"IMG_000.jpg": ["Trip: Brittany", "Family"], "IMG_001.jpg": ["Family"]})
    dest = tmp_path / "out"
    (dest / "Family").mkdir(parents=True)
    (dest / "Family" / "img_000.JPG").write_bytes(b"the user's own file")  # a name taken
    layout = "{album}/{filename}"
    first = json.loads(run(root, "export", str(dest), "--layout", layout, "--json").stdout)
    photos = _photos_out(dest)
    assert (dest / "Family" / "img_000.JPG").read_bytes() == b"the user's own file"
    assert sorted(photos) == [
        "Family/IMG_000 (1).jpg",
        "Family/IMG_001.jpg",
        "Family/img_000.JPG",
        "No album/IMG_002.jpg",
        "Trip_ Brittany/IMG_000.jpg",
    ]
    assert photos["Family/IMG_000 (1).jpg"] == photos["Trip_ Brittany/IMG_000.jpg"]
    assert first["items"] == 4 and len(first["written"]) == 4
    (tags,) = _exif(dest / "Family" / "IMG_001.jpg.xmp")
    assert sorted(
        tags["XMP-dc:Subject"]
        if isinstance(tags["XMP-dc:Subject"], list)
        else [tags["XMP-dc:Subject"]]
    ) == ["Family"]

    before = _files(dest)
    again = run(root, "export", str(dest), "--layout", layout, "--update")
    assert "nothing new" in again.stdout
    assert _files(dest) == before  # nothing touched

    # a new photo, a changed caption, a file the user edited, a file the user removed
    write_jpeg(tmp_path / "lib" / "IMG_new.jpg", seed=999, size=(64, 48),
               taken=datetime(2022, 9, 9, 9, 9, 9))  # fmt: skip
    _ok("--archive", str(root), "discover")
    for record in records(root):
        if record["metadata"]["filename"] == "IMG_001.jpg":
            record["metadata"]["caption"] = "a better caption"
            path = next((root / "photos").rglob(f"{record['photo_id']}.json"))
            path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git(root, "commit", "-qam", "caption by hand")
    (dest / "No album" / "IMG_002.jpg").unlink()
    os.chmod(dest / "Trip_ Brittany" / "IMG_000.jpg", 0o644)
    (dest / "Trip_ Brittany" / "IMG_000.jpg").write_bytes(b"edited by the user")
    updated = json.loads(
        run(root, "export", str(dest), "--layout", layout, "--update", "--json").stdout
    )
    assert updated["written"] == ["No album/IMG_new.jpg"]
    assert updated["updated"] == ["Family/IMG_001.jpg"]
    assert updated["removed_by_user"] == ["No album/IMG_002.jpg"]
    after = _files(dest)
    assert not (dest / "No album" / "IMG_002.jpg").exists()  # not re-created
    assert after["Trip_ Brittany/IMG_000.jpg"] == b"edited by the user"
    assert after["Family/IMG_001.jpg"] == before["Family/IMG_001.jpg"]  # bytes: same original
    (tags,) = _exif(dest / "Family" / "IMG_001.jpg.xmp")
    assert tags["XMP-dc:Description"] == "a better caption"
    changed = {"Trip_ Brittany/IMG_000.jpg", "No album/IMG_002.jpg"}  # by the user
    untouched = {k for k in before if "IMG_001" not in k and k not in changed}
    assert {k: after.get(k) for k in untouched} == {k: before[k] for k in untouched}
    assert_check_clean(root)


def test_variants_all_exports_merged_copies_and_best_only_the_best(tmp_path: Path) -> None:
    original = _photo(tmp_path / "phone", 1)
    copy = _reencode(original, tmp_path / "google" / original.name)
    root = _archive(tmp_path, ("phone", tmp_path / "phone"), ("google", tmp_path / "google"))
    _ok("--archive", str(root), "resolve", "--auto-resolve", "simple")
    (record,) = records(root)
    best = run(root, "export", str(tmp_path / "best"), "--metadata", "none")
    assert best.returncode == 0
    assert list(_photos_out(tmp_path / "best").values()) == [original.read_bytes()]
    run(root, "export", str(tmp_path / "all"), "--variants", "all", "--metadata", "none")
    exported = sorted(_photos_out(tmp_path / "all").values())
    assert exported == sorted([original.read_bytes(), copy.read_bytes()])
    assert len(record["instances"]) == 2
    assert_check_clean(root)


def test_export_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    root = _archive(tmp_path, ("phone", tmp_path / "lib"))
    bad = run(root, "export", str(tmp_path / "o"), "--layout", "{year}/{colour}/{filename}",
              expect=3)  # fmt: skip
    assert "unknown field {colour}" in bad.stderr
    run(root, "export", str(root / "inside"), expect=3)
    run(root, "export", str(tmp_path / "o"))
    again = run(root, "export", str(tmp_path / "o"), expect=3)
    assert "--update" in again.stderr
    dry = run(root, "export", str(tmp_path / "dry"), "--dry-run")
    assert "would write 2 new" in dry.stdout and not (tmp_path / "dry").exists()
    years = sorted(r["metadata"]["taken_date"][:4] for r in records(root))
    only = run(root, "export", str(tmp_path / "dry"), "--dry-run", "--json", "--only", years[0])
    assert [p.split("/")[0] for p in json.loads(only.stdout)["written"]] == [years[0]]
    # no exiftool on PATH: a clear message, nothing written
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    git_path = shutil.which("git")
    assert git_path is not None
    (bin_dir / "git").symlink_to(git_path)
    missing = run(root, "export", str(tmp_path / "e"), "--metadata", "embed", expect=3,
                  env={"PATH": str(bin_dir)})  # fmt: skip
    assert "exiftool" in missing.stderr and "libimage-exiftool-perl" in missing.stderr
    assert not (tmp_path / "e").exists()
    assert_check_clean(root)


def test_kill_during_export_then_update_leaves_nothing_missing_or_doubled(
    tmp_path: Path,
) -> None:
    make_library(tmp_path / "lib", 60)
    root = _archive(tmp_path, ("phone", tmp_path / "lib"))
    truth = Counter(r["content_hash"].removeprefix("sha256:") for r in records(root))
    trials = int(os.environ.get("PHOTOSYNC_CHAOS_TRIALS", "3"))
    killed = 0
    for trial in range(trials):
        dest = tmp_path / f"out{trial}"
        threshold = 1 + trial * 2 * len(truth) // (trials + 1)
        killed += run_and_kill(
            root,
            ["export", str(dest)],
            lambda d=dest, t=threshold: len(_files(d)) >= t,
        ).reached
        run(root, "export", str(dest), "--update")
        photos = _photos_out(dest)
        got = Counter(hashlib.sha256(data).hexdigest() for data in photos.values())
        assert got == truth, f"trial {trial}: missing or doubled"
        sidecars = [k for k in _files(dest) if k.endswith(".xmp")]
        assert sorted(sidecars) == sorted(k + ".xmp" for k in photos)
        assert not any((dest / STATE_DIR / "tmp").iterdir())
        assert "nothing new" in run(root, "export", str(dest), "--update").stdout
    assert killed, "no trial was killed while exporting: the drill proved nothing"
    assert_check_clean(root)


class _Flipping(XmpSidecar):
    """A format that (wrongly) changes the copy's bytes: what a bad disk or tool would do."""

    name = "flip"

    def apply(self, copy: Path, meta: MetadataOut) -> tuple[bytes | None, str | None]:
        data = bytearray(copy.read_bytes())
        data[-3] ^= 0xFF
        os.chmod(copy, 0o644)
        copy.write_bytes(bytes(data))
        return super().apply(copy, meta)


def test_a_copy_that_does_not_read_back_as_the_original_is_never_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: with a sidecar format the read-back check was skipped, so a copy whose
    bytes changed after the verified fetch was exported as if it were the original."""
    make_library(tmp_path / "lib", 2)
    root = _archive(tmp_path, ("phone", tmp_path / "lib"))
    monkeypatch.setitem(FORMATS, "flip", _Flipping)
    archive = Archive.find(root)
    try:
        archive.ensure_index()
        report = export_library(archive, tmp_path / "out", metadata="flip")
    finally:
        archive.close()
    assert len(report.failed) == 2 and not report.written
    assert all("does not read back as the original" in why for why in report.failed.values())
    assert _files(tmp_path / "out") == {}
    assert not any((tmp_path / "out" / STATE_DIR / "tmp").iterdir())
    assert_check_clean(root)


def test_update_with_another_metadata_format_adds_sidecars_beside_the_same_files(
    tmp_path: Path,
) -> None:
    """Regression: after an export with --metadata none, --update --metadata xmp wrote no
    sidecar (the earlier entry had none, and its missing name was kept)."""
    make_library(tmp_path / "lib", 3)
    root = _archive(tmp_path, ("phone", tmp_path / "lib"))
    dest = tmp_path / "out"
    run(root, "export", str(dest), "--metadata", "none")
    before = _files(dest)
    assert not any(k.endswith(".xmp") for k in before)
    report = json.loads(run(root, "export", str(dest), "--update", "--json").stdout)
    assert sorted(report["updated"]) == sorted(before)
    after = _files(dest)
    assert {k: after[k] for k in before} == before  # the same files, untouched, none doubled
    assert sorted(k for k in after if k.endswith(".xmp")) == sorted(k + ".xmp" for k in before)
    assert_check_clean(root)
