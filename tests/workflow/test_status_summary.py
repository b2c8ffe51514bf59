"""``status`` answers from a summary kept by git's tree ids (workflow/summary.py): every
change git knows of (a hand edit committed, a reset, a pull from another clone) and
every original added to or gone from blobs/ shows at once, exactly as a status
computed from nothing would."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from tests.helpers import assert_check_clean, make_library, run_cli


def git(root: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def ps(root: Path, *args: str) -> str:
    result = run_cli("--archive", str(root), *args)
    assert result.exit_code == 0, result.output
    return result.output


def status(root: Path) -> dict[str, Any]:
    """status from the summary, checked against a status that builds it from nothing."""
    kept = json.loads(ps(root, "status", "--json"))
    for leftover in (root / ".photosync").glob("summary.sqlite*"):
        shutil.copy(leftover, leftover.with_name("kept-" + leftover.name))
    for leftover in (root / ".photosync").glob("summary.sqlite*"):
        leftover.unlink()
    fresh = json.loads(ps(root, "status", "--json"))
    for copy in (root / ".photosync").glob("kept-summary.sqlite*"):
        copy.replace(copy.with_name(copy.name[len("kept-") :]))
    assert kept == fresh
    return kept


def test_status_sees_every_change_git_makes(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = tmp_path / "one"
    ps(tmp_path, "init", str(one))
    git(one, "remote", "add", "origin", str(remote))
    make_library(tmp_path / "pics", 3)
    ps(one, "service", "add", "pics", "--type", "local", "--path", str(tmp_path / "pics"))
    ps(one, "discover")
    first = status(one)
    assert first["photos"] == 3 and first["by_state"] == {"discovered": 3}
    assert first["originals"] == 3 and first["originals_not_here"] == 0
    before_more = git(one, "rev-parse", "HEAD").strip()

    make_library(tmp_path / "pics", 2, start_seed=10)
    ps(one, "discover")
    assert status(one)["photos"] == 5

    # a hand edit, committed by the user
    record = next((one / "photos").rglob("*.json"))
    data = json.loads(record.read_text())
    data["processing_state"] = "resolved"
    record.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    git(one, "commit", "-qam", "marked resolved by hand")
    assert status(one)["by_state"] == {"discovered": 4, "resolved": 1}

    # a reset takes the second discover away again (its originals stay in blobs/)
    git(one, "reset", "-q", "--hard", before_more)
    after_reset = status(one)
    assert after_reset["photos"] == 3 and after_reset["originals"] == 3

    # another clone's photos arrive by a plain pull; their originals are not here
    ps(one, "discover")
    git(one, "push", "-q", "origin", "main")
    two = tmp_path / "two"
    subprocess.run(["git", "clone", "-q", str(remote), str(two)], check=True)
    make_library(tmp_path / "pics-two", 2, start_seed=40)
    ps(two, "service", "add", "two", "--type", "local", "--path", str(tmp_path / "pics-two"))
    ps(two, "discover")
    git(two, "push", "-q", "origin", "main")
    git(one, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    pulled = status(one)
    assert pulled["photos"] == 7 and pulled["originals_not_here"] == 2

    # the originals copied in by hand: the blob folders moved, so they are seen at once
    for blob in (two / "blobs").rglob("*"):
        if blob.is_file() and not blob.is_relative_to(two / "blobs" / "tmp"):
            target = one / blob.relative_to(two)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(blob, target)
    assert status(one)["originals_not_here"] == 0
    assert_check_clean(one)
    assert_check_clean(two)


def test_an_original_gone_from_blobs_is_seen_by_the_next_status(tmp_path: Path) -> None:
    """A clone's record whose original is in blobs/ (copied by hand), then removed again:
    the folder's mtime moved, so status lists it again instead of trusting the cache."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = tmp_path / "one"
    ps(tmp_path, "init", str(one))
    git(one, "remote", "add", "origin", str(remote))
    make_library(tmp_path / "pics", 2)
    ps(one, "service", "add", "pics", "--type", "local", "--path", str(tmp_path / "pics"))
    ps(one, "discover")
    git(one, "push", "-q", "origin", "main")
    two = tmp_path / "two"
    subprocess.run(["git", "clone", "-q", str(remote), str(two)], check=True)
    assert status(two)["originals_not_here"] == 2
    blobs = sorted(p for p in (one / "blobs" / "sha256").rglob("*") if p.is_file())
    for blob in blobs:
        target = two / blob.relative_to(one)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(blob, target)
    assert status(two)["originals_not_here"] == 0
    (two / blobs[0].relative_to(one)).unlink()
    assert status(two)["originals_not_here"] == 1
    assert_check_clean(one)


def test_records_moved_while_iterating_come_once(tmp_path: Path) -> None:
    """``iter_records`` reads the index a chunk at a time from a snapshot: a record
    rewritten under a later path while the iteration runs is not met a second time."""
    from photosync.archive.archive import Archive

    root = tmp_path / "archive"
    ps(tmp_path, "init", str(root))
    make_library(tmp_path / "pics", 5)
    ps(root, "service", "add", "pics", "--type", "local", "--path", str(tmp_path / "pics"))
    ps(root, "discover")
    archive = Archive(root)
    archive.lock()
    try:
        met = []
        for record in archive.iter_records():
            met.append(record["photo_id"])
            record["metadata"]["taken_date"] = "2099-12-31T00:00:00"  # files it last
            archive.write_record(record)
        archive.commit("test: every photo moved to 2099")
        assert sorted(met) == sorted(set(met)) and len(met) == 5
        assert [r["photo_id"] for r in archive.iter_records()] != []
    finally:
        archive.close()
    assert_check_clean(root)
