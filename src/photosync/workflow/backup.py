"""The archive itself in every storage location, and ``recover`` from any one of them.

Each location outside the archive folder keeps, under ``archive/``, git bundles
of the archive's history and small manifests that say how to rebuild it:

- ``bundle-<base>-<tip>-<sha256>.bundle``: the commits from ``base`` (``full``:
  from the first commit) to ``tip``, named by its range and its content, so a
  re-upload never meets different bytes under its name;
- ``manifest-<seq>-<head>.json``: the chain of bundles (a full one, then
  incremental ones, each with its SHA-256, size and prerequisite) that rebuilds
  ``head``. A new manifest is a new object (``seq`` one higher); old ones stay,
  so no chain is ever lost. The newest manifest is the one to recover from.

Backing up is cheap when nothing changed: one listing per location shows the
newest manifest's head in its name; when it is HEAD nothing is read or written.
Otherwise one incremental bundle (from the newest manifest's head) is built in
``.photosync/backup/`` (kept until the next backup, so a killed run uploads the
same bytes again), uploaded, verified, then a manifest naming the chain. A chain
of ``FULL_EVERY`` bundles, or a history that no longer contains the last head (a
reset), starts again with a full bundle. The bundles hold only what git holds:
records, config (secret-scanned before every commit), schemas, README.

``recover`` builds an archive from one location alone: the newest manifest's
bundles are fetched into ``DEST/.git/photosync-recover/`` (verified by SHA-256),
applied in order with ``git fetch``, the branch set to the manifest's head and
checked out; then git is configured as ``init`` does and the index is rebuilt.
A marker (``.photosync/recovering``, written first) makes a killed recover resumable: the
re-run goes on in the same folder, every step being safe to repeat.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive, configure_git
from photosync.archive.git import Git
from photosync.archive.jsonio import atomic_write
from photosync.archive.lock import ArchiveLock
from photosync.blobstore.base import CHUNK_SIZE, BlobStore
from photosync.errors import ArchiveCorrupt, BlobError, PhotosyncError
from photosync.workflow.context import blob_locations, make_store

log = logging.getLogger(__name__)

FORMAT = 1
#: a chain this long starts again with a full bundle: recovery never depends on a long chain
FULL_EVERY = 30
STAGING = Path(".photosync") / "backup"
RECOVER_MARKER = ".photosync/recovering"
RECOVER_DIR = "photosync-recover"
_MANIFEST = re.compile(r"^manifest-(\d{10})-([0-9a-f]{40})\.json$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


@dataclass
class Manifest:
    """How to rebuild ``head``: the bundles to apply, in order."""

    seq: int
    head: str
    branch: str
    bundles: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return manifest_name(self.seq, self.head)

    def to_bytes(self) -> bytes:
        value = {
            "format": FORMAT,
            "seq": self.seq,
            "head": self.head,
            "branch": self.branch,
            "bundles": self.bundles,
        }
        return (json.dumps(value, indent=2, sort_keys=True) + "\n").encode("utf-8")


def manifest_name(seq: int, head: str) -> str:
    return f"manifest-{seq:010d}-{head}.json"


def bundle_name(base: str | None, tip: str, digest: str, copy: int = 0) -> str:
    """``copy``: a second upload of the same bytes, when the first object went bad
    (an object is never overwritten, so the good bytes get a name of their own)."""
    return f"bundle-{base or 'full'}-{tip}-{digest}{f'.{copy}' if copy else ''}.bundle"


_BUNDLE = re.compile(
    r"^bundle-(full|[0-9a-f]{40})-([0-9a-f]{40})-([0-9a-f]{64})(?:\.(\d+))?\.bundle$"
)


def parse_manifest(raw: bytes, name: str) -> Manifest:
    """A manifest read back, every field checked (a damaged one is refused, not trusted)."""
    match = _MANIFEST.match(name)
    try:
        value = json.loads(raw.decode("utf-8"))
        bundles = value["bundles"]
        ok = (
            match is not None
            and value["format"] == FORMAT
            and value["seq"] == int(match.group(1))
            and value["head"] == match.group(2)
            and isinstance(value["branch"], str)
            and value["branch"]
            and isinstance(bundles, list)
            and bundles
            and all(_bundle_entry_ok(entry) for entry in bundles)
            and bundles[0]["base"] is None
            and bundles[-1]["tip"] == value["head"]
            and all(b["base"] == a["tip"] for a, b in pairwise(bundles))
        )
    except (UnicodeDecodeError, ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise BlobError(f"archive/{name} is not a valid photosync archive manifest")
    return Manifest(int(value["seq"]), value["head"], value["branch"], list(bundles))


def _bundle_entry_ok(entry: Any) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("name"), str)
        and isinstance(entry.get("size"), int)
        and isinstance(entry.get("ref"), str)
        and entry["ref"].startswith("refs/heads/")
        and bool(_HEX64.match(str(entry.get("sha256"))))
        and bool(_HEX40.match(str(entry.get("tip"))))
        and (entry.get("base") is None or bool(_HEX40.match(str(entry.get("base")))))
        and _names_range(entry["name"], entry.get("base"), entry["tip"], entry["sha256"])
    )


def _names_range(name: str, base: str | None, tip: str, digest: str) -> bool:
    match = _BUNDLE.match(name)
    return match is not None and match.group(1, 2, 3) == (base or "full", tip, digest)


def newest_manifest(listing: dict[str, int]) -> tuple[int, str, str] | None:
    """(seq, head, name) of the newest manifest a location lists; None when it has none."""
    found = [
        (int(m.group(1)), m.group(2), name)
        for name in listing
        if (m := _MANIFEST.match(name)) is not None
    ]
    return max(found) if found else None


def read_manifest(store: BlobStore, name: str) -> Manifest:
    with store.open_named(name) as stream:
        raw = stream.read(4 * 1024 * 1024)
    return parse_manifest(raw, name)


def backup_stores(archive: Archive) -> list[BlobStore]:
    """Every location that gets a copy of the archive: all but folders inside the archive
    itself (the primary ``blobs/``), which would be lost together with it."""
    stores = []
    for spec in blob_locations(archive):
        store = make_store(archive, spec)
        if is_backup_target(archive, store):
            stores.append(store)
    return stores


def is_backup_target(archive: Archive, store: BlobStore) -> bool:
    if not store.local_files:
        return True
    root = store.folder().resolve()
    return root != archive.root and archive.root not in root.parents


# backing up -----------------------------------------------------------------------------


@dataclass
class LocationBackup:
    name: str
    #: "up to date" | "uploaded" | "failed"
    outcome: str = ""
    bundles: list[str] = field(default_factory=list)
    manifest: str | None = None
    full: bool = False
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "bundles": self.bundles,
            "manifest": self.manifest,
            "full": self.full,
            "error": self.error,
        }


@dataclass
class BackupReport:
    head: str | None = None
    branch: str | None = None
    locations: dict[str, LocationBackup] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(loc.outcome != "failed" for loc in self.locations.values())

    @property
    def failed(self) -> dict[str, str]:
        return {
            name: loc.error or "failed"
            for name, loc in self.locations.items()
            if loc.outcome == "failed"
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "head": self.head,
            "branch": self.branch,
            "locations": {n: loc.to_json() for n, loc in sorted(self.locations.items())},
        }


def backup_archive(
    archive: Archive, *, stores: Sequence[BlobStore] | None = None, rehash: bool = False
) -> BackupReport:
    """The archive's history into every location (the caller holds the writer lock).

    A location that fails is reported and the others still get their copy.
    ``rehash`` (verify --repair): the newest chain's bundles are read back and a
    chain with a bad one is written again, whole, under new names.
    """
    report = BackupReport(head=archive.git.head())
    if report.head is None:
        return report
    report.branch = _branch(archive.git)
    targets = list(stores) if stores is not None else backup_stores(archive)
    for store in targets:
        done = LocationBackup(store.name)
        report.locations[store.name] = done
        try:
            _backup_to(archive, store, report.head, report.branch, done, rehash=rehash)
        except (PhotosyncError, OSError) as error:
            done.outcome = "failed"
            done.error = str(error)
            log.warning("archive copy to %s failed: %s", store.name, error)
    _tidy_staging(archive, report)
    return report


def _branch(git: Git) -> str:
    name = git.run("symbolic-ref", "-q", "--short", "HEAD", check=False).strip()
    if not name:
        raise PhotosyncError("git HEAD is detached: the archive's branch cannot be backed up")
    return name


def _backup_to(
    archive: Archive,
    store: BlobStore,
    head: str,
    branch: str,
    done: LocationBackup,
    *,
    rehash: bool = False,
) -> None:
    listing = dict(store.iter_named())
    newest = newest_manifest(listing)
    chain: list[dict[str, Any]] = []
    base: str | None = None
    seq = 1
    bad: set[str] = set()
    if newest is not None:
        seq = newest[0] + 1
        try:
            previous = read_manifest(store, newest[2])
        except BlobError as error:
            log.warning("%s: %s; starting again with a full bundle", store.name, error)
        else:
            # one small read: a chain whose bundle went missing is written again, whole
            intact = all(listing.get(b["name"]) == b["size"] for b in previous.bundles)
            if intact and rehash:
                bad = {
                    b["name"]
                    for b in previous.bundles
                    if _hash_stream(store, b["name"]) != b["sha256"]
                }
                intact = not bad
            if intact and previous.head == head:
                done.outcome = "up to date"
                done.manifest = previous.name
                return
            if (
                intact
                and len(previous.bundles) < FULL_EVERY
                and _is_ancestor(archive.git, previous.head, head)
            ):
                chain, base = list(previous.bundles), previous.head
    entry = _bundle_for(archive, store, listing, base, head, branch, done, bad)
    manifest = Manifest(seq, head, branch, [*chain, entry])
    staged = archive.root / STAGING / manifest.name
    atomic_write(staged, manifest.to_bytes())
    store.put_named(manifest.name, staged)
    done.manifest = manifest.name
    done.full = base is None
    done.outcome = "uploaded"


def _is_ancestor(git: Git, older: str, newer: str) -> bool:
    """True when ``newer``'s history contains ``older`` (a commit this repository lacks:
    False, and the chain starts again with a full bundle)."""
    return git.run("merge-base", older, newer, check=False).strip() == older


def _bundle_for(
    archive: Archive,
    store: BlobStore,
    listing: dict[str, int],
    base: str | None,
    head: str,
    branch: str,
    done: LocationBackup,
    bad: set[str],
) -> dict[str, Any]:
    """The bundle from ``base`` to ``head``: already in the location (a killed run's), or
    built (once, kept in .photosync/backup/) and uploaded. A name in ``bad`` (its
    bytes went wrong) is never used again: the good bytes get the next free name."""
    for name, size in sorted(listing.items()):
        match = _BUNDLE.match(name)
        if match and name not in bad and match.group(1, 2) == (base or "full", head):
            return _entry(name, match.group(3), size, base, head, branch)
    path = _staged_bundle(archive, base, head, branch)
    digest, size = _hash(path)
    copy = 0
    while (name := bundle_name(base, head, digest, copy)) in listing:
        copy += 1
    store.put_named(name, path)
    done.bundles.append(name)
    return _entry(name, digest, size, base, head, branch)


def _entry(
    name: str, digest: str, size: int, base: str | None, tip: str, branch: str
) -> dict[str, Any]:
    return {
        "name": name,
        "sha256": digest,
        "size": size,
        "base": base,
        "tip": tip,
        "ref": f"refs/heads/{branch}",
    }


def _staged_bundle(archive: Archive, base: str | None, head: str, branch: str) -> Path:
    folder = archive.root / STAGING
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{base or 'full'}-{head}.bundle"
    if path.is_file():
        return path  # built by an earlier (killed) run: the same bytes go up again
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    Path(f"{tmp}.lock").unlink(missing_ok=True)
    revs = [f"refs/heads/{branch}"] + ([f"^{base}"] if base else [])
    archive.git.run("bundle", "create", "-q", str(tmp), *revs)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    return path


def _tidy_staging(archive: Archive, report: BackupReport) -> None:
    """Once every location holds HEAD, the staged files are spent (they are copies, and
    the locations keep them); a failed location keeps them for the re-run."""
    if not report.ok:
        return
    folder = archive.root / STAGING
    if folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def _hash(path: Path) -> tuple[str, int]:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest(), handle.tell()


# checking (verify) ------------------------------------------------------------------------


@dataclass
class CopyState:
    """One location's copy of the archive, as ``verify`` sees it."""

    #: "current" | "behind" | "diverged" | "missing" | "damaged" | "unavailable"
    state: str
    detail: str = ""
    head: str | None = None
    bundles_read: int = 0

    @property
    def ok(self) -> bool:
        return self.state == "current"

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "detail": self.detail,
            "head": self.head,
            "bundles_read": self.bundles_read,
        }


def archive_copy_state(archive: Archive, store: BlobStore, *, read_data: bool) -> CopyState:
    """Missing, damaged (a bundle gone, wrong size or, with ``read_data``, wrong SHA-256),
    behind HEAD, or current."""
    try:
        listing = dict(store.iter_named())
        newest = newest_manifest(listing)
        if newest is None:
            return CopyState("missing", "no copy of the archive in this location")
        manifest = read_manifest(store, newest[2])
        read = 0
        for bundle in manifest.bundles:
            size = listing.get(bundle["name"])
            if size is None:
                return CopyState("damaged", f"archive/{bundle['name']} is missing", manifest.head)
            if size != bundle["size"]:
                return CopyState(
                    "damaged",
                    f"archive/{bundle['name']} is {size} bytes, expected {bundle['size']}",
                    manifest.head,
                )
            if read_data:
                digest = _hash_stream(store, bundle["name"])
                read += 1
                if digest != bundle["sha256"]:
                    return CopyState(
                        "damaged", f"archive/{bundle['name']} does not hash to its name"
                    )
    except PhotosyncError as error:
        return CopyState("unavailable", str(error))
    head = archive.git.head()
    if manifest.head == head:
        return CopyState("current", manifest.name, manifest.head, read)
    if head is not None and _is_ancestor(archive.git, manifest.head, head):
        behind = archive.git.run("rev-list", "--count", f"{manifest.head}..{head}").strip()
        return CopyState("behind", f"{behind} commit(s) behind HEAD", manifest.head, read)
    return CopyState("diverged", "holds a history HEAD does not contain", manifest.head, read)


def _hash_stream(store: BlobStore, name: str) -> str:
    hasher = hashlib.sha256()
    with store.open_named(name) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
    return hasher.hexdigest()


# recovering ------------------------------------------------------------------------------


@dataclass
class RecoverReport:
    dest: str
    location: str
    manifest: str = ""
    head: str = ""
    branch: str = ""
    commits: int = 0
    bundles: int = 0
    #: a killed recover was finished
    resumed: bool = False
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dest": self.dest,
            "location": self.location,
            "manifest": self.manifest,
            "head": self.head,
            "branch": self.branch,
            "commits": self.commits,
            "bundles": self.bundles,
            "resumed": self.resumed,
            "notes": self.notes,
        }


def recover_archive(dest: Path, store: BlobStore) -> RecoverReport:
    """Create the archive at ``dest`` from the newest archive copy in ``store`` alone."""
    dest = dest.expanduser().resolve()
    git_dir = dest / ".git"
    marker = dest / RECOVER_MARKER
    resumed = marker.is_file()
    if dest.exists() and not resumed and not _only_a_start(dest):
        raise PhotosyncError(
            f"{dest} exists and is not empty",
            hint="Name a new folder: recover creates the archive there.",
        )
    report = RecoverReport(str(dest), store.name, resumed=resumed)
    listing = dict(store.iter_named())
    newest = newest_manifest(listing)
    if newest is None:
        raise PhotosyncError(
            f"{store.name} holds no copy of a photosync archive (nothing under archive/)",
            hint="Check the bucket, prefix or path; `photosync backup-archive` writes the copy.",
        )
    manifest = read_manifest(store, newest[2])
    report.manifest, report.head, report.branch = manifest.name, manifest.head, manifest.branch
    # the marker first: from here on a killed recover is finished by the re-run
    atomic_write(marker, f"{store.name}\n{manifest.name}\n".encode())
    lock = ArchiveLock(dest / ".photosync" / "lock").acquire()
    try:
        git = Git(dest)
        if not git_dir.is_dir():
            git.run("init", "-q", "-b", manifest.branch)
        git.clear_stale_locks(dest / ".photosync" / "quarantine")
        cache = git_dir / RECOVER_DIR
        cache.mkdir(exist_ok=True)
        for index, bundle in enumerate(manifest.bundles):
            path = _download(store, bundle, listing, cache)
            local_ref = f"refs/photosync-recover/{index}"
            if (
                git.run("rev-parse", "-q", "--verify", local_ref, check=False).strip()
                != bundle["tip"]
            ):
                git.run("bundle", "verify", "-q", str(path))
                git.run(
                    "fetch", "-q", "--no-tags", "--no-write-fetch-head", str(path),
                    f"{bundle['ref']}:{local_ref}",
                )  # fmt: skip
            got = git.run("rev-parse", "-q", "--verify", local_ref, check=False).strip()
            if got != bundle["tip"]:
                raise ArchiveCorrupt(
                    f"archive/{bundle['name']} did not bring commit {bundle['tip']} (got {got})"
                )
            report.bundles += 1
        ref = f"refs/heads/{manifest.branch}"
        git.run("update-ref", ref, manifest.head)
        git.run("symbolic-ref", "HEAD", ref)
        git.run("reset", "-q", "--hard", manifest.head)
        for index in range(len(manifest.bundles)):
            git.run("update-ref", "-d", f"refs/photosync-recover/{index}", check=False)
        configure_git(git)
        for folder in ("blobs", ".photosync"):
            (dest / folder).mkdir(exist_ok=True)
        report.commits = int(git.run("rev-list", "--count", manifest.head).strip())
    finally:
        lock.release()
    archive = Archive(dest)
    try:
        report.notes = archive.lock()  # recovery, schemas, the index rebuilt from the records
    finally:
        archive.close()
    shutil.rmtree(git_dir / RECOVER_DIR, ignore_errors=True)
    marker.unlink(missing_ok=True)
    return report


def _only_a_start(dest: Path) -> bool:
    """Empty, or only the ``.photosync/`` a recover killed before its marker left."""
    entries = [p.name for p in dest.iterdir()]
    if not entries:
        return True
    return entries == [".photosync"] and not (dest / ".photosync" / "state.sqlite").exists()


def _download(
    store: BlobStore, bundle: dict[str, Any], listing: dict[str, int], cache: Path
) -> Path:
    """A bundle into the cache, verified by SHA-256 (one already there and good is kept)."""
    path = cache / str(bundle["name"])
    if path.is_file() and _hash(path) == (bundle["sha256"], bundle["size"]):
        return path
    if listing.get(bundle["name"]) != bundle["size"]:
        raise BlobError(
            f"{store.name}: archive/{bundle['name']} is missing or of the wrong size",
            hint="Recover from another location, or use `verify` there to see what is left.",
        )
    tmp = cache / f".{bundle['name']}.{os.getpid()}.tmp"
    hasher = hashlib.sha256()
    with store.open_named(bundle["name"]) as stream, open(tmp, "wb") as out:
        while chunk := stream.read(CHUNK_SIZE):
            hasher.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if hasher.hexdigest() != bundle["sha256"]:
        tmp.unlink(missing_ok=True)
        raise BlobError(
            f"{store.name}: archive/{bundle['name']} is corrupt (its bytes hash to "
            f"{hasher.hexdigest()})",
            hint="Recover from another location.",
        )
    os.replace(tmp, path)
    return path
