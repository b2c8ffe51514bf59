"""The interface every photo service implements (local folder, Flickr, Google Photos).

A service is a *source* (it lists items and streams their bytes), a *target*
(it accepts uploads), or both. The workflow only talks to these classes, so a
new service is one module in ``services/`` plus a line in ``registry.py`` and it
must pass ``tests/services/conformance.py``.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.errors import ServiceError
from photosync.model import Instance, ObservedMetadata, Record, Visibility
from photosync.model.record import Location


@dataclass(frozen=True)
class VisibilityObservation:
    """A service's visibility for one item: the canonical level and the raw value."""

    level: Visibility
    raw: Any = None


@dataclass
class RemoteItem:
    """One photo or video as a service lists it."""

    #: stable id within the service (local: POSIX path relative to the root)
    instance_id: str
    #: changes whenever the bytes or the service's metadata change; an item whose
    #: version matches the last committed one is skipped by discover
    version: str
    filename: str
    size: int | None = None
    media_type: str | None = None  # "photo" | "video" | None when unknown
    observed: ObservedMetadata = field(default_factory=ObservedMetadata)
    visibility: VisibilityObservation | None = None
    url: str | None = None
    #: "original" when the bytes are the original upload; "derivative" otherwise
    quality: str = "original"
    #: False when the service will not hand out the original (record says so)
    original_available: bool = True
    #: a local file with the bytes, when the service is a folder (lets discover skip a copy)
    local_path: Path | None = None
    #: local files of the sidecars that came with it (a folder photo's XMP): their facts
    #: are read with the file's, and their bytes kept like originals (``sidecar_files``)
    sidecar_paths: tuple[Path, ...] = ()
    #: when the item was created on the service (file mtime for folders), for --since
    modified_at: datetime | None = None
    #: what ``modified_at`` is, as a date source when the file states no taken date:
    #: "file:mtime" (a file's modification time) or "service:upload" (an upload time)
    modified_at_source: str = "file:mtime"
    #: the service says it does not know when the photo was taken (Flickr's
    #: ``datetakenunknown``): ``modified_at`` is then no date for it, not even an estimate
    taken_unknown: bool = False
    #: service-specific fields kept verbatim in the record's instance
    extra: dict[str, Any] = field(default_factory=dict)
    #: problems the service noticed (malformed sidecar, ...), recorded on the photo
    problems: list[str] = field(default_factory=list)
    #: other ids the very same item gets elsewhere (a Takeout file listed without its
    #: sidecar is known by path): discover keeps one instance per item, not one per id
    aliases: tuple[str, ...] = ()
    #: other files of this very item whose bytes may differ (a Takeout photo in its year
    #: folder and, re-encoded, in an album folder): each a full item of its own whose
    #: ``extra["copy_of"]`` names this one. Discover stores every one; the best bytes
    #: take this item's id (``trade_files``), the others stay instances of their own
    copies: tuple[RemoteItem, ...] = ()
    #: the id this file takes when another of the item's files holds the item's id; an
    #: item with copies has a ``version`` that changes when any of its files does
    copy_id: str | None = None


def trade_files(item: RemoteItem, copy: RemoteItem) -> tuple[RemoteItem, RemoteItem]:
    """``item``'s identity on ``copy``'s (better) file; ``item``'s file becomes a copy.

    What names the item on the service (id, version, url, aliases) stays put; what
    describes a file (name, size, path, observed facts, extra) moves with the file,
    and the demoted file takes its own ``copy_id``.
    """
    assert item.copy_id is not None, "an item with copies names its own copy id"
    promoted = replace(
        copy,
        instance_id=item.instance_id,
        version=item.version,
        url=item.url,
        aliases=item.aliases,
        extra={key: value for key, value in copy.extra.items() if key != "copy_of"},
        copies=(),
    )
    demoted = replace(
        item,
        instance_id=item.copy_id,
        version=copy.version,
        url=None,
        aliases=(),
        extra={**item.extra, "copy_of": item.instance_id},
        copies=(),
    )
    return promoted, demoted


@dataclass
class UploadResult:
    instance_id: str
    url: str | None = None
    visibility: VisibilityObservation | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class ListingReport:
    """What a listing saw besides items: orphans, skipped names, warnings."""

    warnings: list[str] = field(default_factory=list)
    #: files the listing saw and does not archive (not a photo or video), each
    #: ``"path: why"``: never skipped in silence
    left_out: list[str] = field(default_factory=list)
    #: files an ``exclude`` pattern of the user kept out (counted, not named)
    excluded: int = 0
    #: the cursor to store once every item listed is committed
    next_cursor: str | None = None


class Service(ABC):  # noqa: B024 - a shared base; the abstract methods are in its two roles
    """Common part: a name from ``config/services.json`` and its settings."""

    type_name: str = ""
    can_read = False
    can_write = False
    #: items are fetched over the network (discover runs ``max_parallel_downloads``
    #: at once) rather than read from local files (``hash_workers``)
    over_network = False
    #: for a service discover cannot list (Google Photos): how its photos are read instead
    read_from_export: str | None = None
    #: the listing is an export made at some moment (a Takeout, a Flickr download), and two
    #: exports may be read in either order: a share one of them showed is kept when another
    #: shows the item narrower (the audit fails closed); a live listing is the truth now
    snapshot_listing = False

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        self.name = name
        self.settings = settings

    #: the service can say how widely it shows one of its items (``read_visibility``):
    #: ``audit --visibility-check`` asks it instead of trusting the record
    can_read_visibility = False

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and servers."""

    def read_visibility(self, instance_id: str) -> VisibilityObservation:
        """How widely the service shows this item now (``can_read_visibility``)."""
        raise NotImplementedError(f"{self.name} cannot say who sees a photo")


class SourceService(Service):
    can_read = True

    @abstractmethod
    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        """Every item (since ``since``/``cursor`` when given), streamed, never all in memory."""

    @abstractmethod
    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        """A stream of the item's bytes (the original when ``original_available``)."""

    def sidecar_files(
        self, item: RemoteItem
    ) -> list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]]:
        """(name, opener) of each sidecar file that came with the item (an XMP beside
        a folder photo, a Takeout JSON): discover keeps their bytes like originals."""
        del item
        return []


class UploadUncertain(ServiceError):
    """The reply to an upload was lost and ``find_existing`` cannot see it yet: it may
    have landed. Uploading again now could double the photo (see ``search_lag_s``)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, transient=True)


#: a photo to upload and how to open its bytes (opened when they go out)
UploadJob = tuple[Record, Callable[[], AbstractContextManager[BinaryIO]]]


class TargetService(Service):
    can_write = True
    #: the longest a finished upload can stay invisible to ``find_existing`` (a search
    #: index that lags): an upload whose reply was lost is only repeated once it has
    #: been absent for longer than this
    search_lag_s: float = 0.0

    def now(self) -> float:
        """Wall-clock seconds, from the service's clock (tests inject a fake one)."""
        return time.time()

    @property
    def place(self) -> str | None:
        """Where uploads land when that can change under the same name (a folder the
        user may point elsewhere); None for an account, which stays where it is. An
        upload journalled for one place says nothing of another."""
        return None

    @abstractmethod
    def find_existing(self, record: Record) -> UploadResult | None:
        """An earlier upload of this photo, so that a crash never duplicates it."""

    @abstractmethod
    def upload(self, record: Record, stream: BinaryIO, *, visibility: Visibility) -> UploadResult:
        """Upload the photo with exactly ``visibility``."""

    def policy_problem(self, record: Record, visibility: Visibility) -> str | None:
        """Why this service would refuse the photo at that visibility (e.g. a free
        account's limit on non-public photos), or None."""
        return None

    def max_visibility(self) -> Visibility:
        """The widest level this service can hold (Google Photos: private)."""
        return Visibility.PUBLIC

    #: the service can change a copy's caption, title, tags, date (``apply_metadata``):
    #: replicate pushes resolved decisions to it
    supports_metadata = False
    #: the service can change who sees its copies (``set_visibility``): replicate
    #: narrows (and, when approved, widens) them to the canonical level
    supports_visibility = False
    #: True when the service has albums that ``add_to_album`` can fill
    supports_albums = False
    #: ``upload`` may run on several threads at once (each upload idempotent on its
    #: own): replicate sends ``max_parallel_uploads`` at a time
    parallel_uploads = False
    #: more than 0: the service takes uploads in batches of this many (``upload_many``,
    #: Google's batchCreate), and replicate hands them over that way
    upload_batch_size = 0

    def upload_many(
        self, jobs: Sequence[UploadJob], *, visibility: Visibility, workers: int = 1
    ) -> list[UploadResult | Exception]:
        """Upload each job with exactly ``visibility`` (``upload_batch_size`` > 0), ``workers``
        byte uploads at a time; one answer per job, in order: what landed or why not."""
        raise NotImplementedError(f"{self.name} takes no batches of uploads")

    def apply_metadata(
        self,
        instance_id: str,
        *,
        caption: str | None = None,
        title: str | None = None,
        tags: list[str] | None = None,
        taken_date: str | None = None,
        location: Location | None = None,
    ) -> None:
        """Show these canonical values on the item (``supports_metadata``); a value
        left None is left as the service has it."""
        raise NotImplementedError(f"{self.name} cannot change a photo's metadata")

    def set_visibility(self, target: Record | str, level: Visibility) -> VisibilityObservation:
        """Show the item (an id, or every present copy of this record here) at exactly
        ``level`` (``supports_visibility``); returns what the service shows afterwards."""
        raise NotImplementedError(f"{self.name} cannot change who sees a photo")

    def album_copy(self, present: list[Instance]) -> Instance | None:
        """Which of the photo's copies here can go into an album (None: none can)."""
        return present[0] if present else None

    def add_to_album(self, title: str, instance_ids: list[str]) -> None:
        """Put these items into the album called ``title`` (created when missing).

        Adding an item that is already there must succeed quietly: a run killed
        after the call and before its commit repeats it.
        """
        raise NotImplementedError(f"{self.name} has no albums")
