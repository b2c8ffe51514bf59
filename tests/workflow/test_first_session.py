"""Issue 11: a first real session that earns trust.

Previews preview, listing and checking never write, a skipped question comes
back, a ``--since`` window leaves the cursor alone, a resolve can be undone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    git_clean,
    make_library,
    records,
    run_cli,
)


def _ok(*args: str, codes: tuple[int, ...] = (0,)) -> Any:
    result = run_cli(*args)
    assert result.exit_code in codes, result.output
    return result


def _head(root: str | Path) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _session(tmp_path: Path, count: int = 3) -> str:
    """init, a phone folder as source, a folder target, a second storage location."""
    root = str(tmp_path / "archive")
    _ok("init", root)
    make_library(tmp_path / "lib", count)
    _ok(
        "--archive",
        root,
        "service",
        "add",
        "phone",
        "--type",
        "local",
        "--path",
        str(tmp_path / "lib"),
    )
    _ok(
        "--archive",
        root,
        "service",
        "add",
        "out",
        "--type",
        "local",
        "--path",
        str(tmp_path / "out"),
        "--target",
        "--no-source",
    )
    _ok(
        "--archive",
        root,
        "storage",
        "add",
        "nas",
        "--type",
        "local",
        "--path",
        str(tmp_path / "nas"),
    )
    _ok("--archive", root, "discover")
    return root


# defect 1: replicate previews unless told --execute ------------------------------------------
def test_replicate_without_a_flag_only_previews_uploads_and_copies(tmp_path: Path) -> None:
    root = _session(tmp_path)
    _ok("--archive", root, "resolve", "--auto-resolve", "simple")
    head = _head(root)
    plain = _ok("--archive", root, "replicate")
    assert "dry run: nothing was changed" in plain.output
    assert "copy_original" in plain.output  # the storage location's copies are in the plan
    assert _head(root) == head and git_clean(Path(root))
    assert _files(tmp_path / "out") == [] and _files(tmp_path / "nas") == []
    verbose = _ok("--archive", root, "replicate", "--verbose")
    for record in records(Path(root)):
        assert (
            f"upload out: {record['photo_id'][:8]} {record['metadata']['filename']}"
            in verbose.output
        )
        assert f"copy_original nas: {record['photo_id'][:8]}" in verbose.output
    plan = json.loads(_ok("--archive", root, "replicate", "--json").output)
    assert plan["execute"] is False
    assert plan["plan"] == {"out": {"upload": 3}, "nas": {"copy_original": 3}}
    by_photo = {(a["photo_id"], a["target"], a["action"]) for a in plan["actions"]}
    assert by_photo == {
        (r["photo_id"], target, action)
        for r in records(Path(root))
        for target, action in (("out", "upload"), ("nas", "copy_original"))
    }
    assert _head(root) == head and _files(tmp_path / "out") == []
    done = json.loads(_ok("--archive", root, "replicate", "--execute", "--json").output)
    assert done["done"] == {"out:upload": 3, "nas:copy_original": 3}
    assert len(_files(tmp_path / "out")) == 3 and len(_files(tmp_path / "nas")) == 3
    assert_check_clean(Path(root))


def _fields(root: str) -> dict[str, set[str]]:
    return {
        r["metadata"]["filename"]: {c["field"] for c in r["conflicts"]} for r in records(Path(root))
    }


# defect 8: listing and checking never write -------------------------------------------------
def test_listing_and_checking_commands_leave_head_and_worktree_alone(tmp_path: Path) -> None:
    root = conflicting_library(tmp_path)
    head = _head(root)
    listed = json.loads(_ok("--archive", root, "resolve", "--list", "--json").output)
    # the list is what resolve would ask: three fields per photo disagree
    assert len(listed["pending"]) == 9
    assert {item["field"] for item in listed["pending"]} == {"caption", "taken_date", "location"}
    for args in (
        ("resolve", "--list"),
        ("resolve", "--auto-resolve", "simple", "--dry-run"),
        ("status",),
        ("status", "--json"),
        ("audit", "--visibility-check"),
        ("verify",),
        ("verify", "--read-data"),
    ):
        _ok("--archive", root, *args, codes=(0, 6))
        assert _head(root) == head, args
        assert git_clean(Path(root)), args
    assert all(not fields - {None} for fields in _fields(root).values())  # records untouched
    _ok("--archive", root, "resolve", "--auto-resolve", "simple")
    assert _head(root) != head  # the command that says so does the work
    assert_check_clean(Path(root))


def _add_target(root: str, folder: Path) -> None:
    _ok(
        "--archive",
        root,
        "service",
        "add",
        "out",
        "--type",
        "local",
        "--path",
        str(folder),
        "--target",
        "--no-source",
    )


# defect 3: a skipped question is kept, counted, shown and asked again ------------------------------
def test_a_skipped_conflict_is_listed_counted_waited_for_and_asked_again(tmp_path: Path) -> None:
    root = conflicting_library(tmp_path, count=2)
    _add_target(root, tmp_path / "out")
    # photo 1: caption from a, skip the place, date from b; photo 2: q (stop)
    asked = run_cli("--archive", root, "resolve", "--interactive", input="1\n4\n2\nq\n")
    assert asked.exit_code == 0, asked.output
    assert "[1 of 6] Conflict:" in asked.output and "[4 of 6] Conflict:" in asked.output
    assert "stopped: 3 decision(s) recorded" in asked.output
    listed = json.loads(_ok("--archive", root, "resolve", "--list", "--json").output)["pending"]
    by_status = sorted((item["filename"], item["field"], item["status"]) for item in listed)
    assert by_status == [
        ("IMG_0000.jpg", "location", "skipped"),
        ("IMG_0001.jpg", "caption", "open"),
        ("IMG_0001.jpg", "location", "open"),
        ("IMG_0001.jpg", "taken_date", "open"),
    ]
    assert "1 skipped" in _ok("--archive", root, "resolve", "--list").output
    status = json.loads(_ok("--archive", root, "status", "--json").output)
    assert status["skipped_conflicts"] == {"metadata_mismatch": 1}
    assert status["open_conflicts"] == {"metadata_mismatch": 3}
    assert "skipped conflicts" in _ok("--archive", root, "status").output
    (first,) = [r for r in records(Path(root)) if r["metadata"]["filename"] == "IMG_0000.jpg"]
    assert first["processing_state"] == "discovered"
    assert first["metadata"]["caption"] == "Beach 0"
    assert first["metadata"]["taken_date"].startswith("2022-06-01")
    # replicate says which photos wait and why
    plan = json.loads(_ok("--archive", root, "replicate", "--json").output)
    waiting = {w["filename"]: w["reasons"] for w in plan["waiting"]}
    assert waiting["IMG_0000.jpg"] == ["skipped: instances disagree on location"]
    assert len(waiting["IMG_0001.jpg"]) == 3
    assert "skipped: instances disagree on location" in _ok("--archive", root, "replicate").output
    # --skipped asks only the skipped one; the answer settles the photo
    again = run_cli("--archive", root, "resolve", "--interactive", "--skipped", input="2\n")
    assert again.exit_code == 0, again.output
    assert "[1 of 1] Conflict:" in again.output and "(skipped earlier)" in again.output
    (first,) = [r for r in records(Path(root)) if r["metadata"]["filename"] == "IMG_0000.jpg"]
    assert first["processing_state"] == "resolved"
    assert first["metadata"]["location"]["lat"] < 41  # b's place
    done = json.loads(_ok("--archive", root, "replicate", "--execute", "--json").output)
    assert done["done"] == {"out:upload": 1}
    assert_check_clean(Path(root))


def test_plain_interactive_asks_the_skipped_after_the_open_ones(tmp_path: Path) -> None:
    root = conflicting_library(tmp_path, count=1)
    first = run_cli("--archive", root, "resolve", "--interactive", input="5\n1\n1\n")
    assert first.exit_code == 0, first.output  # caption skipped, location and date decided
    again = run_cli("--archive", root, "resolve", "--interactive", input="3\n")  # Combine
    assert "[1 of 1] Conflict:" in again.output and "(skipped earlier)" in again.output
    (record,) = records(Path(root))
    assert record["metadata"]["caption"] == "Beach 0 — Lake 0"
    assert record["processing_state"] == "resolved"
    assert_check_clean(Path(root))
