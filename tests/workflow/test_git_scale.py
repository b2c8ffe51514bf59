"""How photosync drives git: a batch costs a few git processes whatever the archive's
size, no git gc pauses a run, and the commit holds exactly the named files' bytes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.archive.git import Git
from tests.helpers import assert_check_clean, git_log, make_library, new_archive, set_prefs


def _logging_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a ``git`` first on PATH that logs each call's arguments, then runs the real one."""
    real = subprocess.run(["which", "git"], capture_output=True, text=True, check=True)
    folder = tmp_path / "bin"
    folder.mkdir()
    log = tmp_path / "git-calls.log"
    wrapper = folder / "git"
    wrapper.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$*" >> "{log}"\nexec "{real.stdout.strip()}" "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{folder}{os.pathsep}{os.environ['PATH']}")
    return log


def _calls(log: Path) -> list[str]:
    """Each logged git call without its leading ``-c key=value`` options."""
    calls = []
    for line in log.read_text().splitlines() if log.exists() else []:
        words = line.split(" ")
        while len(words) > 2 and words[0] == "-c":
            words = words[2:]
        calls.append(" ".join(words))
    return calls


def test_a_discover_batch_costs_a_few_git_processes_and_no_gc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: ``git config user.name`` before every git call, an index of photosync's
    own read and rewritten per batch (read-tree, update-index, write-tree, commit-tree),
    and whatever gc git chose to start inside the run."""
    library = tmp_path / "lib"
    make_library(library, 6)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    root = archive.root
    archive.close()
    # git would gc after every command that may start one: none may inside a run
    subprocess.run(["git", "-C", str(root), "config", "gc.auto", "1"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "gc.autoPackLimit", "1"], check=True)
    subprocess.run(["git", "-C", str(root), "config", "gc.autoDetach", "false"], check=True)
    log = _logging_git(tmp_path, monkeypatch)
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", "discover"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    calls = _calls(log)
    assert sum(c == "config user.name" for c in calls) <= 1, calls
    verbs = [c.split(" ")[0] for c in calls]
    assert not {"gc", "maintenance", "read-tree", "write-tree"} & set(verbs), calls
    # one batch: HEAD, fast-import, update-ref, the user's index (+ recovery's status)
    assert len(calls) <= 14, calls
    assert len(list((root / "photos").rglob("*.json"))) == 6
    assert_check_clean(root)


def test_commit_files_commits_the_bytes_of_exactly_those_files(tmp_path: Path) -> None:
    """fast-import reads the names itself: odd names (quotes, a leading space, a
    newline, backslashes) arrive byte for byte; a removed file is removed; the user's
    staged file stays staged and out of the commit."""
    root = tmp_path / "repo"
    root.mkdir()
    git = Git(root)
    git.init()
    (root / "keep.txt").write_text("base\n")
    (root / "gone.txt").write_text("bye\n")
    assert git.commit_files("base", ["keep.txt", "gone.txt"]) is not None
    names = ['"quoted".json', " lead.json", "new\nline.json", "back\\slash.json", "é/ü.json"]
    for index, name in enumerate(names):
        (root / name).parent.mkdir(exist_ok=True)
        (root / name).write_bytes(b"record %d\n" % index)
    (root / "gone.txt").unlink()
    (root / "staged.txt").write_text("the user's\n")
    subprocess.run(["git", "-C", str(root), "add", "staged.txt"], check=True)
    head = git.head()
    commit = git.commit_files("photos", [*names, "gone.txt"])
    assert commit is not None and commit != head
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "-r", "-z", "--name-only", "HEAD"],
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    assert sorted(p.decode() for p in listed if p) == sorted([*names, "keep.txt"])
    for index, name in enumerate(names):
        shown = subprocess.run(
            ["git", "-C", str(root), "cat-file", "blob", f"HEAD:{name}"],
            capture_output=True,
            check=True,
        ).stdout
        assert shown == b"record %d\n" % index
    status = subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain", "-z"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    assert [s for s in status if s] == ["A  staged.txt"]
    # nothing changed: no commit, HEAD stays, no scratch ref left behind
    assert git.commit_files("again", names) is None
    assert git.head() == commit
    refs = subprocess.run(
        ["git", "-C", str(root), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout
    assert "refs/photosync" not in refs


def test_a_file_that_cannot_be_read_mid_batch_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is fed to fast-import file by file (memory holds one, not the batch):
    a read failing half-way stops git before ``done``, so HEAD, the refs and the
    files stay as they were, and the next commit of the same batch works."""
    root = tmp_path / "repo"
    root.mkdir()
    git = Git(root)
    git.init()
    (root / "base.txt").write_text("base\n")
    base = git.commit_files("base", ["base.txt"])
    names = [f"r{index:03d}.json" for index in range(200)]
    for name in names:
        (root / name).write_bytes(b"x" * 4096)
    real = Path.read_bytes

    def failing(path: Path) -> bytes:
        if path.name == "r150.json":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(Path, "read_bytes", failing)
    with pytest.raises(PermissionError):
        git.commit_files("batch", names)
    assert git.head() == base
    refs = subprocess.run(
        ["git", "-C", str(root), "for-each-ref"], capture_output=True, text=True, check=True
    ).stdout
    assert "refs/photosync" not in refs
    monkeypatch.setattr(Path, "read_bytes", real)
    commit = git.commit_files("batch", names)
    assert commit is not None and git.head() == commit
    fsck = subprocess.run(["git", "-C", str(root), "fsck", "--strict"], capture_output=True)
    assert fsck.returncode == 0, fsck.stderr


def test_commit_files_refuses_when_head_moved_meanwhile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HEAD moves only from the commit photosync built on: someone's commit in
    between is never lost under photosync's."""
    root = tmp_path / "repo"
    root.mkdir()
    git = Git(root)
    git.init()
    (root / "a.txt").write_text("a\n")
    git.commit_files("a", ["a.txt"])
    (root / "b.txt").write_text("b\n")
    real_head = git.head
    theirs: list[str] = []

    def head_then_someone_commits() -> str | None:
        seen = real_head()
        (root / "c.txt").write_text("c\n")
        subprocess.run(["git", "-C", str(root), "add", "c.txt"], check=True)
        subprocess.run(
            [
                "git",
                "-C",
                str(root),
                "-c",
                "user.name=u",
                "-c",
                "user.email=u@x",
                "commit",
                "-qm",
                "c",
            ],
            check=True,
        )
        theirs.append(str(real_head()))
        return seen

    monkeypatch.setattr(git, "head", head_then_someone_commits)
    with pytest.raises(Exception, match="update-ref"):
        git.commit_files("b", ["b.txt"])
    assert real_head() == theirs[0]


def test_maintain_rolls_small_packs_into_one_and_keeps_every_object(tmp_path: Path) -> None:
    """Each commit is a pack of its own; past the limit they are rolled up."""
    root = tmp_path / "repo"
    root.mkdir()
    git = Git(root)
    git.init()
    # fast-import writes a commit of fewer than 100 objects as loose ones: a pack each here
    subprocess.run(["git", "-C", str(root), "config", "fastimport.unpackLimit", "1"], check=True)
    commits = []
    for index in range(5):
        (root / f"f{index}.json").write_text(f"{index}\n")
        commits.append(git.commit_files(f"c{index}", [f"f{index}.json"]))
    pack_dir = root / ".git" / "objects" / "pack"
    assert len(list(pack_dir.glob("*.pack"))) == 5
    assert not git.maintain(max_packs=8)
    assert git.maintain(max_packs=2)
    assert len(list(pack_dir.glob("*.pack"))) < 5
    fsck = subprocess.run(["git", "-C", str(root), "fsck"], capture_output=True, text=True)
    assert fsck.returncode == 0, fsck.stdout + fsck.stderr
    for index, commit in enumerate(commits):
        shown = subprocess.run(
            ["git", "-C", str(root), "show", f"{commit}:f{index}.json"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert shown.stdout == f"{index}\n"


def test_a_run_that_committed_packs_when_it_ends(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packing happens once, after the run's last commit, before the lock is released."""
    library = tmp_path / "lib"
    make_library(library, 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    root = archive.root
    archive.close()
    seen: list[str | None] = []
    monkeypatch.setattr(Git, "maintain", lambda self, **_: seen.append(self.head()) or False)
    from photosync.workflow.discover import discover

    opened = Archive(root)
    opened.lock()
    discover(opened)
    assert seen == []
    opened.close()
    assert seen == [Git(root).head()]
    again = Archive(root)  # a run that commits nothing does not pack
    again.lock()
    again.close()
    assert len(seen) == 1
    assert_check_clean(root)


def test_a_discover_of_exactly_one_batch_is_one_commit(tmp_path: Path) -> None:
    """Before: the full batch was committed, then the cursor alone in a second commit
    (a second pass over the user's index, which is 100 MB at a million records)."""
    library = tmp_path / "lib"
    make_library(library, 5)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    set_prefs(archive, commit_every=5)
    before = git_log(archive.root)
    archive.lock()
    from photosync.workflow.discover import discover

    discover(archive)
    archive.close()
    made = git_log(archive.root)[: len(git_log(archive.root)) - len(before)]
    assert made == ["discover: 5 new, 0 updated from lib"]
    assert_check_clean(archive.root)


def test_bringing_the_schemas_up_to_date_reads_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the first run of a newer photosync (its schemas/ refreshed) listed every
    record file for duplicates and rebuilt the whole index: minutes at a million."""
    library = tmp_path / "lib"
    make_library(library, 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    archive.lock()
    from photosync.workflow.discover import discover

    discover(archive)
    archive.close()
    root = archive.root
    schema = next((root / "schemas").glob("*.json"))
    schema.write_text(schema.read_text() + "\n")  # what an older photosync wrote
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "old schema"], check=True)
    opened = Archive(root)
    opened.lock()  # HEAD moved by hand: this run looks at the records once
    opened.close()
    schema.write_text(schema.read_text() + "\n")
    subprocess.run(["git", "-C", str(root), "add", "schemas"], check=True)
    head = subprocess.run(
        ["git", "-C", str(root), "write-tree"], capture_output=True, text=True, check=True
    ).stdout.strip()
    parent = Git(root).head()
    commit = subprocess.run(
        ["git", "-C", str(root), "commit-tree", head, "-p", str(parent), "-m", "older schema"],
        capture_output=True,
        text=True,
        check=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "u",
            "GIT_AUTHOR_EMAIL": "u@x",
            "GIT_COMMITTER_NAME": "u",
            "GIT_COMMITTER_EMAIL": "u@x",
        },
    ).stdout.strip()
    subprocess.run(["git", "-C", str(root), "update-ref", "HEAD", commit], check=True)
    opened = Archive(root)  # photosync's own HEAD mark now says where HEAD is
    opened.state.set_meta("index_head", commit)
    opened.state.flush()
    opened.close()
    walked: list[str] = []
    monkeypatch.setattr(
        Archive, "iter_record_files", lambda self: walked.append("walk") or iter(())
    )
    opened = Archive(root)
    notes = opened.lock()
    opened.close()
    assert any("schemas" in note for note in notes)
    assert walked == []
    assert_check_clean(root)


def test_the_status_each_run_starts_with_uses_git_s_untracked_cache_and_misses_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dirty_paths`` asks git once for the whole tree (a pathspec would turn the
    untracked cache off) and lists an untracked folder file by file, by git's ignore
    rules; names outside the ones asked for are left out."""
    archive = new_archive(tmp_path)
    archive.lock()  # a run sets the cache up in this clone
    archive.close()
    root = archive.root
    said = subprocess.run(
        ["git", "-C", str(root), "config", "core.untrackedCache"], capture_output=True, text=True
    )
    assert said.stdout.strip() == "true"
    (root / "photos" / "2031" / "04").mkdir(parents=True)
    (root / "photos" / "2031" / "04" / "a.json").write_text("{}\n")
    (root / "photos" / "2031" / "b.json").write_text("{}\n")
    (root / "photos" / "2031" / "04" / "x.tmp~").write_text("")
    (root / ".gitignore").write_text((root / ".gitignore").read_text() + "*.tmp~\n")
    (root / "notes").mkdir()
    (root / "notes" / "mine.txt").write_text("not asked for\n")
    changed = root / "config" / "user-preferences.json"
    changed.write_text(changed.read_text().replace('"private"', '"private" '))
    git = Git(root)
    log = _logging_git(tmp_path, monkeypatch)
    found = git.dirty_paths("photos", "config")
    assert sorted(found) == [
        "config/user-preferences.json",
        "photos/2031/04/a.json",
        "photos/2031/b.json",
    ]
    assert git.dirty_paths(".gitignore") == [".gitignore"]
    assert not git.dirty_paths("schemas")
    whole_tree = [c for c in _calls(log) if c.startswith("status") and " -- " not in c]
    assert whole_tree, _calls(log)  # the first ask had no pathspec
