"""photosync in a git repository the user also uses: resets, checkouts, merges, staged
files, hand edits, a git command running beside it (issue 10, holes 3 and 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from photosync.emulators.samples import write_jpeg
from tests.chaos.harness import Expect, check_invariants, git, run, wait_for
from tests.helpers import (
    assert_check_clean,
    killed_after,
    make_library,
    new_archive,
    records,
)

pytestmark = pytest.mark.timeout(300)


def _archive(tmp_path: Path, count: int) -> tuple[Path, Path]:
    library = tmp_path / "lib"
    make_library(library, count)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    archive.close()
    return archive.root, library


def _instances(root: Path) -> set[tuple[str, str]]:
    return {
        (service, instance["id"])
        for record in records(root)
        for service, instances in record["instances"].items()
        for instance in instances
    }


def _commits(root: Path) -> list[str]:
    return git(root, "rev-list", "--all").stdout.split()


def _said(result: subprocess.CompletedProcess[str]) -> str:
    return " ".join((result.stdout + result.stderr).split())


# -- hole 3: the seen-cache follows git ---------------------------------------------------


@pytest.mark.parametrize(
    "undo",
    [
        ["reset", "--hard", "HEAD~1"],
        ["revert", "--no-edit", "HEAD"],
        ["checkout", "-q", "-b", "older", "HEAD~1"],
    ],
    ids=["reset-hard", "revert", "checkout-branch"],
)
def test_discover_after_git_took_records_away_brings_them_back(
    tmp_path: Path, undo: list[str]
) -> None:
    """After a reset (revert, checkout) a plain discover skipped the files whose records went."""
    root, library = _archive(tmp_path, 6)
    run(root, "discover")
    make_library(library, 4, start_seed=100)
    run(root, "discover")
    assert len(records(root)) == 10
    git(root, "-c", "user.name=u", "-c", "user.email=u@x", *undo)
    assert len(records(root)) == 6  # git took the last discover's records away
    run(root, "discover")
    check_invariants(root, Expect(records=10, present={"lib": 10}), read_data=False)
    assert_check_clean(root)


def test_a_record_deleted_by_hand_is_reported_not_skipped(tmp_path: Path) -> None:
    """A record file removed by hand (not committed) is the user's change: discover says so."""
    root, _library = _archive(tmp_path, 3)
    run(root, "discover")
    gone = sorted((root / "photos").rglob("*.json"))[0]
    gone.unlink()
    result = run(root, "discover", expect=4)
    assert gone.name in _said(result) and "left alone" in _said(result)
    assert not gone.exists()  # the user's change stands until they commit or discard it
    git(root, "checkout", "--", str(gone.relative_to(root)))
    run(root, "discover")
    check_invariants(root, Expect(records=3, present={"lib": 3}), read_data=False)
    assert_check_clean(root)


# -- hole 4: git as the user uses it ------------------------------------------------------


def test_a_users_staged_change_stays_staged_and_out_of_photosyncs_commits(
    tmp_path: Path,
) -> None:
    root, _library = _archive(tmp_path, 4)
    (root / "notes.txt").write_text("my own notes\n")
    (root / "README.md").write_text("my archive\n")
    git(root, "add", "notes.txt", "README.md")
    run(root, "discover")
    assert git(root, "show", "--name-only", "--format=", "HEAD").stdout.split() != []
    committed = git(root, "log", "--format=", "--name-only").stdout.split()
    assert "notes.txt" not in committed and committed.count("README.md") == 1  # init's only
    staged = git(root, "diff", "--cached", "--name-only").stdout.split()
    assert sorted(staged) == ["README.md", "notes.txt"]
    git(root, "reset", "-q", "--", "notes.txt", "README.md")
    git(root, "checkout", "--", "README.md")
    (root / "notes.txt").unlink()
    check_invariants(root, Expect(records=4, present={"lib": 4}), read_data=False)
    assert_check_clean(root)


def test_recovery_commits_only_what_photosync_wrote(tmp_path: Path) -> None:
    """The recovery step used `git add -A`: a secret beside the config and a hand edit went in."""
    root, _library = _archive(tmp_path, 3)
    run(root, "discover")
    hand_edited = sorted((root / "photos").rglob("*.json"))[0]
    record = json.loads(hand_edited.read_text())
    record["metadata"]["caption"] = "written by hand"
    hand_edited.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    (root / "config" / "my-token.json").write_text('{"secret": "hunter2"}\n')
    # a run killed after writing a record and before its commit
    leftover = records(root)[1]
    killed_after(
        root,
        f"record = archive.load_record({leftover['photo_id']!r})\n"
        "record['metadata']['caption'] = 'written by the killed run'\n"
        "archive.write_record(record)",
    )
    result = run(root, "discover")
    assert "left alone" in _said(result) and hand_edited.name in _said(result)
    everything = git(root, "log", "--all", "--format=", "--name-only").stdout.split()
    assert "config/my-token.json" not in everything
    assert "hunter2" not in git(root, "log", "--all", "-p").stdout
    assert "written by hand" not in git(root, "log", "--all", "-p").stdout
    assert "written by the killed run" in git(root, "log", "-p").stdout
    status = git(root, "status", "--porcelain").stdout.splitlines()
    assert sorted(status) == sorted(
        [f" M {hand_edited.relative_to(root)}", "?? config/my-token.json"]
    )
    assert json.loads(hand_edited.read_text())["metadata"]["caption"] == "written by hand"
    git(root, "checkout", "--", str(hand_edited.relative_to(root)))
    (root / "config" / "my-token.json").unlink()
    run(root, "discover")
    check_invariants(root, Expect(records=3, present={"lib": 3}), read_data=False)
    assert_check_clean(root)


def _conflicting_merge(root: Path) -> Path:
    """A merge of two branches that edited the same file, left with its conflict.

    Records and config are merged by photosync's driver (no conflict left), so the
    clash is in the archive's README.md, which git merges line by line.
    """
    target = root / "README.md"
    rel = "README.md"
    ident = ["-c", "user.name=u", "-c", "user.email=u@x"]
    git(root, "checkout", "-q", "-b", "side")
    target.write_text("my archive, side\n")
    git(root, *ident, "commit", "-q", "-m", "side readme", "--", rel)
    git(root, "checkout", "-q", "main")
    target.write_text("my archive, main\n")
    git(root, *ident, "commit", "-q", "-m", "main readme", "--", rel)
    merged = git(root, *ident, "merge", "side", check=False)
    assert merged.returncode != 0 and (root / ".git" / "MERGE_HEAD").exists()
    return target


@pytest.mark.parametrize("state", ["detached", "merging", "cherry-picking"])
def test_no_commit_on_a_detached_head_or_in_the_middle_of_a_git_operation(
    tmp_path: Path, state: str
) -> None:
    root, library = _archive(tmp_path, 3)
    run(root, "discover")
    make_library(library, 2, start_seed=40)
    if state == "detached":
        git(root, "checkout", "-q", "--detach", "HEAD")
        said = "detached"
    elif state == "merging":
        _conflicting_merge(root)
        said = "merge"
    else:
        _conflicting_merge(root)
        git(root, "merge", "--abort")
        git(root, "-c", "user.name=u", "-c", "user.email=u@x", "cherry-pick", "side", check=False)
        assert (root / ".git" / "CHERRY_PICK_HEAD").exists()
        said = "cherry-pick"
    before = _commits(root)
    head = git(root, "rev-parse", "HEAD").stdout
    for args in (["discover"], ["resolve", "--auto-resolve", "simple"], ["verify", "--repair"]):
        refused = run(root, *args, expect=3)
        assert said in _said(refused) and "photosync commits only on a branch" in _said(refused)
    assert _commits(root) == before and git(root, "rev-parse", "HEAD").stdout == head
    # read-only commands keep working
    run(root, "status")
    listed = run(root, "resolve", "--list", "--json")
    assert "pending" in json.loads(listed.stdout)
    run(root, "check", expect=(0, 6))
    # every commit photosync ever made has one parent: never a merge commit
    parents = git(root, "log", "--all", "--format=%p").stdout.splitlines()
    assert all(len(line.split()) <= 1 for line in parents)
    if state == "detached":
        git(root, "checkout", "-q", "main")
    elif state == "merging":
        git(root, "merge", "--abort")
    else:
        git(root, "cherry-pick", "--abort")
    run(root, "discover")
    check_invariants(root, Expect(records=5, present={"lib": 5}), read_data=False)
    assert_check_clean(root)


def test_a_lock_held_by_a_live_git_is_never_moved(tmp_path: Path) -> None:
    """`git commit -- FILE` holds .git/index.lock while its editor is open, unchanged for
    as long as the user takes: photosync moved it aside after two seconds."""
    root, _library = _archive(tmp_path, 2)
    run(root, "discover")
    (root / "README.md").write_text("my archive, my words\n")
    editor = f"{sys.executable} -c 'import sys; sys.stdin.readline()'"
    user_git = subprocess.Popen(
        ["git", "-c", "user.name=u", "-c", "user.email=u@x", "commit", "--", "README.md"],
        cwd=root,
        env={**os.environ, "GIT_EDITOR": editor},
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    lock = root / ".git" / "index.lock"
    try:
        assert wait_for(lock.exists, 30)
        held = lock.stat().st_ino
        refused = run(root, "discover", expect=5)
        assert "git command is running" in _said(refused)
        assert lock.exists() and lock.stat().st_ino == held  # still the user's git's
        assert not (root / ".photosync" / "quarantine").exists()
    finally:
        assert user_git.stdin is not None
        user_git.stdin.write("\n")  # the editor closes: an empty message aborts the commit
        user_git.stdin.close()
        user_git.wait(timeout=60)
    assert not lock.exists()
    git(root, "checkout", "--", "README.md")
    run(root, "discover")
    check_invariants(root, Expect(records=2, present={"lib": 2}), read_data=False)
    assert_check_clean(root)


def test_git_revert_of_a_resolve_join_after_replicate_leaves_a_consistent_archive(
    tmp_path: Path, testdata: Path
) -> None:
    """README: `git revert` of a resolve commit, then check is clean. A join then replicate
    then revert left the variant's instance in the joined record too: duplicate_hash."""
    source, target = tmp_path / "src", tmp_path / "tgt"
    source.mkdir()
    target.mkdir()
    for rel in ("camera/Canon EOS 7D.jpg", "derived/Canon_EOS_7D__q60_50pct_exif.jpg"):
        (source / Path(rel).name).write_bytes((testdata / "photos" / rel).read_bytes())
    archive = new_archive(tmp_path, phone={"type": "local", "path": str(source)})
    archive.close()
    root = archive.root
    run(
        root,
        "service",
        "add",
        "out",
        "--type",
        "local",
        "--path",
        str(target),
        "--target",
        "--no-source",
    )
    run(root, "discover")
    before = {r["content_hash"]: r for r in records(root)}
    assert len(before) == 2
    run(root, "resolve", "--auto-resolve", "simple")
    resolve_commit = git(root, "rev-parse", "HEAD").stdout.strip()
    assert len(records(root)) == 1  # the recompressed copy was joined into the original
    run(root, "replicate", "--execute")  # touches the joined record after the join
    git(root, "-c", "user.name=u", "-c", "user.email=u@x", "revert", "--no-edit", resolve_commit)
    after = records(root)
    holders: dict[str, set[str]] = {}
    for record in after:
        for _service, instance in (
            (s, i) for s, items in record["instances"].items() for i in items
        ):
            h = instance.get("content_hash") or record["content_hash"]
            holders.setdefault(h, set()).add(record["photo_id"])
    # each original's instance in exactly the record that is its own again, none lost
    assert holders == {h: {r["photo_id"]} for h, r in before.items()}
    assert {(s, i["id"]) for r in after for s, items in r["instances"].items() for i in items} >= {
        ("phone", i["id"]) for r in before.values() for i in r["instances"]["phone"]
    }
    assert git(root, "status", "--porcelain").stdout == ""
    assert_check_clean(root)


def test_stale_git_locks_a_killed_commit_leaves_are_moved_aside(tmp_path: Path) -> None:
    """A kill -9 inside a commit's `update-ref` (deleting photosync's scratch ref) leaves
    .git/packed-refs.lock; every later run exited 3 with git's message until the user
    deleted it by hand (red team). Like index.lock, a stale one is moved aside."""
    root, library = _archive(tmp_path, 2)
    run(root, "discover")
    for name in ("packed-refs.lock", "config.lock"):
        stale = root / ".git" / name
        stale.write_text("")
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
    write_jpeg(library / "new.jpg", seed=777)
    run(root, "discover")
    assert not (root / ".git" / "packed-refs.lock").exists()
    assert not (root / ".git" / "config.lock").exists()
    moved = {p.name for p in (root / ".photosync" / "quarantine").rglob("*")}
    assert any("packed-refs" in name for name in moved), moved
    check_invariants(root, Expect(records=3, present={"lib": 3}), read_data=False)
    assert_check_clean(root)


def test_hand_edits_found_while_discover_stores_new_files_lose_nothing(tmp_path: Path) -> None:
    """discover looks at the working tree (``git status``) while it stores new files, and
    acts on what that look finds before any record is looked up or written: an edited
    record is left alone, an instance removed by hand comes back once committed."""
    library, second = tmp_path / "lib", tmp_path / "lib2"
    files = make_library(library, 4)
    second.mkdir()
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(library)},
        lib2={"type": "local", "path": str(second)},
    )
    root = archive.root
    archive.close()
    run(root, "discover")
    by_file = {r["instances"]["lib"][0]["id"].rsplit("/", 1)[-1]: r for r in records(root)}
    edited, emptied = by_file[files[0].name], by_file[files[1].name]
    # a copy of the edited photo turns up in the second folder, with two new photos
    (second / "copy.jpg").write_bytes(files[0].read_bytes())
    make_library(second, 2, start_seed=50)
    path_of = {
        r["photo_id"]: p
        for p in (root / "photos").rglob("*.json")
        for r in [json.loads(p.read_text())]
    }
    record = json.loads(path_of[edited["photo_id"]].read_text())
    record["metadata"]["caption"] = "written by hand"
    path_of[edited["photo_id"]].write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    record = json.loads(path_of[emptied["photo_id"]].read_text())
    del record["instances"]["lib"]
    path_of[emptied["photo_id"]].write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    result = run(root, "discover", expect=4)
    said = _said(result)
    assert "left alone" in said
    assert path_of[edited["photo_id"]].name in said and path_of[emptied["photo_id"]].name in said
    assert json.loads(path_of[edited["photo_id"]].read_text())["metadata"]["caption"] == (
        "written by hand"
    )
    assert "written by hand" not in git(root, "log", "-p").stdout
    assert len(records(root)) == 6  # the two new photos, in records of their own
    changed = sorted(git(root, "status", "--porcelain").stdout.splitlines())
    assert changed == sorted(
        f" M {path_of[p].relative_to(root)}" for p in (edited["photo_id"], emptied["photo_id"])
    )

    git(root, "-c", "user.name=u", "-c", "user.email=u@x", "commit", "-q", "-am", "my edits")
    run(root, "discover")
    now = {r["photo_id"]: r for r in records(root)}
    assert now[edited["photo_id"]]["metadata"]["caption"] == "written by hand"
    assert len(now[edited["photo_id"]]["instances"]["lib2"]) == 1  # the copy, added now
    assert now[emptied["photo_id"]]["instances"]["lib"]  # read again from its file
    assert git(root, "status", "--porcelain").stdout == ""
    check_invariants(root, Expect(records=6, present={"lib": 4, "lib2": 3}), read_data=False)
    assert_check_clean(root)
