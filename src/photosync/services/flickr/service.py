"""Flickr as a source (listing, originals) and a target (idempotent uploads, visibility).

Settings (``config/services.json``)::

    {"type": "flickr", "target": false,
     "endpoints": {"rest": ..., "upload": ..., "replace": ..., "oauth": ...},
     "rate_limit": {"requests_per_hour": 3600}}

Optional tuning: ``per_page`` (500), ``window_pages`` (4000), ``cursor_margin_s``
(3600), ``async_threshold_bytes`` (50 MB), ``ticket_poll_s`` (2), ``ticket_timeout_s``
(1800), ``circuit_breaker`` (8), ``read_albums`` (true: a full listing also reads the
photosets, one call per set and 500 photos). Credentials come from ``CredentialStore`` under the
service's name (written by ``run_oauth_flow``).
"""

from __future__ import annotations

import tempfile
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any, BinaryIO
from urllib.parse import urlsplit

from photosync.blobstore.base import check_digest
from photosync.credentials import CredentialStore
from photosync.errors import AuthError, ConfigError, ItemRefused, ItemUnavailable, ServiceError
from photosync.model import Record, Visibility, date_precision, is_estimated_date
from photosync.model.record import Location, Metadata
from photosync.services.base import (
    ListingReport,
    RemoteItem,
    SourceService,
    TargetService,
    UploadResult,
    UploadUncertain,
    VisibilityObservation,
)
from photosync.services.flickr.client import FlickrApiError, FlickrClient, FlickrEndpoints
from photosync.services.flickr.mapping import (
    LISTING_EXTRAS,
    MACHINE_TAG,
    content_text,
    flags_for_visibility,
    flickr_date_from_iso,
    machine_tag_for,
    photopage_url,
    remote_item_from_listing,
    tags_argument,
    to_int,
    visibility_from_flags,
)
from photosync.services.http import (
    CircuitBreaker,
    Clock,
    HttpClient,
    SystemClock,
    TokenBucket,
    shared_bucket,
)

#: how long real Flickr's search may take to show a new upload, unless configured
DEFAULT_SEARCH_LAG_S = 600.0

_MIME = {
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "png": "image/png",
    "gif": "image/gif",
    "heic": "image/heic",
    "mp4": "video/mp4",
    "mov": "video/quicktime",
}


#: what to do when Flickr will not hand out originals (said with every such refusal)
FREE_ACCOUNT_HINT = (
    "Flickr gives originals only to the account's owner with downloads on (a Pro account for "
    "the API). Request 'Download your data' (flickr.com > Settings > Your Flickr data), then "
    "`photosync service add flickr-export --type flickr-export --path DIR-OF-ZIPS` and "
    "`photosync discover --service flickr-export`. photosync asks Flickr again only with "
    "`discover --retry-failed`."
)

#: Flickr upload error codes that refuse this one file for good, with what to do
REFUSED_UPLOAD_CODES = {
    4: "The file is empty in the archive's store: run `photosync verify --repair`.",
    5: "Flickr takes photos (JPEG, PNG, GIF, TIFF, HEIC, ...) and videos only; the file stays "
    "in the archive and on the other services. photosync tries again only with "
    "`replicate --execute --retry-failed`.",
    8: "The file is larger than Flickr accepts (200 MB for photos, 1 GB for videos); it stays "
    "in the archive and on the other services.",
}


class FlickrService(SourceService, TargetService):
    type_name = "flickr"
    over_network = True
    # declared capabilities (services.base): Flickr answers and changes all three
    can_read_visibility = True
    supports_metadata = True
    supports_visibility = True
    #: replicate sends ``max_parallel_uploads`` uploads at once: each is idempotent on
    #: its own (machine tag, ``find_existing`` after a lost reply), and all share one
    #: rate limiter per API key
    parallel_uploads = True

    def __init__(
        self,
        name: str,
        settings: dict[str, Any],
        *,
        credentials: dict[str, Any] | None = None,
        clock: Clock | None = None,
        http: HttpClient | None = None,
    ) -> None:
        super().__init__(name, settings)
        self.can_write = bool(settings.get("target", False))
        self.endpoints = FlickrEndpoints.from_settings(settings.get("endpoints"))
        rate = settings.get("rate_limit", {}).get("requests_per_hour", 3600)
        if not isinstance(rate, int | float) or rate <= 0:
            raise ConfigError(f"{name}: rate_limit.requests_per_hour must be a positive number")
        self.per_page = self._int_setting("per_page", 500, 1, 500)
        self.window_pages = self._int_setting("window_pages", 4000, 1, 10_000)
        self.cursor_margin_s = self._int_setting("cursor_margin_s", 3600, 0, 10**8)
        self.async_threshold = self._int_setting(
            "async_threshold_bytes", 50 * 1024 * 1024, 0, 2**40
        )
        self.ticket_poll_s = float(settings.get("ticket_poll_s", 2.0))
        self.ticket_timeout_s = float(settings.get("ticket_timeout_s", 1800.0))
        self._rate = float(rate)
        self._clock = clock
        self._breaker_threshold = self._int_setting("circuit_breaker", 8, 1, 10_000)
        self._sets_by_title: dict[str, str] | None = None
        self.read_albums = settings.get("read_albums", True) is not False
        self.search_lag_s = self._search_lag(settings.get("search_lag_s"))
        self._http = http
        self._credentials = credentials
        self._client: FlickrClient | None = None
        self._client_lock = threading.Lock()

    def _search_lag(self, value: Any) -> float:
        """How long Flickr's search may take to show a new upload (``search_lag_s``).

        Real Flickr's index lags by minutes at times: 600 s unless configured. The
        bundled emulator (a loopback endpoint) indexes at once unless told to lag,
        so there the default is 0.
        """
        if value is None:
            loopback = urlsplit(self.endpoints.rest).hostname in ("127.0.0.1", "localhost", "::1")
            return 0.0 if loopback else DEFAULT_SEARCH_LAG_S
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise ConfigError(f"{self.name}: search_lag_s must be a number of seconds (>= 0)")
        return float(value)

    def now(self) -> float:
        return (self._clock or SystemClock()).time()

    def _int_setting(self, key: str, default: int, low: int, high: int) -> int:
        value = self.settings.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise ConfigError(f"{self.name}: {key} must be an integer in [{low}, {high}]")
        return value

    @property
    def client(self) -> FlickrClient:
        """Built on first use, so that a service can be configured before it is authorised."""
        with self._client_lock:  # parallel uploads share one client
            return self._make_client()

    def _make_client(self) -> FlickrClient:
        if self._client is None:
            creds = self._credentials or CredentialStore().get(self.name)
            if not creds or not creds.get("api_key") or not creds.get("oauth_token"):
                raise AuthError(
                    f"{self.name}: no Flickr credentials stored",
                    hint=f"run `photosync auth {self.name}` first",
                )
            if self.can_write and creds.get("perms") == "read":
                raise AuthError(
                    f"{self.name}: is a target but the stored token only has 'read' permission",
                    hint=f"run `photosync auth {self.name}` again to grant 'write'",
                )
            http = self._http
            if http is None:
                limiter: TokenBucket = (
                    TokenBucket(self._rate, clock=self._clock)
                    if self._clock is not None
                    else shared_bucket(f"flickr:{creds['api_key']}", self._rate)
                )
                http = HttpClient(
                    self.name,
                    limiter=limiter,
                    breaker=CircuitBreaker(self.name, self._breaker_threshold),
                    clock=self._clock,
                )
            self._http = http
            self._client = FlickrClient(
                creds["api_key"],
                creds["api_secret"],
                creds["oauth_token"],
                creds["oauth_token_secret"],
                endpoints=self.endpoints,
                http=http,
            )
        return self._client

    @property
    def http(self) -> HttpClient:
        return self.client.http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()

    def check_login(self) -> dict[str, Any]:
        """``flickr.test.login``: who the stored token belongs to."""
        return dict(self.client.call("flickr.test.login").get("user", {}))

    # -- listing --------------------------------------------------------------

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        with self._readable("listing"):
            if since is not None:
                # a window is "changed since" (uploads and edits alike), like a cursor
                yield from self._updated_since(max(1, int(since.timestamp())), report)
            elif cursor is not None:
                yield from self._incremental(cursor, report)
            else:
                yield from self._full(None, report)

    @contextmanager
    def _readable(self, what: str) -> Iterator[None]:
        """An answer of the wrong shape (a list for an object, a missing field) is a
        service error with a message, never a crash in the middle of a run."""
        try:
            yield
        except (KeyError, IndexError, TypeError, AttributeError, ValueError) as error:
            raise ServiceError(
                f"{self.name}: Flickr sent an answer photosync cannot read ({what}: "
                f"{type(error).__name__}: {str(error)[:200]})",
                transient=True,
            ) from error

    def _get_photos(self, page: int, low: int | None, high: int | None) -> dict[str, Any]:
        data = self.client.call(
            "flickr.people.getPhotos",
            user_id="me",
            extras=LISTING_EXTRAS,
            per_page=self.per_page,
            page=page,
            min_upload_date=low,
            max_upload_date=high,
        )
        photos = data.get("photos")
        if not isinstance(photos, dict):
            raise ServiceError(f"{self.name}: people.getPhotos answered without a photo list")
        return photos

    def _full(self, since: datetime | None, report: ListingReport) -> Iterator[RemoteItem]:
        low = int(since.timestamp()) if since is not None else None
        seen: set[str] = set()
        newest_update = 0
        first = self._get_photos(1, low, None)
        total = to_int(first.get("total"), 0) or 0
        pages = to_int(first.get("pages"), 0) or 0
        photos = _photo_list(first)
        # Freeze the listing at the newest upload seen, so new uploads during a long
        # listing cannot shift later pages (they are found by the next run).
        high = max((to_int(p.get("dateupload"), 0) or 0 for p in photos), default=None)
        if pages > self.window_pages and high is not None:
            report.warnings.append(
                f"{self.name}: {total} photos need {pages} pages; listing by upload-date windows"
            )
            chunks: Iterator[list[dict[str, Any]]] = self._windows(low or 0, high, report)
        else:
            chunks = self._pages(photos, pages, low, high)
        albums = self._albums_by_photo(report) if self.read_albums else None
        for chunk in chunks:
            for photo in chunk:
                item = self._item(photo, seen)
                if item is not None:
                    if albums is not None:
                        item.observed.albums = albums.get(item.instance_id, [])
                    newest_update = max(newest_update, item.extra.get("lastupdate", 0))
                    yield item
        if len(seen) < total:
            report.warnings.append(
                f"{self.name}: Flickr reported {total} photos but listed only {len(seen)}; "
                "the missing ones will be looked for on the next run"
            )
        if newest_update:
            report.next_cursor = str(newest_update)

    def _pages(
        self, first: list[dict[str, Any]], pages: int, low: int | None, high: int | None
    ) -> Iterator[list[dict[str, Any]]]:
        yield first
        for page in range(2, min(pages, self.window_pages) + 1):
            yield _photo_list(self._get_photos(page, low, high))

    def _windows(
        self, low: int, high: int, report: ListingReport
    ) -> Iterator[list[dict[str, Any]]]:
        """Split [low, high] by upload date until each window fits in ``window_pages`` pages."""
        stack = [(low, high)]
        while stack:
            lo, hi = stack.pop()
            first = self._get_photos(1, lo, hi)
            pages = to_int(first.get("pages"), 0) or 0
            if pages > self.window_pages and hi > lo:
                middle = (lo + hi) // 2
                stack.append((lo, middle))  # popped last: newest window first
                stack.append((middle + 1, hi))
                continue
            if pages > self.window_pages:
                report.warnings.append(
                    f"{self.name}: more than {self.window_pages} pages uploaded in one second "
                    f"({lo}); some may be missed"
                )
            yield from self._pages(_photo_list(first), pages, lo, hi)

    def _incremental(self, cursor: str, report: ListingReport) -> Iterator[RemoteItem]:
        stamp = to_int(cursor)
        if stamp is None:
            raise ServiceError(
                f"{self.name}: stored cursor {cursor!r} is not a Flickr timestamp; run a full scan"
            )
        yield from self._updated_since(max(1, stamp - self.cursor_margin_s), report, stamp)

    def _updated_since(
        self, min_date: int, report: ListingReport, newest: int = 0
    ) -> Iterator[RemoteItem]:
        """``flickr.photos.recentlyUpdated``: every photo uploaded or changed since then."""
        seen: set[str] = set()
        page, pages = 1, 1
        while page <= pages:
            data = self.client.call(
                "flickr.photos.recentlyUpdated",
                min_date=min_date,
                extras=LISTING_EXTRAS,
                per_page=self.per_page,
                page=page,
            ).get("photos", {})
            pages = to_int(data.get("pages"), 0) or 0
            for photo in _photo_list(data):
                item = self._item(photo, seen)
                if item is not None:
                    newest = max(newest, item.extra.get("lastupdate", 0))
                    yield item
            page += 1
        report.next_cursor = str(newest)

    def _item(self, photo: dict[str, Any], seen: set[str]) -> RemoteItem | None:
        if not isinstance(photo, dict) or not _is_photo_id(photo.get("id")):
            return None  # not a photo (a mangled answer): the listing's total tells the user
        photo_id = str(photo["id"])
        if photo_id in seen:
            return None
        seen.add(photo_id)
        item = remote_item_from_listing(photo)
        if not item.original_available:
            item.problems.append(
                "Flickr does not hand out the original of this item (free account "
                "or download disabled); use the 'Download your data' export"
            )
        return item

    # -- originals -------------------------------------------------------------

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        return self._open(item)

    @contextmanager
    def _open(self, item: RemoteItem) -> Iterator[BinaryIO]:
        if not item.original_available:
            raise ItemRefused(
                "Flickr does not hand out the original (a free account, or downloads disabled)",
                hint=FREE_ACCOUNT_HINT,
            )
        url = item.extra.get("url_o") if item.media_type != "video" else None
        stream: BinaryIO | None = None
        if url:
            try:
                stream = self.client.fetch(url)
            except ItemUnavailable:
                stream = None  # replaced since listing: ask getSizes for the current URL
        if stream is None:
            with self._readable(f"sizes of {item.instance_id}"):
                source = self._original_url(item.instance_id, video=item.media_type == "video")
            stream = self.client.fetch(source)
        with stream:
            yield stream

    def _original_url(self, photo_id: str, *, video: bool = False) -> str:
        try:
            sizes = self.client.call("flickr.photos.getSizes", photo_id=photo_id).get("sizes", {})
        except FlickrApiError as error:
            raise ItemUnavailable(f"{self.name}: {photo_id}: {error}") from None
        by_label = {
            content_text(s.get("label")): s for s in sizes.get("size", []) if isinstance(s, dict)
        }
        if video and "Video Original" not in by_label:
            # "Original" of a video is its poster frame: never record that as the original
            raise ItemUnavailable(
                f"{self.name}: Flickr offers no video original for {photo_id} (yet); it is tried again next run"
            )
        for label in ("Video Original", "Original"):
            if label == "Video Original" and label not in by_label:
                continue
            size = by_label.get(label)
            if size and size.get("source"):
                return str(size["source"])
        raise ItemRefused(
            "Flickr does not hand out the original (a free account, or downloads disabled)",
            hint=FREE_ACCOUNT_HINT,
        )

    # -- target ---------------------------------------------------------------

    def _require_target(self) -> None:
        if not self.can_write:
            raise ConfigError(f'{self.name} is not configured as a target ("target": true)')

    def find_existing(self, record: Record) -> UploadResult | None:
        with self._readable("looking for an earlier upload"):
            return self._find_existing(record)

    def _find_existing(self, record: Record) -> UploadResult | None:
        tag = machine_tag_for(check_digest(record["content_hash"]))
        data = self.client.call(
            "flickr.photos.search",
            user_id="me",
            machine_tags=tag,
            extras="machine_tags,last_update,original_format",
            per_page=10,
        )
        photos = [
            p for p in _photo_list(data.get("photos", {})) if isinstance(p, dict) and "id" in p
        ]
        if not photos:
            return None
        photo = min(photos, key=lambda p: int(str(p["id"])))
        return UploadResult(
            instance_id=str(photo["id"]),
            url=photopage_url(photo),
            visibility=visibility_from_flags(
                photo.get("ispublic"), photo.get("isfriend"), photo.get("isfamily")
            ),
            extra={"machine_tag": tag, "found_by": "machine_tag", "duplicates": len(photos) - 1},
        )

    def upload(self, record: Record, stream: BinaryIO, *, visibility: Visibility) -> UploadResult:
        self._require_target()
        level = Visibility(visibility)
        flags = flags_for_visibility(level)
        tag = machine_tag_for(check_digest(record["content_hash"]))
        metadata = record.get("metadata", {})
        filename = metadata.get("filename") or f"{record.get('photo_id', 'photo')}"
        title = metadata.get("title") or filename.rsplit(".", 1)[0]
        tags = [t for t in metadata.get("tags") or [] if isinstance(t, str)]
        media = record.get("media", {})
        is_video = media.get("kind") == "video"
        use_async = is_video or (media.get("size") or 0) > self.async_threshold
        fields = {
            "title": title,
            "description": metadata.get("caption") or "",
            "tags": tags_argument([*tags, tag]),
            "is_public": str(flags[0]),
            "is_friend": str(flags[1]),
            "is_family": str(flags[2]),
            "hidden": "1" if level is Visibility.PUBLIC else "2",
            "safety_level": "1",
            "content_type": "1",
        }
        if use_async:
            fields["async"] = "1"
        ext = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
        mime = media.get("mime_type") or _MIME.get(ext, "application/octet-stream")
        seekable = _seekable(stream)
        attempts = 3
        try:
            for attempt in range(1, attempts + 1):
                try:
                    seekable.seek(0)
                    root = self.client.upload(fields, (filename, seekable, mime))
                    break
                except FlickrApiError as error:
                    if error.code in REFUSED_UPLOAD_CODES:
                        raise ItemRefused(
                            f"Flickr refused the file: {error.flickr_message} (code {error.code})",
                            hint=REFUSED_UPLOAD_CODES[error.code],
                        ) from None
                    raise
                except ServiceError as error:
                    if not error.transient or attempt == attempts:
                        raise
                    # the upload may have landed although the reply was lost
                    existing = self.find_existing(record)
                    if existing is not None:
                        existing.visibility = self._enforce_visibility(existing.instance_id, flags)
                        return existing
                    if self.search_lag_s > 0:
                        # absent from a search that lags proves nothing: uploading again
                        # now could double the photo; the workflow asks again later
                        raise UploadUncertain(
                            f"{self.name}: the reply to an upload was lost ({error}); it may "
                            f"have landed (Flickr's search can lag {self.search_lag_s:.0f} s)"
                        ) from error
                    self.http.clock.sleep(self.http.retry.backoff(attempt, self.http.rng))
        finally:
            if seekable is not stream:
                seekable.close()
        photo_id = self._upload_result_id(root)
        observed = self._enforce_visibility(photo_id, flags)
        extra: dict[str, Any] = {"machine_tag": tag, "async": use_async}
        if _date_not_in_file(metadata):
            # Flickr dates a photo from its EXIF, else from the upload: a date that came
            # from a sidecar or a service has to be set explicitly
            try:
                self.apply_metadata(photo_id, taken_date=_stated_precision(metadata))
            except ServiceError as error:  # the photo is up; a later discover of it shows the gap
                extra["dates_not_set"] = str(error)[:200]
        return UploadResult(
            instance_id=photo_id,
            url=f"https://www.flickr.com/photos/me/{photo_id}/",
            visibility=observed,
            extra=extra,
        )

    def _upload_result_id(self, root: Any) -> str:
        photo_id = (root.findtext("photoid") or "").strip()
        if photo_id:
            return photo_id
        ticket = (root.findtext("ticketid") or "").strip()
        if not ticket:
            raise ServiceError(f"{self.name}: upload reply had neither photoid nor ticketid")
        return self._wait_for_ticket(ticket)

    def _wait_for_ticket(self, ticket: str) -> str:
        clock = self.http.clock
        deadline = clock.monotonic() + self.ticket_timeout_s
        while True:
            data = self.client.call("flickr.photos.upload.checkTickets", tickets=ticket)
            entries = data.get("uploader", {}).get("ticket", [])
            entry = next((t for t in entries if str(t.get("id")) == ticket), None)
            if entry is None or to_int(entry.get("invalid"), 0):
                raise ServiceError(f"{self.name}: Flickr does not know upload ticket {ticket}")
            complete = to_int(entry.get("complete"), 0)
            if complete == 1 and entry.get("photoid"):
                return str(entry["photoid"])
            if complete == 2:
                raise ServiceError(
                    f"{self.name}: Flickr could not process the upload (ticket {ticket})"
                )
            if clock.monotonic() >= deadline:
                raise ServiceError(
                    f"{self.name}: upload ticket {ticket} still pending after {self.ticket_timeout_s:.0f} s",
                    transient=True,
                )
            clock.sleep(self.ticket_poll_s)

    def read_visibility(self, instance_id: str) -> VisibilityObservation:
        """What Flickr really shows (getInfo), not what a reply said it would."""
        info = self.client.call("flickr.photos.getInfo", photo_id=instance_id).get("photo", {})
        seen = info.get("visibility", {})
        return visibility_from_flags(
            seen.get("ispublic"), seen.get("isfriend"), seen.get("isfamily")
        )

    def _enforce_visibility(
        self, photo_id: str, flags: tuple[int, int, int]
    ) -> VisibilityObservation:
        """Read the privacy back; if Flickr applied anything else, set it explicitly."""
        observed = self.read_visibility(photo_id)
        raw = observed.raw or {}
        if (raw.get("is_public"), raw.get("is_friend"), raw.get("is_family")) != flags:
            return self.set_visibility(photo_id, visibility_from_flags(*flags).level)
        return observed

    def set_visibility(
        self, target: Record | str, level: Visibility | str
    ) -> VisibilityObservation:
        """Set all three flags, always: an omitted one would mean the account default.

        Returns what Flickr shows afterwards (read back; the widest when several copies).

        ``target`` is a Flickr photo id, or a record (every present instance of
        this service in it is set), which is how the replicate workflow calls it.
        """
        self._require_target()
        if isinstance(target, str):
            photo_ids = [target]
        else:
            photo_ids = [
                str(i["id"])
                for i in target.get("instances", {}).get(self.name, [])
                if i.get("status", "present") == "present"
            ]
            if not photo_ids:
                raise ServiceError(f"{self.name}: the record has no instance on this service")
        flags = flags_for_visibility(level)
        shown: list[VisibilityObservation] = []
        for photo_id in photo_ids:
            self.client.call(
                "flickr.photos.setPerms",
                write=True,
                photo_id=photo_id,
                is_public=flags[0],
                is_friend=flags[1],
                is_family=flags[2],
            )
            # a reply of "ok" is not proof: read back what Flickr shows now
            shown.append(self.read_visibility(photo_id))
        return max(shown, key=lambda seen: seen.level.rank)

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
        """Push canonical metadata; machine tags already on the photo are kept."""
        self._require_target()
        if caption is not None or title is not None:
            self.client.call(
                "flickr.photos.setMeta",
                write=True,
                photo_id=instance_id,
                title=title,
                description=caption,
            )
        if tags is not None:
            info = self.client.call("flickr.photos.getInfo", photo_id=instance_id).get("photo", {})
            machine = [
                content_text(t.get("raw"))
                for t in info.get("tags", {}).get("tag", [])
                if isinstance(t, dict) and MACHINE_TAG.match(content_text(t.get("raw")))
            ]
            self.client.call(
                "flickr.photos.setTags",
                write=True,
                photo_id=instance_id,
                tags=tags_argument([*tags, *machine]),
            )
        if taken_date is not None:
            try:
                flickr_date, granularity = flickr_date_from_iso(taken_date)
            except ValueError as error:
                raise ServiceError(f"{self.name}: {error}") from None
            self.client.call(
                "flickr.photos.setDates",
                write=True,
                photo_id=instance_id,
                date_taken=flickr_date,
                date_taken_granularity=granularity,
            )
        if location is not None:
            self.client.call(
                "flickr.photos.geo.setLocation",
                write=True,
                photo_id=instance_id,
                lat=f"{location['lat']:.6f}",
                lon=f"{location['lng']:.6f}",
            )

    # -- albums ---------------------------------------------------------------

    supports_albums = True

    def add_to_album(self, title: str, instance_ids: list[str]) -> None:
        """Photosets by title: created with the first photo as cover, then filled."""
        if not instance_ids:
            return
        with self._readable("albums"):
            if self._sets_by_title is None:
                listed = self.client.call("flickr.photosets.getList")
                sets = _photo_list({"photo": listed.get("photosets", {}).get("photoset", [])})
                self._sets_by_title = {}
                for photoset in sets:
                    self._sets_by_title.setdefault(
                        content_text(photoset.get("title")), str(photoset["id"])
                    )
            set_id = self._sets_by_title.get(title)
            remaining = list(instance_ids)
            if set_id is None:
                created = self.client.call(
                    "flickr.photosets.create",
                    write=True,
                    title=title,
                    primary_photo_id=remaining[0],
                )
                set_id = str(created["photoset"]["id"])
                self._sets_by_title[title] = set_id
                remaining = remaining[1:]
            for photo_id in remaining:
                try:
                    self.client.call(
                        "flickr.photosets.addPhoto",
                        write=True,
                        photoset_id=set_id,
                        photo_id=photo_id,
                    )
                except FlickrApiError as error:
                    if (
                        error.code != 3
                    ):  # 3: already in the set, from a run killed before its commit
                        raise

    def _albums_by_photo(self, report: ListingReport) -> dict[str, list[str]] | None:
        """Photo id -> titles of its photosets, read once per full listing.

        Incremental runs do not re-read albums (recentlyUpdated does not report
        membership); the last full listing's answer stays on the instance.
        """
        titles: dict[str, list[str]] = {}
        try:
            for album in self.list_albums():
                for photo_id in album["photo_ids"]:
                    if album["title"]:
                        titles.setdefault(photo_id, []).append(album["title"])
        except FlickrApiError as error:
            report.warnings.append(f"{self.name}: albums not read ({error})")
            return None
        return titles

    def list_albums(self) -> Iterator[dict[str, Any]]:
        """Each photoset with its photo ids (for album-aware workflows)."""
        sets = self.client.call("flickr.photosets.getList").get("photosets", {}).get("photoset", [])
        for photoset in sets:
            ids: list[str] = []
            page, pages = 1, 1
            while page <= pages:
                data = self.client.call(
                    "flickr.photosets.getPhotos",
                    photoset_id=photoset["id"],
                    user_id="me",
                    per_page=500,
                    page=page,
                ).get("photoset", {})
                pages = to_int(data.get("pages"), 0) or 0
                ids.extend(str(p["id"]) for p in _photo_list(data))
                page += 1
            yield {
                "id": str(photoset["id"]),
                "title": content_text(photoset.get("title")),
                "description": content_text(photoset.get("description")),
                "photo_ids": ids,
            }


def _stated_precision(metadata: Metadata) -> str:
    """The date as precise as its source said it: a month or a year Flickr stated
    (``flickr:datetaken(month)``, kept as its first day) goes back as ``YYYY-MM`` /
    ``YYYY`` (Flickr's granularity 4 / 6; circa goes as its year), never as a day."""
    taken = str(metadata["taken_date"])
    precision = date_precision(metadata.get("taken_date_source"))
    if precision == "month":
        return taken[:7]
    if precision in ("year", "circa"):
        return taken[:4]
    return taken


def _date_not_in_file(metadata: Metadata) -> bool:
    source = str(metadata.get("taken_date_source") or "")
    return (
        bool(metadata.get("taken_date"))
        and not source.startswith("exif:")
        and not is_estimated_date(source)
    )


def _photo_list(container: Any) -> list[dict[str, Any]]:
    photos = container.get("photo", []) if isinstance(container, dict) else []
    if isinstance(photos, dict):  # a single element may come back unwrapped
        photos = [photos]
    return [p for p in photos if isinstance(p, dict)] if isinstance(photos, list) else []


def _seekable(stream: BinaryIO) -> BinaryIO:
    """Uploads may need a second attempt, so the bytes must be re-readable."""
    try:
        if stream.seekable():
            stream.seek(0)
            return stream
    except (AttributeError, OSError):
        pass
    spool = tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024)  # noqa: SIM115 - caller's lifetime
    while chunk := stream.read(1024 * 1024):
        spool.write(chunk)
    spool.seek(0)
    return spool  # type: ignore[return-value]


def _is_photo_id(value: Any) -> bool:
    """Flickr photo ids are decimal numbers; anything else must never become an instance."""
    return (
        isinstance(value, str | int)
        and not isinstance(value, bool)
        and str(value).isdigit()
        and len(str(value)) <= 24
    )
