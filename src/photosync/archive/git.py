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

    def run(self, *args: str, input_text: str | None = None, check: bool = True) -> str:
        env = dict(os.environ)
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
        """Stage everything under ``pathspecs`` and commit; None when nothing changed."""
        self.run("add", "-A", "--", *pathspecs)
        return self._commit_staged(message)

    def commit_files(self, message: str, paths: Sequence[str]) -> str | None:
        """Stage exactly these files (added, changed or removed) and commit.

        Naming the files spares git a scan of the whole work tree, which grows
        with the archive; the list goes through stdin, so it may be long.
        """
        # update-index takes the list as data, not as pathspecs to match against the tree
        self.run(
            "-c",
            "core.looseCompression=1",  # fast zlib: git gc repacks them tighter later
            "update-index",
            "--add",
            "--remove",
            "-z",
            "--stdin",
            input_text="\0".join(paths) + "\0",
        )
        return self._commit_staged(message)

    def _commit_staged(self, message: str) -> str | None:
        if not self.run("diff", "--cached", "--name-only", "-z").strip("\0"):
            return None
        self.run("commit", "-q", "--no-verify", "-F", "-", input_text=message)
        return self.head()

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
        git_dir = self.root / ".git"
        if not git_dir.is_dir():
            return []
        found = [git_dir / "index.lock", git_dir / "HEAD.lock", *(git_dir / "refs").rglob("*.lock")]
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
            quarantine.mkdir(parents=True, exist_ok=True)
            os.replace(lock, quarantine / ("git__" + rel.replace("/", "__")))
            notes.append(f"removed a stale git lock .git/{rel} left by an interrupted run")
        return notes

    def restore(self, path: str) -> None:
        self.run("checkout", "-q", "HEAD", "--", path)

    def is_tracked(self, path: str) -> bool:
        return bool(self.run("ls-files", "--", path).strip())
