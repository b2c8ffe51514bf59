"""The few git operations the archive needs, through the real git command."""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, NamedTuple

from photosync.errors import ArchiveCorrupt, ArchiveLocked, PhotosyncError

#: where fast-import leaves the commit it wrote until HEAD takes it (then deleted)
_SCRATCH_REF = "refs/photosync/commit"

_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "photosync",
    "GIT_AUTHOR_EMAIL": "photosync@localhost",
    "GIT_COMMITTER_NAME": "photosync",
    "GIT_COMMITTER_EMAIL": "photosync@localhost",
}


def _no_git() -> PhotosyncError:
    return PhotosyncError("git is not installed; photosync keeps its archive in git")


def _raise_failed(args: Sequence[str], stderr: str, stdout: str) -> None:
    """A git command that failed, as the user's error: another git holding the index
    (a `git pull` the user runs meanwhile) is a wait, anything else a broken archive."""
    if "index.lock': File exists" in stderr:
        raise ArchiveLocked(
            "another git command is working in this archive (git's index.lock)",
            hint="Wait for it to finish, then run photosync again: what this run "
            "did is kept and picked up. If no git is running, remove .git/index.lock.",
        )
    raise ArchiveCorrupt(f"git {_verb(args)} failed: {stderr.strip() or stdout.strip()}")


def status_entries(out: str) -> list[tuple[str, str, str | None]]:
    """(status, path, a rename's or copy's source) of each entry of
    ``git status --porcelain -z``."""
    found: list[tuple[str, str, str | None]] = []
    entries = out.split("\0")
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        source = None
        if status[0] in "RC":  # a rename carries its source as the next entry
            source = entries[index] if index < len(entries) else ""
            index += 1
        found.append((status, path, source))
    return found


class TreeChange(NamedTuple):
    """One file ``git diff-tree`` says differs between two trees."""

    path: str
    new_mode: str
    old_oid: str | None  # None: added
    new_oid: str | None  # None: removed


def _status_paths(out: str) -> list[str]:
    """The paths of ``git status --porcelain -z`` (a rename's source left out)."""
    return [path for _status, path, _source in status_entries(out)]


class Git:
    def __init__(self, root: Path) -> None:
        self.root = root
        self._git_dir: Path | None = None
        self._configured_identity: bool | None = None
        self._ident_names: tuple[bytes, bytes] | None = None

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
        input_bytes: bytes | None = None,
        check: bool = True,
        env_extra: dict[str, str] | None = None,
    ) -> str:
        """Run one git command in the archive; its output as text.

        ``gc.auto=0``: git never starts a (detached) gc of its own inside a run;
        photosync packs at the end of a writing run instead (``maintain``).
        """
        data = input_text.encode("utf-8") if input_text is not None else input_bytes
        try:
            result = subprocess.run(
                ["git", "-c", "gc.auto=0", *args],
                cwd=self.root,
                env=self._env(env_extra),
                input=data,
                capture_output=True,
                check=False,
            )
        except FileNotFoundError as error:
            raise _no_git() from error
        stdout = result.stdout.decode("utf-8", "replace")
        if check and result.returncode != 0:
            _raise_failed(args, result.stderr.decode("utf-8", "replace"), stdout)
        return stdout

    def _env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The environment git runs in: who commits, when the user's config does not say."""
        env = {**os.environ, **(extra or {})}
        if not self._has_identity(env):
            env = {**_FALLBACK_IDENTITY, **env}
        return env

    def _has_identity(self, env: dict[str, str]) -> bool:
        """Does git know who commits? Asked of the config once per archive object, not per call."""
        if "GIT_AUTHOR_NAME" in env and "GIT_COMMITTER_NAME" in env:
            return True
        if self._configured_identity is None:
            probe = subprocess.run(
                ["git", "config", "user.name"],
                cwd=self.root,
                capture_output=True,
                text=True,
                check=False,
            )
            self._configured_identity = probe.returncode == 0 and bool(probe.stdout.strip())
        return self._configured_identity

    def init(self) -> None:
        self.run("init", "-q", "-b", "main")

    def head(self) -> str | None:
        out = self.run("rev-parse", "--verify", "-q", "HEAD", check=False).strip()
        return out or None

    def tree_changes(self, old: str, new: str) -> list[TreeChange]:
        """Each file that differs between trees ``old`` and ``new`` (renames as a removal
        and an addition); raises when git does not know a tree (gone by a gc)."""
        parts = self.run("diff-tree", "-r", "-z", "--no-renames", old, new).split("\0")
        found = []
        for head, path in zip(parts[0::2], parts[1::2], strict=False):
            fields = head.lstrip(":").split()
            if len(fields) < 5:
                continue
            old_oid = None if set(fields[2]) == {"0"} else fields[2]
            new_oid = None if set(fields[3]) == {"0"} else fields[3]
            found.append(TreeChange(path, fields[1], old_oid, new_oid))
        return found

    def dirty_paths(self, *pathspecs: str, write_index: bool = True) -> list[str]:
        """Changed or untracked files (relative paths) under the given top-level names.

        One ``git status`` of the whole tree, untracked folders shown whole: that is
        the form git's untracked cache (``core.untrackedCache``) answers without
        reading every folder of a million records, and a pathspec would turn it off.
        An untracked folder under a name asked for is then listed file by file.
        ``--no-renames``: a record the user ``git mv``-ed out of photos/ is a removal
        under photos/, not a rename to a path outside the names asked for.
        ``write_index=False`` (a reader): ``--no-optional-locks``, so git does not
        refresh and rewrite ``.git/index`` (nor take ``index.lock`` while it does).
        """
        quiet = () if write_index else ("--no-optional-locks",)

        def wanted(path: str) -> bool:
            return any(
                path == spec or path.startswith(spec.rstrip("/") + "/") for spec in pathspecs
            )

        paths = []
        for path in _status_paths(
            self.run(
                *quiet, "status", "--porcelain", "-z", "--no-renames", "--untracked-files=normal"
            )
        ):
            if not wanted(path):
                continue
            if path.endswith("/"):  # an untracked folder: its files, by git's ignore rules
                paths.extend(
                    _status_paths(
                        self.run(
                            *quiet,
                            "status",
                            "--porcelain",
                            "-z",
                            "--no-renames",
                            "--untracked-files=all",
                            "--",
                            path,
                        )
                    )
                )
                continue
            paths.append(path)
        return paths

    def forget_untracked_cache(self) -> None:
        """Drop git's untracked cache from the index; the next ``git status`` builds it
        again from a full look (``core.untrackedCache`` stays on).

        git (built without nanosecond timestamps, as most are) trusts a folder whose
        mtime has the same second as when it was cached: a file added or removed in
        that second is then missed, or shown after it is gone, until the folder
        changes again. After a killed run, whose files were written in such seconds,
        and after photosync removes a leftover, the cache is not to be trusted.
        Best effort: with the index locked by another git, the cache stays as it is
        and the run goes on; recovery does not depend on it (``Archive._recover``
        looks at the pending paths and their temp files itself), so the worst that
        leaves is a file ``git status`` shows or misses until its folder changes.
        """
        self.run(
            "-c", "core.untrackedCache=false", "update-index", "--no-untracked-cache", check=False
        )

    def commit_all(self, message: str, pathspecs: Sequence[str]) -> str | None:
        """Stage everything under ``pathspecs`` and commit; None when nothing changed.

        Only for ``init``, in a repository photosync has just created.
        """
        self.run("add", "-A", "--", *pathspecs)
        if not self.run("diff", "--cached", "--name-only", "-z", "--", *pathspecs).strip("\0"):
            return None
        # only these paths: a file the user staged elsewhere stays staged, uncommitted
        self.run(
            "commit",
            "-q",
            "--no-verify",
            "-F",
            "-",
            "--only",
            "--",
            *pathspecs,
            input_text=message,
        )
        return self.head()

    def commit_files(self, message: str, paths: Sequence[str]) -> str | None:
        """Commit exactly these files (added, changed or removed) on top of HEAD.

        The commit is written by ``git fast-import`` from HEAD plus these files: no
        index is read or written to build it, so its cost is the batch's, not the
        archive's (an index of a million records is 100 MB, rewritten per batch).
        Whatever the user has staged stays staged and out of photosync's commit;
        HEAD moves only if nobody moved it meanwhile (``update-ref`` with the old
        value); then the user's index learns these files' new state. The objects go
        into one pack per commit, fsynced with its index (``core.fsync`` names
        ``pack`` and ``pack-metadata`` for this call) before any ref points at them.
        """
        if not paths:
            return None
        head = self.head()
        out = self._run_fed(
            (
                "-c",
                "core.fsync=committed,pack-metadata",
                "fast-import",
                "--quiet",
                "--done",
                "--force",  # the scratch ref may hold an older commit of a line HEAD left
            ),
            self._import_stream(message, paths, head),
        )
        # replies in order: ls "" (the new tree), get-mark (the commit), ls HEAD ""
        lines = out.splitlines()
        tree = lines[0].split()[2]
        commit = lines[1].strip()
        listed = "\0".join(paths) + "\0"
        if head is not None and tree == lines[2].split()[2]:
            self.run("update-ref", "-d", _SCRATCH_REF)
            self._sync_user_index(listed)
            return None
        subject = message.splitlines()[0] if message else ""
        self.run(
            "update-ref",
            "-m",
            f"commit: {subject}",
            "--stdin",
            input_text=f"update HEAD {commit} {head or '0' * 40}\ndelete {_SCRATCH_REF}\n",
        )
        self._sync_user_index(listed)
        return commit

    def _run_fed(self, args: Sequence[str], chunks: Iterable[bytes]) -> str:
        """``run`` for a command fed a stream made as it is written (fast-import of a
        batch of 100,000 records): memory holds one file at a time, not the batch."""
        try:
            process = subprocess.Popen(
                ["git", "-c", "gc.auto=0", *args],
                cwd=self.root,
                env=self._env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except FileNotFoundError as error:
            raise _no_git() from error
        replies: dict[str, bytes] = {}

        def drain(name: str, pipe: IO[bytes]) -> None:
            replies[name] = pipe.read()

        assert process.stdin and process.stdout and process.stderr
        readers = [
            threading.Thread(target=drain, args=(name, pipe), daemon=True)
            for name, pipe in (("out", process.stdout), ("err", process.stderr))
        ]
        for reader in readers:
            reader.start()
        try:
            with process.stdin:
                for chunk in chunks:
                    process.stdin.write(chunk)
        except BrokenPipeError:
            pass  # git stopped reading: its exit code and message say why
        except BaseException:
            process.kill()
            raise
        finally:
            code = process.wait()
            for reader in readers:
                reader.join()
        stdout = replies.get("out", b"").decode("utf-8", "replace")
        if code != 0:
            _raise_failed(args, replies.get("err", b"").decode("utf-8", "replace"), stdout)
        return stdout

    def _import_stream(
        self, message: str, paths: Sequence[str], head: str | None
    ) -> Iterator[bytes]:
        """``git fast-import`` commands for one commit: HEAD plus ``paths`` as on disk,
        made file by file as they are fed to git."""
        author, committer = self._idents()
        body = message.encode("utf-8")
        yield (
            b"commit %s\nmark :1\nauthor %s\ncommitter %s\ndata %d\n%s\n"
            % (_SCRATCH_REF.encode(), author, committer, len(body), body)
        )
        if head is not None:
            yield b"from %s\n" % head.encode()
        for rel in paths:
            quoted = _quote_path(rel)
            path = self.root / rel
            try:
                st = path.lstat()
                if stat.S_ISLNK(st.st_mode):
                    data = os.readlink(path).encode("utf-8", "surrogateescape")
                    mode = b"120000"
                elif stat.S_ISREG(st.st_mode):
                    data = path.read_bytes()
                    mode = b"100755" if st.st_mode & 0o100 else b"100644"
                else:
                    raise FileNotFoundError(rel)  # a folder where a file was: its file is gone
            except FileNotFoundError:
                yield b"D %s\n" % quoted
                continue
            yield b"M %s inline %s\ndata %d\n%s\n" % (mode, quoted, len(data), data)
        yield b'ls ""\nget-mark :1\n'
        if head is not None:
            yield b'ls %s ""\n' % head.encode()
        yield b"done\n"

    def _idents(self) -> tuple[bytes, bytes]:
        """Author and committer lines (``Name <email> time zone``), as ``git commit`` would.

        git says who (``git var``, once); the time is now, unless the environment
        fixes a date (``GIT_AUTHOR_DATE``/``GIT_COMMITTER_DATE``): then git says it too.
        """
        fixed_date = "GIT_AUTHOR_DATE" in os.environ or "GIT_COMMITTER_DATE" in os.environ
        if self._ident_names is None or fixed_date:
            found = [
                self.run("var", var).strip().encode("utf-8")
                for var in ("GIT_AUTHOR_IDENT", "GIT_COMMITTER_IDENT")
            ]
            if fixed_date:
                return found[0], found[1]
            author, committer = (line.rsplit(b" ", 2)[0] for line in found)
            self._ident_names = (author, committer)
        offset = time.localtime().tm_gmtoff // 60
        sign = b"+" if offset >= 0 else b"-"
        when = b"%d %s%02d%02d" % (int(time.time()), sign, abs(offset) // 60, abs(offset) % 60)
        return self._ident_names[0] + b" " + when, self._ident_names[1] + b" " + when

    def _sync_user_index(self, listed: str) -> None:
        """The user's index records the committed state of photosync's files (and only theirs)."""
        self.run("update-index", "--add", "--remove", "-z", "--stdin", input_text=listed)

    def maintain(self, *, max_packs: int = 16, max_loose: int = 6700) -> bool:
        """Pack what a writing run left, once it is done (never a pause inside a batch).

        Each commit is a small pack (fast-import); past ``max_packs`` of them, or
        ``max_loose`` loose objects (git's own ``gc.auto``), ``git repack
        --geometric=2`` rolls the small ones (and loose objects) into one and leaves
        the big ones alone: the cost follows what is new, not the archive's size.
        Nothing unreachable is pruned (that stays the user's ``git gc``). True when
        it repacked.
        """
        objects = self._common_dir() / "objects"
        try:
            packs = sum(1 for p in (objects / "pack").iterdir() if p.suffix == ".pack")
        except OSError:
            packs = 0
        try:  # git's own estimate: one of the 256 fan-out folders, times 256
            loose = sum(1 for _ in (objects / "17").iterdir()) * 256
        except OSError:
            loose = 0
        if packs <= max_packs and loose <= max_loose:
            return False
        self.run("repack", "-d", "-q", "--geometric=2")
        return True

    def _common_dir(self) -> Path:
        """Where objects and refs live (a linked worktree's ``.git`` dir points there)."""
        common = self.git_dir / "commondir"
        try:
            return (self.git_dir / common.read_text().strip()).resolve()
        except OSError:
            return self.git_dir

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
            git_dir / "packed-refs.lock",  # update-ref deleting photosync's scratch ref
            git_dir / "config.lock",
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

    def ever_held(self, path: str, text: str) -> bool:
        """Whether any commit reachable from HEAD added ``text`` to ``path`` (pickaxe:
        read only in the rare case that asks, never per run)."""
        found = self.run("log", "--format=%H", "-1", f"-S{text}", "--", path, check=False)
        return bool(found.strip())

    def is_tracked(self, path: str) -> bool:
        return bool(self.run("ls-files", "--", path).strip())

    def untracked_of(self, paths: Sequence[str]) -> list[str]:
        """Those of ``paths`` (relative, exact names) that git's index does not hold."""
        tracked: set[str] = set()
        for start in range(0, len(paths), 1000):  # a command line of bounded length
            part = paths[start : start + 1000]
            tracked.update(
                self.run("--literal-pathspecs", "ls-files", "-z", "--", *part).split("\0")
            )
        return [p for p in paths if p not in tracked]


def _verb(args: Sequence[str]) -> str:
    """The git command's name among its arguments (after any ``-c key=value``)."""
    rest = list(args)
    while len(rest) > 1 and rest[0] == "-c":
        rest = rest[2:]
    return rest[0] if rest else "git"


def _quote_path(rel: str) -> bytes:
    """A path as fast-import reads it: C-quoted when plain text would be misread."""
    raw = rel.encode("utf-8", "surrogateescape")
    if not any(c in raw for c in b'"\\\n') and not raw.startswith(b" ") and b"\x00" not in raw:
        return raw
    escaped = raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"').replace(b"\n", b"\\n")
    return b'"' + escaped + b'"'


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


def split_z(stream: Any) -> Iterator[bytes]:
    """The NUL-separated entries of a git ``-z`` output stream, read in chunks."""
    rest = b""
    while chunk := stream.read(1 << 16):
        rest += chunk
        *entries, rest = rest.split(b"\0")
        yield from (e for e in entries if e)
    if rest:
        yield rest


def read_blobs(
    root: Path, wanted: Iterable[tuple[str, str | None]]
) -> Iterator[tuple[str, str | None, bytes | None]]:
    """(path, blob id, bytes) of each file, its bytes read by one ``git cat-file --batch``
    (fed from a thread so that neither pipe fills); a removed file has no blob."""
    with subprocess.Popen(
        ["git", "cat-file", "--batch"],
        cwd=root,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    ) as reader:
        assert reader.stdin is not None and reader.stdout is not None
        # asked and not yet answered: bounded (a full pipe blocks the feeder, not memory)
        order: deque[tuple[str, str | None]] = deque()
        lock = threading.Condition()
        fed = [False]

        def feed() -> None:
            assert reader.stdin is not None
            try:
                for count, (rel, oid) in enumerate(wanted):
                    with lock:
                        order.append((rel, oid))
                        lock.notify()
                    if oid is not None:
                        reader.stdin.write(oid.encode() + b"\n")
                        if count % 512 == 0:
                            reader.stdin.flush()
            finally:
                with lock:
                    fed[0] = True
                    lock.notify()
                reader.stdin.close()

        feeder = threading.Thread(target=feed, daemon=True)
        feeder.start()
        while True:
            with lock:
                while not order and not fed[0]:
                    lock.wait()
                if not order:
                    break
                rel, oid = order.popleft()
            if oid is None:
                yield rel, None, None
                continue
            header = reader.stdout.readline().split()
            if len(header) < 3:
                yield rel, oid, None
                continue
            body = reader.stdout.read(int(header[2]))
            reader.stdout.read(1)  # the newline after each object
            yield rel, oid, body
        feeder.join()


def list_tree(root: Path, tree: str) -> Iterator[tuple[str, str, str]]:
    """(mode, blob id, path under the tree) of every file of ``tree``, streamed from one
    ``git ls-tree -r``; a path that is no valid UTF-8 keeps its bytes (surrogateescape)."""
    with subprocess.Popen(
        ["git", "ls-tree", "-r", "-z", tree], cwd=root, stdout=subprocess.PIPE
    ) as lister:
        assert lister.stdout is not None
        for entry in split_z(lister.stdout):
            meta, _, rel = entry.partition(b"\t")
            fields = meta.split()
            yield fields[0].decode(), fields[2].decode(), rel.decode("utf-8", "surrogateescape")


def blob_id(body: bytes) -> str:
    """The id git gives these bytes as a blob (SHA-1 object format)."""
    return hashlib.sha1(b"blob %d\0" % len(body) + body, usedforsecurity=False).hexdigest()
