"""A replicate with nothing to do for its targets reads no record (issue 17: a no-op
replicate on a lifetime library), and only then: a new photo, a changed service, a
target not here, ``--full`` make the next run plan every record again; the blob
locations are listed and filled every run all the same (a location may lose an object)."""

from __future__ import annotations

from pathlib import Path

from photosync.workflow.config import add_location
from photosync.workflow.discover import discover
from photosync.workflow.replicate import FIXED_POINT_META, replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, make_library, new_archive, run_cli


def _source_and_target(tmp_path: Path, count: int):  # type: ignore[no-untyped-def]
    """A folder source and a backup folder target on a "drive", the archive locked."""
    make_library(tmp_path / "lib", count)
    backup = tmp_path / "drive" / "backup"
    backup.mkdir(parents=True)
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        backup={"type": "local", "path": str(backup), "target": True, "source": False},
    )
    archive.lock()
    return archive


def _archive(tmp_path: Path, count: int = 4):  # type: ignore[no-untyped-def]
    """A folder source, a backup folder target on a "drive", a local storage location."""
    archive = _source_and_target(tmp_path, count)
    add_location(archive, {"name": "nas", "type": "local", "path": str(tmp_path / "nas")})
    archive.commit("config: a storage location")
    discover(archive)
    auto_resolve(archive)
    return archive


def _settle(archive) -> None:  # type: ignore[no-untyped-def]
    """Replicated, then a run that found nothing to do: the next one plans no record."""
    replicate(archive, execute=True)
    replicate(archive, execute=True)
    assert replicate(archive, execute=True).unchanged


def test_a_replicate_with_nothing_to_do_plans_no_record_and_changes_nothing(
    tmp_path: Path,
) -> None:
    archive = _archive(tmp_path)
    first = replicate(archive, execute=True)
    assert first.counts()["backup"] == {"upload": 4} and not first.failed
    assert archive.state.get_meta(FIXED_POINT_META) is None  # it did things: no fixed point
    second = replicate(archive, execute=True)  # reads every record, finds nothing
    assert not second.unchanged and not second.planned
    assert archive.state.get_meta(FIXED_POINT_META) is not None
    head = archive.git.head()
    third = replicate(archive, execute=True)
    assert third.unchanged and not third.planned and not third.failed
    assert replicate(archive, execute=False).unchanged  # the preview too
    assert not replicate(archive, execute=False, full=True).unchanged
    assert archive.git.head() == head
    archive.close()
    assert_check_clean(archive.root)


def test_a_new_photo_is_replicated_after_a_fixed_point(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 3)
    _settle(archive)
    make_library(tmp_path / "lib", 1, start_seed=50)
    discover(archive)
    auto_resolve(archive)
    plan = replicate(archive, execute=True)
    assert not plan.unchanged
    assert plan.counts()["backup"] == {"upload": 1}
    assert len(list((tmp_path / "drive" / "backup").rglob("*.jpg"))) == 4
    archive.close()
    assert_check_clean(archive.root)


def test_a_location_that_lost_an_object_is_filled_at_a_fixed_point(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 2)
    replicate(archive, execute=True)
    replicate(archive, execute=True)
    blobs = sorted(p for p in (tmp_path / "nas").rglob("*") if p.is_file())
    assert len(blobs) >= 2
    lost = blobs[0]
    saved = lost.read_bytes()
    lost.chmod(0o644)
    lost.unlink()
    again = replicate(archive, execute=True)
    assert again.unchanged  # the targets' plan is not read again...
    assert lost.read_bytes() == saved  # ...but the location is listed and filled
    archive.close()
    assert_check_clean(archive.root)


def test_a_target_not_here_is_not_a_fixed_point(tmp_path: Path) -> None:
    archive = _archive(tmp_path, 2)
    _settle(archive)
    (tmp_path / "drive").rename(tmp_path / "unplugged")  # the drive is not here
    gone = replicate(archive, execute=True)
    assert not gone.unchanged and "backup" in gone.not_here
    assert archive.state.get_meta(FIXED_POINT_META) is None
    (tmp_path / "unplugged").rename(tmp_path / "drive")
    archive.close()
    result = run_cli("--archive", str(archive.root), "replicate", "--execute")
    assert result.exit_code == 0, result.output
    assert "nothing to replicate" in result.output
    assert_check_clean(archive.root)


def test_a_plan_keeps_a_bounded_sample_and_counts_everything(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A plan for a million photos must not hold a million actions or waiting photos in
    memory: the report keeps ``KEPT`` of each to show, and counts them all."""
    import photosync.workflow.replicate as replicate_module

    monkeypatch.setattr(replicate_module, "KEPT", 2)
    archive = _source_and_target(tmp_path, 5)
    discover(archive)
    waiting = replicate(archive)
    assert waiting.skipped_unresolved == 5 and len(waiting.waiting) == 2
    auto_resolve(archive)
    plan = replicate(archive)
    assert plan.counts() == {"backup": {"upload": 5}}
    assert plan.planned_total == 5 and len(plan.planned) == 2
    archive.close()
    shown = run_cli("--archive", str(archive.root), "replicate", "--verbose")
    assert shown.exit_code == 0, shown.output
    assert "... and 3 more" in shown.output
    assert_check_clean(archive.root)
