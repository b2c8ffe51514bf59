"""Keep every blob in every blob location, and check and repair them.

These helpers know digests and stores only, not records: the caller decides
which digests matter. Nothing here deletes a blob. A corrupt copy is replaced
only by bytes that were hashed and found correct: an S3 object is overwritten
in place (``S3BlobStore.replace_corrupt``), a local file is moved aside to
``<root>/quarantine/`` first (``LocalBlobStore.quarantine``).
"""

from __future__ import annotations

import collections
import contextlib
import errno
import hashlib
import itertools
import os
import re
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from photosync import durable
from photosync.blobstore.base import CHUNK_SIZE, Batch, BlobStore, check_digest
from photosync.blobstore.readback import CopyCheck, check_copies
from photosync.errors import BlobError, ChecksumMismatch, InternalError, PhotosyncError
from photosync.parallel import bounded_map, run_bounded

#: wanted digests judged against the listings at a time (memory: a chunk, not a store)
CHUNK = 2048
#: copies to a store that ``batches`` (a local folder) made durable together: one
#: filesystem sync per this many blobs, or bytes, instead of an fsync each
PUBLISH_BLOBS = 1000
PUBLISH_BYTES = 256 * 1024 * 1024
#: an OSError only a write raises (a full disk or quota, a read-only or too small target)
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


class CopyJournal(Protocol):
    """Remembers which (location, digest) copies are done, so a re-run skips them."""

    def is_done(self, location: str, digest: str) -> bool: ...

    def record(self, location: str, digest: str) -> None: ...

    def flush(self) -> None: ...


def _journalled(target: BlobStore) -> str:
    """A location as the copy journal knows it: its name and (hashed: an endpoint may
    carry a user name) where it points, so a location pointed elsewhere after a run
    that stopped is copied to, not taken as holding what the old place held."""
    return f"{target.name}#{hashlib.sha256(target.place.encode()).hexdigest()[:16]}"


class JsonlJournal:
    """A ``CopyJournal`` in an append-only JSON-lines file, group-committed.

    ``record`` is called only once a copy is durable at its destination; lines
    are written and fsynced ``GROUP`` at a time (and on ``flush``), not one
    fsync per blob. A line lost to a crash before its group was written only
    costs the re-run a look at the destination's listing, which shows the copy:
    the journal never says a copy is done that is not. A torn last line is
    ignored on load.
    """

    GROUP = 256

    def __init__(self, path: Path) -> None:
        self.path = path
        self._journal = durable.AppendJournal(path)
        self._lock = threading.Lock()
        self._done: set[tuple[str, str]] = set()
        self._pending: list[dict[str, str]] = []
        for item in self._journal.entries():
            if "location" in item and "digest" in item:
                self._done.add((str(item["location"]), str(item["digest"])))

    def is_done(self, location: str, digest: str) -> bool:
        return (location, digest) in self._done

    def record(self, location: str, digest: str) -> None:
        with self._lock:
            if (location, digest) in self._done:
                return
            self._done.add((location, digest))
            self._pending.append({"location": location, "digest": digest})
            if len(self._pending) >= self.GROUP:
                self._write()

    def flush(self) -> None:
        """Write and fsync what is recorded but not on disk yet."""
        with self._lock:
            self._write()

    def _write(self) -> None:
        # one write and one fsync per group; a torn last line stays alone (durable)
        self._journal.extend(self._pending)
        self._pending.clear()


@dataclass
class CopyOutcome:
    """Per location: digests copied, and failures (digest -> why)."""

    copied: dict[str, list[str]] = field(default_factory=dict)
    failed: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.failed.values())

    @property
    def copied_count(self) -> int:
        return sum(len(v) for v in self.copied.values())


@dataclass
class BlobSyncReport(CopyOutcome):
    """What ``copy_missing_blobs`` did, per target location name."""

    present: dict[str, int] = field(default_factory=dict)
    #: per target: digests whose copy there had the wrong size and was replaced
    replaced: dict[str, list[str]] = field(default_factory=dict)
    #: targets whose listing gave sizes and held to the end (not given up, no copy known
    #: from the journal only): ``Settled.sizes`` of a digest names those of its turn
    sized: set[str] = field(default_factory=set)


@dataclass
class LocationReport:
    """One location's blobs: present, re-read, missing, corrupt (digest -> why), orphans
    (in the store, referenced by nothing: reported, never removed), unreadable."""

    name: str
    present: int = 0
    read: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: dict[str, str] = field(default_factory=dict)
    orphans: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    #: the location could not be listed (nothing else was checked there)
    unavailable: str | None = None

    @property
    def ok(self) -> bool:
        return not (self.missing or self.corrupt or self.errors or self.unavailable)


@dataclass
class VerifyReport:
    locations: dict[str, LocationReport] = field(default_factory=dict)
    #: location -> digest -> size, from its one listing
    listings: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.locations.values())


@dataclass
class RepairReport:
    """Per location: digests restored, and digests that could not be (with why)."""

    restored: dict[str, list[str]] = field(default_factory=dict)
    quarantined: dict[str, list[str]] = field(default_factory=dict)
    refused: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.refused.values())


def _unique(digests: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for digest in digests:
        try:
            seen[check_digest(digest)] = None
        except ValueError as error:
            raise BlobError(f"invalid blob digest {digest!r}") from error
    return list(seen)


@contextmanager
def _good_local_copy(
    digest: str, sources: Sequence[BlobStore], tmp_dir: Path | None
) -> Iterator[Path]:
    """A local file with the blob's verified bytes, from the first source that has them."""
    problems: list[str] = []
    for source in sources:
        if source.local_files:
            path = source.path_for(digest)
            try:
                intact = _hash(path) == digest
            except FileNotFoundError:
                problems.append(f"{source.name}: missing")
                continue
            except OSError as error:
                problems.append(f"{source.name}: {error}")
                continue
            if not intact:
                problems.append(f"{source.name}: corrupt")
                continue
            yield path
            return
        handle, name = tempfile.mkstemp(prefix="blob-", dir=tmp_dir)
        tmp = Path(name)
        try:
            hasher = hashlib.sha256()
            try:
                with os.fdopen(handle, "wb") as out, source.open(digest) as stream:
                    while chunk := stream.read(CHUNK_SIZE):
                        hasher.update(chunk)
                        out.write(chunk)
            except PhotosyncError as error:
                problems.append(f"{source.name}: {error}")
                continue
            except OSError as error:
                problems.append(f"{source.name}: {error}")
                continue
            if hasher.hexdigest() != digest:
                problems.append(f"{source.name}: corrupt")
                continue
            yield tmp
            return
        finally:
            tmp.unlink(missing_ok=True)
    raise BlobError(f"no good copy of {digest} ({'; '.join(problems) or 'no sources'})")


def _local_size(digest: str, sources: Sequence[BlobStore]) -> int | None:
    """The size of the first local source's copy of a blob (None: no local copy)."""
    for source in sources:
        found = source.stat(digest)
        if found is not None:
            return found.size
    return None


def _local_path(digest: str, sources: Sequence[BlobStore]) -> Path | None:
    """The file of the first local source that has the blob (not hashed here)."""
    for source in sources:
        if source.local_files:
            path = source.path_for(digest)
            if path.is_file():
                return path
    return None


def copy_missing_blobs(
    digests: Iterable[str],
    source: BlobStore | Sequence[BlobStore],
    targets: Sequence[BlobStore],
    *,
    workers: int = 8,
    journal: CopyJournal | None = None,
    progress: Callable[[int], None] | None = None,
    tmp_dir: Path | None = None,
    expected: Mapping[str, int | None] | None = None,
    on_done: Callable[[str, BlobSyncReport], None] | None = None,
) -> BlobSyncReport:
    """``copy_sorted_blobs`` for digests in any order (held and sorted here: a caller
    with a million digests streams them sorted to ``copy_sorted_blobs`` instead).

    ``expected`` maps digests to the size their bytes must have; ``on_done(digest,
    report)`` is told each digest settled in every target, in digest order except that
    a digest copied is told when its copies are done.
    """
    sizes = expected or {}
    report = BlobSyncReport()
    told = None if on_done is None else (lambda settled: on_done(settled.digest, report))
    return copy_sorted_blobs(
        ((digest, sizes.get(digest)) for digest in sorted(_unique(digests))),
        source,
        targets,
        workers=workers,
        journal=journal,
        progress=progress,
        tmp_dir=tmp_dir,
        on_done=told,
        report=report,
    )


@dataclass(frozen=True)
class Settled:
    """One digest settled in every target (``copy_sorted_blobs``'s ``on_done``)."""

    digest: str
    #: per target in ``report.sized`` when the digest was judged: its size there after
    #: this run (the listing's, or the copy's), None where it is not (absent, or failed)
    sizes: Mapping[str, int | None]
    #: the targets a copy went to (or failed for): where the listing was not enough
    touched: frozenset[str]


class StreamedListing:
    """One target's listing, read alongside the wanted digests, both in ascending order
    (a merge-join): what is held is the listed blobs among a chunk of wanted digests,
    whatever the size of the store. A store that does not list in order
    (``lists_in_order``) is sorted on disk first.

    ``size(digest)``: the listed size (-1 when the store lists names only), None when the
    listing shows no such blob; ``take(bound, keep)`` the same for a chunk of digests.
    A listing that cannot be read (at the start or half-way) is given up from there on
    (``ok`` False): the digests judged after it are copied with the store's own check
    (``put_file`` asks first), as when a store cannot be listed at all. A listing out of
    order although its store promised order is given up too, and said (``disordered``):
    a blob it listed late may have been taken for absent (stored again, identical bytes:
    never lost) when its copy there had the wrong size.
    """

    def __init__(self, store: BlobStore, tmp_dir: Path | None, *, sizes: bool = False) -> None:
        """``sizes``: every blob's size even where the store lists names only (a ``stat``
        each, as ``iter_stats`` does); else -1 for those."""
        self.store = store
        self.ok = True
        self.disordered = False
        #: why the listing was given up (a store's error)
        self.error: str | None = None
        #: the last digest read in order: the listing is known up to it
        self.last = ""
        self._head: tuple[str, int] | None = None
        self._items: Iterator[tuple[str, int]] = iter(())
        #: names only (size -1 each): read as names, no tuple per blob (the no-op's loop)
        self._names: Iterator[str] | None = None
        try:
            if store.lists_sizes or sizes:
                items: Iterator[tuple[str, int]] = (
                    (stat.digest, stat.size) for stat in store.iter_stats()
                )
            elif store.lists_in_order:  # no stat per blob (a local folder's size: per record)
                self._names = iter(store.iter_digests())
                items = ((digest, -1) for digest in self._names)
            else:
                items = ((digest, -1) for digest in store.iter_digests())
        except PhotosyncError as error:
            self.error = str(error)
            self._give_up()
            return
        self._items = items if store.lists_in_order else _sorted_on_disk(items, tmp_dir)
        self._advance()

    def size(self, digest: str) -> int | None:
        while self._head is not None and self._head[0] < digest:
            self._advance()
        if self._head is not None and self._head[0] == digest:
            return self._head[1]
        return None

    def take(self, bound: str, keep: Container[str]) -> tuple[dict[str, int], str]:
        """The listed blobs up to ``bound`` that are in ``keep`` (digest -> size), and the
        digest up to which the listing is known (``bound``, or less where it was given up:
        a digest after that is not judged by it)."""
        got: dict[str, int] = {}
        head = self._head
        if head is None:
            return got, bound if self.ok else self.last
        if head[0] > bound:
            return got, bound
        if head[0] in keep:
            got[head[0]] = head[1]
        last = head[0]
        if self._names is not None:
            return self._take_names(bound, keep, got, last)
        items = self._items
        try:
            for digest, size in items:  # the loop of a million: kept lean
                if digest < last:
                    self.last = last
                    self.disordered = True  # what it says next cannot be trusted
                    self.error = "not listed in key order"
                    self._give_up()
                    return got, last
                last = digest
                if digest > bound:
                    self.last = last
                    self._head = (digest, size)
                    return got, bound
                if digest in keep:
                    got[digest] = size
        except PhotosyncError as error:
            self.last = last
            self.error = str(error)
            self._give_up()
            return got, last
        self.last = last
        self._head = None  # the end: everything after is absent
        return got, bound

    def _take_names(
        self, bound: str, keep: Container[str], got: dict[str, int], last: str
    ) -> tuple[dict[str, int], str]:
        """``take`` of a listing of names only (each size -1)."""
        assert self._names is not None
        try:
            for digest in self._names:
                if digest < last:
                    self.last = last
                    self.disordered = True
                    self.error = "not listed in key order"
                    self._give_up()
                    return got, last
                last = digest
                if digest > bound:
                    self.last = last
                    self._head = (digest, -1)
                    return got, bound
                if digest in keep:
                    got[digest] = -1
        except PhotosyncError as error:
            self.last = last
            self.error = str(error)
            self._give_up()
            return got, last
        self.last = last
        self._head = None
        return got, bound

    def _advance(self) -> None:
        try:
            item = next(self._items, None)
        except PhotosyncError as error:
            self.error = str(error)
            self._give_up()
            return
        if item is not None and item[0] < self.last:
            self.disordered = True  # what it says next cannot be trusted
            self.error = "not listed in key order"
            self._give_up()
            return
        if item is not None:
            self.last = item[0]
        self._head = item

    def _give_up(self) -> None:
        self.ok = False
        self.close()

    def close(self) -> None:
        """Stop reading (what is left of the listing is not needed)."""
        self._head = None
        items, self._items = self._items, iter(())
        names, self._names = self._names, None
        for stream in (items, names):
            close = getattr(stream, "close", None)
            if close is not None:
                close()


def _sorted_on_disk(
    items: Iterator[tuple[str, int]], tmp_dir: Path | None
) -> Iterator[tuple[str, int]]:
    """A listing in any order, given back in ascending digest order: written to a temp
    SQLite file first (memory stays flat), removed after; without ``tmp_dir``, SQLite's
    private temporary database (its name gone once open: nothing left if killed)."""
    if tmp_dir is None:
        name = ""
    else:
        handle, name = tempfile.mkstemp(prefix="listing-", suffix=".sqlite", dir=tmp_dir)
        os.close(handle)
    conn = sqlite3.connect(name, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("CREATE TABLE listed (digest TEXT NOT NULL, size INTEGER NOT NULL)")
        conn.execute("BEGIN")
        while batch := list(itertools.islice(items, 5000)):
            conn.executemany("INSERT INTO listed VALUES (?, ?)", batch)
        conn.execute("COMMIT")
        rows = conn.execute("SELECT digest, size FROM listed ORDER BY digest")
        while fetched := rows.fetchmany(5000):
            for digest, size in fetched:
                yield str(digest), int(size)
    finally:
        conn.close()
        if name:
            Path(name).unlink(missing_ok=True)


_BARE_LINES = re.compile(r"[0-9a-f]{64}(?:\n[0-9a-f]{64})*")


def _ascending(
    wanted: Iterable[tuple[str, int | None]], chunk: int
) -> Iterator[list[tuple[str, int | None]]]:
    """The caller's digests, checked (valid, each once, in ascending order), ``chunk`` at
    a time."""
    last = ""
    for out in _batched(wanted, chunk):
        if not _BARE_LINES.fullmatch("\n".join(digest for digest, _size in out)):
            out = [(_bare(digest), size) for digest, size in out]  # sha256:, upper case
        for digest, _size in out:
            if digest <= last:
                raise InternalError(f"digests not in ascending order: {digest} after {last}")
            last = digest
        yield out


def _batched(
    items: Iterable[tuple[str, int | None]], size: int
) -> Iterator[list[tuple[str, int | None]]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _bare(digest: str) -> str:
    try:
        return check_digest(digest)
    except ValueError as error:
        raise BlobError(f"invalid blob digest {digest!r}") from error


def copy_sorted_blobs(
    wanted: Iterable[tuple[str, int | None]],
    source: BlobStore | Sequence[BlobStore],
    targets: Sequence[BlobStore],
    *,
    workers: int = 8,
    journal: CopyJournal | None = None,
    progress: Callable[[int], None] | None = None,
    tmp_dir: Path | None = None,
    on_done: Callable[[Settled], None] | None = None,
    told: Container[str] | None = None,
    report: BlobSyncReport | None = None,
    sizes: bool = False,
) -> BlobSyncReport:
    """Make every digest present in every target, ``workers`` copies at a time.

    ``wanted``: (digest, size its bytes must have or None), in ascending digest order,
    each digest once; read lazily. Where the size is None (a merged copy, whose record
    gives none) the size of the first local source's copy stands in (a ``stat``), so a
    copy cut short elsewhere is found all the same. Each target is listed once, in step
    with it (a merge-join: memory does not grow with the number of blobs, only with the
    copies made); blobs already there or in the journal are skipped, so an interrupted run
    resumes. One failing blob does not stop the others; failures are in the report.
    ``progress`` gets 1 per finished (digest, target).

    ``source`` is a store (or stores, tried in order) with good copies. A local source
    file is sent as it is: every target hashes what it stores (S3 what it sends, a
    local store what it writes) and refuses bytes that do not match, so the file is
    read once. Only when a target refuses them (``ChecksumMismatch``) are the sources
    hashed first, in order, and the first good copy sent.

    A target whose listing shows a digest with another size than the one wanted holds
    bytes that cannot be that blob (a torn upload by a server that kept it): that copy
    is replaced with verified bytes, the way ``verify --repair`` does (S3 overwrites in
    place, a local store moves the bad file to quarantine first), and counted in
    ``report.replaced``. A store that lists names only (a local folder) shows sizes
    only with ``sizes`` (a ``stat`` per blob: ``replicate --full``); else a copy of the
    wrong size there is left to ``check`` and ``verify --repair`` to find and mend.

    A target that ``batches`` (a local folder, the archive's own store) gets each copy
    as a complete read-only temp file, not fsynced; every ``PUBLISH_BLOBS`` copies (or
    ``PUBLISH_BYTES``) and at the end one ``publish`` makes them durable and names
    them (one filesystem sync, the way discover stores its blobs). Until then such a
    copy is not counted, not journalled and not told: nothing may say a blob is there
    before its bytes and its name are durable. A killed run leaves temp files
    (``sweep_tmp``) and copies never said done, made again by the re-run.

    ``on_done(settled)`` is called on the caller's thread as soon as a digest is
    settled in every target (copied and durable, already there, or failed: the report
    says which), while other copies go on: the caller's work per digest (writing records) overlaps
    the uploads instead of following them. ``settled.sizes`` says its size in each
    target listed with sizes, so the caller needs no listing of its own. ``told``: only
    these digests, and those a copy touched, are told (the caller needs nothing of the
    others: a no-op pass over a million blobs makes no million calls).
    """
    sources = [source] if isinstance(source, BlobStore) else list(source)
    local_sources = [s for s in sources if s.local_files]
    report = report if report is not None else BlobSyncReport()
    lock = threading.Lock()
    torn: set[tuple[str, str]] = set()
    listings: dict[str, StreamedListing] = {}
    batches: dict[str, Batch] = {}
    # as the journal knows each target (a hash of where it points: once, not per blob)
    journalled = {target.name: _journalled(target) for target in targets}
    for target in targets:
        if target.batches:
            batches[target.name] = target.batch()
        report.copied.setdefault(target.name, [])
        report.failed.setdefault(target.name, {})
        report.replaced.setdefault(target.name, [])
        report.present[target.name] = 0
        listings[target.name] = StreamedListing(target, tmp_dir, sizes=sizes)
        if (target.lists_sizes or sizes) and listings[target.name].ok:  # not only names
            report.sized.add(target.name)

    #: what one target's listing says of the current chunk: the target, the listed blobs
    #: among the chunk, and the digest up to which the listing is known
    View = tuple[BlobStore, dict[str, int], str]

    def judge(
        digest: str, size: int | None, views: list[View]
    ) -> tuple[list[BlobStore], dict[str, int | None]]:
        """The targets to copy to; the sizes the listings show (absent: None)."""
        needs: list[BlobStore] = []
        sizes: dict[str, int | None] = {}
        for target, got, covered in views:
            listing = listings[target.name]
            listed = digest <= covered
            found = got.get(digest) if listed else None
            if not listed:
                report.sized.discard(target.name)
                if listing.disordered:  # said once: the run settles nothing
                    listing.disordered = False
                    report.failed[target.name][digest] = (
                        f"the listing of {target.name} is not in key order as its kind "
                        "promises: copies there of the wrong size cannot be found this way"
                    )
            elif found is not None and size is not None and found not in (size, -1):
                torn.add((target.name, digest))
                needs.append(target)
                if target.name in report.sized:
                    sizes[target.name] = None  # the copy's size once replaced
                continue
            if (journal is not None and journal.is_done(journalled[target.name], digest)) or (
                found is not None
            ):
                report.present[target.name] += 1
                if found is None:
                    report.sized.discard(target.name)  # journal only: list again to know
                elif target.name in report.sized:
                    sizes[target.name] = found
                if progress is not None:
                    progress(1)
                continue
            needs.append(target)
            if target.name in report.sized:
                sizes[target.name] = None
        return needs, sizes

    def done(
        target: BlobStore, digest: str, stored: bool, size: int, sizes: dict[str, int | None]
    ) -> None:
        with lock:
            if stored and (target.name, digest) in torn:
                report.replaced[target.name].append(digest)
            if stored:
                report.copied[target.name].append(digest)
            else:
                report.present[target.name] += 1
            if target.name in sizes:
                sizes[target.name] = size
        if journal is not None:
            journal.record(journalled[target.name], digest)

    def put(
        digest: str,
        path: Path,
        wanted_in: list[BlobStore],
        last: bool,
        sizes: dict[str, int | None],
        held: list[_Held],
    ) -> list[BlobStore]:
        """Copy to each target; the targets that refused the bytes (unless ``last``).
        A copy into a batch is added to ``held`` instead of being done."""
        refused: list[BlobStore] = []
        size = path.stat().st_size
        for target in wanted_in:
            batch = batches.get(target.name)
            try:
                if (target.name, digest) in torn:
                    stored = _replace_torn(target, path, digest)
                elif batch is not None:
                    stored = batch.put_file(path, digest)
                    if stored:  # durable, named and done at the batch's publish
                        held.append((target, size))
                        continue
                elif listings[target.name].ok and target.puts_new:
                    # the listing just showed it absent: no HEAD before; the server
                    # checked the SHA-256 it echoes (else put_new_file HEADs)
                    stored = target.put_new_file(path, digest, confirm=False)
                else:
                    stored = target.put_file(path, digest)
            except ChecksumMismatch as error:
                if not last:
                    refused.append(target)
                    continue
                with lock:
                    report.failed[target.name][digest] = str(error)
            except PhotosyncError as error:
                with lock:
                    report.failed[target.name][digest] = str(error)
            except OSError as error:
                if error.errno not in _WRITE_ERRNOS:
                    raise  # the original could not be read: no target gets it now
                with lock:  # this target is full or read-only: the others still get theirs
                    report.failed[target.name][digest] = f"cannot write the copy: {error}"
            else:
                done(target, digest, stored, size, sizes)
        return refused

    def run(
        job: tuple[str, list[BlobStore], dict[str, int | None]],
    ) -> _Parked:
        digest, wanted_in, sizes = job
        others = [s for s in sources if s not in wanted_in]
        todo = wanted_in
        held: list[_Held] = []
        try:
            trusted = _local_path(digest, others)
            if trusted is not None:
                todo = put(digest, trusted, todo, False, sizes, held)
            if todo:
                with _good_local_copy(digest, others, tmp_dir) as path:
                    put(digest, path, todo, True, sizes, held)
        except OSError as error:  # the local file went away under us
            with lock:
                for target in todo:
                    report.failed[target.name][digest] = f"cannot read the original: {error}"
        except PhotosyncError as error:
            with lock:
                for target in todo:
                    report.failed[target.name][digest] = str(error)
        if progress is not None:
            progress(len(wanted_in))
        return Settled(digest, sizes, frozenset(t.name for t in wanted_in)), held, sizes

    #: digests whose copies wait for their batches' next publish
    parked: list[_Parked] = []
    parked_bytes = 0
    publisher = _Publisher(batches)

    def release(item: _Parked) -> None:
        """A digest whose copies' publish is done: each copy done (or failed, where its
        batch could not make it durable), then the digest told."""
        settled, held, sizes = item
        for target, size in held:
            why = batches[target.name].lost.get(settled.digest)
            if why is None:
                done(target, settled.digest, True, size, sizes)
            else:
                with lock:
                    report.failed[target.name][settled.digest] = why
                    if target.name in sizes:
                        sizes[target.name] = None
        if on_done is not None:
            on_done(settled)

    def jobs() -> Iterator[tuple[str, list[BlobStore], dict[str, int | None]]]:
        """The digests with a copy to make; the others are settled here, on the caller's
        thread, in their turn (a million present blobs are no million pool tasks). A chunk
        of digests at a time against each listing: a blob present at its size everywhere
        (nearly every one, most runs) costs a lookup per location."""
        for chunk in _ascending(wanted, CHUNK):
            if local_sources and any(size is None for _digest, size in chunk):
                chunk = [
                    (digest, size if size is not None else _local_size(digest, local_sources))
                    for digest, size in chunk
                ]
            bound = chunk[-1][0]
            keep = {digest for digest, _size in chunk}
            views = [(t, *listings[t.name].take(bound, keep)) for t in targets]
            lookups = [got for _t, got, _covered in views]
            floor = min(covered for _t, _got, covered in views)
            sized = [(t.name, got) for t, got, _covered in views if t.name in report.sized]
            settled_here = 0
            for digest, size in chunk:
                if digest <= floor:
                    for got in lookups:
                        found = got.get(digest)
                        if found is None or (size is not None and found != size and found != -1):
                            break
                    else:  # present at its size in every target: nothing to do
                        settled_here += 1
                        if on_done is not None and (told is None or digest in told):
                            listed: dict[str, int | None] = {n: got[digest] for n, got in sized}
                            on_done(Settled(digest, listed, frozenset()))
                        continue
                needs, shown = judge(digest, size, views)
                if needs:
                    yield digest, needs, shown
                elif on_done is not None and (told is None or digest in told):
                    on_done(Settled(digest, shown, frozenset()))
            if settled_here:
                for target in targets:
                    report.present[target.name] += settled_here
                if progress is not None:
                    progress(settled_here * len(targets))

    try:
        results = bounded_map(run, jobs(), workers=workers, name="blob-copy", ordered=False)
        for settled, held, shown in results:
            if held:
                parked.append((settled, held, shown))
                parked_bytes += sum(size for _target, size in held)
                if len(parked) >= PUBLISH_BLOBS or parked_bytes >= PUBLISH_BYTES:
                    publisher.start(parked)  # the copies go on while it syncs
                    parked, parked_bytes = [], 0
            elif on_done is not None:
                on_done(settled)
            # what a finished publish covers is told a little at a time, between results,
            # so the records it writes overlap the copies as before (not a burst of them)
            publisher.poll()
            for _ in range(min(2, len(publisher.ready))):
                release(publisher.ready.popleft())
        if parked:
            publisher.start(parked)
        publisher.wait()
        while publisher.ready:
            release(publisher.ready.popleft())
    finally:
        for listing in listings.values():
            listing.close()
        publisher.stop()  # a run stopped short: no publish left running
        for batch in batches.values():
            batch.close()  # what was not published is dropped, unnamed
        if journal is not None:
            journal.flush()
    return report


#: a copy into a batch, told done once its batch is published: (target, size)
_Held = tuple[BlobStore, int]
#: a digest settled but for its copies into batches: (settled, the copies, its sizes)
_Parked = tuple[Settled, list[_Held], dict[str, int | None]]


class _Publisher:
    """The batches' ``publish`` on a thread of its own, one at a time, while the copies
    go on (a filesystem sync waits for the disk: the copies need not). ``start(group)``
    publishes every copy written so far, ``group`` among them (each added to its batch
    before its digest was settled); once that publish is done, ``poll`` or ``wait``
    moves the group to ``ready``, to be told on the caller's thread."""

    def __init__(self, batches: Mapping[str, Batch]) -> None:
        self._batches = batches
        self._thread: threading.Thread | None = None
        self._group: list[_Parked] = []
        self._error: BaseException | None = None
        self.ready: collections.deque[_Parked] = collections.deque()

    def start(self, group: list[_Parked]) -> None:
        self.wait()  # one at a time: the one before is done first
        self._group = group
        self._thread = threading.Thread(target=self._publish, name="blob-publish", daemon=True)
        self._thread.start()

    def _publish(self) -> None:
        try:
            for batch in self._batches.values():
                # a failure: each copy it took is in ``lost`` (failed when told)
                with contextlib.suppress(OSError):
                    batch.publish()
        except BaseException as error:  # raised on the caller's thread by ``wait``
            self._error = error

    def poll(self) -> None:
        if self._thread is not None and not self._thread.is_alive():
            self.wait()

    def wait(self) -> None:
        if self._thread is None:
            return
        self._thread.join()
        self._thread = None
        group, self._group = self._group, []
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        self.ready.extend(group)

    def stop(self) -> None:
        """Wait for a publish still running, whatever it raised (the run is ending)."""
        if self._thread is not None:
            self._thread.join()
            self._thread = None


def _replace_torn(store: BlobStore, path: Path, digest: str) -> bool:
    """Put ``path`` in place of a copy listed with the wrong size; False if it was good after all."""
    if store.has(digest) and store.verify(digest):  # the listing was stale: keep good bytes
        return False
    _restore(store, path, digest, was_corrupt=True)
    return True


def all_sizes(store: BlobStore) -> dict[str, int]:
    """Digest -> size of every blob in a store, from one listing where the store can.

    Raises the store's PhotosyncError when it cannot be listed at all.
    """
    return {s.digest: s.size for s in store.iter_stats()}


def primary_name(stores: Sequence[BlobStore]) -> str | None:
    """The first local location: where discover puts originals, the source of truth."""
    return next((s.name for s in stores if s.local_files), None)


def expected_size(
    digest: str, known: int | None, listings: Mapping[str, Mapping[str, int]], primary: str | None
) -> int | None:
    """The size a copy must have: the record's, else the primary store's, else any listing's."""
    if known is not None:
        return known
    order = sorted(listings, key=lambda name: (name != primary, name))
    for name in order:
        size = listings[name].get(digest)
        if size is not None and size >= 0:
            return size
    return None


def check_listings(
    digests: Iterable[str],
    stores: Sequence[BlobStore],
    *,
    sizes: Mapping[str, int | None] | None = None,
    referenced: Iterable[str] | None = None,
    findings: Mapping[str, LocationReport] | None = None,
) -> VerifyReport:
    """One listing per store: each digest present, missing, or listed with the wrong size.

    ``sizes``: the size each digest must have, None where the caller does not know
    it (then the primary's listing says it, ``expected_size``); without ``sizes``
    no size is compared (the bytes, when read, decide); ``referenced``: digests that are
    not orphans (default: ``digests``); ``findings``: the caller's own reports to
    fill, per location name (a subclass carrying more), else new ones. A store that
    cannot be listed is ``unavailable``; nothing else is checked there.
    """
    wanted = _unique(digests)
    referenced_set = set(wanted) if referenced is None else set(referenced)
    report = VerifyReport()
    for store in stores:
        found = (findings or {}).get(store.name) or LocationReport(store.name)
        report.locations[store.name] = found
        try:
            report.listings[store.name] = all_sizes(store)
        except PhotosyncError as error:
            found.unavailable = f"cannot be listed: {error}"
    primary = primary_name(stores)
    expected: dict[str, int | None] = dict.fromkeys(wanted)
    if sizes is not None:
        for digest in wanted:
            expected[digest] = expected_size(digest, sizes.get(digest), report.listings, primary)
    for name, listed in report.listings.items():
        found = report.locations[name]
        found.orphans = sorted(set(listed) - referenced_set)
        for digest in wanted:
            size = listed.get(digest)
            if size is None:
                found.missing.append(digest)
            elif (must := expected[digest]) is not None and size not in (must, -1):
                found.corrupt[digest] = f"size {size} bytes, expected {must}"
            else:
                found.present += 1
    return report


def plan_reads(
    report: VerifyReport,
    stores: Sequence[BlobStore],
    digests: Iterable[str],
    suspects: Mapping[str, Iterable[str]] | None = None,
) -> list[tuple[str, list[BlobStore]]]:
    """Per digest, the stores whose copy to re-read: the chosen digests plus each store's
    suspects, where its listing shows them and not already corrupt by size. A local store
    comes first: its copy is the one hashed, the others are compared with it
    (``readback.check_copies``)."""
    chosen = set(digests)
    per_digest: dict[str, list[BlobStore]] = {}
    for store in sorted(stores, key=lambda s: not s.local_files):
        listed = report.listings.get(store.name)
        if listed is None:
            continue
        found = report.locations[store.name]
        for digest in chosen | set((suspects or {}).get(store.name, ())):
            if digest in listed and digest not in found.corrupt:
                per_digest.setdefault(digest, []).append(store)
    return sorted(per_digest.items())


def read_back(
    report: VerifyReport,
    jobs: Iterable[tuple[str, Sequence[BlobStore]]],
    *,
    workers: int,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Re-read each digest's copies in the given stores, ``workers`` digests at a time, one
    SHA-256 each (``readback.check_copies``); a copy whose bytes do not match is corrupt,
    one that cannot be read an error (both stop being present). ``progress`` gets 1 per copy."""

    def check(job: tuple[str, Sequence[BlobStore]]) -> tuple[str, list[tuple[str, CopyCheck]]]:
        digest, where = job
        verdicts = check_copies(digest, where)
        return digest, [
            (store.name, verdict) for store, verdict in zip(where, verdicts, strict=True)
        ]

    for digest, verdicts in bounded_map(check, jobs, workers=workers, name="verify", ordered=False):
        for name, verdict in verdicts:
            found = report.locations[name]
            if verdict.error is not None:
                found.errors[digest] = verdict.error
            elif verdict.corrupt is not None:
                found.corrupt[digest] = verdict.corrupt
            found.read += 1
            if verdict.error is not None or verdict.corrupt is not None:
                found.present -= 1
        if progress is not None:
            progress(len(verdicts))


def verify_blobs(
    digests: Iterable[str],
    stores: Sequence[BlobStore],
    *,
    deep: bool = True,
    workers: int = 8,
    progress: Callable[[int], None] | None = None,
) -> VerifyReport:
    """Check each store holds each digest (one listing each); ``deep`` re-reads every
    copy too (``read_back``). ``verify`` runs the same steps with its own choices."""
    wanted = _unique(digests)
    report = check_listings(wanted, stores)
    if deep:
        read_back(report, plan_reads(report, stores, wanted), workers=workers, progress=progress)
    for found in report.locations.values():
        found.missing.sort()
    return report


def repair_blobs(
    verify_report: VerifyReport,
    stores: Sequence[BlobStore],
    *,
    workers: int = 4,
    tmp_dir: Path | None = None,
) -> RepairReport:
    """Restore missing and corrupt copies found by ``verify_blobs`` from verified good ones.

    A digest with no good copy anywhere is refused (reported), and nothing is
    touched for it.
    """
    by_name = {store.name: store for store in stores}
    bad: dict[str, list[BlobStore]] = {}
    corrupt: set[tuple[str, str]] = set()
    for name, found in verify_report.locations.items():
        store = by_name.get(name)
        if store is None:
            continue
        for digest in found.missing:
            bad.setdefault(digest, []).append(store)
        for digest in found.corrupt:
            bad.setdefault(digest, []).append(store)
            corrupt.add((name, digest))
    report = RepairReport()
    for store in stores:
        report.restored[store.name] = []
        report.quarantined[store.name] = []
        report.refused[store.name] = {}
    lock = threading.Lock()

    def fix(digest: str, broken: list[BlobStore]) -> None:
        good = [s for s in stores if s not in broken]
        try:
            with _good_local_copy(digest, good, tmp_dir) as path:
                for store in broken:
                    try:
                        moved = _restore(store, path, digest, (store.name, digest) in corrupt)
                    except PhotosyncError as error:
                        with lock:
                            report.refused[store.name][digest] = str(error)
                        continue
                    with lock:
                        report.restored[store.name].append(digest)
                        if moved:
                            report.quarantined[store.name].append(digest)
        except PhotosyncError as error:
            with lock:
                for store in broken:
                    report.refused[store.name][digest] = str(error)

    run_bounded(lambda job: fix(*job), bad.items(), workers=workers, name="blob-repair")
    return report


def _hash(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _restore(store: BlobStore, path: Path, digest: str, was_corrupt: bool) -> bool:
    """Put verified bytes back; True when a corrupt local file was moved to quarantine."""
    if not was_corrupt or not store.has(digest):
        store.put_file(path, digest)
        return False
    if store.replaces_corrupt:
        store.replace_corrupt(path, digest)
        return False
    if store.quarantines:
        store.quarantine(digest)
        store.put_file(path, digest)
        return True
    raise BlobError(
        f"{store.name} cannot replace a corrupt blob; fix {store.locator(digest)} by hand"
    )
