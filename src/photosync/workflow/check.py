"""``check``: is the archive consistent? Read-only, like ``git fsck`` or ``restic check``.

What it looks at, in one pass each:

- config: services, sync-state and preferences load with the loaders the commands
  use (a file they refuse is ``config_invalid``);
- git: on a branch (not detached), no merge/rebase/cherry-pick/revert in
  progress, no stale ``index.lock``; nothing uncommitted under photos/ config/
  schemas/ (each change named as a leftover of an interrupted photosync run or
  as a hand edit); nothing that looks like a credential in config/ as committed;
- records: every file parses and matches the schema, sits at the path its
  content says (``record_relpath``), no photo_id twice, no content hash held by
  two records;
- blobs: every hash of every record (its own and every instance's:
  ``record_hashes``) is in the primary store and in every location the record's
  ``blob_locations`` names, with the right size (one listing per location);
  ``read_data`` re-hashes them;
- local state: the hash index in ``.photosync/state.sqlite`` agrees with the
  records when it claims to match HEAD, and every seen-cache entry's photo is
  still in the archive (an entry whose record is gone makes discover skip a
  photo the archive no longer has).

It writes nothing of the archive: no lock file is created or taken (a running
writer is only detected, to tell its work in progress from leftovers), the state
database is opened read-only, nothing is committed. The files it writes are its
own cache, ``.photosync/check.sqlite`` and ``check-tables.sqlite``
(``workflow/checkfacts.py``: each record file's facts under its git blob id,
rebuildable, never the truth): committed records are read by one ``git cat-file
--batch`` and only when git says they changed since the last check (``git
diff-tree``); the files ``git status`` names are read from the working tree every
time. The checks across records (photo_id twice, a hash held twice, the originals in
every location, the state's index) run as SQL over tables derived from that run's
files (``workflow/checkderive.py``): kept for a check of the very same files, updated
in place for the few files that changed since, derived anew otherwise. When the
cache cannot be written (a read-only archive), is locked or is damaged, a throw-away
one in the temp folder is used: everything is read, as the first time. Each problem
says what to run to fix it.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.archive.archive import (
    Archive,
    Pending,
    is_own_temp,
    left_by_run,
    merge_temp_leftovers,
)
from photosync.archive.git import split_z, status_entries
from photosync.archive.schema import CONFIG_SCHEMAS, PHOTO_SCHEMA, is_valid
from photosync.archive.secretscan import credential_paths
from photosync.blobstore.base import BlobStore
from photosync.blobstore.blobsync import primary_name
from photosync.errors import PhotosyncError
from photosync.parallel import bounded_map
from photosync.workflow.checkderive import derive
from photosync.workflow.checkfacts import CheckCache, open_cache, remove_cache
from photosync.workflow.context import blob_locations, make_store
from photosync.workflow.progress import Progress, SilentProgress

CHECKED_PATHS = ("photos", "config", "schemas")
_GIT_OPERATIONS = (
    ("MERGE_HEAD", "a merge", "git merge --abort (or finish it: git commit)"),
    ("rebase-merge", "a rebase", "git rebase --abort (or finish it: git rebase --continue)"),
    ("rebase-apply", "a rebase or am", "git rebase --abort (or git am --abort)"),
    ("CHERRY_PICK_HEAD", "a cherry-pick", "git cherry-pick --abort"),
    ("REVERT_HEAD", "a revert", "git revert --abort"),
    ("BISECT_LOG", "a bisect", "git bisect reset"),
)
_FIX_WRITER = (
    "run `photosync verify --repair` (any photosync command that writes does it; previews "
    "leave them be): valid leftovers are committed, torn ones moved to "
    ".photosync/quarantine/"
)


@dataclass
class Problem:
    kind: str
    detail: str
    fix: str

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "detail": self.detail, "fix": self.fix}


@dataclass
class CheckReport:
    problems: list[Problem] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, detail: str, fix: str) -> None:
        self.problems.append(Problem(kind, detail, fix))

    def to_json(self) -> dict[str, Any]:
        kinds: dict[str, int] = {}
        for problem in self.problems:
            kinds[problem.kind] = kinds.get(problem.kind, 0) + 1
        return {
            "ok": self.ok,
            "problems": [p.to_json() for p in self.problems],
            "problem_kinds": kinds,
            "counts": dict(sorted(self.counts.items())),
            "notes": self.notes,
        }


def check_archive(
    archive: Archive, *, read_data: bool = False, progress: Progress | None = None
) -> CheckReport:
    """Check everything; never writes. The report's ``ok`` is False when anything is wrong."""
    progress = progress or SilentProgress()
    report = CheckReport()
    writer = _writer_running(archive)
    if writer:
        report.notes.append(
            "a photosync run is working in this archive: uncommitted files and git locks "
            "may be its work in progress and are not counted as problems"
        )
    dirty = _check_git(archive, report, writer)
    _check_config(archive, report)
    scan = _scan_records(archive, report, progress, dirty)
    try:
        _check_blobs(archive, scan, report, read_data, progress)
        _check_state(archive, scan, report)
    finally:
        scan.cache.close()
    return report


# git ------------------------------------------------------------------------------------------
def _writer_running(archive: Archive) -> bool:
    """True when a writer holds ``.photosync/lock`` (probed without creating or taking it)."""
    path = archive.root / ".photosync" / "lock"
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's shared lock at once
    return False


def _git_dir(archive: Archive) -> Path:
    out = archive.git.run("rev-parse", "--absolute-git-dir", check=False).strip()
    return Path(out) if out else archive.root / ".git"


def _check_git(archive: Archive, report: CheckReport, writer: bool) -> set[str]:
    git_dir = _git_dir(archive)
    if archive.git.head() is None:
        report.add(
            "git_no_commit",
            "the archive's git repository has no commit (HEAD does not resolve)",
            "restore the repository from a clone or backup (`git clone`); `git fsck` says more",
        )
    elif not archive.git.run("symbolic-ref", "-q", "HEAD", check=False).strip():
        report.add(
            "git_detached_head",
            "HEAD is detached: commits photosync made now would belong to no branch",
            "go back to your branch: `git switch main` (`git branch` lists them)",
        )
    for marker, what, fix in _GIT_OPERATIONS:
        if (git_dir / marker).exists():
            report.add("git_operation_in_progress", f"{what} is in progress in the archive", fix)
    if not writer:
        locks = [git_dir / "index.lock", git_dir / "photosync-index.lock", git_dir / "HEAD.lock"]
        locks += sorted((git_dir / "refs").rglob("*.lock")) if (git_dir / "refs").is_dir() else []
        for lock in locks:
            if lock.exists():
                report.add(
                    "git_stale_lock",
                    f".git/{lock.relative_to(git_dir).as_posix()} exists and no photosync run "
                    "holds the archive (left by a killed git, unless one is running right now)",
                    "run `photosync verify --repair` (any photosync command that writes moves "
                    "stale git locks aside), or remove the file when no git command is running",
                )
        for path in merge_temp_leftovers(archive.root):
            report.add(
                "merge_temp_leftover",
                f"{path.name}: a temp copy of a record left untracked by a git merge that was "
                "killed (`git add -A` would commit it)",
                "run `photosync sync` again when it was sync's merge (it removes them), "
                f"otherwise remove it: `rm -- {path.name}` (the records are in git)",
            )
    dirty = _check_uncommitted(archive, report, writer)
    _check_committed_config(archive, report)
    return dirty


def _check_committed_config(archive: Archive, report: CheckReport) -> None:
    """A credential in config/ as committed: photosync refuses to write or commit one,
    so it came by a hand commit; named by its JSON path, never shown."""
    if archive.git.head() is None:
        return
    for rel in sorted(CONFIG_SCHEMAS):
        try:
            value = json.loads(archive.git.run("show", f"HEAD:{rel}", check=False) or "null")
        except ValueError:
            continue  # not JSON: every command that reads it says so
        for where in credential_paths(value):
            report.add(
                "config_secret",
                f"{rel} as committed: {where} looks like a credential",
                f"remove it from {rel} by hand, then `git commit -- {rel}`; keep the secret in "
                "the credential store (`photosync auth`, --credentials) or the environment, "
                "and change it at the service: git history still holds the old commit",
            )


def _check_config(archive: Archive, report: CheckReport) -> None:
    """Each config file through the loader the commands use: one they refuse (exit 3)
    is a problem here too, however good the records are."""
    loaders = (
        ("config/services.json", archive.services),
        ("config/sync-state.json", archive.sync_state),
        ("config/user-preferences.json", archive.preferences),
    )
    for rel, load in loaders:
        try:
            load()
        except PhotosyncError as error:
            report.add(
                "config_invalid",
                f"{rel}: {error}" if rel not in str(error) else str(error),
                f"fix {rel} by hand or restore the last good version: `git log -p -- {rel}`, "
                f"`git checkout <commit> -- {rel}`; discover, status and replicate refuse to "
                "run until then",
            )


def _check_uncommitted(archive: Archive, report: CheckReport, writer: bool) -> set[str]:
    """Report what is uncommitted; returns every path git names as not its committed
    self (changed, added, removed, renamed from, ignored, flagged in git's index): the
    files to read from the working tree, all others are byte for byte as in HEAD."""
    # --no-optional-locks: a plain status refreshes .git/index, and check writes nothing
    out = archive.git.run(
        "--no-optional-locks",
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--ignored=traditional",
        "--",
        *CHECKED_PATHS,
        check=False,
    )
    changes: list[tuple[str, str]] = []
    named: set[str] = set()
    for status, path, source in status_entries(out):
        named.add(path)
        if source is not None:
            named.add(source)
        if status != "!!":
            changes.append((status, path))
    named |= _flagged_paths(archive)
    report.counts["uncommitted_files"] = len(changes)
    if writer:
        return named
    pending = archive.pending_paths()
    for status, rel in changes:
        leftover, what = _classify_change(archive, status, rel, pending)
        if leftover:
            report.add(
                "uncommitted_leftover",
                f"{rel}: {what}, left uncommitted by an interrupted photosync run",
                _FIX_WRITER if rel.startswith("photos/") else _fix_config(rel, status),
            )
        else:
            report.add(
                "uncommitted_edit",
                f"{rel}: {what} by hand (not the way photosync writes)",
                f"review it with `git diff -- {rel}`; keep it with `git add -A -- {rel} && "
                f"git commit`, or drop it with `git checkout HEAD -- {rel}`"
                if status != "??"
                else f"look at it; keep it with `git add -- {rel} && git commit`, or move it "
                "out of the archive",
            )
    return named


def _flagged_paths(archive: Archive) -> set[str]:
    """Record paths git's index marks skip-worktree or assume-unchanged (or any tag but
    a plain cached file): ``git status`` says nothing of them whatever the disk holds."""
    found: set[str] = set()
    with subprocess.Popen(
        ["git", "ls-files", "-v", "-z", "--", "photos"],
        cwd=archive.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    ) as lister:
        assert lister.stdout is not None
        for entry in split_z(lister.stdout):
            if not entry.startswith(b"H "):
                found.add(entry[2:].decode("utf-8", "surrogateescape"))
    return found


def _fix_config(rel: str, status: str) -> str:
    if rel.startswith("schemas/"):
        return f"commit it: `git add -A -- {rel} && git commit -m 'schemas: updated'`"
    return f"review it with `git diff -- {rel}` and commit it (`git add -A -- {rel} && git commit`)"


def _classify_change(archive: Archive, status: str, rel: str, pending: Pending) -> tuple[bool, str]:
    """(made by photosync?, what the change is).

    photosync lists every path before it writes or removes it (``Archive.pending_paths``);
    a change to any other path is someone else's, however photosync-like it looks.
    """
    path = archive.root / rel
    if is_own_temp(rel, pending):
        return True, "a half-written temporary file"
    # listed, and as the run left it (recovery asks the same)
    ours = left_by_run(archive.root, rel, pending)
    if "D" in status:
        if ours and rel.startswith("photos/"):
            return True, "removed (its photo was joined into another record or moved)"
        return ours, "deleted"
    what = "added" if status == "??" else "changed"
    try:
        value = json.loads(path.read_bytes())
    except OSError:
        return ours, what
    except ValueError:
        return ours, what + " (not valid JSON)"
    if rel.startswith("photos/") and (
        not isinstance(value, dict) or not is_valid(PHOTO_SCHEMA, value)
    ):
        return ours, what + " (does not match the photo schema)"
    return ours, what


# records --------------------------------------------------------------------------------------
@dataclass
class _Scan:
    """This run's record files as temporary tables of the check cache's connection."""

    cache: CheckCache
    named_locations: set[str] = field(default_factory=set)

    @property
    def conn(self) -> sqlite3.Connection:
        return self.cache.conn

    def rel_of(self, digest: str) -> str:
        row = self.conn.execute("SELECT rel FROM blobs WHERE digest=?", (digest,)).fetchone()
        return str(row[0]) if row else "?"


def _scan_records(
    archive: Archive, report: CheckReport, progress: Progress, dirty: set[str]
) -> _Scan:
    """The records' checks; the cache kept in .photosync/ when it can be used, else (or
    when it turns out damaged midway) a throw-away one: everything is read then."""
    cache = open_cache(archive)
    if cache.kept:
        try:
            return _scan_with(cache, archive, report, progress, dirty)
        except sqlite3.DatabaseError as error:
            cache.close()
            if not isinstance(error, sqlite3.OperationalError):
                remove_cache(archive)  # damaged: it is only a cache
            # read-only, locked or damaged: this run reads everything, keeping nothing
    return _scan_with(open_cache(archive, keep=False), archive, report, progress, dirty)


def _scan_with(
    cache: CheckCache, archive: Archive, report: CheckReport, progress: Progress, dirty: set[str]
) -> _Scan:
    """Problems are added to ``report`` only once every table is built (a damaged
    cache found midway leaves nothing half-reported)."""
    found = CheckReport()
    conn = cache.conn
    progress.start("check records", None)
    try:
        # one check brings the cache to HEAD and the tables to its files at a time
        conn.execute("BEGIN IMMEDIATE")
        try:
            cache.refresh(progress.advance)
            cache.overlay(dirty, progress.advance)
            derive(cache)
            cache.prune()
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
    finally:
        progress.finish()
    scan = _Scan(cache)
    fix = (
        "fix it by hand or restore the last good version: `git log -p -- {rel}`, "
        "`git checkout HEAD -- {rel}`"
    )
    invalid = [(rel, f"{rel}: cannot be read: {why}") for rel, why in cache.unreadable]
    invalid += [
        (str(rel), f"{rel}: {detail}")
        for rel, detail in conn.execute(
            "SELECT b.rel, f.detail FROM bad b JOIN facts f ON f.oid = b.oid ORDER BY b.rel"
        )
    ]
    for rel, detail in sorted(invalid):
        found.add("invalid_record", detail, fix.format(rel=rel))
    for rel, first, photo_id in conn.execute(
        "SELECT rel, first_rel, photo_id FROM recs WHERE rn > 1 ORDER BY rel"
    ):
        found.add(
            "duplicate_photo_id",
            f"{rel} and {first} both hold photo {photo_id}",
            "the next photosync run that writes (`photosync sync`) merges them into "
            "one by photosync's rule, nothing either holds lost (a `git pull` of two "
            "clones that both found this photo leaves this); or by hand: compare them "
            f"(`diff {first} {rel}`), keep what the copy knows in the record at "
            "its right path, then `git rm` the other (git keeps it)",
        )
    for rel, expected in conn.execute(
        "SELECT rel, expected FROM recs WHERE rn = 1 AND expected != rel ORDER BY rel"
    ):
        found.add(
            "misplaced_record",
            f"{rel} belongs at {expected} (its photo_id and taken date say so)",
            f"`git mv {rel} {expected} && git commit -m 'move record'`",
        )
    for value, first, rel in conn.execute(
        "SELECT value, owner_rel, rel FROM held WHERE kind = 0 AND photo_id != owner "
        "ORDER BY rel, seq"
    ):
        found.add(
            "duplicate_hash",
            f"{value} is held by two records: {first} and {rel}",
            "the two records describe the same bytes: move the instances of one into the "
            "other by hand, then `git rm` it (git keeps it)",
        )
    scan.named_locations = {str(store) for (store,) in conn.execute("SELECT store FROM stores")}
    (records,) = conn.execute("SELECT COUNT(*) FROM recs WHERE rn = 1").fetchone()
    report.problems += found.problems
    report.counts["records"] = int(records)
    report.counts["invalid_records"] = len(invalid)
    return scan


# blobs ----------------------------------------------------------------------------------------
def _check_blobs(
    archive: Archive, scan: _Scan, report: CheckReport, read_data: bool, progress: Progress
) -> None:
    conn = scan.conn
    (originals,) = conn.execute("SELECT COUNT(*) FROM blobs").fetchone()
    report.counts["originals"] = int(originals)
    try:
        specs = {str(spec.get("name")): spec for spec in blob_locations(archive)}
    except PhotosyncError:
        return  # _check_config reported config/user-preferences.json
    stores: dict[str, BlobStore] = {}
    for name, spec in specs.items():
        try:
            stores[name] = make_store(archive, spec)
        except PhotosyncError as error:
            if name in scan.named_locations or not stores:
                report.add(
                    "location_unavailable",
                    f"location {name} cannot be opened: {error}",
                    "fix its settings or credentials (`photosync storage list`), then run again",
                )
    primary = primary_name(list(stores.values()))
    if primary is None and originals:
        report.add(
            "no_primary_store",
            "no local blob location is configured: discover has nowhere to keep originals",
            'add `{"name": "local", "type": "local", "path": "blobs"}` to '
            "blob_storage.locations in config/user-preferences.json",
        )
    unknown = sorted(scan.named_locations - set(specs))
    if unknown:
        report.notes.append(
            "records name location(s) no longer configured, not checked: " + ", ".join(unknown)
        )
    needed = {name for name in stores if name == primary or name in scan.named_locations}
    conn.execute(
        "CREATE TEMP TABLE listing (digest TEXT NOT NULL, store TEXT NOT NULL, size INTEGER, "
        "PRIMARY KEY (digest, store)) WITHOUT ROWID"
    )
    listed: list[str] = []
    for name in sorted(needed):
        progress.start(f"list {name}", None)
        conn.execute("SAVEPOINT listing")
        try:
            conn.executemany(
                "INSERT OR REPLACE INTO listing VALUES (?, ?, ?)",
                ((stat.digest, name, stat.size) for stat in stores[name].iter_stats()),
            )
            conn.execute("RELEASE listing")
            listed.append(name)
        except PhotosyncError as error:
            conn.execute("ROLLBACK TO listing")
            conn.execute("RELEASE listing")
            report.add(
                "location_unavailable",
                f"location {name} cannot be listed: {error}",
                "check the network, bucket and credentials (`photosync storage list`), then "
                "run again",
            )
        finally:
            progress.finish()
    report.counts["locations_listed"] = len(listed)
    conn.execute(
        "CREATE TEMP TABLE want (digest TEXT NOT NULL, store TEXT NOT NULL, "
        "PRIMARY KEY (digest, store)) WITHOUT ROWID"
    )
    if primary in listed:
        conn.execute("INSERT OR IGNORE INTO want SELECT digest, ? FROM blobs", (primary,))
    conn.executemany(
        "INSERT OR IGNORE INTO want SELECT digest, store FROM named WHERE store = ?",
        ((name,) for name in listed),
    )
    to_read: list[tuple[str, str]] = []
    present = 0
    not_here = 0
    elsewhere = archive.originals_elsewhere()
    seen: list[set[str] | None] = []  # read once, when first needed

    def never_here(oid: str) -> bool:
        """An original a pull brought the record of, never its bytes: no location here
        lists it (asked by the caller) and this clone's seen-cache never had any hash of
        its photo. On the clone that discovered it the seen-cache has it, so a truly
        lost blob stays ``blob_missing`` there."""
        if not seen:
            seen.append(_seen_hashes(archive))
        if seen[0] is None:
            return False
        hashes = {
            str(value)
            for (value,) in conn.execute(
                "SELECT value FROM hashes WHERE oid=? AND kind = 0", (oid,)
            )
        }
        return not hashes & seen[0]

    rows = conn.execute(
        "SELECT b.digest, b.rel, b.size, b.oid, w.store, l.size FROM blobs b "
        "JOIN want w ON w.digest = b.digest "
        "LEFT JOIN listing l ON l.digest = w.digest AND l.store = w.store "
        "ORDER BY b.digest, w.store"
    )
    for digest, group in itertools.groupby(_fetched(rows), key=lambda row: row[0]):
        copies = list(group)
        _digest, rel, size, oid = copies[0][:4]
        if size is None:  # an instance's hash: the size any listing shows is the reference
            size = next((found for *_, found in copies if found is not None), None)
        for *_, name, found in copies:
            if found is None and name == primary and digest in elsewhere:
                not_here += 1  # sync found it on no location here: on another machine
                continue
            if (
                found is None
                and name == primary
                and not _listed_anywhere(conn, digest)
                and never_here(oid)
            ):
                not_here += 1  # came by a pull; this clone never discovered it
                continue
            if found is None:
                report.add(
                    "blob_missing",
                    f"{name} lacks sha256:{digest} ({rel})",
                    _repair_fix(conn, digest, size),
                )
            elif size is not None and found != size:
                report.add(
                    "blob_wrong_size",
                    f"sha256:{digest} in {name} is {found} bytes, expected {size} ({rel})",
                    "`photosync verify --read-data --repair` restores it from a good copy",
                )
            else:
                present += 1
                if read_data:
                    to_read.append((name, digest))
    report.counts["blob_copies_present"] = present
    if not_here:
        report.counts["originals_not_here"] = not_here
        report.notes.append(
            f"{not_here} original(s) not here yet: another clone discovered them and this "
            "one never had them (fix: `photosync restore`, or `photosync sync`, once a "
            "location this machine reaches holds them: add a shared location and run "
            "`replicate --execute` on the other machine)"
        )
    if read_data:
        _read(stores, to_read, scan, report, progress)


def _fetched(cursor: sqlite3.Cursor) -> Iterator[tuple[Any, ...]]:
    while batch := cursor.fetchmany(5000):
        yield from batch


def _listed_anywhere(conn: sqlite3.Connection, digest: str) -> bool:
    row = conn.execute("SELECT 1 FROM listing WHERE digest=? LIMIT 1", (digest,)).fetchone()
    return row is not None


def _seen_hashes(archive: Archive) -> set[str] | None:
    """Every hash this clone's seen-cache holds; None when there is no readable state
    (then nothing can be told apart and a missing blob stays ``blob_missing``)."""
    conn = _open_state(archive.root / ".photosync" / "state.sqlite")
    if conn is None:
        return None
    try:
        return {str(row[0]) for row in _rows(conn, "SELECT content_hash FROM seen") if row[0]}
    finally:
        conn.close()


def _repair_fix(conn: sqlite3.Connection, digest: str, size: int | None) -> str:
    good = (
        size is not None
        and conn.execute(
            "SELECT 1 FROM listing WHERE digest=? AND size=? LIMIT 1", (digest, size)
        ).fetchone()
    )
    if good:
        return "`photosync verify --repair` restores it from a good copy elsewhere"
    return (
        "no listed location has a good copy: `photosync discover --full-scan` reads it again "
        "from the services that still have it"
    )


def _read(
    stores: dict[str, BlobStore],
    jobs: list[tuple[str, str]],
    scan: _Scan,
    report: CheckReport,
    progress: Progress,
) -> None:
    def one(job: tuple[str, str]) -> tuple[str, str, str | None]:
        name, digest = job
        try:
            return name, digest, None if stores[name].verify(digest) else "content differs"
        except PhotosyncError as error:
            return name, digest, str(error)
        except OSError as error:
            return name, digest, str(error.strerror or error)

    progress.start("read data", len(jobs))
    try:
        for name, digest, why in bounded_map(one, jobs, workers=4, name="check-read"):
            progress.advance()
            if why is not None:
                report.add(
                    "blob_corrupt",
                    f"sha256:{digest} in {name}: {why} ({scan.rel_of(digest)})",
                    "`photosync verify --read-data --repair` restores it from a good copy",
                )
    finally:
        progress.finish()
    report.counts["blob_copies_read"] = len(jobs)


# local state ----------------------------------------------------------------------------------
def _state_uri(path: Path) -> str | None:
    if not path.is_file():
        return None
    # with no -wal beside it the database is whole in its file: ``immutable`` reads it
    # without creating the -wal/-shm files a read-only WAL connection would leave behind
    wal = path.with_name(path.name + "-wal").exists()
    return f"{path.as_uri()}?{'mode=ro' if wal else 'immutable=1'}"


def _open_state(path: Path) -> sqlite3.Connection | None:
    uri = _state_uri(path)
    if uri is None:
        return None
    try:
        conn = sqlite3.connect(uri, uri=True)
        conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
    except sqlite3.Error:
        return None
    return conn


def _rows(conn: sqlite3.Connection, query: str, *args: Any) -> Iterator[tuple[Any, ...]]:
    try:
        yield from conn.execute(query, args)
    except sqlite3.Error:
        return


def _check_state(archive: Archive, scan: _Scan, report: CheckReport) -> None:
    path = archive.root / ".photosync" / "state.sqlite"
    state = _open_state(path)
    if state is None:
        report.notes.append("no readable .photosync/state.sqlite: the next run builds it")
        return
    try:
        head = archive.git.head()
        marks = dict(_rows(state, "SELECT key, value FROM meta"))
        tables = {str(name) for (name,) in _rows(state, "SELECT name FROM sqlite_master")}
    finally:
        state.close()
    conn = scan.conn
    try:
        conn.execute("ATTACH DATABASE ? AS state", (_state_uri(path),))
    except sqlite3.Error:
        report.notes.append("no readable .photosync/state.sqlite: the next run builds it")
        return
    try:
        validated = head is not None and marks.get("index_head") == head
        if validated:
            _check_index(conn, tables, report)
        seen = 0
        reread = 0
        if "seen" in tables:
            (seen,) = next(_rows(conn, "SELECT COUNT(*) FROM state.seen"), (0,))
        unheld = _rows(
            conn,
            "SELECT service, instance_id, content_hash FROM state.seen s "
            "WHERE s.content_hash IS NOT NULL AND s.content_hash != '' "
            "AND NOT EXISTS (SELECT 1 FROM owners o WHERE o.value = s.content_hash) "
            "AND NOT EXISTS (SELECT 1 FROM invalid_values i WHERE i.value = s.content_hash) "
            "ORDER BY service, instance_id",
        )
        for service, instance_id, content_hash in unheld if "seen" in tables else ():
            if not validated:
                # HEAD moved since the cache was checked (revert, reset, checkout, pull):
                # the next run drops such entries (Archive.ensure_index) and reads the
                # file again, so nothing is skipped
                reread += 1
                continue
            report.add(
                "seen_without_record",
                f"the seen-cache says {service} item {instance_id} was recorded "
                f"({content_hash}), but no record holds that hash: discover would skip it",
                f"`photosync discover --service {service} --full-scan`",
            )
        report.counts["seen_entries"] = int(seen)
        if reread:
            report.notes.append(
                f"discover will read {reread} file(s) again: HEAD moved since the seen-cache "
                "was last checked and no record holds them any more"
            )
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("DETACH DATABASE state")


def _check_index(conn: sqlite3.Connection, tables: set[str], report: CheckReport) -> None:
    fix = (
        "make the next run rebuild it: `sqlite3 .photosync/state.sqlite "
        "\"DELETE FROM meta WHERE key='index_head'\"`"
    )
    paths = "state.record_paths" if "record_paths" in tables else _EMPTY_PATHS
    hashes = "state.hash_index" if "hash_index" in tables else _EMPTY_HASHES
    counts = (
        # a record at another path than the index says (a photo_id held twice is not asked)
        f"SELECT COUNT(*) FROM recs r LEFT JOIN {paths} p ON p.photo_id = r.photo_id "
        "WHERE r.rn = 1 AND NOT EXISTS (SELECT 1 FROM recs d WHERE d.photo_id = r.photo_id "
        "AND d.rn > 1) AND (p.path IS NULL OR p.path != r.rel)",
        f"SELECT COUNT(*) FROM {paths} p "
        "WHERE NOT EXISTS (SELECT 1 FROM recs r WHERE r.photo_id = p.photo_id)",
        f"SELECT COUNT(*) FROM owners o LEFT JOIN {hashes} h ON h.content_hash = o.value "
        "WHERE o.ambiguous = 0 AND (h.photo_id IS NULL OR h.photo_id != o.photo_id)",
        f"SELECT COUNT(*) FROM {hashes} h "
        "WHERE NOT EXISTS (SELECT 1 FROM owners o WHERE o.value = h.content_hash)",
    )
    wrong = sum(int(next(_rows(conn, query), (0,))[0]) for query in counts)
    if wrong:
        report.add(
            "index_disagrees",
            f"the hash index in .photosync/state.sqlite claims to match HEAD but "
            f"{wrong} entr(ies) differ from the records",
            fix,
        )


_EMPTY_PATHS = "(SELECT NULL AS photo_id, NULL AS path WHERE 0)"
_EMPTY_HASHES = "(SELECT NULL AS content_hash, NULL AS photo_id WHERE 0)"
