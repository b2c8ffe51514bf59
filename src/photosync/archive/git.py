"""The few git operations the archive needs, through the real git command."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from photosync.errors import ArchiveCorrupt, ArchiveLocked, PhotosyncError

_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "photosync",
    "GIT_AUTHOR_EMAIL": "photosync@localhost",
    "GIT_COMMITTER_NAME": "photosync",
    "GIT_COMMITTER_EMAIL": "photosync@localhost",
}


class Git:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._git_dir: Path | None = None

    @property
    def git_dir(self) -> Path:
        """The repository's own folder: ``.git``, or where a ``.git`` file points (a worktree)."""
        plain = self.root / ".git"
        if not plain.is_file():
            return plain
        if self._git_dir is None:
            out = self.run("rev-parse", "--absolute-git-dir", check=False).strip()
            self._git_dir = Path(out) if out else plain
        return self._git_dir

    def run(
        self,
        *args: str,
        input_text: str | None = None,
        check: bool = True,
        env_extra: dict[str, str] | None = None,
    ) -> str:
        env = {**os.environ, **(env_extra or {})}
        if not self._has_identity(env):
            env = {**_FALLBACK_IDENTITY, **env}
        try:
            result = subprocess.run(
                ["git", *args],
                cwd=self.root,
                env=env,
                input=input_text,
                capture_output=True,
                text=True,
                check=False,
            )
        except FileNotFoundError as error:
            raise PhotosyncError(
                "git is not installed; photosync keeps its archive in git"
            ) from error
        if check and result.returncode != 0:
            raise ArchiveCorrupt(
                f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}"
            )
        return result.stdout

    def _has_identity(self, env: dict[str, str]) -> bool:
        if "GIT_AUTHOR_NAME" in env and "GIT_COMMITTER_NAME" in env:
            return True
        probe = subprocess.run(
            ["git", "config", "user.name"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        return probe.returncode == 0 and bool(probe.stdout.strip())

    def init(self) -> None:
        self.run("init", "-q", "-b", "main")

    def head(self) -> str | None:
        out = self.run("rev-parse", "--verify", "-q", "HEAD", check=False).strip()
        return out or None

    def dirty_paths(self, *pathspecs: str) -> list[str]:
        """Changed or untracked files (relative paths) under the given pathspecs."""
        out = self.run("status", "--porcelain", "-z", "--untracked-files=all", "--", *pathspecs)
        paths = []
        entries = out.split("\0")
        index = 0
        while index < len(entries):
            entry = entries[index]
            index += 1
            if not entry:
                continue
            status, path = entry[:2], entry[3:]
            if status[0] in "RC":  # a rename carries its source as the next entry
                index += 1
            paths.append(path)
        return paths

    def commit_all(self, message: str, pathspecs: Sequence[str]) -> str | None:
        """Stage everything under ``pathspecs`` and commit; None when nothing changed.

        Only for ``init``, in a repository photosync has just created.
        """
        self.run("add", "-A", "--", *pathspecs)
        if not self.run("diff", "--cached", "--name-only", "-z").strip("\0"):
            return None
        self.run("commit", "-q", "--no-verify", "-F", "-", input_text=message)
        return self.head()

    def commit_files(self, message: str, paths: Sequence[str]) -> str | None:
        """Commit exactly these files (added, changed or removed) on top of HEAD.

        The commit is built in an index of photosync's own (``.git/photosync-index``)
        from HEAD plus these files, so whatever the user has staged stays staged and
        out of photosync's commit; HEAD moves only if nobody moved it meanwhile
        (``update-ref`` with the old value); then the user's index learns these
        files' new state. Naming the files spares git a scan of the whole tree;
        the list goes through stdin, so it may be long.
        """
        if not paths:
            return None
        head = self.head()
        index = self.git_dir / "photosync-index"
        env = {"GIT_INDEX_FILE": str(index)}
        marker = self.git_dir / "photosync-index.head"
        try:
            index_head = marker.read_text().strip() if index.exists() else None
            marker.unlink()  # written back only once the index matches a commit again
        except OSError:
            index_head = None
        if head is None:
            self.run("read-tree", "--empty", env_extra=env)
        elif index_head != head:  # reused while HEAD is the commit photosync made last
            self.run("read-tree", head, env_extra=env)
        listed = "\0".join(paths) + "\0"
        # update-index takes the list as data, not as pathspecs to match against the tree
        self.run(
            "-c",
            "core.looseCompression=1",  # fast zlib: git gc repacks them tighter later
            "update-index",
            "--add",
            "--remove",
            "-z",
            "--stdin",
            input_text=listed,
            env_extra=env,
        )
        tree = self.run("write-tree", env_extra=env).strip()
        if head is not None and tree == self.run("rev-parse", f"{head}^{{tree}}").strip():
            marker.write_text(head)
            self._sync_user_index(listed)
            return None
        parents = ["-p", head] if head is not None else []
        commit = self.run("commit-tree", tree, *parents, "-F", "-", input_text=message).strip()
        subject = message.splitlines()[0] if message else ""
        self.run("update-ref", "-m", f"commit: {subject}", "HEAD", commit, head or "0" * 40)
        marker.write_text(commit)
        self._sync_user_index(listed)
        return commit

    def _sync_user_index(self, listed: str) -> None:
        """The user's index records the committed state of photosync's files (and only theirs)."""
        self.run("update-index", "--add", "--remove", "-z", "--stdin", input_text=listed)

    def write_refusal(self) -> str | None:
        """Why photosync must not commit here now (None: it may).

        A detached HEAD would leave photosync's commits on no branch; in the middle
        of a merge, rebase, cherry-pick, revert or bisect a commit would become part
        of the user's operation (a merge commit, a rebased history).
        """
        git_dir = self.git_dir
        states = {
            "MERGE_HEAD": "a merge",
            "CHERRY_PICK_HEAD": "a cherry-pick",
            "REVERT_HEAD": "a revert",
            "rebase-merge": "a rebase",
            "rebase-apply": "a rebase or `git am`",
            "BISECT_LOG": "a bisect",
        }
        for name, what in states.items():
            if (git_dir / name).exists():
                return f"git is in the middle of {what} in this archive"
        try:  # read directly: two git processes fewer on every run
            attached = (git_dir / "HEAD").read_text(encoding="utf-8").startswith("ref:")
        except OSError:
            attached = bool(self.run("symbolic-ref", "-q", "HEAD", check=False).strip())
        if not attached:
            return "git HEAD is detached (a commit is checked out, not a branch)"
        return None

    def clear_stale_locks(
        self, quarantine: Path, *, grace_s: float = 2.0, max_wait_s: float = 60.0
    ) -> list[str]:
        """Move aside git lock files a killed git left behind (caller holds the archive lock).

        A git killed together with photosync (``kill -9`` of the process group, a
        power cut) leaves ``index.lock`` or a ref lock, and every later git command
        fails. A live git holds one for milliseconds and keeps writing it, so a
        lock unchanged for ``grace_s`` is stale; it is moved, not deleted. One that
        keeps changing for ``max_wait_s`` belongs to a git at work: never stolen.
        """
        git_dir = self.git_dir
        if not git_dir.is_dir():
            return []
        found = [
            git_dir / "index.lock",
            git_dir / "photosync-index.lock",  # photosync's own index (commit_files)
            git_dir / "HEAD.lock",
            *(git_dir / "refs").rglob("*.lock"),
        ]
        notes = []
        for lock in found:
            rel = lock.relative_to(git_dir).as_posix()
            give_up = time.monotonic() + max_wait_s
            while True:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    break  # its git finished
                if age >= grace_s:
                    break
                if time.monotonic() >= give_up:
                    raise ArchiveLocked(
                        f"a git command is working in this archive (.git/{rel} keeps changing)",
                        hint="Wait for it to finish, then run photosync again.",
                    )
                time.sleep(0.05)  # a live git (a surviving child, the user's) finishes
            if not lock.exists():
                continue
            holders = live_git_processes(self.root)
            if holders:
                # git keeps a lock unchanged while it waits (for an editor, for stdin):
                # a live git in this repository owns its lock, whatever its age
                raise ArchiveLocked(
                    f"a git command is running in this archive and holds .git/{rel} ({holders[0]})",
                    hint="Finish or quit that git command, then run photosync again.",
                )
            quarantine.mkdir(parents=True, exist_ok=True)
            os.replace(lock, quarantine / ("git__" + rel.replace("/", "__")))
            notes.append(f"removed a stale git lock .git/{rel} left by an interrupted run")
        return notes

    def restore(self, path: str) -> None:
        self.run("checkout", "-q", "HEAD", "--", path)

    def is_tracked(self, path: str) -> bool:
        return bool(self.run("ls-files", "--", path).strip())


def live_git_processes(root: Path) -> list[str]:
    """Running git processes whose working folder is inside ``root`` ("pid N: git ...").

    Read from /proc (Linux); elsewhere the list is empty and a lock's age decides.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    root = root.resolve()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = Path(os.readlink(entry / "cwd"))
        except OSError:
            continue  # gone meanwhile, or not ours to look at
        program = os.path.basename(argv[0].decode("utf-8", "replace")) if argv else ""
        if program != "git" and not program.startswith("git-"):
            continue
        if cwd == root or root in cwd.parents:
            command = " ".join(a.decode("utf-8", "replace") for a in argv if a)
            found.append(f"pid {entry.name}: {command[:80]}")
    return found
