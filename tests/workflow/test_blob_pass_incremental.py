"""After a replicate that settled every record's ``blob_locations``, the next one reads
only the records git says changed since (issue 17: a no-op replicate on a lifetime
library), and still lists every location, copies back what one lost, and lets no
record miss a location it should name: after a committed hand edit, a ``git reset``,
a new location, a failed copy."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.blobstore.local import BlobBatch, LocalBlobStore
from photosync.errors import BlobError
from photosync.workflow.blobreplicate import SETTLED_META
from photosync.workflow.config import add_location
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import archive_with_nas, assert_check_clean, make_library


def _archive(tmp_path: Path, count: int = 4) -> Archive:
    return archive_with_nas(tmp_path, count)


def _locations(archive: Archive) -> dict[str, list[str]]:
    return {
        record["photo_id"]: sorted(loc["store"] for loc in record["blob_locations"])
        for record in archive.iter_records()
    }


class _Reads:
    """Counts the records a run reads from disk."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = Archive._load_path

        def counted(archive: Archive, path: Path):  # type: ignore[no-untyped-def]
            self.count += 1
            return real(archive, path)

        monkeypatch.setattr(Archive, "_load_path", counted)


def _git(archive: Archive, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=archive.root, check=True, capture_output=True, text=True
    ).stdout


def test_a_settled_archive_reads_no_record_for_its_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path)
    first = replicate(archive, execute=True)
    assert first.blobs is not None and not first.blobs.incremental
    assert all(names == ["local", "nas"] for names in _locations(archive).values())
    assert archive.state.get_meta(SETTLED_META) is not None
    reads = _Reads(monkeypatch)
    again = replicate(archive, execute=True)
    assert again.blobs is not None and again.blobs.incremental
    assert again.blobs.digests == first.blobs.digests  # every original still checked
    assert reads.count == 0 or not again.unchanged  # the targets' pass may read; the blobs not
    archive.close()
    assert_check_clean(archive.root)


def test_a_new_photo_after_a_settled_run_gets_every_location(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 2)
    replicate(archive, execute=True)
    make_library(tmp_path / "lib", 1, start_seed=70)
    discover(archive)
    auto_resolve(archive)
    run = replicate(archive, execute=True)
    assert run.blobs is not None and run.blobs.incremental
    assert sum(len(v) for v in run.blobs.copied.values()) >= 1
    assert all(names == ["local", "nas"] for names in _locations(archive).values())
    assert len(_locations(archive)) == 3
    archive.close()
    assert_check_clean(archive.root)


def test_a_committed_hand_edit_that_drops_a_location_is_mended(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 3)
    replicate(archive, execute=True)
    archive.close()
    _forget_nas(archive)
    archive = Archive.find(explicit=archive.root)
    archive.lock()
    run = replicate(archive, execute=True)
    assert run.blobs is not None and run.blobs.incremental
    assert run.blobs.records_updated == 1
    assert all(names == ["local", "nas"] for names in _locations(archive).values())
    archive.close()
    assert_check_clean(archive.root)


def _forget_nas(archive: Archive) -> None:
    """A hand edit, committed with git: one record no longer names the nas."""
    edited = sorted((archive.root / "photos").rglob("*.json"))[0]
    data = json.loads(edited.read_text())
    data["blob_locations"] = [loc for loc in data["blob_locations"] if loc["store"] != "nas"]
    edited.write_text(json.dumps(data, indent=2) + "\n")
    _git(archive, "commit", "-qam", "hand edit: forget the nas")


def test_a_reset_to_before_the_locations_were_mended_is_settled_again(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 3)
    replicate(archive, execute=True)
    archive.close()
    _forget_nas(archive)
    edited = _git(archive, "rev-parse", "HEAD").strip()
    archive = Archive.find(explicit=archive.root)
    archive.lock()
    replicate(archive, execute=True)  # mended, and settled on the mended tree
    archive.close()
    _git(archive, "reset", "-q", "--hard", edited)  # back to the record without the nas
    archive = Archive.find(explicit=archive.root)
    archive.lock()
    assert any(names != ["local", "nas"] for names in _locations(archive).values())
    run = replicate(archive, execute=True)
    assert run.blobs is not None and run.blobs.incremental
    assert all(names == ["local", "nas"] for names in _locations(archive).values())
    archive.close()
    assert_check_clean(archive.root)


def test_a_new_location_reads_every_record_again(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 3)
    replicate(archive, execute=True)
    add_location(archive, {"name": "usb", "type": "local", "path": str(tmp_path / "usb")})
    archive.commit("config: another location")
    run = replicate(archive, execute=True)
    assert run.blobs is not None and not run.blobs.incremental
    assert all(names == ["local", "nas", "usb"] for names in _locations(archive).values())
    archive.close()
    assert_check_clean(archive.root)


def test_a_lost_object_is_copied_back_and_a_failed_copy_settles_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path, 2)
    replicate(archive, execute=True)
    settled = archive.state.get_meta(SETTLED_META)
    blobs = sorted(p for p in (tmp_path / "nas" / "sha256").rglob("*") if p.is_file())
    lost = blobs[0]
    saved = lost.read_bytes()
    lost.chmod(0o644)
    lost.unlink()
    with monkeypatch.context() as patched:  # the copy back cannot land: the disk is full

        def full(*_args: object, **_kwargs: object) -> bool:
            raise BlobError("no space left on device")

        patched.setattr(LocalBlobStore, "put_file", full)
        patched.setattr(LocalBlobStore, "put_new_file", full)
        patched.setattr(BlobBatch, "put_file", full)  # a local folder's copies go in batches
        failing = replicate(archive, execute=True)
    assert failing.blobs is not None and failing.blobs.failed
    assert not failing.blobs.settled_all
    assert archive.state.get_meta(SETTLED_META) == settled  # not moved by a failed run
    mended = replicate(archive, execute=True)
    assert mended.blobs is not None and mended.blobs.incremental and not mended.blobs.failed
    assert lost.read_bytes() == saved
    archive.close()
    assert_check_clean(archive.root)


def test_the_preview_names_what_a_location_lacks_without_reading_every_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path, 3)
    replicate(archive, execute=True)
    blobs = sorted(p for p in (tmp_path / "nas" / "sha256").rglob("*") if p.is_file())
    blobs[0].chmod(0o644)
    blobs[0].unlink()
    reads = _Reads(monkeypatch)
    preview = replicate(archive, execute=False)
    assert preview.blob_plan is not None
    assert preview.blob_plan.to_copy == {"nas": [blobs[0].name]}
    assert preview.blob_plan.photo_of[blobs[0].name] in _locations(archive)
    assert reads.count <= 1 or not preview.unchanged  # the one record named
    archive.close()


def test_full_reads_every_record_for_the_locations_too(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 2)
    replicate(archive, execute=True)
    run = replicate(archive, execute=True, full=True)
    assert run.blobs is not None and not run.blobs.incremental and run.blobs.settled_all
    assert replicate(archive, execute=True).blobs.incremental  # type: ignore[union-attr]
    archive.close()
    assert_check_clean(archive.root)


@pytest.mark.parametrize("full", [False, True])
def test_sort_files_a_killed_pass_left_are_cleared_by_the_next_run(
    tmp_path: Path, full: bool
) -> None:
    """A replicate killed mid-pass leaves its throw-away sort files in ``.photosync/tmp/``
    (the records' originals, a listing sorted on disk); the next run, incremental or
    full, removes them and ends as if there had been none."""
    from tests.helpers import killed_after, records, run_cli

    archive = archive_with_nas(tmp_path, 5, replicated=True)
    root = archive.root
    nas = LocalBlobStore(tmp_path / "nas", name="nas")
    before = records(root)
    archive.close()
    killed_after(
        root,
        "from photosync.blobstore.blobsync import _sorted_on_disk\n"
        "from photosync.workflow.blobreplicate import TMP_DIR, _Spill\n"
        "tmp = archive.root / TMP_DIR\n"
        "spill = _Spill(tmp / 'blob-pass.sqlite')\n"
        "for record in archive.iter_records():\n"
        "    spill.add(record)\n"
        "spill.finish()\n"
        "listing = _sorted_on_disk(iter([('ab' * 32, 1), ('0c' * 32, 2)]), tmp)\n"
        "next(listing)\n",
    )
    tmp = root / ".photosync" / "tmp"
    left = sorted(p.name for p in tmp.iterdir())
    assert "blob-pass.sqlite" in left and any(n.startswith("listing-") for n in left), left
    lost = next(nas.iter_digests())  # and one copy to make again, in the same run
    nas.path_for(lost).chmod(0o600)
    nas.path_for(lost).unlink()
    result = run_cli(
        "--archive", str(root), "replicate", "--execute", *(["--full"] if full else [])
    )
    assert result.exit_code == 0, result.output
    assert not [p.name for p in tmp.iterdir() if p.name.startswith(("blob-pass", "listing-"))]
    assert nas.has(lost) and nas.verify(lost)
    assert records(root) == before
    assert_check_clean(root)
