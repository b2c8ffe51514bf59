"""Resolve (conflicts, rules, decisions) and replicate (plan, copy, no overwrite, journal)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from photosync.blobstore.base import hash_file
from photosync.emulators.samples import write_jpeg, write_xmp_sidecar
from photosync.services.local import LocalFolderService
from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import assert_check_clean, git_log, make_library, new_archive, records, run_cli


def _two_views(tmp: Path) -> Path:
    """One photo in two folders with different captions, tags and another location."""
    write_jpeg(tmp / "a" / "IMG_1.jpg", seed=1, gps=(10.0, 20.0))
    (tmp / "b").mkdir()
    (tmp / "b" / "IMG_1.jpg").write_bytes((tmp / "a" / "IMG_1.jpg").read_bytes())
    write_xmp_sidecar(tmp / "a" / "IMG_1.jpg.xmp", caption="Sunset at the beach", tags=["beach"])
    write_xmp_sidecar(
        tmp / "b" / "IMG_1.xmp", caption="Ocean Beach sunset with friends", tags=["friends", "sea"]
    )
    write_jpeg(tmp / "a" / "IMG_2.jpg", seed=2)
    (tmp / "b" / "IMG_2.jpg").write_bytes((tmp / "a" / "IMG_2.jpg").read_bytes())
    write_xmp_sidecar(tmp / "b" / "IMG_2.xmp", caption="Only here", tags=["x"])
    return tmp


def _archive(tmp: Path):  # type: ignore[no-untyped-def]
    _two_views(tmp)
    return new_archive(
        tmp,
        a={"type": "local", "path": str(tmp / "a")},
        b={"type": "local", "path": str(tmp / "b")},
        backup={"type": "local", "path": str(tmp / "backup"), "target": True, "source": False},
    )


def test_conflicts_are_found_and_simple_ones_settled_by_rule(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    archive.lock()
    discover(archive)
    report = auto_resolve(archive)
    by_name = {r["metadata"]["filename"]: r for r in records(archive.root)}
    conflicted = by_name["IMG_1.jpg"]
    fields = sorted(c["field"] for c in conflicted["conflicts"])
    assert fields == ["caption", "tags"]
    caption = next(c for c in conflicted["conflicts"] if c["field"] == "caption")
    assert caption["resolution_required"] and caption["status"] == "open"
    assert sorted(o["source"] for o in caption["options"]) == ["a", "b"]
    assert conflicted["processing_state"] == "discovered"
    settled = by_name["IMG_2.jpg"]  # only one side has a caption: merged, no question
    assert (
        settled["metadata"]["caption"] == "Only here" and settled["processing_state"] == "resolved"
    )
    assert report.needs_decision == 1 and report.now_resolved == 1
    assert git_log(archive.root)[0].startswith("resolve: 1 resolved")
    archive.close()
    assert_check_clean(archive.root)


def test_interactive_resolution_records_who_and_when(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = _archive(tmp_path)
    archive.lock()
    discover(archive)
    archive.close()
    monkeypatch.setenv("PHOTOSYNC_USER", "ada")
    root = str(archive.root)
    listed = run_cli("--archive", root, "resolve", "--list", "--json")
    pending = json.loads(listed.output)["pending"]
    assert sorted(p["field"] for p in pending) == ["caption", "tags"]
    # caption: 3 = Combine; tags: 3 = Combine (union)
    result = run_cli("--archive", root, "resolve", "--interactive", input="3\n3\n")
    assert (
        "1. Use a version" in result.output
        and "Combine" in result.output
        and "Skip" in result.output
    )
    record = next(r for r in records(archive.root) if r["metadata"]["filename"] == "IMG_1.jpg")
    assert record["metadata"]["caption"] == "Ocean Beach sunset with friends — Sunset at the beach"
    assert record["metadata"]["tags"] == ["beach", "friends", "sea"]
    decision = next(c for c in record["conflicts"] if c["field"] == "caption")["resolution"]
    assert decision["by"] == "ada" and decision["choice"] == "combine" and decision["at"]
    assert record["processing_state"] == "resolved"
    assert git_log(archive.root)[0].startswith("resolve: decisions by ada")
    assert (
        json.loads(run_cli("--archive", root, "resolve", "--list", "--json").output)["pending"]
        == []
    )
    assert_check_clean(archive.root)


def test_interactive_stops_cleanly_when_input_runs_out(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    archive.lock()
    discover(archive)
    archive.close()
    result = run_cli("--archive", str(archive.root), "resolve", "--interactive", input="5\n")
    # the answers given are kept and committed; the question left without one is a
    # user's matter (exit 3), so a script can tell that input ran out
    assert result.exit_code == 3, result.output
    assert "stopped: 1 decision(s) recorded" in result.output
    assert "no answer" in result.output
    assert_check_clean(archive.root)


def test_replicate_dry_run_plans_and_execute_copies_without_overwriting(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 6)
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        backup={"type": "local", "path": str(tmp_path / "backup"), "target": True, "source": False},
    )
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    plan = replicate(archive, execute=False)
    assert plan.counts() == {"backup": {"upload": 6}}
    assert not (tmp_path / "backup").exists()
    # a different file already sits where one photo would go: it must survive
    first = records(archive.root)[0]
    service = LocalFolderService("backup", {"path": str(tmp_path / "backup")})
    squatter = tmp_path / "backup" / service.target_relpath(first)
    squatter.parent.mkdir(parents=True)
    squatter.write_bytes(b"someone else's file")
    done = replicate(archive, execute=True)
    assert not done.failed
    assert squatter.read_bytes() == b"someone else's file"
    copies = [p for p in (tmp_path / "backup").rglob("*.jpg")]
    assert len(copies) == 7
    for record in records(archive.root):
        assert record["processing_state"] == "replicated"
        instance = record["instances"]["backup"][0]
        copy = tmp_path / "backup" / instance["id"]
        assert hash_file(copy)[0] == record["content_hash"][7:]
        assert copy.parent.name == record["metadata"]["taken_date"][5:7]
        assert [loc["store"] for loc in record["blob_locations"]] == ["local"]
    assert git_log(archive.root)[0] == "replicate: 6 to backup"
    again = replicate(archive, execute=True)
    assert again.counts() == {} and not again.done
    archive.close()
    assert_check_clean(archive.root)


def test_unresolved_photos_wait_and_new_photos_stay_private(tmp_path: Path) -> None:
    archive = _archive(tmp_path)
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    report = replicate(archive, execute=True)
    assert report.skipped_unresolved == 1
    for record in records(archive.root):
        assert record["visibility"]["canonical"] == "private"
    archive.close()
    assert_check_clean(archive.root)
