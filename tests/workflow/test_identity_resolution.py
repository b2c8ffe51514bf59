"""Same photo, different bytes: variants joined or put to a human; every conflict type."""

from __future__ import annotations

import io
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from photosync.archive.archive import Archive
from photosync.blobstore.local import LocalBlobStore
from photosync.emulators.samples import write_jpeg, write_xmp_sidecar
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, git_log, new_archive, records, run_cli


def _reencode(
    src: Path,
    dst: Path,
    *,
    scale: float = 0.5,
    quality: int = 60,
    keep_exif: bool = True,
    crop: float | None = None,
) -> Path:
    with Image.open(src) as image:
        exif = image.info.get("exif", b"")
        out = image.convert("RGB")
        if crop:  # a centred crop of the width, as an editor's "straighten and trim" does
            w, h = out.size
            margin = int(w * (1 - crop) / 2)
            out = out.crop((margin, 0, w - margin, h))
        out = out.resize((int(out.width * scale), int(out.height * scale)))
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=quality, **({"exif": exif} if keep_exif and exif else {}))
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_bytes(buffer.getvalue())
    return dst


def _photo(folder: Path, index: int) -> Path:
    from datetime import datetime

    return write_jpeg(
        folder / f"IMG_{index:04d}.jpg",
        seed=500 + index,
        size=(800, 600),
        taken=datetime(2022, 5, 1 + index % 27, 9, index % 60, 7),
        subsec=f"{index:02d}",
        make="Canon",
        model="EOS 5D",
    )


def test_quality_variants_are_joined_into_the_best_copy(tmp_path: Path) -> None:
    originals = [_photo(tmp_path / "phone", i) for i in range(6)]
    for path in originals[:4]:
        _reencode(path, tmp_path / "google" / path.name)  # re-encoded and halved by the "service"
    _reencode(originals[4], tmp_path / "google" / "stripped.jpg", keep_exif=False)
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        google={"type": "local", "path": str(tmp_path / "google")},
    )
    archive.lock()
    discover(archive)
    assert len(records(archive.root)) == 11
    report = auto_resolve(archive)
    assert report.merged_variants == 5
    kept = records(archive.root)
    assert len(kept) == 6
    store = LocalBlobStore(archive.root / "blobs")
    for record in kept:
        if "google" in record["instances"]:
            google = record["instances"]["google"][0]
            assert (
                google["content_hash"] != record["content_hash"]
            )  # the smaller copy is an instance
            assert store.has(google["content_hash"])  # and its bytes are kept
            assert record["canonical_source"].startswith("phone:")  # the best copy is canonical
            assert record["media"]["width"] == 800
    assert "quality variant(s) joined" in "\n".join(
        __import__("subprocess")
        .run(
            ["git", "-C", str(archive.root), "log", "-1", "--format=%B"],
            capture_output=True,
            text=True,
        )
        .stdout.splitlines()
    )
    archive.close()
    assert_check_clean(archive.root)


def test_a_crop_is_an_edit_variant_for_a_human(tmp_path: Path) -> None:
    original = _photo(tmp_path / "phone", 1)
    edited = _reencode(
        original, tmp_path / "laptop" / "IMG_0001-edited.jpg", scale=1.0, quality=90, crop=0.8
    )
    edited_size = "{}x{}".format(*Image.open(edited).size)
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        laptop={"type": "local", "path": str(tmp_path / "laptop")},
    )
    archive.lock()
    discover(archive)
    report = auto_resolve(archive)
    assert report.merged_variants == 0 and report.edit_variant_pairs == 1
    both = records(archive.root)
    assert len(both) == 2
    for record in both:
        conflict = next(c for c in record["conflicts"] if c["type"] == "edit_variant")
        assert conflict["resolution_required"] and conflict["status"] == "open"
    archive.close()
    listed = json.loads(
        run_cli("--archive", str(archive.root), "resolve", "--list", "--json").output
    )["pending"]
    assert [p["type"] for p in listed] == ["edit_variant", "edit_variant"]
    result = run_cli("--archive", str(archive.root), "resolve", "--interactive", input="2\n")
    assert (
        "dimensions" in result.output
        and "800x600" in result.output
        and edited_size in result.output
    )
    joined = records(archive.root)
    assert len(joined) == 1 and sorted(joined[0]["instances"]) == ["laptop", "phone"]
    assert joined[0]["media"]["width"] == 800
    assert (
        json.loads(run_cli("--archive", str(archive.root), "resolve", "--list", "--json").output)[
            "pending"
        ]
        == []
    )
    assert_check_clean(archive.root)


def test_hand_edited_edit_variant_questions_are_answered_without_a_traceback(
    tmp_path: Path,
) -> None:
    """Hand-edited records, schema-valid, never give a traceback: an edit-variant question
    whose optional ``field`` and ``options`` were deleted in an editor, on a photo whose
    ``width`` and ``height`` were set to null, is answered (joined) like any other, nothing
    lost (before: KeyError 'field', or "'merge' is not an option" for an answer offered)."""
    original = _photo(tmp_path / "phone", 1)
    _reencode(original, tmp_path / "laptop" / "IMG_0001-edited.jpg", scale=1.0, crop=0.8)
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        laptop={"type": "local", "path": str(tmp_path / "laptop")},
    )
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    archive.close()
    for path in sorted((archive.root / "photos").rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        for conflict in record["conflicts"]:
            conflict.pop("field", None)
            conflict.pop("options", None)  # optional too: the answers offered stay the same
        if "laptop" in record["instances"]:
            record["media"]["width"] = record["media"]["height"] = None
        path.write_text(json.dumps(record, indent=2), encoding="utf-8")
    for args in (["add", "-A", "photos"], ["commit", "-q", "-m", "by hand"]):
        subprocess.run(["git", *args], cwd=archive.root, check=True, capture_output=True)
    result = run_cli("--archive", str(archive.root), "resolve", "--interactive", input="2\n")
    assert result.exit_code == 0, result.output
    joined = records(archive.root)
    assert len(joined) == 1 and sorted(joined[0]["instances"]) == ["laptop", "phone"]
    assert_check_clean(archive.root)


def test_a_photo_with_both_a_recompressed_and_an_edited_copy_resolves(tmp_path: Path) -> None:
    """The recompressed copy is merged away; the edit pair that named it names the keeper."""
    original = _photo(tmp_path / "phone", 1)
    _reencode(original, tmp_path / "google" / original.name)
    _reencode(
        original, tmp_path / "laptop" / "IMG_0001-edited.jpg", scale=1.0, quality=90, crop=0.8
    )
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        google={"type": "local", "path": str(tmp_path / "google")},
        laptop={"type": "local", "path": str(tmp_path / "laptop")},
    )
    archive.lock()
    discover(archive)
    report = auto_resolve(archive)
    archive.close()
    assert report.merged_variants == 1 and report.edit_variant_pairs == 1
    both = {tuple(sorted(r["instances"])): r for r in records(archive.root)}
    assert sorted(both) == [("google", "phone"), ("laptop",)]
    keeper, edited = both[("google", "phone")], both[("laptop",)]
    assert [c["id"] for c in keeper["conflicts"]] == [f"edit_variant:{edited['photo_id']}"]
    assert [c["id"] for c in edited["conflicts"]] == [f"edit_variant:{keeper['photo_id']}"]
    assert_check_clean(archive.root)


def test_keeping_edit_variants_separate_is_remembered(tmp_path: Path) -> None:
    original = _photo(tmp_path / "phone", 2)
    _reencode(original, tmp_path / "laptop" / "crop.jpg", scale=1.0, quality=90, crop=0.8)
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        laptop={"type": "local", "path": str(tmp_path / "laptop")},
    )
    archive.lock()
    discover(archive)
    archive.close()
    run_cli("--archive", str(archive.root), "resolve", "--interactive", input="1\n")
    run_cli("--archive", str(archive.root), "resolve", "--auto-resolve", "simple")
    kept = records(archive.root)
    assert len(kept) == 2
    for record in kept:
        conflict = next(c for c in record["conflicts"] if c["type"] == "edit_variant")
        assert conflict["status"] == "resolved" and conflict["resolution"]["choice"] == "separate"
        assert record["processing_state"] == "resolved"
    assert_check_clean(archive.root)


def test_an_unreadable_file_is_a_processing_conflict(tmp_path: Path) -> None:
    good = _photo(tmp_path / "lib", 3)
    (tmp_path / "lib" / "cut.jpg").write_bytes(good.read_bytes()[:2000])
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    cut = next(r for r in records(archive.root) if r["metadata"]["filename"] == "cut.jpg")
    conflict = next(c for c in cut["conflicts"] if c["type"] == "processing_failed")
    assert conflict["resolution_required"] and "truncated" in conflict["description"].lower()
    archive.close()
    run_cli("--archive", str(archive.root), "resolve", "--interactive", input="1\n")
    cut = next(r for r in records(archive.root) if r["metadata"]["filename"] == "cut.jpg")
    assert cut["processing_state"] == "resolved"
    assert_check_clean(archive.root)


def test_a_realistic_mixed_library_resolves_mostly_by_itself(tmp_path: Path) -> None:
    """Three services, overlapping photos, re-encodes, a few differing captions."""
    originals = [_photo(tmp_path / "phone", i) for i in range(30)]
    for path in originals[:20]:
        _reencode(path, tmp_path / "google" / path.name, quality=70)
    (tmp_path / "flickr").mkdir()
    for index, path in enumerate(originals[10:25]):
        (tmp_path / "flickr" / path.name).write_bytes(path.read_bytes())
        write_xmp_sidecar(
            tmp_path / "flickr" / f"{path.name}.xmp", caption=f"caption {index}", tags=["flickr"]
        )
    for path in originals[10:12]:  # the phone's own sidecar disagrees on two photos
        write_xmp_sidecar(tmp_path / "phone" / f"{path.name}.xmp", caption="something else")
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        google={"type": "local", "path": str(tmp_path / "google")},
        flickr={"type": "local", "path": str(tmp_path / "flickr")},
    )
    archive.lock()
    discover(archive)
    report = auto_resolve(archive)
    assert report.merged_variants == 20
    assert report.conflicts_open == 2
    assert report.automatic_rate is not None and report.automatic_rate > 0.9, report
    assert len(records(archive.root)) == 30
    assert git_log(archive.root)[0].startswith("resolve:")
    archive.close()
    assert_check_clean(archive.root)


def test_visibility_set_widens_only_with_confirmation_and_records_it(tmp_path: Path) -> None:
    _photo(tmp_path / "lib", 4)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    archive.close()
    root = str(archive.root)
    photo_id = records(archive.root)[0]["photo_id"]
    refused = run_cli("--archive", root, "visibility", "set", photo_id[:8], "public", input="n\n")
    assert "nothing changed" in refused.output
    assert records(archive.root)[0]["visibility"]["canonical"] == "private"
    run_cli(
        "--archive",
        root,
        "visibility",
        "set",
        photo_id[:8],
        "public",
        "--reason",
        "portfolio",
        input="y\n",
    )
    record = records(archive.root)[0]
    assert record["visibility"]["canonical"] == "public"
    approval = record["visibility"]["approvals"][-1]
    assert (
        approval["level"] == "public"
        and approval["previous"] == "private"
        and approval["reason"] == "portfolio"
    )
    assert git_log(archive.root)[0].startswith("visibility: 1 photo(s) set")
    run_cli("--archive", root, "visibility", "set", photo_id, "friends")  # narrowing: no question
    assert records(archive.root)[0]["visibility"]["canonical"] == "friends"
    short = run_cli("--archive", root, "visibility", "set", "abc", "public")
    assert short.exit_code == 3
    assert_check_clean(archive.root)


def test_the_first_resolve_reads_each_record_once_per_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first resolve reads a record's file once to match and once for the rules, and
    no more: the write compares against the bytes the rules' pass read, not the file
    again (it was read four times: matching, rules, the unchanged test, the write's
    compare), and its path comes from that read, not one index query each."""
    for index in range(6):
        _photo(tmp_path / "phone", index)
    archive = new_archive(tmp_path, phone={"type": "local", "path": str(tmp_path / "phone")})
    archive.lock()
    discover(archive)
    reads: dict[str, int] = {}
    real_read = Path.read_bytes
    real_open = open

    def counting_read(path: Path) -> bytes:
        # git's commit reads what it stores (archive.git): not the pass's reading
        committing = threading.current_thread().name.startswith("git-commit")
        if path.suffix == ".json" and "photos" in path.parts and not committing:
            reads[path.name] = reads.get(path.name, 0) + 1
        return real_read(path)

    def refusing_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        assert not (str(file).endswith(".json") and "/photos/" in str(file)), file
        return real_open(file, *args, **kwargs)

    lookups = [0]
    real_lookup = archive.state.path_for_photo

    def counting_lookup(photo_id: str) -> str | None:
        lookups[0] += 1
        return real_lookup(photo_id)

    monkeypatch.setattr(Path, "read_bytes", counting_read)
    monkeypatch.setattr("builtins.open", refusing_open)
    monkeypatch.setattr(archive.state, "path_for_photo", counting_lookup)
    report = auto_resolve(archive)
    monkeypatch.undo()
    assert report.now_resolved == 6
    kept = records(archive.root)
    assert all(r["processing_state"] == "resolved" for r in kept)
    assert all(r["media"].get("fingerprint") for r in kept)
    assert reads == {f"{r['photo_id']}.json": 2 for r in kept}
    assert lookups[0] == 0
    archive.close()
    assert_check_clean(archive.root)


def test_the_first_resolve_writes_each_record_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fingerprints and the rules' changes reach a record's file in one write (issue 17:
    each record was written twice, after fingerprinting and after the rules)."""
    originals = [_photo(tmp_path / "phone", i) for i in range(4)]
    _reencode(originals[0], tmp_path / "google" / originals[0].name)  # one quality variant
    archive = new_archive(
        tmp_path,
        phone={"type": "local", "path": str(tmp_path / "phone")},
        google={"type": "local", "path": str(tmp_path / "google")},
    )
    archive.lock()
    discover(archive)
    writes: dict[str, int] = {}
    real_write = Archive.write_record

    def counting(
        self: Archive, record: dict[str, Any], *, durable: bool = False, was: Any = None
    ) -> bool:
        changed = real_write(self, record, durable=durable, was=was)
        if changed:
            writes[record["photo_id"]] = writes.get(record["photo_id"], 0) + 1
        return changed

    monkeypatch.setattr(Archive, "write_record", counting)
    report = auto_resolve(archive)
    assert report.merged_variants == 1
    kept = records(archive.root)
    assert len(kept) == 4
    assert all(r["media"].get("fingerprint") for r in kept)
    assert all(r["processing_state"] == "resolved" for r in kept)
    # the merge survivor is written (durably) before the merged file goes, then once
    # more with the rules' changes; every other record exactly once
    survivors = [r["photo_id"] for r in kept if r.get("variants")]
    assert len(survivors) == 1
    assert {k: v for k, v in writes.items() if k not in survivors} == {
        r["photo_id"]: 1 for r in kept if r["photo_id"] not in survivors
    }
    archive.close()
    assert_check_clean(archive.root)
