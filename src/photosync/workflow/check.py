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

It never writes: no lock file is created or taken (a running writer is only
detected, to tell its work in progress from leftovers), the state database is
opened read-only, nothing is committed. Each problem says what to run to fix it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from photosync.archive.archive import Archive, merge_temp_leftovers
from photosync.archive.schema import CONFIG_SCHEMAS, PHOTO_SCHEMA, is_valid, schema_errors
from photosync.archive.secretscan import credential_paths
from photosync.blobstore.base import BlobStore, check_digest
from photosync.blobstore.blobsync import all_sizes, primary_name
from photosync.errors import PhotosyncError
from photosync.model import (
    Record,
    record_from_json,
    record_hashes,
    record_relpath,
    record_sidecars,
)
from photosync.parallel import bounded_map
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
    "run `photosync verify` (any photosync command that writes does it): valid leftovers "
    "are committed, torn ones moved to .photosync/quarantine/"
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


@dataclass
class _Blob:
    """One hash some record holds: who holds it, the size it must have, where it must be."""

    photo_id: str
    path: str
    size: int | None
    locations: set[str] = field(default_factory=set)


@dataclass
class _Scan:
    blobs: dict[str, _Blob] = field(default_factory=dict)  # bare digest -> holder
    paths: dict[str, str] = field(default_factory=dict)  # photo_id -> path (valid records)
    hash_owner: dict[str, str] = field(default_factory=dict)  # "sha256:.." -> photo_id
    ambiguous: set[str] = field(default_factory=set)  # hashes/ids held twice
    in_invalid: set[str] = field(default_factory=set)  # hashes invalid records seem to hold
    named_locations: set[str] = field(default_factory=set)
    photo_hashes: dict[str, set[str]] = field(default_factory=dict)  # photo_id -> its hashes


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
    _check_git(archive, report, writer)
    _check_config(archive, report)
    scan = _scan_records(archive, report, progress)
    _check_blobs(archive, scan, report, read_data, progress)
    _check_state(archive, scan, report)
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


def _check_git(archive: Archive, report: CheckReport, writer: bool) -> None:
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
                    "run `photosync verify` (any photosync command that writes moves stale git "
                    "locks aside), or remove the file when no git command is running",
                )
        for path in merge_temp_leftovers(archive.root):
            report.add(
                "merge_temp_leftover",
                f"{path.name}: a temp copy of a record left untracked by a git merge that was "
                "killed (`git add -A` would commit it)",
                "run `photosync sync` again when it was sync's merge (it removes them), "
                f"otherwise remove it: `rm -- {path.name}` (the records are in git)",
            )
    _check_uncommitted(archive, report, writer)
    _check_committed_config(archive, report)


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


def _check_uncommitted(archive: Archive, report: CheckReport, writer: bool) -> None:
    # --no-optional-locks: a plain status refreshes .git/index, and check writes nothing
    out = archive.git.run(
        "--no-optional-locks",
        "status",
        "--porcelain",
        "-z",
        "--untracked-files=all",
        "--",
        *CHECKED_PATHS,
        check=False,
    )
    entries = out.split("\0")
    changes: list[tuple[str, str]] = []
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            index += 1
        changes.append((status, path))
    report.counts["uncommitted_files"] = len(changes)
    if writer:
        return
    for status, rel in changes:
        leftover, what = _classify_change(archive, status, rel)
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


def _fix_config(rel: str, status: str) -> str:
    if rel.startswith("schemas/"):
        return f"commit it: `git add -A -- {rel} && git commit -m 'schemas: updated'`"
    return f"review it with `git diff -- {rel}` and commit it (`git add -A -- {rel} && git commit`)"


def _classify_change(archive: Archive, status: str, rel: str) -> tuple[bool, str]:
    """(made by photosync?, what the change is).

    photosync lists every path before it writes or removes it (``Archive.pending_paths``);
    a change to any other path is someone else's, however photosync-like it looks.
    """
    path = archive.root / rel
    name = path.name
    if name.startswith(".") and name.endswith(".tmp"):
        return True, "a half-written temporary file"
    ours = rel in archive.pending_paths()
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
def _scan_records(archive: Archive, report: CheckReport, progress: Progress) -> _Scan:
    scan = _Scan()
    ids: dict[str, str] = {}
    invalid = 0
    progress.start("check records", None)
    try:
        for path in archive.iter_record_files():
            progress.advance()
            rel = str(path.relative_to(archive.root))
            record = _load_valid(path, rel, report, scan)
            if record is None:
                invalid += 1
                continue
            photo_id = record["photo_id"]
            if photo_id in ids:
                scan.ambiguous.add(photo_id)
                report.add(
                    "duplicate_photo_id",
                    f"{rel} and {ids[photo_id]} both hold photo {photo_id}",
                    "the next photosync run that writes (`photosync sync`) merges them into "
                    "one by photosync's rule, nothing either holds lost (a `git pull` of two "
                    "clones that both found this photo leaves this); or by hand: compare them "
                    f"(`diff {ids[photo_id]} {rel}`), keep what the copy knows in the record at "
                    "its right path, then `git rm` the other (git keeps it)",
                )
                continue
            ids[photo_id] = rel
            scan.paths[photo_id] = rel
            expected = record_relpath(record)
            if expected != rel:
                report.add(
                    "misplaced_record",
                    f"{rel} belongs at {expected} (its photo_id and taken date say so)",
                    f"`git mv {rel} {expected} && git commit -m 'move record'`",
                )
            _note_blobs(record, rel, scan, report)
    finally:
        progress.finish()
    report.counts["records"] = len(ids)
    report.counts["invalid_records"] = invalid
    return scan


def _load_valid(path: Path, rel: str, report: CheckReport, scan: _Scan) -> Record | None:
    fix = (
        f"fix it by hand or restore the last good version: `git log -p -- {rel}`, "
        f"`git checkout HEAD -- {rel}`"
    )
    try:
        value = json.loads(path.read_bytes())
    except OSError as error:
        report.add("invalid_record", f"{rel}: cannot be read: {error.strerror or error}", fix)
        return None
    except ValueError as error:
        report.add("invalid_record", f"{rel}: not valid JSON: {error}", fix)
        return None
    if not isinstance(value, dict) or not is_valid(PHOTO_SCHEMA, value):
        problems = schema_errors(PHOTO_SCHEMA, value) or ["does not match the photo schema"]
        report.add("invalid_record", f"{rel}: " + "; ".join(problems[:3]), fix)
        # its photos are not gone: the seen-cache entries pointing at it are not problems
        with contextlib.suppress(KeyError, TypeError, AttributeError):  # read defensively
            scan.in_invalid.update(record_hashes(cast(Record, value)))
        return None
    return record_from_json(value)


def _note_blobs(record: Record, rel: str, scan: _Scan, report: CheckReport) -> None:
    photo_id = record["photo_id"]
    named = {loc["store"] for loc in record.get("blob_locations", [])}
    scan.named_locations |= named
    own = check_digest(record["content_hash"])
    scan.photo_hashes[photo_id] = set(record_hashes(record))
    for value in record_hashes(record):
        digest = check_digest(value)
        owner = scan.hash_owner.get(value)
        if owner is not None and owner != photo_id:
            scan.ambiguous.add(value)
            report.add(
                "duplicate_hash",
                f"{value} is held by two records: {scan.paths.get(owner, owner)} and {rel}",
                "the two records describe the same bytes: move the instances of one into the "
                "other by hand, then `git rm` it (git keeps it)",
            )
            continue
        scan.hash_owner[value] = photo_id
        size = int(record["media"]["size"]) if digest == own else None
        blob = scan.blobs.setdefault(digest, _Blob(photo_id, rel, size))
        blob.locations |= named
    for value, size in record_sidecars(record).items():
        # a sidecar must be wherever the record's originals are; two photos may share one
        blob = scan.blobs.setdefault(check_digest(value), _Blob(photo_id, rel, size))
        blob.locations |= named


# blobs ----------------------------------------------------------------------------------------
def _check_blobs(
    archive: Archive, scan: _Scan, report: CheckReport, read_data: bool, progress: Progress
) -> None:
    report.counts["originals"] = len(scan.blobs)
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
    if primary is None and scan.blobs:
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
    listings: dict[str, dict[str, int]] = {}
    for name in sorted(needed):
        progress.start(f"list {name}", None)
        try:
            listings[name] = all_sizes(stores[name])
        except PhotosyncError as error:
            report.add(
                "location_unavailable",
                f"location {name} cannot be listed: {error}",
                "check the network, bucket and credentials (`photosync storage list`), then "
                "run again",
            )
        finally:
            progress.finish()
    report.counts["locations_listed"] = len(listings)
    to_read: list[tuple[str, str]] = []
    present = 0
    not_here = 0
    elsewhere = archive.originals_elsewhere()
    seen = _seen_hashes(archive)
    for digest, blob in sorted(scan.blobs.items()):
        wanted = sorted(({primary} if primary else set()) | (blob.locations & set(listings)))
        size = blob.size
        if size is None:  # an instance's hash: the size any listing shows is the reference
            size = next(
                (listings[n][digest] for n in wanted if digest in listings.get(n, {})), None
            )
        for name in wanted:
            if name not in listings:
                continue
            found = listings[name].get(digest)
            if found is None and name == primary and digest in elsewhere:
                not_here += 1  # sync found it on no location here: on another machine
                continue
            if (
                found is None
                and name == primary
                and not any(digest in listing for listing in listings.values())
                and _never_here(digest, blob, scan, seen)
            ):
                not_here += 1  # came by a pull; this clone never discovered it
                continue
            if found is None:
                report.add(
                    "blob_missing",
                    f"{name} lacks sha256:{digest} ({blob.path})",
                    _repair_fix(digest, listings, size, blob),
                )
            elif size is not None and found != size:
                report.add(
                    "blob_wrong_size",
                    f"sha256:{digest} in {name} is {found} bytes, expected {size} ({blob.path})",
                    "`photosync verify --read-data --repair` restores it from a good copy",
                )
            else:
                present += 1
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


def _never_here(digest: str, blob: _Blob, scan: _Scan, seen: set[str] | None) -> bool:
    """An original a pull brought the record of, never its bytes: no location here lists
    it (checked by the caller for the primary; a copy elsewhere here is a repair) and
    this clone's seen-cache never had any hash of its photo. On the clone that discovered
    it the seen-cache has it, so a truly lost blob stays ``blob_missing`` there."""
    if seen is None:
        return False
    hashes = scan.photo_hashes.get(blob.photo_id, {f"sha256:{digest}"})
    return not hashes & seen


def _repair_fix(
    digest: str, listings: dict[str, dict[str, int]], size: int | None, blob: _Blob
) -> str:
    if any(listing.get(digest) == size for listing in listings.values() if size is not None):
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
                    f"sha256:{digest} in {name}: {why} ({scan.blobs[digest].path})",
                    "`photosync verify --read-data --repair` restores it from a good copy",
                )
    finally:
        progress.finish()
    report.counts["blob_copies_read"] = len(jobs)


# local state ----------------------------------------------------------------------------------
def _open_state(path: Path) -> sqlite3.Connection | None:
    if not path.is_file():
        return None
    # with no -wal beside it the database is whole in its file: ``immutable`` reads it
    # without creating the -wal/-shm files a read-only WAL connection would leave behind
    wal = path.with_name(path.name + "-wal").exists()
    try:
        conn = sqlite3.connect(f"{path.as_uri()}?{'mode=ro' if wal else 'immutable=1'}", uri=True)
        conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
    except sqlite3.Error:
        return None
    return conn


def _rows(conn: sqlite3.Connection, query: str) -> Iterator[tuple[Any, ...]]:
    try:
        yield from conn.execute(query)
    except sqlite3.Error:
        return


def _check_state(archive: Archive, scan: _Scan, report: CheckReport) -> None:
    conn = _open_state(archive.root / ".photosync" / "state.sqlite")
    if conn is None:
        report.notes.append("no readable .photosync/state.sqlite: the next run builds it")
        return
    try:
        head = archive.git.head()
        marks = dict(_rows(conn, "SELECT key, value FROM meta"))
        validated = head is not None and marks.get("index_head") == head
        if validated:
            _check_index(conn, scan, report)
        seen = 0
        reread = 0
        for service, instance_id, content_hash in _rows(
            conn,
            "SELECT service, instance_id, content_hash FROM seen ORDER BY service, instance_id",
        ):
            seen += 1
            if (
                content_hash
                and content_hash not in scan.hash_owner
                and content_hash not in scan.in_invalid
            ):
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
        report.counts["seen_entries"] = seen
        if reread:
            report.notes.append(
                f"discover will read {reread} file(s) again: HEAD moved since the seen-cache "
                "was last checked and no record holds them any more"
            )
    finally:
        conn.close()


def _check_index(conn: sqlite3.Connection, scan: _Scan, report: CheckReport) -> None:
    fix = (
        "make the next run rebuild it: `sqlite3 .photosync/state.sqlite "
        "\"DELETE FROM meta WHERE key='index_head'\"`"
    )
    paths = dict(_rows(conn, "SELECT photo_id, path FROM record_paths"))
    hashes = dict(_rows(conn, "SELECT content_hash, photo_id FROM hash_index"))
    wrong = 0
    for photo_id, rel in scan.paths.items():
        if photo_id not in scan.ambiguous and paths.get(photo_id) != rel:
            wrong += 1
    wrong += sum(1 for photo_id in paths if photo_id not in scan.paths)
    for value, photo_id in scan.hash_owner.items():
        if value not in scan.ambiguous and hashes.get(value) != photo_id:
            wrong += 1
    wrong += sum(1 for value in hashes if value not in scan.hash_owner)
    if wrong:
        report.add(
            "index_disagrees",
            f"the hash index in .photosync/state.sqlite claims to match HEAD but "
            f"{wrong} entr(ies) differ from the records",
            fix,
        )
