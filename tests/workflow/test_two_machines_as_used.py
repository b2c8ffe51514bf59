"""Two machines, tried as a user would: git pull --rebase, remotes that are not what sync expects."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.archive.git import Git
from tests.helpers import assert_check_clean, killed_after, make_library, run_cli
from tests.workflow.test_two_machines import (
    _diverged,
    add_folder,
    by_id,
    clone,
    git,
    no_conflict_markers,
    ps,
    tracked_bytes,
)


def _bare(path: Path) -> Path:
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(path)], check=True)
    return path


def _archive_with_remote(tmp_path: Path, name: str) -> tuple[Path, Path]:
    remote = _bare(tmp_path / f"{name}.git")
    root = tmp_path / name
    Archive.init(root)
    git(root, "remote", "add", "origin", str(remote))
    ps(root, "sync")
    return root, remote


def test_a_remote_of_another_archive_is_refused_and_nothing_changes(tmp_path: Path) -> None:
    """`git merge` refused the unrelated history, sync took that for merged and then
    failed its push with git's "integrate the remote changes (git pull)" (exit 3)."""
    one, _remote = _archive_with_remote(tmp_path, "one")
    make_library(tmp_path / "pics", 2)
    add_folder(one, "pics", tmp_path / "pics")
    ps(one, "discover")
    other, other_remote = _archive_with_remote(tmp_path, "other")  # another archive
    git(one, "remote", "add", "other", str(other_remote))
    head, theirs = git(one, "rev-parse", "HEAD"), git(other_remote, "rev-parse", "main")
    before = tracked_bytes(one)
    out = " ".join(ps(one, "sync", "other", code=3).split())
    assert "shares no history with this archive" in out and "git remote -v" in out
    assert git(one, "rev-parse", "HEAD") == head and tracked_bytes(one) == before
    assert git(other_remote, "rev-parse", "main") == theirs
    assert not (one / ".photosync" / "sync-merge").exists()
    assert_check_clean(one)
    assert_check_clean(other)


def test_an_unreachable_remote_is_a_service_error_that_changes_nothing(tmp_path: Path) -> None:
    """It was `git fetch failed` with exit 3 (a user mistake), for a NAS that is down."""
    one, _remote = _archive_with_remote(tmp_path, "one")
    git(one, "remote", "set-url", "origin", str(tmp_path / "nas-is-down" / "photos.git"))
    head = git(one, "rev-parse", "HEAD")
    out = " ".join(ps(one, "sync", code=7).split())
    assert "cannot fetch from origin" in out and "nothing was changed" in out
    assert "Traceback" not in out
    assert git(one, "rev-parse", "HEAD") == head
    assert_check_clean(one)


def test_a_push_the_remote_refuses_keeps_the_merge_and_says_to_run_again(
    tmp_path: Path,
) -> None:
    """The remote refused the push (another machine pushed meanwhile, a hook, a full
    disk): it was exit 3 with git's own advice to `git pull`."""
    one, remote = _archive_with_remote(tmp_path, "one")
    two = clone(remote, tmp_path / "two")
    make_library(tmp_path / "pics-one", 2, start_seed=0)
    add_folder(one, "pics-one", tmp_path / "pics-one")
    ps(one, "discover")
    ps(one, "sync")
    make_library(tmp_path / "pics-two", 2, start_seed=10)
    add_folder(two, "pics-two", tmp_path / "pics-two")
    ps(two, "discover")
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'remote: disk full' >&2\nexit 1\n")
    hook.chmod(0o755)
    out = " ".join(ps(two, "sync", code=7).split())
    assert "cannot push to origin" in out and "the merge here is kept" in out
    assert len(list((two / "photos").rglob("*.json"))) == 4  # merged here all the same
    hook.unlink()
    ps(two, "sync")
    ps(one, "sync")
    assert tracked_bytes(one) == tracked_bytes(two)
    for root in (one, two):
        assert_check_clean(root)


def test_git_pull_rebase_then_photosync_ends_as_a_sync_would(tmp_path: Path) -> None:
    """`git pull --rebase` instead of sync (the merge driver runs for each replayed
    commit): no marker, and the photo both machines found, filed under two dates, is two
    files until the next photosync run. check said so with a fix by hand (diff, git rm)
    only; it now names the run that merges them."""
    world = _diverged(tmp_path)
    one, two = world / "one", world / "two"
    git(two, "pull", "-q", "--rebase")
    no_conflict_markers(two)
    result = run_cli("--archive", str(two), "check", "--json")
    assert result.exit_code == 6, result.output
    (problem,) = json.loads(result.stdout)["problems"]
    assert problem["kind"] == "duplicate_photo_id" and "`photosync sync`" in problem["fix"]
    ps(two, "sync")
    ps(one, "sync")
    assert tracked_bytes(one) == tracked_bytes(two)
    assert len(by_id(two)) == 5  # 2 + 2 + the common one, each photo_id once
    for root in (one, two):
        assert_check_clean(root)


def test_the_same_folder_service_added_on_both_machines_is_one_service(tmp_path: Path) -> None:
    """`service add pictures --path ~/Pictures` on each machine: sync refused the merge
    ("services.json cannot be merged safely", exit 3). Now config keeps the folder the
    first machine shared and this clone keeps its own in .photosync/machine.json; the other
    machine's photo count no longer sets off this one's shrink alarm (exit 4)."""
    one, remote = _archive_with_remote(tmp_path, "one")
    two = clone(remote, tmp_path / "two")
    ps(two, "sync")
    make_library(tmp_path / "pictures-one", 12, start_seed=0)
    make_library(tmp_path / "pictures-two", 2, start_seed=40)
    for root in (one, two):
        add_folder(root, "pictures", tmp_path / f"pictures-{root.name}")
        ps(root, "discover")
    ps(one, "sync")
    ps(two, "sync")
    ps(one, "sync")
    listed = json.loads(ps(two, "service", "list", "--json"))["pictures"]
    assert listed["path"] == str((tmp_path / "pictures-one").resolve())
    assert listed["on_this_machine"] == str((tmp_path / "pictures-two").resolve())
    for root in (one, two):
        found = json.loads(ps(root, "discover", "--full-scan", "--json"))
        assert [s["warnings"] for s in found["services"]] == [[]], found
    assert len(by_id(one)) == 14 and tracked_bytes(one) == tracked_bytes(two)
    for root in (one, two):
        assert git(root, "status", "--porcelain") == ""
        assert_check_clean(root)


def _behind(tmp_path: Path) -> tuple[Path, Path, Path]:
    """Clone one is behind the remote only: clone two discovered and pushed."""
    one, remote = _archive_with_remote(tmp_path, "one")
    two = clone(remote, tmp_path / "two")
    ps(two, "sync")
    make_library(tmp_path / "pics", 2)
    add_folder(two, "pics", tmp_path / "pics")
    ps(two, "discover")
    ps(two, "sync")
    return one, two, remote


def test_a_clone_only_behind_fast_forwards_and_two_machines_agree(tmp_path: Path) -> None:
    """A clone merely behind made an empty merge commit on every sync, so the two machines
    never agreed they were up to date: each sync made one more (two a day per machine for
    a daily sync, forever)."""
    one, two, remote = _behind(tmp_path)
    ps(one, "sync")
    head = git(two, "rev-parse", "HEAD")
    assert git(one, "rev-parse", "HEAD") == head
    for root in (two, one, two, one):
        assert "already has everything" in ps(root, "sync")
    assert git(remote, "rev-parse", "main") == head
    assert git(one, "log", "--merges", "--oneline") == ""
    for root in (one, two):
        assert_check_clean(root)


# a fast-forward cut short: git wrote the other machine's files, HEAD did not move yet
KILL_IN_FAST_FORWARD = """
archive.git.run("fetch", "-q", "origin")
theirs = archive.git.run("rev-parse", "origin/main").strip()
archive.begin_own_merge(theirs)
archive.git.run("read-tree", "-m", "-u", "HEAD", theirs)
archive.git.run("reset", "-q")
assert archive.git.run("status", "--porcelain", "--untracked-files=all").count("photos/") == 2
"""


def test_a_fast_forward_killed_half_way_ends_as_if_never_killed(tmp_path: Path) -> None:
    one, two, _remote = _behind(tmp_path)
    killed_after(one, KILL_IN_FAST_FORWARD)
    ps(one, "sync")
    assert git(one, "rev-parse", "HEAD") == git(two, "rev-parse", "HEAD")
    assert git(one, "status", "--porcelain") == ""
    assert tracked_bytes(one) == tracked_bytes(two)
    for root in (one, two):
        assert_check_clean(root)


def _hand_edit(root: Path, photo_id: str, field: str, value: str) -> None:
    path = next((root / "photos").rglob(f"{photo_id}.json"))
    record = json.loads(path.read_text())
    record["metadata"][field] = value
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git(root, "commit", "-qam", f"{field} of {photo_id}, by hand")


def test_a_field_added_by_hand_on_one_machine_only_merges(tmp_path: Path) -> None:
    """A caption typed into a record on one machine and a title (a key the record did not
    have) on the other: the merge driver crashed on the key one side lacks (TypeError),
    and sync refused the merge (exit 3, "cannot be merged safely")."""
    one, remote = _archive_with_remote(tmp_path, "one")
    two = clone(remote, tmp_path / "two")
    make_library(tmp_path / "pics", 2)
    add_folder(one, "pics", tmp_path / "pics")
    ps(one, "discover")
    ps(one, "sync")
    ps(two, "sync")
    photo_id = sorted(by_id(one))[0]
    assert "title" not in by_id(one)[photo_id]["metadata"]  # a field the record lacks
    _hand_edit(one, photo_id, "caption", "harbour at dawn")
    _hand_edit(two, photo_id, "title", "Harbour")
    for root in (one, two, one):
        ps(root, "sync")
    no_conflict_markers(two)
    metadata = by_id(one)[photo_id]["metadata"]
    assert (metadata["caption"], metadata["title"]) == ("harbour at dawn", "Harbour")
    assert tracked_bytes(one) == tracked_bytes(two)
    for root in (one, two):
        assert_check_clean(root)


def test_a_git_command_holding_the_index_is_a_lock_not_a_user_mistake(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `git pull` typed while discover runs took git's index.lock under discover, which
    stopped with exit 3 and git's raw "Unable to create index.lock". It is exit 5 now, and
    the run after it keeps what the stopped one found."""
    one, _remote = _archive_with_remote(tmp_path, "one")
    make_library(tmp_path / "pics", 3)
    add_folder(one, "pics", tmp_path / "pics")
    index_lock = Path(git(one, "rev-parse", "--absolute-git-dir").strip()) / "index.lock"
    clear_stale_locks = Git.clear_stale_locks

    def then_the_user_runs_git(self: Git, *args: Any, **kwargs: Any) -> list[str]:
        notes = clear_stale_locks(self, *args, **kwargs)
        index_lock.touch()  # after photosync's start: the user's git, at work
        return notes

    monkeypatch.setattr(Git, "clear_stale_locks", then_the_user_runs_git)
    out = " ".join(ps(one, "discover", code=5).split())
    assert "another git command is working in this archive" in out and "Traceback" not in out
    monkeypatch.undo()
    index_lock.unlink()
    ps(one, "discover")
    assert len(by_id(one)) == 3
    assert_check_clean(one)


def test_a_caption_given_on_one_machine_to_a_photo_both_found_is_its_caption(
    tmp_path: Path,
) -> None:
    """The same photo discovered on both machines (a copy of one folder on each), captioned
    on one before the first sync: the merged record's caption became null and a question
    "two clones changed caption differently" opened, as if the other machine had said
    "no caption". A value against no value is the value."""
    one, remote = _archive_with_remote(tmp_path, "one")
    two = clone(remote, tmp_path / "two")
    make_library(tmp_path / "pics-one", 2)
    make_library(tmp_path / "pics-two", 2)  # the same photos: the same bytes, one path
    add_folder(one, "pics-one", tmp_path / "pics-one")
    add_folder(two, "pics-two", tmp_path / "pics-two")
    for root in (one, two):
        ps(root, "discover")
    photo_id = sorted(by_id(one))[0]
    assert by_id(one)[photo_id]["metadata"]["caption"] is None
    _hand_edit(one, photo_id, "caption", "harbour at dawn")
    for root in (one, two, one):
        ps(root, "sync")
    record = by_id(two)[photo_id]
    assert record["metadata"]["caption"] == "harbour at dawn"
    assert not [c for c in record["conflicts"] if c["id"] == "merge:caption"]
    assert set(record["instances"]) == {"pics-one", "pics-two"}
    assert tracked_bytes(one) == tracked_bytes(two)
    for root in (one, two):
        assert_check_clean(root)
