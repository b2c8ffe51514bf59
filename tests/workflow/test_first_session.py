"""Issue 11: a first real session that earns trust.

Previews preview, listing and checking never write, a skipped question comes
back, a ``--since`` window leaves the cursor alone, a resolve can be undone.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from photosync.emulators.samples import write_xmp_sidecar
from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    git_clean,
    make_library,
    records,
    run_cli,
)
from tests.workflow.test_identity_resolution import _photo, _reencode


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
    assert len(_files(tmp_path / "out")) == 3 and len(_files(tmp_path / "nas" / "sha256")) == 3
    # and the archive itself: one bundle of its history and the manifest naming it
    assert [name.split("-")[0] for name in _files(tmp_path / "nas" / "archive")] == [
        "bundle",
        "manifest",
    ]
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


# defect 11: a preview of resolve, the automatic rate, and undoing a run -------------------------
def _variants_library(tmp_path: Path) -> str:
    """A phone folder and a "google" folder of smaller re-encodes: three quality variants
    (one with a caption only Google has), a photo whose captions disagree, and one whose
    caption only the phone's identical copy has."""
    originals = [_photo(tmp_path / "phone", i) for i in range(5)]
    for path in originals[:3]:
        _reencode(path, tmp_path / "google" / path.name)
    write_xmp_sidecar(tmp_path / "google" / f"{originals[0].name}.xmp", caption="Picnic")
    # the same bytes on both (Google's listed first); only the phone's copy has a caption
    (tmp_path / "google" / originals[4].name).write_bytes(originals[4].read_bytes())
    write_xmp_sidecar(tmp_path / "phone" / f"{originals[4].name}.xmp", caption="Sunset")
    (tmp_path / "google" / originals[3].name).write_bytes(originals[3].read_bytes())
    write_xmp_sidecar(tmp_path / "phone" / f"{originals[3].name}.xmp", caption="Harbour")
    write_xmp_sidecar(tmp_path / "google" / f"{originals[3].name}.xmp", caption="Old port")
    root = str(tmp_path / "archive")
    _ok("init", root)
    for name in ("phone", "google"):
        _ok(
            "--archive",
            root,
            "service",
            "add",
            name,
            "--type",
            "local",
            "--path",
            str(tmp_path / name),
        )
    _ok("--archive", root, "discover")
    return root


def _snapshot(root: str) -> dict[str, bytes]:
    photos = Path(root) / "photos"
    return {str(p.relative_to(photos)): p.read_bytes() for p in sorted(photos.rglob("*.json"))}


def _blobs(root: str) -> list[str]:
    return _files(Path(root) / "blobs" / "sha256")


def test_auto_resolve_dry_run_shows_what_the_real_run_then_does(tmp_path: Path) -> None:
    root = _variants_library(tmp_path)
    before, head = _snapshot(root), _head(root)
    assert len(before) == 8  # five photos, three smaller copies recorded apart
    preview = json.loads(
        _ok("--archive", root, "resolve", "--auto-resolve", "simple", "--dry-run", "--json").output
    )
    human = _ok("--archive", root, "resolve", "--auto-resolve", "simple", "--dry-run").output
    assert _snapshot(root) == before and _head(root) == head and git_clean(Path(root))
    assert "dry run: nothing was changed" in human
    assert preview["dry_run"] is True and preview["quality_variants_joined"] == 3
    joined = {
        d["decision"].rsplit("(", 1)[1].rstrip(")")
        for d in preview["decisions"]
        if "joined" in d["decision"]
    }
    assert len(joined) == 3
    said = {(d["filename"], d["decision"]) for d in preview["decisions"]}
    assert ("IMG_0004.jpg", "caption set to 'Sunset' (missing_metadata)") in said
    automatic = preview["automatic"]
    assert automatic["total"] - automatic["settled"] == 1  # the harbour caption: a human's call
    rate_line = (
        f"resolved automatically: {automatic['settled']} of {automatic['total']} "
        f"({automatic['settled'] / automatic['total'] * 100:.1f}%)"
    )
    assert rate_line in human
    # the real run does what the preview said, and ends with the same rate
    done = _ok("--archive", root, "resolve", "--auto-resolve", "simple").output
    assert rate_line in done
    after = records(Path(root))
    assert len(after) == 5
    assert {v["photo_id"] for r in after for v in r.get("variants", [])} >= joined
    assert {r["photo_id"] for r in after}.isdisjoint(joined)
    by_name = {r["metadata"]["filename"]: r for r in after}
    assert by_name["IMG_0000.jpg"]["metadata"]["caption"] == "Picnic"  # came with the merge
    assert by_name["IMG_0004.jpg"]["metadata"]["caption"] == "Sunset"
    assert_check_clean(Path(root))


def test_reverting_resolve_commits_brings_conflicts_back_and_loses_nothing(
    tmp_path: Path,
) -> None:
    root = _variants_library(tmp_path)
    before, blobs = _snapshot(root), _blobs(root)
    _ok("--archive", root, "resolve", "--auto-resolve", "simple")
    merged = _head(root)
    asked = run_cli("--archive", root, "resolve", "--interactive", input="1\n")  # phone's caption
    assert asked.exit_code == 0 and "1 decision(s) recorded" in asked.output, asked.output
    decided = _head(root)
    assert json.loads(_ok("--archive", root, "resolve", "--list", "--json").output)["pending"] == []

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", root, *args], check=True, capture_output=True)

    git("revert", "--no-edit", decided)  # undo the decision: the question is back
    pending = json.loads(_ok("--archive", root, "resolve", "--list", "--json").output)["pending"]
    assert [(p["filename"], p["field"], p["status"]) for p in pending] == [
        ("IMG_0003.jpg", "caption", "open")
    ]
    assert_check_clean(Path(root))
    git("revert", "--no-edit", merged)  # undo the merges: every record and instance is back
    assert _snapshot(root) == before
    assert _blobs(root) == blobs  # no blob was ever removed
    assert_check_clean(Path(root))
    # and photosync carries on from there: nothing new to discover, the same merges again
    found = json.loads(_ok("--archive", root, "discover", "--json").output)
    assert all(s["new"] == 0 for s in found["services"])
    _ok("--archive", root, "resolve", "--auto-resolve", "simple")
    assert len(records(Path(root))) == 5
    assert _blobs(root) == blobs
    assert_check_clean(Path(root))
