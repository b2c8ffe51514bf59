"""The few git operations the archive needs, through the real git command."""

from __future__ import annotations

import os
import subprocess
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

    def restore(self, path: str) -> None:
        self.run("checkout", "-q", "HEAD", "--", path)

    def is_tracked(self, path: str) -> bool:
        return bool(self.run("ls-files", "--", path).strip())
