"""One archive on several machines: ``photosync sync`` and the git merge driver.

git moves the records between clones; photosync decides what two versions of a
file become (``photosync.merge``). The driver is what a plain ``git pull`` runs
for ``photos/**/*.json`` and ``config/*.json``; ``sync`` is fetch, merge (through
the same driver), one record per photo, originals fetched, check, push. A merge
that cannot be done safely is aborted: the archive stays as it was.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.archive.archive import SERVICES_FILE, SYNC_STATE_FILE, Archive
from photosync.archive.jsonio import atomic_write, canonical_bytes
from photosync.archive.schema import validate_config, validate_record
from photosync.errors import ArchiveCorrupt, PhotosyncError, ServiceError
from photosync.merge import MergeError, merge_config, merge_records, merge_sync_state
from photosync.model import record_from_json, record_to_json
from photosync.model.codec import SCHEMA_VERSION, RecordVersionError
from photosync.redaction import shown_error
from photosync.workflow.check import check_archive
from photosync.workflow.progress import Progress, SilentProgress
from photosync.workflow.restore import restore_originals

log = logging.getLogger(__name__)


def _newer_record(archive: Archive, commit: str, rel: str) -> bool:
    """``rel`` at ``commit`` is a record of a newer ``schema_version`` than this photosync's."""
    if not rel.startswith("photos/"):
        return False
    try:
        value = json.loads(archive.git.run("show", f"{commit}:{rel}", check=False) or "null")
    except ValueError:
        return False
    version = value.get("schema_version") if isinstance(value, dict) else None
    return isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION


class SyncRefused(PhotosyncError):
    """The two clones cannot be merged safely; nothing was changed."""


class RemoteUnavailable(ServiceError):
    """The git remote could not be read or written (unreachable, no repository, rejected)."""


def _read_side(path: Path) -> Any:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if not text.strip():
        return None  # no common ancestor (the file was added on both sides)
    return json.loads(text)


def merge_file(
    base: Path, ours: Path, theirs: Path, relpath: str, root: Path | None = None
) -> None:
    """Git's merge driver: merge ``theirs`` into ``ours`` (written in place) by photosync's
    rule for ``relpath``. Raises (and leaves ``ours`` untouched) when the result would
    not be valid: git then reports the file as conflicted, never with markers in it.
    ``root``: the clone being merged into (git runs its driver there), whose own folders
    a merge of config/services.json keeps in its ``.photosync/machine.json``."""
    try:
        a, b, o = _read_side(ours), _read_side(theirs), _read_side(base)
    except (OSError, ValueError) as error:
        raise SyncRefused(f"{relpath}: not JSON on one side ({error})") from error
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise SyncRefused(f"{relpath}: one side is not a JSON object")
    base_value = o if isinstance(o, dict) else None
    merged: dict[str, Any]
    try:
        if relpath.startswith("photos/"):
            base_record = None if base_value is None else record_from_json(base_value)
            both = merge_records(record_from_json(a), record_from_json(b), base_record)
            merged = record_to_json(both)
            validate_record(merged, where=relpath)
        elif relpath == SERVICES_FILE:
            if root is not None:
                a, b = _own_folders_stay_here(a, b, base_value, root)
            merged = merge_config(a, b, base_value)
            validate_config(relpath, merged)
        elif relpath == SYNC_STATE_FILE:
            merged = merge_sync_state(a, b, base_value)
            validate_config(relpath, merged)
        elif relpath.startswith("config/"):
            merged = merge_config(a, b, base_value)
            validate_config(relpath, merged)
        else:
            raise SyncRefused(f"{relpath}: photosync does not merge this file")
    except (MergeError, RecordVersionError) as error:
        raise SyncRefused(f"{relpath}: {error}") from error
    atomic_write(ours, canonical_bytes(merged))


def _own_folders_stay_here(
    ours: dict[str, Any], theirs: dict[str, Any], base: dict[str, Any] | None, root: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same folder service added on both machines (``service add pictures --path``
    on each, the paths differ, nothing else does): one service. config/services.json
    keeps the path the other machine already shared; this machine's own folder is kept
    where it belongs, in this clone's ``.photosync/machine.json`` (``service locate``).
    In a rebase git swaps the sides: the local commit is "theirs" there."""
    archive = Archive(root)
    git_dir = archive.git.git_dir
    rebasing = (git_dir / "rebase-merge").exists() or (git_dir / "rebase-apply").exists()
    local, shared = (theirs, ours) if rebasing else (ours, theirs)
    mine, others = local.get("services") or {}, shared.get("services") or {}
    before = (base or {}).get("services") or {}
    located = archive.machine_paths()
    adopted = dict(mine)
    for name in sorted(set(mine) & set(others) - set(before)):
        a, b = mine[name], others[name]
        if not (isinstance(a, dict) and isinstance(b, dict)) or a.get("path") == b.get("path"):
            continue
        if "path" not in a or "path" not in b or {**a, "path": None} != {**b, "path": None}:
            continue  # more than the folder differs: a conflict to decide
        if name not in located:
            archive.save_machine_path(name, str(a["path"]))
        adopted[name] = {**a, "path": b["path"]}
    local = {**local, "services": adopted} if adopted != mine else local
    return (shared, local) if rebasing else (local, shared)


@dataclass
class SyncReport:
    remote: str
    branch: str
    merged: bool = False
    already_up_to_date: bool = False
    pushed: bool = False
    notes: list[str] = field(default_factory=list)
    originals_fetched: int = 0
    originals_missing: int = 0
    check_problems: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "remote": self.remote,
            "branch": self.branch,
            "merged": self.merged,
            "already_up_to_date": self.already_up_to_date,
            "pushed": self.pushed,
            "notes": self.notes,
            "originals_fetched": self.originals_fetched,
            "originals_missing": self.originals_missing,
            "check_problems": self.check_problems,
        }


def _refuse_user_changes(archive: Archive) -> None:
    dirty = archive.git.dirty_paths(
        "photos", "config", "schemas", "README.md", ".gitignore", ".gitattributes"
    )
    dirty = [path for path in dirty if path not in archive.pending_paths()]
    if dirty or archive.user_changed:
        shown = sorted(set(dirty) | archive.user_changed)
        raise PhotosyncError(
            "the archive has uncommitted changes photosync did not make: "
            + ", ".join(shown[:5])
            + (f" and {len(shown) - 5} more" if len(shown) > 5 else ""),
            hint="Commit them (git commit) or put them aside (git stash), then run sync again.",
        )


def _default_remote(archive: Archive, branch: str) -> str:
    configured = archive.git.run("config", "--get", f"branch.{branch}.remote", check=False).strip()
    if configured:
        return configured
    remotes = archive.git.run("remote").split()
    if not remotes:
        raise PhotosyncError(
            "this archive has no git remote to sync with",
            hint="Add one: git remote add origin URL (a bare repository all machines reach).",
        )
    return "origin" if "origin" in remotes else remotes[0]


def sync(
    archive: Archive,
    remote: str | None = None,
    *,
    push: bool = True,
    progress: Progress | None = None,
) -> SyncReport:
    """Bring this clone and ``remote`` to the same records. The caller holds the lock."""
    progress = progress or SilentProgress()
    _refuse_user_changes(archive)
    branch = archive.git.run("symbolic-ref", "--short", "HEAD").strip()
    remote = remote or _default_remote(archive, branch)
    report = SyncReport(remote=remote, branch=branch)
    _remote_git(archive, remote, "fetch", "fetch", "-q", remote)
    upstream = f"refs/remotes/{remote}/{branch}"
    theirs = archive.git.run("rev-parse", "--verify", "-q", upstream, check=False).strip()
    before = archive.git.head()
    if theirs and theirs != before:
        base = archive.git.run("merge-base", "HEAD", theirs, check=False).strip()
        if not base:
            raise SyncRefused(
                f"{remote}/{branch} shares no history with this archive: it is another "
                "archive or another repository, not a clone of this one",
                hint="Nothing was changed. Check the remote's URL (git remote -v); a "
                "second machine starts from `git clone` of this archive's remote.",
            )
        if base == theirs:
            report.already_up_to_date = True
        else:  # only behind: a fast-forward (a merge commit each time, and never agreeing)
            _merge(archive, remote, branch, theirs, report, fast_forward=base == before)
    elif theirs:
        report.already_up_to_date = True
    if report.merged:
        report.notes.extend(archive.merge_duplicate_records())
        archive.ensure_index(force=True)
    restored = restore_originals(archive, progress=progress)
    report.originals_fetched = len(restored.restored)
    # on no location this machine reaches: the other machine has them (not lost)
    archive.save_originals_elsewhere(set(restored.missing))
    report.originals_missing = len(restored.missing)
    checked = check_archive(archive, progress=progress)
    report.check_problems = [f"{p.kind}: {p.detail}" for p in checked.problems]
    if push:
        _remote_git(archive, remote, "push", "push", "-q", remote, f"HEAD:refs/heads/{branch}")
        report.pushed = True
    return report


def _remote_git(archive: Archive, remote: str, what: str, *args: str) -> None:
    """``git fetch``/``push``: a remote that cannot be reached, is no repository or
    refuses is a service error (exit 7) that says what to do, never "git failed"."""
    try:
        archive.git.run(*args)
    except ArchiveCorrupt as error:
        said = shown_error(error).removeprefix(f"git {what} failed: ")
        moved_on = what == "push" and ("fetch first" in said or "non-fast-forward" in said)
        raise RemoteUnavailable(
            f"cannot {what} {'to' if what == 'push' else 'from'} {remote}: {said}",
            hint="Another machine pushed meanwhile: run `photosync sync` again (this "
            "machine's merge is kept)."
            if moved_on
            else "Check that the remote is reachable and is the archive's repository "
            "(git remote -v), then run `photosync sync` again"
            + ("; the merge here is kept." if what == "push" else "; nothing was changed."),
        ) from error


def _merge(
    archive: Archive,
    remote: str,
    branch: str,
    theirs: str,
    report: SyncReport,
    *,
    fast_forward: bool = False,
) -> None:
    """``git merge`` through photosync's driver; anything left conflicted aborts it. With
    ``fast_forward`` (this clone has nothing the remote lacks) HEAD simply moves to theirs,
    so two machines that synced agree they are up to date instead of trading merge commits."""
    before = archive.git.head()
    archive.begin_own_merge(theirs)
    how = (
        ["--ff-only"]
        if fast_forward
        else ["--no-edit", "--no-ff", "-m", f"sync: merged {remote}/{branch} by photosync's rule"]
    )
    try:
        out = archive.git.run("merge", *how, theirs)
    except ArchiveCorrupt as error:  # conflicted, or refused before it began: see below
        out = shown_error(error).removeprefix("git merge failed: ")
    conflicted = archive.git.run("diff", "--name-only", "--diff-filter=U").split()
    merging = (archive.git.git_dir / "MERGE_HEAD").exists()
    if not conflicted and not merging and archive.git.head() == before:
        archive.end_own_merge()  # git refused before it changed anything (a file in the way)
        raise SyncRefused(
            "git could not merge the other machine's changes: " + out.strip()[-300:],
            hint="Nothing was changed here. Move what git names aside, then run "
            "photosync sync again.",
        )
    if conflicted or merging:
        archive.git.run("merge", "--abort", check=False)
        archive.end_own_merge()
        newer = [rel for rel in conflicted if _newer_record(archive, theirs, rel)]
        if newer:
            raise SyncRefused(
                f"{', '.join(newer[:5])}: written by a newer photosync (this one reads "
                f"schema_version up to {SCHEMA_VERSION})",
                hint="Nothing was changed here. Update photosync on this machine, then run "
                "photosync sync again.",
            )
        raise SyncRefused(
            "the other machine's changes cannot be merged safely: "
            + (", ".join(conflicted[:5]) or out.strip()[-300:]),
            hint="Nothing was changed here. Decide these files by hand in a clone "
            "(git merge, edit, git commit), then run photosync sync again.",
        )
    archive.end_own_merge()
    report.merged = True
