"""A resolve pass over a big archive holds a bounded amount: it commits every
``CHECKPOINT_EVERY`` records written while it goes on (so what it keeps about the files it
wrote stays small, and a killed pass keeps what it committed), and its report keeps
``KEPT`` decisions to show while counting them all. The records it leaves are the
same either way."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import photosync.workflow.resolve as resolve_module
from photosync.archive.archive import Archive
from photosync.emulators.samples import write_jpeg
from photosync.workflow.resolve import auto_resolve
from tests.helpers import (
    assert_check_clean,
    comparable,
    git_log,
    run_cli,
    write_xmp,
)


def _library(tmp_path: Path, count: int) -> Path:
    """The same photos in two folders; only the second one's sidecars say a caption, so the
    rules fill it in (a decision each) rather than ask."""
    for index in range(count):
        name = f"IMG_{index:04d}.jpg"
        write_jpeg(tmp_path / "a" / name, seed=60 + index)
        (tmp_path / "b").mkdir(exist_ok=True)
        (tmp_path / "b" / name).write_bytes((tmp_path / "a" / name).read_bytes())
        write_xmp(tmp_path / "b" / f"{name}.xmp", caption=f"Beach {index}")
    return _discovered(tmp_path)


def _discovered(tmp_path: Path) -> Path:
    """A new archive with folders ``a`` and ``b`` of ``tmp_path`` as sources, discovered."""
    root = tmp_path / "archive"
    assert run_cli("init", str(root)).exit_code == 0
    for name in ("a", "b"):
        added = run_cli(
            "--archive",
            str(root),
            "service",
            "add",
            name,
            "--type",
            "local",
            "--path",
            str(tmp_path / name),
        )
        assert added.exit_code == 0, added.output
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    return root


def test_checkpoints_and_a_bounded_report_leave_the_same_records(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    import photosync.workflow.resolve as resolve_module

    root = _library(tmp_path / "lib", 5)
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)

    archive = Archive(root)
    archive.lock()
    monkeypatch.setattr(resolve_module, "CHECKPOINT_EVERY", 1)  # every write: the last too
    monkeypatch.setattr(resolve_module, "KEPT", 2)
    report = auto_resolve(archive)
    archive.close()
    assert report.decisions_total > 2 and len(report.decisions) == 2
    log = git_log(root)
    partial = [s for s in log if "written so far" in s]
    assert len(partial) >= 2, log
    assert log[0].startswith("resolve: ") and "written so far" not in log[0], log

    monkeypatch.setattr(resolve_module, "KEPT", 1000)
    monkeypatch.setattr(resolve_module, "CHECKPOINT_EVERY", 1000)
    other = Archive(twin)
    other.lock()
    whole = auto_resolve(other)
    other.close()
    assert not [s for s in git_log(twin) if "written so far" in s]
    assert whole.decisions_total == report.decisions_total
    assert comparable(root) == comparable(twin)
    assert_check_clean(root)
    assert_check_clean(twin)


def test_the_dry_run_says_how_many_more_it_does_not_show(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import photosync.workflow.resolve as resolve_module

    root = str(_library(tmp_path, 4))
    monkeypatch.setattr(resolve_module, "KEPT", 1)
    shown = run_cli("--archive", root, "resolve", "--auto-resolve", "simple", "--dry-run")
    assert shown.exit_code == 0, shown.output
    assert "more" in shown.output and shown.output.count("  ... and ") == 1, shown.output
    assert_check_clean(Path(root))


def test_a_dry_run_keeps_what_it_would_write_on_disk_not_in_memory(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The preview of a first pass writes every record: aside, in a temporary file, with
    only a few parsed at once, and it shows the same as when it kept them all."""
    import json
    import tracemalloc

    from photosync.archive.preview import PreviewArchive, _Spill

    root = _library(tmp_path, 4)
    before = git_log(root)
    shown = run_cli(
        "--archive", str(root), "resolve", "--auto-resolve", "simple", "--dry-run", "--json"
    )
    assert shown.exit_code == 0, shown.output
    monkeypatch.setattr(_Spill, "CACHED", 1)
    tight = run_cli(
        "--archive", str(root), "resolve", "--auto-resolve", "simple", "--dry-run", "--json"
    )
    assert tight.exit_code == 0, tight.output
    assert json.loads(tight.output) == json.loads(shown.output)
    assert json.loads(shown.output)["decisions_total"] == 4
    assert git_log(root) == before

    archive = Archive(root)
    record = next(archive.iter_records())
    with PreviewArchive(archive) as view:
        tracemalloc.start()
        for index in range(2000):
            view.write_record({**record, "photo_id": f"{index:08d}-{record['photo_id'][9:]}"})
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert held < 2000 * len(json.dumps(record)) // 4, held
        again = view.load_record(f"{7:08d}-{record['photo_id'][9:]}")
        assert again["conflicts"] == record["conflicts"]
        again["conflicts"].append({"changed": "by the caller"})
        assert view.load_record(again["photo_id"])["conflicts"] == record["conflicts"]
    archive.close()
    assert_check_clean(root)


def test_list_shows_the_first_questions_and_counts_them_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for index in range(3):
        write_jpeg(tmp_path / "a" / f"IMG_{index}.jpg", seed=90 + index)
        (tmp_path / "b").mkdir(exist_ok=True)
        write_xmp(tmp_path / "a" / f"IMG_{index}.jpg.xmp", caption=f"Sea {index}")
        (tmp_path / "b" / f"IMG_{index}.jpg").write_bytes(
            (tmp_path / "a" / f"IMG_{index}.jpg").read_bytes()
        )
        write_xmp(tmp_path / "b" / f"IMG_{index}.jpg.xmp", caption=f"Lake {index}")
    root = _discovered(tmp_path)
    whole = run_cli("--archive", str(root), "resolve", "--list", "--json")
    assert whole.exit_code == 0, whole.output
    everything = json.loads(whole.output)
    assert everything["pending_total"] == len(everything["pending"]) >= 3
    monkeypatch.setattr(resolve_module, "KEPT", 1)
    short = run_cli("--archive", str(root), "resolve", "--list", "--json")
    cut = json.loads(short.output)
    assert len(cut["pending"]) == 1 and cut["pending_total"] == everything["pending_total"]
    text = run_cli("--archive", str(root), "resolve", "--list")
    assert f"... and {everything['pending_total'] - 1} more" in text.output, text.output
    assert_check_clean(root)
