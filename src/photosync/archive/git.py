"""The few git operations the archive needs, through the real git command."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from photosync.errors import ArchiveCorrupt, PhotosyncError

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
            raise PhotosyncError("git is not installed; photosync keeps its archive in git") from error
        if check and result.returncode != 0:
            raise ArchiveCorrupt(f"git {args[0]} failed: {result.stderr.strip() or result.stdout.strip()}")
        return result.stdout

    def _has_identity(self, env: dict[str, str]) -> bool:
        if "GIT_AUTHOR_NAME" in env and "GIT_COMMITTER_NAME" in env:
            return True
        probe = subprocess.run(
            ["git", "config", "user.name"], cwd=self.root, capture_output=True, text=True, check=False
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
        if not self.run("diff", "--cached", "--name-only", "-z").strip("\0"):
            return None
        self.run("commit", "-q", "--no-verify", "-F", "-", input_text=message)
        return self.head()

    def clear_stale_locks(self, quarantine: Path, *, grace_s: float = 2.0) -> list[str]:
        """Move aside git lock files a killed git left behind (caller holds the archive lock).

        A git killed together with photosync (``kill -9`` of the process group, a
        power cut) leaves ``index.lock`` or a ref lock, and every later git command
        fails. A live git holds one for milliseconds, so a lock that stays for
        ``grace_s`` after its last write is stale; it is moved, not deleted.
        """
        git_dir = self.root / ".git"
        if not git_dir.is_dir():
            return []
        found = [git_dir / "index.lock", git_dir / "HEAD.lock", *(git_dir / "refs").rglob("*.lock")]
        notes = []
        for lock in found:
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline:
                try:
                    age = time.time() - lock.stat().st_mtime
                except FileNotFoundError:
                    break
                if age >= grace_s:
                    break
                time.sleep(0.05)  # a live git (a surviving child, the user's) finishes
            if not lock.exists():
                continue
            quarantine.mkdir(parents=True, exist_ok=True)
            rel = lock.relative_to(git_dir).as_posix()
            os.replace(lock, quarantine / ("git__" + rel.replace("/", "__")))
            notes.append(f"removed a stale git lock .git/{rel} left by an interrupted run")
        return notes

    def restore(self, path: str) -> None:
        self.run("checkout", "-q", "HEAD", "--", path)

    def is_tracked(self, path: str) -> bool:
        return bool(self.run("ls-files", "--", path).strip())
