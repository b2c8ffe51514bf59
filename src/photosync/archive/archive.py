"""The archive: a git repository holding one JSON record per photo plus config.

Layout (see README.md written into every archive)::

    photos/YYYY/MM/<photo_id>.json   canonical records (photos/undated/ when no date)
    config/services.json             configured services (no secrets)
    config/sync-state.json           discover cursors per service
    config/user-preferences.json     visibility default, auto-resolve rules, blob stores
    schemas/*.schema.json            the schemas records and config are checked against
    blobs/                           the local blob store (ignored by git)
    .photosync/                      local caches, indexes, journals, lock (ignored by git)
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shlex
import shutil
import stat
import sys
import threading
import uuid
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from photosync.archive.git import Git, blob_id
from photosync.archive.jsonio import (
    atomic_write,
    canonical_bytes,
    fsync_dir,
    read_json,
    sync_filesystem,
    write_canonical,
    write_json,
)
from photosync.archive.lock import ArchiveLock
from photosync.archive.preferences import (
    DEFAULT_PREFERENCES,
    PREFERENCES_FILE,
    Preferences,
    load_preferences,
)
from photosync.archive.schema import (
    ALL_SCHEMAS,
    CONFIG_SCHEMAS,
    PHOTO_SCHEMA,
    is_valid,
    refuse_credentials,
    schema_errors,
    schema_text,
    validate_config,
    validate_record,
    validate_services,
)
from photosync.archive.seals import (
    ApprovalSeals,
    archive_identity,
    load_key,
    new_key,
    save_key,
)
from photosync.archive.state import StateDB
from photosync.errors import (
    ArchiveCorrupt,
    ArchiveNotFound,
    ConfigError,
    InternalError,
    PhotosyncError,
    RecordInvalid,
    UserChanged,
)
from photosync.merge import MergeError, merge_records
from photosync.model import (
    Record,
    iter_instances,
    record_from_json,
    record_hashes,
    record_relpath,
    record_to_json,
    utc_now,
)
from photosync.model.codec import RecordVersionError
from photosync.parallel import bounded_map

logger = logging.getLogger(__name__)

Out = TypeVar("Out")

SERVICES_FILE = "config/services.json"
SYNC_STATE_FILE = "config/sync-state.json"
TRACKED_PATHS = ("photos", "config", "schemas", "README.md", ".gitignore", ".gitattributes")
#: the paths photosync is about to write or remove and has not committed yet, one a line
#: ``PATH<TAB>STATE``: written before the files, rewritten after each commit; recovery
#: commits only these, and only as the run left them (``left_by_run``)
PENDING_FILE = ".photosync/pending-paths"
#: a pending line's STATE for a removal (else the git blob id of the bytes written)
REMOVED = "-"
#: the first line of PENDING_FILE: ``#base COMMIT``, HEAD when the run began writing
BASE_LINE = "#base "


#: the archive's records were written before approvals were sealed: the next writing
#: run seals the approvals they hold, once (written when schemas/ is brought up to date)
SEALING_FILE = ".photosync/sealing"
#: its first line; the lines after it, if any, name the only records still to seal
MARKER_HEAD = "sealing approvals made before sealing"
#: where services' folders are on this machine (``photosync service locate``); never in git
MACHINE_FILE = ".photosync/machine.json"
#: originals this clone's records name that no location reachable from here holds
#: (another machine has them): written by ``sync``; ``check`` counts them, not as lost
ELSEWHERE_FILE = ".photosync/originals-elsewhere.json"
#: HEAD before ``photosync sync`` ran ``git merge`` (present only while it merges)
SYNC_MERGE_FILE = ".photosync/sync-merge"
#: record replacements handed to a writer thread at once (``Archive.parallel_writes``)
WRITE_BATCH = 16
#: the temp files git's merge driver call leaves at the work tree's top when git is killed
#: mid-merge (copies of records; git names them from the template ``.merge_file_XXXXXX``)
MERGE_TEMP = re.compile(r"\.merge_file_[A-Za-z0-9]{6}")


#: ``durable.temp_name``: ``.NAME.PID.THREAD.tmp`` beside the file NAME being written
_TEMP_NAME = re.compile(r"\.(?P<name>.+)\.\d+\.\d+\.tmp")


def temp_file_target(rel: str) -> str | None:
    """The path (relative) an atomic write of which left temp file ``rel``; None when
    ``rel`` is not named like photosync's temp files."""
    head, _, name = rel.rpartition("/")
    found = _TEMP_NAME.fullmatch(name)
    if found is None:
        return None
    return f"{head}/{found['name']}" if head else found["name"]


#: what PENDING_FILE lists: path -> the states the run gave it (an older photosync's
#: line, with no state, gives ``{""}``: any file in photosync's own form)
Pending = dict[str, frozenset[str]]


def state_mark(data: bytes | None) -> str:
    """A pending line's STATE for writing ``data`` (None: removing the file)."""
    return REMOVED if data is None else blob_id(data)


def parse_pending(text: str) -> Pending:
    marks: dict[str, set[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith(BASE_LINE):
            rel, _, mark = line.rpartition("\t") if "\t" in line else (line, "", "")
            marks.setdefault(rel, set()).add(mark)
    return {rel: frozenset(found) for rel, found in marks.items()}


def pending_base(text: str) -> str | None:
    """The commit a pending list's run started writing from (None: not listed)."""
    first = text.partition("\n")[0]
    return first[len(BASE_LINE) :].strip() or None if first.startswith(BASE_LINE) else None


def left_by_run(root: Path, rel: str, pending: Pending) -> bool:
    """Whether the uncommitted change at ``rel`` is what a killed run left: a path it
    listed, holding one of the states it listed (the bytes it wrote, or no file where it
    removed one). Anything else there (an edit, a removal, bytes written since) is the
    user's, however photosync-like. A file that is not valid JSON is a torn write, the
    run's to repair (recovery keeps a copy). A line without a state (an older photosync's)
    takes any file in photosync's own form."""
    marks = pending.get(rel)
    if marks is None:
        return False
    try:
        st = os.lstat(root / rel)
    except FileNotFoundError:
        st = None
    except OSError:
        return False
    if st is not None and (not stat.S_ISREG(st.st_mode) or st.st_mode & 0o111):
        return False  # photosync writes plain files, never executable: a link, a chmod
    if "" in marks and not hand_formatted(root, rel):
        return True
    try:
        data: bytes | None = (root / rel).read_bytes()
    except FileNotFoundError:
        data = None
    except OSError:
        return False
    if state_mark(data) in marks:
        return True
    if data is None or not rel.endswith(".json"):
        return False
    try:
        json.loads(data)
    except ValueError:
        return True  # torn: no editor saves half a file
    return False


def is_own_temp(rel: str, pending: Pending | set[str]) -> bool:
    """A killed run's temp file: named as photosync names them, beside a path that run
    was writing (listed in the pending paths before it was written). Any other file,
    however named, is the user's."""
    target = temp_file_target(rel)
    return target is not None and target in pending


def _free_name(folder: Path, name: str) -> Path:
    """``folder/name``, or with a number added when that is taken: nothing put into
    quarantine replaces what is there."""
    path = folder / name
    number = 1
    while path.exists():
        path = folder / f"{name}.{number}"
        number += 1
    return path


def merge_temp_leftovers(root: Path) -> list[Path]:
    """Untracked files at ``root`` named by git's merge temp template: a killed merge's."""
    found = sorted(p for p in root.glob(".merge_file_*") if MERGE_TEMP.fullmatch(p.name))
    if not found:
        return []
    tracked = Git(root).run("ls-files", "-z", "--", *(p.name for p in found), check=False)
    named = set(tracked.split("\0"))
    return [p for p in found if p.name not in named and p.is_file() and not p.is_symlink()]


ARCHIVE_README = """# photosync archive

This folder is a photosync archive: a git repository whose history is the audit
trail of every change photosync made.

- `photos/YYYY/MM/<photo_id>.json`: one record per photo (schema in `schemas/`);
  photos with no known taken date are in `photos/undated/`.
- `config/services.json`: the services photosync reads and writes (no secrets;
  tokens are kept in your system keyring or a private file in your user config).
- `config/sync-state.json`: where each service's last discover stopped.
- `config/user-preferences.json`: default visibility, automatic resolution rules,
  blob stores.
- `blobs/`: original bytes, named by SHA-256 (not in git).

Run `photosync status` here to see where things stand.
"""

GITIGNORE = "/blobs/\n/.photosync/\n"

#: records and config are merged by photosync's rule (``photosync merge-driver``), never
#: line by line: a plain ``git pull`` of two clones leaves no conflict marker in JSON
GITATTRIBUTES_LINES = ("photos/**/*.json merge=photosync", "config/*.json merge=photosync")


def merge_driver_command() -> str:
    """The command git runs to merge one record or config file (this photosync)."""
    return f"{shlex.quote(sys.executable)} -m photosync merge-driver %O %A %B %P"


def configure_merge_driver(git: Git) -> bool:
    """Register photosync's merge driver in this clone's git config; True when it changed.

    The config is per clone (git never copies it), so every photosync run that takes
    the lock checks it: a fresh ``git clone`` is set up by its first run.
    """
    wanted = merge_driver_command()
    if git.run("config", "--get", "merge.photosync.driver", check=False).strip() == wanted:
        return False
    git.run("config", "merge.photosync.name", "photosync record merge")
    git.run("config", "merge.photosync.driver", wanted)
    return True


def configure_git(git: Git) -> None:
    """The repository settings of an archive (``init``, and ``recover`` for a rebuilt one)."""
    # history is the audit trail: have git fsync its objects and refs (batched)
    git.run("config", "core.fsync", "committed")
    git.run("config", "core.fsyncMethod", "batch")
    # the index of a million records is 100 MB: split, each commit's update of the user's
    # index writes only what changed (git folds it into the shared part now and then)
    git.run("config", "core.splitIndex", "true")
    configure_merge_driver(git)
    configure_status_cache(git)


def configure_status_cache(git: Git) -> bool:
    """git's untracked cache in this clone (per clone, like the merge driver): the
    ``git status`` every run starts with then reads only the folders whose mtime moved,
    not every folder of a million records. True when it changed."""
    if git.run("config", "--get", "core.untrackedCache", check=False).strip() == "true":
        return False
    git.run("config", "core.untrackedCache", "true")
    return True


def _is_archive(path: Path) -> bool:
    return (path / SERVICES_FILE).is_file() and (path / ".git").exists()


def _init_files() -> dict[str, bytes]:
    """What ``init`` writes and commits first, by path."""
    files = {
        "README.md": ARCHIVE_README.encode("utf-8"),
        ".gitignore": GITIGNORE.encode("utf-8"),
        ".gitattributes": "".join(f"{line}\n" for line in GITATTRIBUTES_LINES).encode("utf-8"),
        "photos/.gitkeep": b"",
        SERVICES_FILE: canonical_bytes({"schema_version": 1, "services": {}}),
        SYNC_STATE_FILE: canonical_bytes({"services": {}}),
        PREFERENCES_FILE: canonical_bytes(DEFAULT_PREFERENCES),
    }
    files.update({f"schemas/{name}": schema_text(name).encode("utf-8") for name in ALL_SCHEMAS})
    return files


def _unfinished_init(path: Path) -> bool:
    """An ``init`` killed before its first commit: a git repository with no commit
    whose files are only init's own, each whole or cut short (nothing of anyone's to
    lose by writing them again), with no symbolic link anywhere (init would write
    through it) and nothing in blobs/ or .photosync/ but the index init's commit makes."""
    if not (path / ".git").is_dir() or Git(path).head() is not None:
        return False
    expected = _init_files()
    for dirpath, dirnames, filenames in os.walk(path):
        top = Path(dirpath).relative_to(path)
        if top == Path("."):
            dirnames[:] = [d for d in dirnames if d != ".git"]
        if any(os.path.islink(os.path.join(dirpath, n)) for n in (*dirnames, *filenames)):
            return False
        for name in filenames:
            rel = str(top / name) if top != Path(".") else name
            if top == Path(".photosync") and name.startswith("state.sqlite"):
                continue
            if is_own_temp(rel, set(expected)):
                continue
            if rel not in expected or not expected[rel].startswith((path / rel).read_bytes()):
                return False
    return True


@dataclass(frozen=True, slots=True)
class ReadRecord:
    """A record as a pass read it (``Archive.map_records``): what ``write_record`` needs
    to know the file without reading it again (``was``)."""

    record: Record
    #: the file it was read from, relative to the archive (None: not a file of the
    #: archive, e.g. a preview's copy)
    rel: str | None = None
    #: the file's bytes as read
    data: bytes | None = None
    #: ``updated_at`` as the file holds it
    updated_at: Any = None


class Archive:
    """An opened archive. Mutating work happens inside ``writing()``."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.git = Git(self.root)
        self._state: StateDB | None = None
        self._lock: ArchiveLock | None = None
        #: record files the last index rebuild could not read (reported, never touched)
        self.damaged_records: list[str] = []
        #: files this process wrote or removed since its last commit, with their states
        self._touched: dict[str, set[str]] = {}
        #: HEAD as this run last knew it: the base line of PENDING_FILE (``_base``)
        self._base_head: str | None = None
        #: the (path, state) lines in PENDING_FILE (written ahead of the files)
        self._intended: set[tuple[str, str]] = set()
        #: PENDING_FILE opened for appending (once per version of the file, not per path)
        self._pending_fd: tuple[int, weakref.finalize[[int], Archive]] | None = None
        #: files with changes photosync did not make (a hand edit, a staged file): left alone
        self._user_changed: set[str] = set()
        #: ``lock(defer_status=True)``: the run-start ``git status``, still running
        self._status: tuple[ThreadPoolExecutor, Future[list[str]]] | None = None
        #: what recovery found once a deferred status came in (``settle``), for the user
        self.late_notes: list[str] = []
        self._settling = threading.Lock()
        #: a reader's answer to ``committed_as_is`` (git asked once)
        self._as_is: bool | None = None
        #: the typed preferences and the file version they were read from (``prefs``)
        self._prefs: tuple[tuple[int, int, int], Preferences] | None = None
        self._committer: ThreadPoolExecutor | None = None
        self._inflight: PendingCommit | None = None
        self._seals: ApprovalSeals | None = None
        #: the archive's identity and its approval key, as found when the lock was taken
        self._key_at_lock: tuple[str, bytes | None] | None = None
        #: a commit was made by this run (so git's objects are packed when it ends)
        self._committed = False
        #: ``parallel_writes``: the threads replacing record files, and their writes under way
        self._writer: ThreadPoolExecutor | None = None
        self._writes: deque[tuple[str, Future[None]]] = deque()
        #: replacements not yet handed to a writer thread: (path, bytes, known to differ)
        self._batch: list[tuple[str, bytes, bool]] = []

    # finding and creating -------------------------------------------------------
    @classmethod
    def find(cls, explicit: Path | None = None, start: Path | None = None) -> Archive:
        """Like git: --archive, then $PHOTOSYNC_ARCHIVE, then the cwd or a parent."""
        if explicit is None and os.environ.get("PHOTOSYNC_ARCHIVE"):
            explicit = Path(os.environ["PHOTOSYNC_ARCHIVE"])
        if explicit is not None:
            if not _is_archive(explicit):
                raise ArchiveNotFound(
                    f"{explicit} is not a photosync archive",
                    hint=f"Create one with `photosync init {explicit}`.",
                )
            return cls(explicit)
        here = (start or Path.cwd()).resolve()
        for candidate in (here, *here.parents):
            if _is_archive(candidate):
                return cls(candidate)
        raise ArchiveNotFound(
            "no photosync archive here or in any parent folder",
            hint="Run `photosync init PATH`, pass --archive PATH, or set PHOTOSYNC_ARCHIVE.",
        )

    @classmethod
    def init(cls, path: Path) -> Archive:
        path = path.expanduser()
        if _is_archive(path) and not _unfinished_init(path):
            raise PhotosyncError(f"{path} is already a photosync archive")
        # an init killed before its commit left only its own files: written again below
        unfinished = _unfinished_init(path)
        if not unfinished and path.exists() and any(p.name != ".git" for p in path.iterdir()):
            raise PhotosyncError(
                f"{path} exists and is not empty",
                hint="Choose a new folder; photosync will not mix its archive with other files.",
            )
        path.mkdir(parents=True, exist_ok=True)
        archive = cls(path)
        if not (path / ".git").exists():
            archive.git.init()
            configure_git(archive.git)
        elif unfinished:
            configure_git(archive.git)
            # a git killed inside the killed init's commit left its lock; its temp files go
            archive.git.clear_stale_locks(archive.root / ".photosync" / "quarantine")
            own = set(_init_files())
            for temp in [p for p in archive.root.rglob(".*.tmp") if ".git" not in p.parts]:
                if is_own_temp(str(temp.relative_to(archive.root)), own):
                    temp.unlink()
        for folder in ("photos", "config", "schemas", "blobs", ".photosync"):
            (archive.root / folder).mkdir(exist_ok=True)
        for rel, data in _init_files().items():
            atomic_write(archive.root / rel, data)
        # the body names this archive: two archives made in the same second by the same
        # person must not share a first commit, or git would take them for one history
        archive.commit(f"init: new photosync archive\n\narchive {uuid.uuid4()}", everything=True)
        return archive

    # state and locking ------------------------------------------------------------------
    @property
    def state(self) -> StateDB:
        if self._state is None:
            self._state = StateDB(self.root / ".photosync" / "state.sqlite")
        return self._state

    def close(self) -> None:
        self._drop_status()
        try:
            self.wait_for_commits()
        finally:
            if self._committer is not None:
                self._committer.shutdown()
                self._committer = None
        self._close_pending()
        if self._state is not None:
            self._state.close()
            self._state = None
        if self._lock is not None:
            try:
                if self._committed:
                    self.git.maintain()  # git's gc is off inside runs (Git.run): pack here
            except (PhotosyncError, OSError) as error:
                logger.warning("packing the archive's git objects failed: %s", error)
            finally:
                self._lock.release()
                self._lock = None

    @property
    def user_changed(self) -> set[str]:
        """Files with changes photosync did not make: left alone by this run. Asking
        waits for a deferred run-start ``git status`` (``settle``)."""
        if self._status is not None:
            self.settle()
        return self._user_changed

    def lock(self, *, defer_status: bool = False) -> list[str]:
        """Take the writer lock, then make the working tree consistent.

        Returns notes about what recovery did (for the user).

        ``defer_status``: when nothing can need recovering (HEAD as this archive's
        index left it, no path of a killed run pending, no lock or merge left
        behind), git's look at the whole working tree (two seconds at a million
        records: an ``lstat`` each) goes on in the background while the caller does
        work that reads no record (hashing and storing new files). Everything that
        needs its answer waits for it (``settle``): ``user_changed``, writing or
        removing a file, committing. The caller settles before it looks anything up
        in the index. What settling then finds is in ``late_notes``.
        """
        self._lock = ArchiveLock(self.root / ".photosync" / "lock").acquire()
        # HEAD as photosync left it: no pull or merge can have filed a photo twice
        head = self.git.head()
        head_known = head is not None and self.state.get_meta("index_head") == head
        aborted = self._abort_own_merge()
        refusal = self.git.write_refusal()
        if refusal is not None:
            self._lock.release()
            self._lock = None
            raise PhotosyncError(
                f"{refusal}; photosync commits only on a branch, outside a git operation",
                hint="Finish or abort it (git merge --abort, git rebase --abort, "
                "git switch BRANCH), then run photosync again. Read-only commands "
                "(status, check, audit, resolve --list) work now.",
            )
        # a git killed with us (kill -9 of the group, power cut) leaves its lock files;
        # cleared before this run's own git status may take one
        cleared = self.git.clear_stale_locks(self.root / ".photosync" / "quarantine")
        # a killed run (or git) may have left work behind
        recovering = bool(aborted or cleared or self._lock.recovered_stale or self.pending_paths())
        if defer_status and head_known and not recovering:
            return self._lock_deferred()
        if recovering:
            # a killed run's files were written in seconds git's cache may not tell apart
            self.git.forget_untracked_cache()
        with ThreadPoolExecutor(1, thread_name_prefix="git-status") as pool:
            # git's stat of every record file (a second at a million) runs while this
            # thread does what the run needs anyway and does not depend on it
            dirty = pool.submit(self.git.dirty_paths, "photos", "config", "schemas")
            self._warm_up()
            notes = cleared + self._recover(dirty.result())
        notes.extend(aborted)
        # records changed without this process knowing: git moved HEAD, a killed run's
        # work was recovered, or the user edited one (schemas and .gitattributes
        # brought up to date below touch no record)
        records_moved = bool(notes) or not head_known or bool(self.user_changed)
        notes.extend(self._refresh_schemas())
        notes.extend(self._ensure_merge_driver())
        # a pull, a merge or a run killed half-way through merging them: a listing of
        # every record file, so only when git moved HEAD or a run left work behind
        if records_moved:
            notes.extend(self.merge_duplicate_records())
        # a record changed by hand may hold or lack instances the caches think of
        self.ensure_index(force=records_moved)
        notes.extend(self._seal_earlier_approvals())
        if self._lock.recovered_stale:
            notes.insert(
                0,
                f"the last run ({self._lock.previous_holder}) was killed; the lock it left was taken over",
            )
        return notes

    def _lock_deferred(self) -> list[str]:
        """``lock`` when only a hand edit could be found: git's status runs on."""
        pool = ThreadPoolExecutor(1, thread_name_prefix="git-status")
        self._status = (pool, pool.submit(self.git.dirty_paths, "photos", "config", "schemas"))
        self._warm_up()
        # each of these asks ``user_changed`` (so settles first) only when it has work
        notes = self._refresh_schemas()
        notes.extend(self._ensure_merge_driver())
        self.ensure_index()
        notes.extend(self._seal_earlier_approvals())
        return notes

    @property
    def settling(self) -> bool:
        """A deferred run-start ``git status`` is still running (``lock``)."""
        return self._status is not None and not self._status[1].done()

    def settle(self) -> list[str]:
        """Take in a deferred run-start ``git status`` (``lock(defer_status=True)``).

        Nothing was pending when the lock was taken and no file has been written
        since (every write settles first), so recovery can only find the user's own
        changes: those are left alone, and the index is rebuilt from the records as
        ``lock`` would have done. Returns (and keeps in ``late_notes``) what it found.
        """
        with self._settling:
            if self._status is None:
                return []
            pool, future = self._status
            try:
                dirty = future.result()
            finally:
                self._status = None
                pool.shutdown()
            notes = self._recover(dirty)
            if self._user_changed:
                notes.extend(self.merge_duplicate_records())
                self.ensure_index(force=True)
            self.late_notes.extend(notes)
            return notes

    def _drop_status(self) -> None:
        """A run that ends without settling: git's status is waited for, not used."""
        if self._status is not None:
            pool, _future = self._status
            self._status = None
            pool.shutdown(wait=True)

    # approval seals --------------------------------------------------------------------
    @property
    def seals(self) -> ApprovalSeals:
        """This archive's approval key, as found here (read-only: never created).

        Without a key nothing verifies, so every photo stays at private (fail closed).
        """
        if self._seals is None:
            self._seals = ApprovalSeals(load_key(self.git))
        return self._seals

    def reset_seals(self) -> None:
        """Read the key again (after ``visibility key import``)."""
        self._seals = None

    def _seal_earlier_approvals(self) -> list[str]:
        """The first writing run in a clone with no key creates it; approvals made by
        photosync before sealing existed are sealed then, in a commit of their own.

        Only in an archive whose schemas/ a photosync before sealing wrote (``SEALING_FILE``,
        left by ``_refresh_schemas``) and where no approval carries a seal yet: in an
        archive written by a sealing photosync, an unsealed approval was typed by hand or
        sealed nowhere, and stays worth nothing (a clone whose key is on another
        machine waits until it is imported). A run killed midway leaves the marker; the
        next run finishes the sealing with the key it stored.
        """
        marker = self.root / SEALING_FILE
        key = self._key_here()
        if key is not None and not marker.exists():
            self._seals = ApprovalSeals(key)
            return []
        if key is None and not marker.exists():
            # written by a photosync that seals (its schema says so): an unsealed
            # approval was typed, or sealed nowhere; the key is new or on another machine
            self._seals = ApprovalSeals(self._new_key())
            return self._unsealed_note()
        # a marker that names records: what an earlier sealing left to the user's edit
        named = (
            set(marker.read_text(encoding="utf-8").splitlines()[1:]) if marker.exists() else set()
        )
        considered = [
            rel
            for _photo_id, rel in list(self.state.all_record_paths())
            if (not named or rel in named) and (self.root / rel).exists()
        ]
        records = [
            (rel, self._load_path(self.root / rel))
            for rel in considered
            if rel not in self.user_changed
        ]
        # being edited by the user: sealed by a run after they commit it, not forgotten
        waiting = [
            rel
            for rel in considered
            if rel in self.user_changed
            and any(
                isinstance(a, dict) and "seal" not in a
                for a in self._load_path(self.root / rel)["visibility"].get("approvals", [])
            )
        ]
        if key is None:
            already_sealed = any(
                isinstance(a, dict) and "seal" in a
                for _rel, record in records
                for a in record["visibility"].get("approvals", [])
            )
            key = self._new_key()
            if already_sealed:  # sealed in another clone, then written by an older photosync
                marker.unlink(missing_ok=True)
                self._seals = ApprovalSeals(key)
                return self._unsealed_note()
        self._seals = ApprovalSeals(key)
        sealed = 0
        for _rel, record in records:
            approvals = record["visibility"].get("approvals", [])
            unsealed = [a for a in approvals if isinstance(a, dict) and "seal" not in a]
            for approval in unsealed:
                approval["seal"] = self._seals.seal(record["photo_id"], approval)
            if unsealed:
                sealed += len(unsealed)
                self.write_record(record)
        if sealed:
            self.commit("visibility: approvals made before sealing were sealed")
        if waiting:
            atomic_write(marker, "".join(f"{line}\n" for line in [MARKER_HEAD, *waiting]).encode())
        else:
            marker.unlink(missing_ok=True)
        return [f"{sealed} approval(s) made before sealing were sealed"] if sealed else []

    def _mark_sealing(self, schema: str) -> None:
        """The record schema found knows no seals: if a photosync before sealing wrote
        this archive, the next writing run (this one, or the one after it was killed)
        seals its approvals, once.

        Never where a key is already kept (this clone seals), nor where a sealing
        schema was ever committed: a schema without seals pulled or reverted into such
        an archive, with an approval typed beside it, must not get that approval sealed.
        """
        marker = self.root / SEALING_FILE
        if self._key_here() is not None or self.git.ever_held(schema, '"seal"'):
            return
        if not marker.exists():
            marker.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(marker, f"{MARKER_HEAD}\n".encode())

    def _key_here(self) -> bytes | None:
        """This clone's approval key, if it keeps one: the one found while git status
        ran (``_warm_up``; the root commit it is kept under stays as it was once the
        archive has one), else looked up now."""
        looked_up = self._key_at_lock
        return looked_up[1] if looked_up is not None else load_key(self.git)

    def _new_key(self) -> bytes:
        key = new_key()
        save_key(self.git, key)
        return key

    def _unsealed_note(self) -> list[str]:
        """Said when this clone made its own key for an archive that seals: approvals
        sealed elsewhere (or typed) count for nothing here."""
        approved = any(
            self._load_path(self.root / rel)["visibility"].get("approvals")
            for _photo_id, rel in self.state.all_record_paths()
            if rel not in self.user_changed and (self.root / rel).exists()
        )
        if not approved:
            return []
        return [
            "this archive's approvals were sealed with a key kept on another machine (or "
            "typed by hand): photos wait at their last approval made here (private when "
            "none) until you run `photosync visibility key import` with that key"
        ]

    # config --------------------------------------------------------------------------
    def _read_config(self, relpath: str) -> Any:
        path = self.root / relpath
        try:
            return read_json(path)
        except FileNotFoundError as error:
            raise ConfigError(f"{relpath} is missing from the archive") from error
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ConfigError(
                f"{relpath} is not valid JSON: {error}",
                hint=f"Fix it by hand or restore it with `git checkout {relpath}`.",
            ) from error

    def services(self) -> dict[str, dict[str, Any]]:
        config = self._read_config(SERVICES_FILE)
        validate_services(config)
        return dict(config["services"])

    def save_services(self, services: dict[str, dict[str, Any]]) -> None:
        config = {"schema_version": 1, "services": services}
        validate_services(config)
        self._refuse_user_changed(SERVICES_FILE, None)  # the user's edit: theirs
        self._write_config(SERVICES_FILE, config)

    def preferences(self) -> dict[str, Any]:
        """The user's preferences over the defaults, checked (archive/preferences.py);
        nothing that looks like a credential is accepted."""
        raw = self._read_config(PREFERENCES_FILE)
        refuse_credentials(PREFERENCES_FILE, raw)
        return load_preferences(raw)

    def prefs(self) -> Preferences:
        """The preferences, typed: read and checked once per version of the file (a
        merge of another clone's config or a save reads them again)."""
        try:
            st = (self.root / PREFERENCES_FILE).stat()
            version = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            version = (0, 0, 0)
        if self._prefs is None or self._prefs[0] != version:
            self._prefs = (version, Preferences.from_merged(self.preferences()))
        return self._prefs[1]

    def save_preferences(self, prefs: dict[str, Any]) -> None:
        validate_config(PREFERENCES_FILE, prefs)
        self._prefs = None
        self._refuse_user_changed(PREFERENCES_FILE, None)  # the user's edit: theirs
        self._write_config(PREFERENCES_FILE, prefs)

    def sync_state(self) -> dict[str, Any]:
        state = self._read_config(SYNC_STATE_FILE)
        if not isinstance(state, dict) or not isinstance(state.get("services", {}), dict):
            raise ConfigError(f"{SYNC_STATE_FILE} must hold {{'services': {{...}}}}")
        state.setdefault("services", {})
        validate_config(SYNC_STATE_FILE, state)
        return state

    def save_sync_state(self, state: dict[str, Any]) -> None:
        validate_config(SYNC_STATE_FILE, state)
        self._refuse_user_changed(SYNC_STATE_FILE, None)  # the user's edit: theirs
        self._write_config(SYNC_STATE_FILE, state)

    def _write_config(self, rel: str, value: dict[str, Any]) -> None:
        data = canonical_bytes(value)
        self._intend((rel, data))
        write_canonical(self.root / rel, data)

    # records ------------------------------------------------------------------------
    def _machine(self) -> dict[str, Any]:
        try:
            value = read_json(self.root / MACHINE_FILE)
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as error:
            raise ConfigError(
                f"{MACHINE_FILE} is not readable: {error}",
                hint="Remove it and set the folders again with `photosync service locate`.",
            ) from error
        return value if isinstance(value, dict) else {}

    def machine_paths(self) -> dict[str, str]:
        """Per service, the folder this machine uses instead of the one in services.json."""
        paths = self._machine().get("paths")
        return {str(k): str(v) for k, v in (paths or {}).items()} if isinstance(paths, dict) else {}

    def added_here(self) -> set[str]:
        """Services added in this clone: the folder services.json names is this machine's."""
        names = self._machine().get("added_here")
        return {str(name) for name in names} if isinstance(names, list) else set()

    def save_machine_path(self, name: str, path: str) -> None:
        machine = self._machine()
        machine["paths"] = {**self.machine_paths(), name: path}
        write_json(self.root / MACHINE_FILE, machine)

    def save_added_here(self, name: str) -> None:
        machine = self._machine()
        machine["added_here"] = sorted(self.added_here() | {name})
        write_json(self.root / MACHINE_FILE, machine)

    def originals_elsewhere(self) -> set[str]:
        """Bare digests the last ``sync`` found on no location this machine reaches."""
        try:
            value = read_json(self.root / ELSEWHERE_FILE)
        except (OSError, ValueError):
            return set()
        return {str(d) for d in value.get("digests", [])} if isinstance(value, dict) else set()

    def save_originals_elsewhere(self, digests: set[str]) -> None:
        write_json(self.root / ELSEWHERE_FILE, {"digests": sorted(digests)})

    def record_path(self, photo_id: str) -> Path | None:
        rel = self.state.path_for_photo(photo_id)
        return None if rel is None else self.root / rel

    def load_record(self, photo_id: str) -> Record:
        """A record photosync knows of; an unknown id is photosync's own mistake (user
        input goes through ``resolve_photo_ids`` or ``record_path`` first)."""
        path = self.record_path(photo_id)
        if path is None:
            raise InternalError(f"no photo with id {photo_id} in the archive's index")
        return self._load_path(path)

    def committed_as_is(self) -> bool:
        """Nothing under photos/ or config/ differs from HEAD. For a reader (a writer
        knows it from taking the lock: ``user_changed``), whose answers may then come from
        caches of the committed state; git is asked once per archive opened."""
        if self._as_is is None:
            self._as_is = not self.git.dirty_paths("photos", "config", write_index=False)
        return self._as_is

    def note_user_changes(self) -> None:
        """For a reader that answers as a writer would (a preview): ``user_changed`` as
        taking the lock would find it (``_recover``: a changed file that no killed run of
        photosync was writing, and not photosync's own temp file), nothing recovered and
        git's index left as it is. A writer knows it already from its lock."""
        if self._lock is not None or self.committed_as_is():  # as is: nobody's change
            return
        pending = self.pending_paths()
        self._user_changed = {
            rel
            for rel in self.git.dirty_paths("photos", "config", "schemas", write_index=False)
            if not left_by_run(self.root, rel, pending) and not is_own_temp(rel, pending)
        }

    def indexed_record_at(self, rel: str) -> Record | None:
        """The record at ``rel`` (relative to the archive) when it is the one the index
        holds for its photo; None for a file gone, unreadable or not indexed (a copy
        ``check`` reports), as ``iter_records`` would pass it over."""
        path = self.root / rel
        try:
            record = self._load_path(path)
        except (ArchiveCorrupt, OSError):
            return None
        photo_id = record.get("photo_id")
        if not isinstance(photo_id, str) or self.state.path_for_photo(photo_id) != rel:
            return None
        return record

    def _load_path(self, path: Path) -> Record:
        if self._writes or self._batch:
            self._wait_for_write(str(path.relative_to(self.root)))
        return self._parse_record(path, path.read_bytes())

    def _parse_record(self, path: Path, data: bytes) -> Record:
        """The record in ``data``, the bytes of the file at ``path`` (named in errors)."""
        try:
            record = json.loads(data.decode("utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ArchiveCorrupt(
                f"{path.relative_to(self.root)} is not valid JSON: {error}"
            ) from error
        if not isinstance(record, dict):
            raise ArchiveCorrupt(f"{path.relative_to(self.root)} does not hold a JSON object")
        try:
            return record_from_json(record)
        except RecordVersionError as error:
            raise ArchiveCorrupt(
                f"{path.relative_to(self.root)}: {error}",
                hint="Update photosync on this machine (another one wrote this record).",
            ) from error

    def record_for_hash(self, content_hash: str) -> Record | None:
        photo_id = self.state.photo_for_hash(content_hash)
        return None if photo_id is None else self.load_record(photo_id)

    def write_record(
        self, record: Record, *, durable: bool = False, was: ReadRecord | None = None
    ) -> bool:
        """Validate and write one record (moving it if its date folder changed).

        ``updated_at`` is stamped here, and only when something else changed, so
        that re-writing an unchanged record leaves git untouched. ``durable``: on
        disk before this returns (a merge's survivor, before the merged files go).
        ``was``: the record as this run read it from its file (``map_records``), not
        written since: its path and bytes are taken from there, not looked up again.
        """
        rel = record_relpath(record)
        known = was is not None and was.rel is not None and was.data is not None
        if known:
            assert was is not None and was.rel is not None
            old_rel: str | None = was.rel
        else:
            old_rel = self.state.path_for_photo(record["photo_id"])
        self._refuse_user_changed(rel, old_rel)
        if self._writes or self._batch:
            self._wait_for_write(rel, old_rel)
        # an unindexed file can only be in the way when the index skipped damaged ones
        maybe_blocked = old_rel is not None or bool(self.damaged_records)
        if old_rel != rel and maybe_blocked and (self.root / rel).exists():
            raise ArchiveCorrupt(
                f"{rel} exists but is not a readable record; photosync will not overwrite it",
                hint="Fix or restore the file (git log -p -- FILE), then run again.",
            )
        # None: the file could not be compared (gone, unreadable); False: it differs
        unchanged: bool | None = None
        if old_rel is not None:
            if known:
                assert was is not None and was.data is not None
                unchanged = self._same_but_time(record, was.data, was.updated_at)
            else:
                unchanged = self._unchanged_but_time(record, self.root / old_rel)
        if unchanged:
            validate_record(record_to_json(record), where=f"photo {record.get('photo_id')}")
            return False
        if old_rel is not None:
            record["updated_at"] = utc_now()
        data = record_to_json(record)
        validate_record(data, where=f"photo {record.get('photo_id')}")
        # the file at rel was just compared and differs (or there is none): no compare again
        differs = old_rel is None or (old_rel == rel and unchanged is False)
        if self._writer is not None and old_rel == rel and not durable:
            # replaced in place by a writer thread (the bytes are taken now): listed in
            # PENDING_FILE with its batch, before the batch is handed over; atomic as
            # ever, done before anything is committed
            self._submit_write(rel, canonical_bytes(data), known_new=differs)
            self.state.index_record(record["photo_id"], rel, record_hashes(record))
            return True
        raw = canonical_bytes(data)
        if old_rel and old_rel != rel:
            self._intend((rel, raw), (old_rel, None))
        else:
            self._intend((rel, raw))
        changed = write_canonical(self.root / rel, raw, fsync=durable, known_new=differs)
        if durable:
            fsync_dir((self.root / rel).parent)
        if old_rel and old_rel != rel:
            (self.root / old_rel).unlink(missing_ok=True)
            changed = True
        self.state.index_record(record["photo_id"], rel, record_hashes(record))
        return changed

    @contextmanager
    def parallel_writes(self, workers: int = 2) -> Iterator[None]:
        """Record files replaced in place are written by ``workers`` threads while the
        caller goes on: a file's replacement waits on the disk (ext4 flushes the new
        file's data when a rename replaces another), and a few at once overlap. They
        are handed over ``WRITE_BATCH`` at a time (one thread hand-off per batch).

        For a pass that writes each record once (resolve). Every write is still atomic
        and listed in PENDING_FILE first; a moved or durable record is written at once;
        all are on disk (or the first error raised) when the block ends.
        """
        if self._writer is not None:
            yield
            return
        self._writer = ThreadPoolExecutor(workers, thread_name_prefix="record-write")
        try:
            yield
            self._drain_writes()
        finally:
            writer, self._writer = self._writer, None
            writer.shutdown(wait=True)
            self._writes.clear()
            self._batch.clear()

    def _submit_write(self, rel: str, data: bytes, *, known_new: bool = False) -> None:
        assert self._writer is not None
        self._batch.append((rel, data, known_new))
        if len(self._batch) >= WRITE_BATCH:
            self._flush_batch()

    def _flush_batch(self) -> None:
        """Hand the replacements gathered so far to a writer thread."""
        if not self._batch:
            return
        assert self._writer is not None
        # a bounded backlog: memory stays flat, and an error surfaces soon
        while self._writes and (len(self._writes) >= 64 or self._writes[0][1].done()):
            self._writes.popleft()[1].result()
        batch, self._batch = self._batch, []
        self._intend(*((rel, data) for rel, data, _known in batch))  # listed before any is written
        root = self.root

        def write_all() -> None:
            for rel, data, known_new in batch:
                write_canonical(root / rel, data, fsync=False, known_new=known_new)

        future = self._writer.submit(write_all)
        self._writes.extend((rel, future) for rel, _data, _known in batch)

    def _wait_for_write(self, *rels: str | None) -> None:
        """A record file being written by a writer thread is finished before it is read
        or touched again."""
        if any(where in rels for where, _data, _known in self._batch):
            self._flush_batch()
        for where, future in list(self._writes):
            if where in rels:
                future.result()

    def _drain_writes(self) -> None:
        if self._batch:
            self._flush_batch()
        while self._writes:
            self._writes.popleft()[1].result()

    @staticmethod
    def _unchanged_but_time(record: Record, path: Path) -> bool | None:
        """True: the file holds the record but for ``updated_at`` (then the file's is
        kept); False: it differs; None: it could not be read."""
        try:
            on_disk = path.read_bytes()
            previous = json.loads(on_disk).get("updated_at", record.get("updated_at"))
        except (OSError, ValueError):
            return None
        return Archive._same_but_time(record, on_disk, previous)

    @staticmethod
    def _same_but_time(record: Record, on_disk: bytes, previous: Any) -> bool:
        if canonical_bytes({**record, "updated_at": previous}) != on_disk:
            return False
        record["updated_at"] = previous
        return True

    def remove_record(self, photo_id: str) -> None:
        """Drop a record file whose content was merged into another record (git keeps it).

        The caller has written the record that took its instances first (durably).
        """
        path = self.record_path(photo_id)
        if path is not None:
            rel = str(path.relative_to(self.root))
            self._refuse_user_changed(rel, None)
            self._wait_for_write(rel)
            self._intend((rel, None))
        self.state.forget_record(photo_id)
        if path is not None:
            path.unlink(missing_ok=True)

    def is_user_changed(self, photo_id: str) -> bool:
        """True when the record's file holds a change the user made and has not committed."""
        if not self.user_changed:
            return False
        return self.state.path_for_photo(photo_id) in self.user_changed

    def _refuse_user_changed(self, rel: str, old_rel: str | None) -> None:
        for where in (rel, old_rel):
            if where is not None and where in self.user_changed:
                raise UserChanged(
                    f"{where} has changes photosync did not make (not committed); "
                    "photosync leaves it alone",
                    hint=f"Commit your change (git commit {where}) or discard it "
                    f"(git checkout -- {where}), then run again.",
                )

    def _intend(self, *writes: tuple[str, bytes | None]) -> None:
        """List paths in PENDING_FILE before writing (the bytes given) or removing (None)
        them, each with the state it is given (recovery commits only these, and only in
        that state), with one append however many."""
        if self._status is not None:
            self.settle()  # what the run-start status finds must not include this run's writes
        lines = [(rel, state_mark(data)) for rel, data in writes]
        for rel, mark in lines:
            self._touched.setdefault(rel, set()).add(mark)
        new = [line for line in dict.fromkeys(lines) if line not in self._intended]
        if not new:
            return
        line = "".join(f"{rel}\t{mark}\n" for rel, mark in new).encode("utf-8")
        # one fstat: whether the file is still there, and where this append starts
        held = os.fstat(self._pending_fd[0]) if self._pending_fd is not None else None
        if held is not None and held.st_nlink == 0:
            # the file was removed under the run (a cleanup of .photosync/): appends to
            # the unlinked one would list nothing
            self._close_pending()
            held = None
        created = False
        if self._pending_fd is None:
            path = self.root / PENDING_FILE
            if not path.exists():  # a new file lists every path not yet committed
                created = True
                line = _pending_text({*self._intended, *new}, self._base())
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except FileNotFoundError:
                path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            # closed with the archive, or when this object goes (an archive not closed)
            self._pending_fd = (fd, weakref.finalize(self, os.close, fd))
        fd = self._pending_fd[0]
        before = held.st_size if held is not None else os.fstat(fd).st_size
        try:
            # one append: a line is whole or, killed before it, absent
            if os.write(fd, line) != len(line):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(PENDING_FILE))
        except OSError:
            # a full disk may take part of the line: cut it off, or the next path
            # would be appended to the half line and go unlisted
            with suppress(OSError):
                os.ftruncate(fd, before)
            if created:  # the next path lists them all again
                self._close_pending()
                (self.root / PENDING_FILE).unlink(missing_ok=True)
            raise
        self._intended.update(new)

    def _close_pending(self) -> None:
        """Before PENDING_FILE is replaced or removed: the next path opens the new one."""
        if self._pending_fd is not None:
            (_fd, closing), self._pending_fd = self._pending_fd, None
            closing()

    def pending_paths(self) -> Pending:
        """The paths a photosync run was writing and has not committed (PENDING_FILE),
        each with the states it gave them."""
        try:
            text = (self.root / PENDING_FILE).read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        return parse_pending(text)

    def _rewrite_pending(self) -> None:
        """After a commit: only what was written since stays listed."""
        self._intended = {(rel, mark) for rel, marks in self._touched.items() for mark in marks}
        self._close_pending()
        path = self.root / PENDING_FILE
        if self._intended:
            atomic_write(path, _pending_text(self._intended, self._base()), fsync=False)
        else:
            path.unlink(missing_ok=True)

    def iter_record_files(self) -> Iterator[Path]:
        photos = self.root / "photos"
        for dirpath, dirnames, filenames in os.walk(photos):
            dirnames.sort()
            for name in sorted(filenames):
                if name.endswith(".json") and not name.startswith("."):
                    yield Path(dirpath) / name

    def iter_records(self) -> Iterator[Record]:
        """Every record, one at a time, in a stable order (path order).

        The paths are read from a snapshot of the index (``snapshot_record_paths``), so
        writing records while iterating is safe and memory does not grow with the archive.
        """
        for _photo_id, rel in self.state.snapshot_record_paths():
            path = self.root / rel
            if path.exists():  # merged away earlier in this iteration
                yield self._load_path(path)

    def map_records(
        self,
        work: Callable[[ReadRecord], Out],
        *,
        workers: int = 1,
        chunk: int = 32,
        name: str = "record-read",
    ) -> Iterator[Out]:
        """``work`` of every record (``iter_records``' order and snapshot), each file read
        and parsed on ``workers`` threads, ``chunk`` records to a task: the caller's
        thread neither waits on the disk nor hands the GIL over once per record. Results
        come back in path order, memory stays bounded (``bounded_map``).

        For a pass that writes a record only after reading it (a file this run is
        writing is never read here): ``work`` runs on the threads, so it must not touch
        the archive's state (sqlite) or write anything.
        """

        def load(rows: list[tuple[str, str]]) -> list[Out]:
            out = []
            for _photo_id, rel in rows:
                path = self.root / rel
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    continue  # merged away earlier in this iteration
                record = self._parse_record(path, data)
                out.append(work(ReadRecord(record, rel, data, record.get("updated_at"))))
            return out

        for results in bounded_map(
            load, _chunks(self.state.snapshot_record_paths(), chunk), workers=workers, name=name
        ):
            yield from results

    def ensure_index(self, *, force: bool = False) -> None:
        """Rebuild the hash/path index when git HEAD moved without us (pull, reset, edit).

        The seen-cache is checked against the records at the same time: a row whose
        instance no record holds any more (a reset, a checkout, a revert took it
        away) is dropped, so the next discover reads that file again.
        """
        head = self.git.head()
        if not force and self.state.get_meta("index_head") == head and head is not None:
            return
        self.state.clear_indexes()
        rows = []
        held: set[tuple[str, str, str]] = set()
        self.damaged_records = []
        for path in self.iter_record_files():
            rel = str(path.relative_to(self.root))
            try:
                record = self._load_path(path)
            except ArchiveCorrupt as error:  # _load_path's message names the file
                self.damaged_records.append(str(error))
                continue
            if not is_valid(PHOTO_SCHEMA, record):
                problems = schema_errors(PHOTO_SCHEMA, record)
                self.damaged_records.append(f"{rel}: " + "; ".join(problems[:2]))
                continue
            rows.append((record["photo_id"], rel, record_hashes(record)))
            for service, instance in iter_instances(record):
                held.add(
                    (
                        service,
                        instance["id"],
                        instance.get("content_hash") or record["content_hash"],
                    )
                )
        self.state.index_many(rows)
        self.state.keep_seen_only(held)
        # while the user's uncommitted changes stand, every run reads the records again
        self.state.set_meta("index_head", None if self.user_changed else head)
        self.state.flush()

    # committing -------------------------------------------------------------------------
    def commit(self, message: str, *, everything: bool = False) -> str | None:
        """One commit of everything the run changed; updates the index's HEAD mark.

        Records are written without a per-file fsync; one filesystem sync here makes
        the whole batch durable before git records it.
        """
        if self._status is not None:
            self.settle()
        self._drain_writes()
        if everything:
            self.wait_for_commits()
            self._scan_config(list(CONFIG_SCHEMAS))
            sync_filesystem(self.root)
            self._touched.clear()
            return self._after_commit(self.git.commit_all(message, TRACKED_PATHS))
        return self.commit_in_background(message).wait()

    def commit_in_background(self, message: str) -> PendingCommit:
        """Start committing what was written so far; the caller goes on writing.

        git hashes and stores the batch's files while the next batch is prepared.
        Commits stay in order: a new one first waits for the one before.
        """
        if self._status is not None:
            self.settle()
        self._drain_writes()
        self.wait_for_commits()
        paths = sorted(self._touched)
        self._scan_config(paths)
        self._touched.clear()
        if self._committer is None:
            self._committer = ThreadPoolExecutor(1, thread_name_prefix="git-commit")
        self._inflight = PendingCommit(
            self, self._committer.submit(self._commit_files, message, paths)
        )
        return self._inflight

    def _scan_config(self, paths: list[str]) -> None:
        """Before anything reaches git: no unknown key and nothing that looks like a
        credential in the config files being committed (a hand edit included)."""
        for rel in paths:
            if rel in CONFIG_SCHEMAS and (self.root / rel).exists():
                validate_config(rel, self._read_config(rel))

    def wait_for_commits(self) -> None:
        if self._inflight is not None:
            self._inflight.wait()

    def _commit_files(self, message: str, paths: list[str]) -> str | None:
        if not paths:
            return None
        sync_filesystem(self.root)
        return self.git.commit_files(message, paths)

    def _base(self) -> str | None:
        """HEAD as this run last knew it (its last commit, else looked up once)."""
        if self._base_head is None:
            self._base_head = self.git.head()
        return self._base_head

    def _after_commit(self, commit: str | None) -> str | None:
        if commit is not None:
            self._base_head = commit
        self._committed = self._committed or commit is not None
        if self._state is not None:
            if commit is not None:
                # photosync's last commit, whatever else is uncommitted (``_finish_merges``)
                self.state.set_meta("own_head", commit)
                if not self.user_changed:
                    self.state.set_meta("index_head", commit)
            self.state.flush()
        self._rewrite_pending()
        return commit

    def _refresh_schemas(self) -> list[str]:
        """The archive documents the schemas its records follow: a copy written by an
        older photosync is brought up to date, in a commit of its own."""
        refreshed = []
        for name in ALL_SCHEMAS:
            path = self.root / "schemas" / name
            wanted = schema_text(name)
            try:
                current: str | None = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                current = None
            if current != wanted:
                rel = f"schemas/{name}"
                if rel in self.user_changed:
                    continue  # the user's edit, left alone (and reported by recovery)
                if name == PHOTO_SCHEMA and current is not None and '"seal"' not in current:
                    self._mark_sealing(rel)
                self._intend((rel, wanted.encode("utf-8")))
                atomic_write(path, wanted.encode("utf-8"))
                refreshed.append(name)
        if not refreshed:
            return []
        self.commit("schemas: updated to the ones this photosync writes")
        return ["the archive's schemas/ were updated to the ones this photosync writes"]

    def begin_own_merge(self, theirs: str) -> None:
        """``photosync sync`` is about to run ``git merge`` of ``theirs``: remember HEAD and
        ``theirs``, so that a run killed in the middle leaves a merge the next run knows is
        its own to undo."""
        head = self.git.head() or ""
        atomic_write(self.root / SYNC_MERGE_FILE, f"{head}\n{theirs}\n".encode("ascii"))

    def end_own_merge(self) -> None:
        (self.root / SYNC_MERGE_FILE).unlink(missing_ok=True)

    def _abort_own_merge(self) -> list[str]:
        """A merge ``sync`` started and did not finish (killed) is undone: the archive is
        back as it was before it, and the re-run merges again. A merge of the user's is
        never touched (no marker, or HEAD moved since)."""
        marker = self.root / SYNC_MERGE_FILE
        if not marker.exists():
            return []
        started_at, theirs = ([*marker.read_text(encoding="ascii").split(), "", ""])[:2]
        note = self.git.clear_stale_locks(self.root / ".photosync" / "quarantine")
        head = self.git.head() or ""
        if (self.git.git_dir / "MERGE_HEAD").exists() and started_at == head:
            self.git.run("merge", "--abort", check=False)
            note.append("a sync killed during its merge was undone; this run merges again")
        elif started_at == head and theirs:
            undone = self._undo_unrecorded_merge(head, theirs)
            if undone:
                note.append(
                    f"a sync killed while git merged left {undone} file(s) half merged: "
                    "put back as they were (a copy in .photosync/quarantine/); this run "
                    "merges again"
                )
        # git killed while it ran the merge driver leaves its temp copies of records behind;
        # only photosync's own cut-short merge (the marker) makes them photosync's to remove
        leftovers = merge_temp_leftovers(self.root)
        for path in leftovers:
            path.unlink(missing_ok=True)
        if leftovers:
            note.append(f"{len(leftovers)} temp file(s) of the killed sync's git merge removed")
        marker.unlink(missing_ok=True)
        return note

    def _undo_unrecorded_merge(self, head: str, theirs: str) -> int:
        """git killed (or dying of its closed output pipe once photosync was killed) after
        it wrote merged files into the working tree and before it recorded the merge
        (no MERGE_HEAD, HEAD unmoved): the files the merge would change are put back as
        HEAD has them. A file only ``theirs`` has goes only when it holds exactly
        ``theirs``' bytes (it is in that commit); a changed one is copied to the
        quarantine first. Returns how many files were put back."""

        def names(*args: str, input_text: str | None = None) -> list[str]:
            out = self.git.run(*args, input_text=input_text, check=False)
            return [name for name in out.split("\0") if name]

        touched = set(names("diff", "--name-only", "--no-renames", "-z", f"{head}...{theirs}"))
        if not touched:
            return 0
        in_head = touched & set(names("ls-tree", "-r", "-z", "--name-only", head))
        changed = sorted(in_head & set(names("diff", "--name-only", "--no-renames", "-z", "HEAD")))
        quarantine = self.root / ".photosync" / "quarantine" / "killed-sync"
        for rel in changed:
            path = self.root / rel
            if path.is_file():
                quarantine.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, quarantine / rel.replace("/", "__"))
        if changed:
            self.git.run(
                "checkout", "-q", "HEAD", "--pathspec-from-file=-", "--pathspec-file-nul",
                input_text="\0".join(changed),
            )  # fmt: skip
        theirs_blobs = {}
        for entry in names("ls-tree", "-r", "-z", theirs):
            meta, _, rel = entry.partition("\t")
            if rel in touched and rel not in in_head:
                theirs_blobs[rel] = meta.split()[2]
        present = sorted(rel for rel in theirs_blobs if (self.root / rel).is_file())
        hashed = self.git.run(
            "hash-object", "--stdin-paths", input_text="".join(f"{rel}\n" for rel in present)
        ).split() if present else []  # fmt: skip
        added = [
            rel for rel, blob in zip(present, hashed, strict=True) if theirs_blobs[rel] == blob
        ]
        if added:
            self.git.run(
                "rm", "-q", "--cached", "--ignore-unmatch", "--pathspec-from-file=-",
                "--pathspec-file-nul", input_text="\0".join(added),
            )  # fmt: skip
            for rel in added:
                (self.root / rel).unlink(missing_ok=True)
        return len(changed) + len(added)

    def merge_duplicate_records(self) -> list[str]:
        """One photo in two record files (two clones discovered it with different dates,
        so at different paths; git merged both in): the files become one record by the
        merge rule, at the path its date gives, in a commit of its own.

        The merged record is written durably before the other files go, so a run
        killed in between leaves both files and the next run merges them again.
        """
        by_id: dict[str, list[Path]] = {}
        for path in self.iter_record_files():
            by_id.setdefault(path.stem, []).append(path)
        notes = []
        for photo_id, paths in sorted(by_id.items()):
            if len(paths) < 2:
                continue
            rels = [str(p.relative_to(self.root)) for p in paths]
            if any(rel in self.user_changed for rel in rels):
                continue  # the user's edit is in one of them: left alone, reported by recovery
            try:
                versions = [self._load_path(p) for p in sorted(paths)]
                merged = versions[0]
                for other in versions[1:]:
                    merged = merge_records(merged, other)
                validate_record(merged, where=f"photo {photo_id}")
            except (ArchiveCorrupt, MergeError, PhotosyncError) as error:
                notes.append(
                    f"photo {photo_id} is in {len(paths)} files and could not be merged: {error}"
                )
                continue
            target = record_relpath(merged)
            data = canonical_bytes(merged)
            self._intend((target, data), *((rel, None) for rel in rels if rel != target))
            write_canonical(self.root / target, data)
            fsync_dir((self.root / target).parent)
            for rel in rels:
                if rel != target:
                    (self.root / rel).unlink(missing_ok=True)
            notes.append(f"photo {photo_id} was in {len(paths)} record files; merged into {target}")
        if notes:
            self.commit("merge: one record per photo (two clones filed it under different dates)")
        return notes

    def _ensure_merge_driver(self) -> list[str]:
        """Idempotently: the driver in this clone's git config, and ``.gitattributes``
        naming it (the user's own lines there are kept; an uncommitted edit of theirs
        is left alone)."""
        configure_merge_driver(self.git)
        configure_status_cache(self.git)
        path = self.root / ".gitattributes"
        try:
            current = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            current = ""
        missing = [line for line in GITATTRIBUTES_LINES if line not in current.splitlines()]
        if not missing or self.git.dirty_paths(".gitattributes"):
            return []
        if current and not current.endswith("\n"):
            current += "\n"
        data = (current + "".join(f"{line}\n" for line in missing)).encode("utf-8")
        self._intend((".gitattributes", data))
        atomic_write(path, data)
        self.commit("archive: records and config merged by photosync's rule (.gitattributes)")
        return [
            "records and config are now merged by photosync's rule in a git pull (.gitattributes)"
        ]

    def _warm_up(self) -> None:
        """The approval key (a keyring lookup, 0.1-0.3 s) and the record validator,
        while git looks at the working tree: both are outside the working tree."""
        identity = archive_identity(self.git)
        if identity is not None:
            self._key_at_lock = (identity, load_key(self.git, identity=identity))
        is_valid(PHOTO_SCHEMA, {})

    def _recover(self, dirty: list[str]) -> list[str]:
        """Make leftovers of a killed run safe; leave the user's own changes alone.

        Only paths listed in PENDING_FILE were being written by photosync: valid
        records among them are kept, torn ones quarantined (the committed version
        restored), a merge cut short is completed, and exactly those paths are
        committed. Any other change (a hand edit, a staged file, conflict markers,
        a secret kept beside the config) is the user's: reported, never committed.
        """
        notes: list[str] = []
        pending = self.pending_paths()
        quarantine = self.root / ".photosync" / "quarantine"
        ours: list[str] = []
        user: list[str] = []
        kept = 0
        removed = False  # an untracked file taken away: git's cache of it is now stale
        for rel in [*dirty, *self._pending_unseen(pending, set(dirty))]:
            path = self.root / rel
            if is_own_temp(rel, pending) and path.exists():
                # photosync's own temp file (atomic_write) of a killed run: never a record
                quarantine.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), _free_name(quarantine, rel.replace("/", "__")))
                removed = True
                continue
            if not left_by_run(self.root, rel, pending):
                # not listed, or not as the run left it: edited (or removed) by the user
                # since the run was killed (their change is theirs to commit)
                user.append(rel)
                continue
            ours.append(rel)
            if not path.exists() or not rel.startswith("photos/"):
                continue  # a removal (merged or moved record), or config written atomically
            problem = _record_problem(path)
            if problem is None:
                kept += 1
                continue
            quarantine.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, _free_name(quarantine, rel.replace("/", "__")))
            if self.git.is_tracked(rel):
                self.git.restore(rel)
            else:
                path.unlink()
                removed = True
            notes.append(f"{rel} was damaged ({problem}); a copy is in .photosync/quarantine/")
        for rel in self._unheld_removals(ours):
            # the record that took its copies (the other half of a join, a move's new
            # path) is not committed with it: the user changed, put back or removed it,
            # or it was torn. Both then hold the photo (joined again later), never neither.
            self.git.restore(rel)
            ours.remove(rel)
            notes.append(
                f"{rel}: its removal was undone (the record that took its copies is not "
                "as the interrupted run left it)"
            )
        if removed:
            self.git.forget_untracked_cache()
        finished = self._finish_merges([r for r in ours if (self.root / r).exists()], set(user))
        ours.extend(finished)
        if kept:
            notes.append(
                f"{kept} file(s) left uncommitted by an interrupted run were checked and kept"
            )
        if finished:
            notes.append(f"{len(finished)} merge(s) cut short by an interrupted run were completed")
        self._user_changed = set(user)
        if ours:
            for rel in ours:
                self._touched.setdefault(rel, set())
            self.commit("recover: changes left by an interrupted run\n\n" + "\n".join(notes))
        else:
            self._rewrite_pending()
        if user:
            shown = ", ".join(sorted(user)[:5]) + (" ..." if len(user) > 5 else "")
            notes.append(
                f"{len(user)} file(s) changed outside photosync and not committed are left "
                f"alone (commit or discard them): {shown}"
            )
        return notes

    def _pending_unseen(self, pending: Pending, seen: set[str]) -> list[str]:
        """Untracked files a killed run left that git's status did not name: its new
        files and its temp files (beside the paths it listed). git's untracked cache
        can miss a file made in the second it cached the folder, and the cache is
        only dropped best effort (``Git.forget_untracked_cache``): recovery of the
        run's own files never depends on it. Also a listed tracked file outside the
        folders the run-start status looks at (``.gitattributes``) that was changed."""
        if not pending:
            return []
        outside = [
            rel
            for rel in sorted(pending)
            if rel not in seen and not rel.startswith(("photos/", "config/", "schemas/"))
        ]
        changed = self.git.dirty_paths(*outside) if outside else []
        found: list[str] = []
        folders: set[str] = set()
        for rel in sorted(pending):
            head = rel.rpartition("/")[0]
            folders.add(head)
            if rel not in seen and (self.root / rel).is_file():
                found.append(rel)
        unseen = self.git.untracked_of(found)
        for head in sorted(folders):
            try:
                names = os.listdir(self.root / head) if head else os.listdir(self.root)
            except OSError:
                continue
            for name in sorted(names):
                rel = f"{head}/{name}" if head else name
                if rel not in seen and is_own_temp(rel, pending):
                    unseen.append(rel)
        return [*changed, *(rel for rel in unseen if rel not in changed)]

    def _unheld_removals(self, ours: list[str]) -> list[str]:
        """The record removals among ``ours`` whose copies no record committed with them
        holds (``ours`` as it will be committed: a torn file already put back)."""
        removals = [
            rel
            for rel in ours
            if rel.startswith("photos/")
            and rel.endswith(".json")
            and not (self.root / rel).exists()
            and self.git.is_tracked(rel)
        ]
        if not removals:
            return []
        held: set[tuple[str, Any, Any]] = set()
        for rel in ours:
            if rel.startswith("photos/") and rel.endswith(".json"):
                try:
                    held |= _instance_keys(read_json(self.root / rel))
                except (OSError, ValueError, KeyError, TypeError, AttributeError):
                    continue
        unheld = []
        for rel in removals:
            try:
                gone = json.loads(self.git.run("show", f"HEAD:{rel}"))
                wanted = _instance_keys(gone)
            except (PhotosyncError, ValueError, KeyError, TypeError, AttributeError):
                wanted = {("?", rel, None)}  # unreadable: never taken as held
            if not wanted <= held:
                unheld.append(rel)
        return unheld

    def _finish_merges(self, written: list[str], user: set[str]) -> list[str]:
        """Remove the records a kept survivor already holds in full (a merge killed midway).

        The survivor is written (durably) before the merged files are removed, so a
        kill in between leaves both; the removal is finished only when every
        instance of the merged record is in the survivor: nothing can be lost.
        """
        merged: dict[str, Record] = {}
        for rel in written:
            if not rel.startswith("photos/") or not rel.endswith(".json"):
                continue
            try:
                record = read_json(self.root / rel)
            except (OSError, ValueError):
                continue
            for variant in record.get("variants") or []:
                if str(variant.get("role") or "").startswith("merged:"):
                    merged.setdefault(variant["photo_id"], record)
        if not merged:
            return []
        try:
            listed_base = pending_base((self.root / PENDING_FILE).read_text(encoding="utf-8"))
        except OSError:
            listed_base = None
        meta = self.state.get_meta
        base = meta("own_head") or meta("index_head") or listed_base
        head = self.git.head()

        def unchanged_since_base(rel: str) -> bool:
            """Not changed by a commit since photosync's last (the user's, a pull): a
            fact committed there is in no survivor; the record then stays (a duplicate,
            joined again by resolve), as it does when that commit is not known (the
            state database was deleted)."""
            if base == head:
                return True
            if base is None:
                return False
            at = [
                self.git.run("rev-parse", "-q", "--verify", f"{rev}:{rel}", check=False).strip()
                for rev in (base, "HEAD")
            ]
            return bool(at[0]) and at[0] == at[1]

        removed = []
        for path in self.iter_record_files():
            keeper = merged.get(path.stem)
            rel = str(path.relative_to(self.root))
            if keeper is None or rel in user or path.stem == keeper["photo_id"]:
                continue
            try:
                gone = read_json(path)
            except (OSError, ValueError):
                continue
            if _instance_keys(gone) <= _instance_keys(keeper) and unchanged_since_base(rel):
                self._intend((rel, None))
                path.unlink()
                removed.append(rel)
        return removed


def _instance_keys(record: Record | dict[str, Any]) -> set[tuple[str, Any, Any]]:
    """Each copy a record holds: (service, id, content hash); what a removal must not lose."""
    return {
        (service, i.get("id"), i.get("content_hash") or record.get("content_hash"))
        for service, i in iter_instances(record)  # type: ignore[arg-type]
    }


def _chunks(rows: Iterator[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    batch: list[tuple[str, str]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class PendingCommit:
    """A commit running in the background; ``wait`` returns its id (None: nothing to commit)."""

    def __init__(self, archive: Archive, future: Future[str | None]) -> None:
        self._archive = archive
        self._future = future
        self._done = False
        self._commit: str | None = None

    def wait(self) -> str | None:
        if not self._done:
            self._done = True
            if self._archive._inflight is self:
                self._archive._inflight = None
            self._commit = self._archive._after_commit(self._future.result())
        return self._commit


def _pending_text(lines: set[tuple[str, str]], base: str | None) -> bytes:
    head = f"{BASE_LINE}{base}\n" if base else ""
    return (head + "".join(f"{rel}\t{mark}\n" for rel, mark in sorted(lines))).encode("utf-8")


def hand_formatted(root: Path, rel: str) -> bool:
    """A record or config file (photosync writes these only in canonical form) holding
    valid JSON that is not byte for byte what photosync writes (``canonical_bytes``):
    an editor saved it. A torn or unreadable file is not; nor is any other file."""
    if not (rel.startswith(("photos/", "config/")) and rel.endswith(".json")):
        return False
    try:
        data = (root / rel).read_bytes()
        value = json.loads(data)
    except (OSError, ValueError):
        return False
    if not isinstance(value, dict):
        return False
    try:
        return canonical_bytes(value) != data
    except RecordInvalid:
        return True  # photosync could not have written it


def _record_problem(path: Path) -> str | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"not valid JSON: {error}"
    problems = schema_errors(PHOTO_SCHEMA, value)
    return "; ".join(problems[:3]) if problems else None
