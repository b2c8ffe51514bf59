"""Google Photos Library API as an upload target (private only, app-created items).

Idempotency across crashes, the choice explained: the API cannot delete, so a
duplicate upload is permanent. Every item photosync creates carries a marker
line ``photosync:sha256:<hex>`` at the end of its *description*. The file name
is left as the user's own, and the description is the only free-text field the
API returns when listing (the API lists only app-created items, so listing
them all is cheap and complete). ``find_existing`` lists app-created items once
per run and matches that marker. Between the raw upload and batchCreate the
upload token is kept in an intent journal (config dir, not the archive) so a
re-run reuses a token still valid instead of sending the bytes again; Google
also de-duplicates identical bytes, which makes a retried batchCreate safe.

batchCreate carries at most 50 items and runs one call at a time per account
(a process-wide lock per account and endpoint); the bytes before it go out
``workers`` at a time (``upload_many``). An upload token is used once: a
batchCreate retried after its reply was lost finds its tokens used up, and the
items they made are found by their marker instead of failing.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import quote

import requests

from photosync import durable
from photosync.credentials import CredentialStore, config_dir
from photosync.errors import (
    ChecksumMismatch,
    ItemRefused,
    PhotosyncError,
    ServiceError,
)
from photosync.model import Instance, Record, Visibility
from photosync.parallel import bounded_map
from photosync.services.base import TargetService, UploadJob, UploadResult, VisibilityObservation
from photosync.services.google.api import GoogleApi, make_http
from photosync.services.google.auth import LIBRARY_SCOPES, GoogleAuth, GoogleEndpoints
from photosync.services.http import HttpClient

MAX_BATCH = 50
PAGE_SIZE = 100
ALBUM_PAGE_SIZE = 50  # the Library API's maximum for albums.list
MAX_PHOTO_BYTES = 200 * 1024 * 1024
MAX_VIDEO_BYTES = 20 * 1024**3
MAX_DESCRIPTION = 1000
MARKER_PREFIX = "photosync:"
#: upload tokens live a day; reuse only clearly fresh ones
TOKEN_REUSE_S = 20 * 3600
CHUNK = 1024 * 1024

_BATCH_LOCKS: dict[str, threading.Lock] = {}
_BATCH_LOCKS_GUARD = threading.Lock()


def _batch_lock(key: str) -> threading.Lock:
    with _BATCH_LOCKS_GUARD:
        return _BATCH_LOCKS.setdefault(key, threading.Lock())


def marker_for(content_hash: str) -> str:
    return MARKER_PREFIX + content_hash


def description_for(record: Record) -> str:
    """The caption (cut to fit) and the marker on its own last line."""
    marker = marker_for(record["content_hash"])
    caption = (record.get("metadata") or {}).get("caption") or ""
    room = MAX_DESCRIPTION - len(marker) - 1
    caption = caption[:room].rstrip()
    return f"{caption}\n{marker}" if caption else marker


def marker_in(description: Any) -> str | None:
    """The content hash in a description's marker line, if any."""
    if not isinstance(description, str):
        return None
    last = description.rstrip().rpartition("\n")[2].strip()
    if last.startswith(MARKER_PREFIX + "sha256:") and len(last) == len(MARKER_PREFIX) + 71:
        return last[len(MARKER_PREFIX) :]
    return None


class _ReplayableBody:
    """A spooled upload body that requests can send again on every retry."""

    def __init__(self, spool: Any, size: int) -> None:
        self._spool = spool
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        self._spool.seek(0)
        while chunk := self._spool.read(CHUNK):
            yield chunk


class IntentJournal:
    """Upload tokens between the raw upload and batchCreate, keyed by content hash."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def _read(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, dict[str, Any]]) -> None:
        # an upload token lost to a power cut would upload the photo twice: fsynced
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps(data, sort_keys=True)
        durable.atomic_write(self.path, text.encode("utf-8"), mode=0o600, sync_dir=True)

    def token_for(self, content_hash: str) -> str | None:
        with self._lock:
            entry = self._read().get(content_hash)
        if entry and time.time() - float(entry.get("at", 0)) < TOKEN_REUSE_S:
            return str(entry["upload_token"])
        return None

    def remember(self, content_hash: str, token: str) -> None:
        with self._lock:
            data = self._read()
            data[content_hash] = {"upload_token": token, "at": time.time()}
            self._write(data)

    def forget(self, content_hashes: Sequence[str]) -> None:
        with self._lock:
            data = self._read()
            if any(h in data for h in content_hashes):
                for h in content_hashes:
                    data.pop(h, None)
                self._write(data)

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self._read())


class GooglePhotosLibrary(TargetService):
    """Uploads into the user's Google Photos library (always private).

    Settings: ``endpoints`` (see ``GoogleEndpoints``), ``client_id``,
    ``requests_per_hour``. Secrets come from the ``CredentialStore``.
    """

    type_name = "google-photos"
    #: replicate hands uploads over in batchCreate's batches (``upload_many``), their
    #: bytes ``max_parallel_uploads`` at a time
    parallel_uploads = True
    upload_batch_size = MAX_BATCH
    read_from_export = (
        "since 2025 Google's API lists only what photosync uploaded; your photos come from "
        "a Takeout (takeout.google.com, Google Photos only, .zip or .tgz): "
        "`photosync discover --service {name} --takeout takeout-001.zip takeout-002.zip`"
    )

    def __init__(
        self,
        name: str,
        settings: dict[str, Any],
        *,
        store: CredentialStore | None = None,
        auth: GoogleAuth | None = None,
        http: HttpClient | None = None,
        journal_dir: Path | None = None,
    ) -> None:
        super().__init__(name, settings)
        self.endpoints = GoogleEndpoints.from_settings(settings)
        self._store, self._auth, self._http = store, auth, http
        self.journal = IntentJournal(
            (journal_dir or config_dir() / "google-photos") / f"{_safe(name)}.intents.json"
        )
        self._index: dict[str, dict[str, Any]] | None = None
        self._albums_by_title: dict[str, str] | None = None
        self._albums_lock = threading.Lock()
        self._index_lock = threading.Lock()

    # credentials are looked up on first use, so that configuring the service
    # (photosync service add) works before `photosync auth google-photos`
    @cached_property
    def auth(self) -> GoogleAuth:
        return self._auth or GoogleAuth.for_service(
            self.name, self.settings, scopes=LIBRARY_SCOPES, store=self._store
        )

    @cached_property
    def api(self) -> GoogleApi:
        return GoogleApi(self.auth, self._http or make_http(self.name, self.settings))

    @property
    def _batch_key(self) -> str:
        return f"{self.endpoints.library}|{self.auth.client_id}|{self.name}"

    def close(self) -> None:
        if "api" in self.__dict__:
            self.api.http.close()

    def max_visibility(self) -> Visibility:
        return Visibility.PRIVATE

    # -- find_existing ------------------------------------------------------------

    def app_items(self) -> Iterator[dict[str, Any]]:
        """Every item this app created (the only ones the API shows since 2025)."""
        yield from self.api.pages(
            "GET", f"{self.endpoints.library}/mediaItems", "mediaItems", page_size=PAGE_SIZE
        )

    def _existing(self) -> dict[str, dict[str, Any]]:
        with self._index_lock:
            if self._index is None:
                index: dict[str, dict[str, Any]] = {}
                for item in self.app_items():
                    digest = marker_in(item.get("description"))
                    if digest is not None:
                        index.setdefault(digest, item)
                self._index = index
            return self._index

    def find_existing(self, record: Record) -> UploadResult | None:
        item = self._existing().get(record["content_hash"])
        return _result(item, record["content_hash"]) if item else None

    # -- upload ---------------------------------------------------------------------

    def upload(self, record: Record, stream: BinaryIO, *, visibility: Visibility) -> UploadResult:
        result = self.upload_batch([(record, stream)], visibility=visibility)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def upload_batch(
        self, batch: Sequence[tuple[Record, BinaryIO]], *, visibility: Visibility
    ) -> list[UploadResult | Exception]:
        """Upload many open streams, one after the other; see ``upload_many``."""
        jobs: list[UploadJob] = [(record, _opened(stream)) for record, stream in batch]
        return self.upload_many(jobs, visibility=visibility, workers=1)

    def upload_many(
        self, jobs: Sequence[UploadJob], *, visibility: Visibility, workers: int = 1
    ) -> list[UploadResult | Exception]:
        """Upload many: the bytes of ``workers`` photos at once, then one batchCreate per
        50 (one call at a time per account). Failures come back in place, not raised.

        Each job opens its own stream when its bytes go out, so no more than
        ``workers`` files are open at once.
        """
        if Visibility(visibility) is not Visibility.PRIVATE:
            raise ServiceError(
                f"{self.name}: Google Photos can only hold private photos; refusing "
                f"{Visibility(visibility).value}",
                hint="the workflow must cap visibility at max_visibility()",
            )
        results: list[UploadResult | Exception | None] = [None] * len(jobs)

        def send(index: int) -> tuple[int, str | Exception]:
            record, opener = jobs[index]
            try:
                with opener() as stream:
                    return index, self._upload_bytes(record, stream)
            except (PhotosyncError, OSError) as exc:
                return index, exc

        for start in range(0, len(jobs), MAX_BATCH):
            group = range(start, min(start + MAX_BATCH, len(jobs)))
            pending: list[tuple[int, Record, str, str]] = []  # index, record, token, name
            for index, token in bounded_map(send, group, workers=workers, name="google-bytes"):
                if isinstance(token, Exception):
                    results[index] = token
                    continue
                record = jobs[index][0]
                pending.append((index, record, token, _filename(record)))
            if pending:
                for index, outcome in self._create(pending):
                    results[index] = outcome
        return [r if r is not None else ServiceError("not attempted") for r in results]

    def _upload_bytes(self, record: Record, stream: BinaryIO) -> str:
        content_hash = record["content_hash"]
        reused = self.journal.token_for(content_hash)
        if reused is not None:
            return reused
        mime = _mime(record)
        limit = MAX_VIDEO_BYTES if mime.startswith("video/") else MAX_PHOTO_BYTES
        with tempfile.SpooledTemporaryFile(max_size=32 * CHUNK) as spool:
            digest = hashlib.sha256()
            size = 0
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
                if size > limit:
                    raise ItemRefused(
                        f"{_filename(record)} is larger than Google Photos takes "
                        f"({limit // 1024**2:,} MB for a {'video' if limit == MAX_VIDEO_BYTES else 'photo'})",
                        hint="It stays in the archive and on the other services; photosync "
                        "tries again only with `replicate --execute --retry-failed`.",
                    )
                spool.write(chunk)
            if f"sha256:{digest.hexdigest()}" != content_hash:
                raise ChecksumMismatch(
                    f"{record['photo_id']}: bytes to upload do not match {content_hash}"
                )
            token = self.api.call(
                "POST",
                f"{self.endpoints.library}/uploads",
                _text_body,
                data=_ReplayableBody(spool, size),
                headers={
                    "Content-Type": "application/octet-stream",
                    "X-Goog-Upload-Content-Type": mime,
                    "X-Goog-Upload-Protocol": "raw",
                    "X-Goog-Upload-File-Name": _header_safe(_filename(record)),
                },
            )
        self.journal.remember(content_hash, token)
        return token

    def _create(
        self, pending: list[tuple[int, Record, str, str]]
    ) -> list[tuple[int, UploadResult | PhotosyncError]]:
        body = {
            "newMediaItems": [
                {
                    "description": description_for(record),
                    "simpleMediaItem": {"uploadToken": token, "fileName": filename},
                }
                for _, record, token, filename in pending
            ]
        }
        with _batch_lock(self._batch_key):
            reply = self.api.json(
                "POST", f"{self.endpoints.library}/mediaItems:batchCreate", json=body
            )
        by_token: dict[str, dict[str, Any]] = {}
        for entry in reply.get("newMediaItemResults") or []:
            if isinstance(entry, dict) and isinstance(entry.get("uploadToken"), str):
                by_token[entry["uploadToken"]] = entry
        outcomes: list[tuple[int, UploadResult | PhotosyncError]] = []
        done: list[str] = []
        listed_again = False
        for index, record, token, _ in pending:
            entry = by_token.get(token, {})
            status = entry.get("status") or {}
            item = entry.get("mediaItem")
            if status.get("code") or not isinstance(item, dict) or not item.get("id"):
                message = status.get("message") or "no media item in the reply"
                if "upload token" in str(message).lower():
                    done.append(record["content_hash"])  # the next run uploads afresh
                    # a token is used once: a retried call (its first reply lost) finds it
                    # used up by the item it created, which the marker shows
                    found = self._created_before(record["content_hash"], listed_again)
                    listed_again = True
                    if found is not None:
                        outcomes.append((index, _result(found, record["content_hash"])))
                        continue
                outcomes.append(
                    (index, ServiceError(f"{record['photo_id']}: batchCreate: {message}"))
                )
                continue
            done.append(record["content_hash"])
            with self._index_lock:
                if self._index is not None:
                    self._index[record["content_hash"]] = item
            outcomes.append((index, _result(item, record["content_hash"])))
        self.journal.forget(done)
        return outcomes

    def _created_before(self, content_hash: str, listed_again: bool) -> dict[str, Any] | None:
        """The item a lost reply hid, found by its marker (the app's items listed
        afresh once per batchCreate)."""
        if not listed_again:
            with self._index_lock:
                self._index = None
        return self._existing().get(content_hash)

    # -- albums ---------------------------------------------------------------

    supports_albums = True

    def album_copy(self, present: list[Instance]) -> Instance | None:
        """Only items this app uploaded can join an album (a Takeout-known item cannot)."""
        return next(
            (c for c in present if (c.get("extra") or {}).get("uploaded_by") == "photosync"), None
        )

    def add_to_album(self, title: str, instance_ids: list[str]) -> None:
        """App-created albums by title (the API shows no others), filled 50 items a call."""
        if not instance_ids:
            return
        url = f"{self.endpoints.library}/albums"
        with self._albums_lock:
            if self._albums_by_title is None:
                self._albums_by_title = {}
                for album in self.api.pages("GET", url, "albums", page_size=ALBUM_PAGE_SIZE):
                    if isinstance(album, dict) and album.get("id"):
                        self._albums_by_title.setdefault(
                            str(album.get("title") or ""), str(album["id"])
                        )
            album_id = self._albums_by_title.get(title)
            if album_id is None:
                created = self.api.json("POST", url, json={"album": {"title": title}})
                if not created.get("id"):
                    raise ServiceError(f"{self.name}: albums.create answered without an id")
                album_id = self._albums_by_title[title] = str(created["id"])
        for start in range(0, len(instance_ids), MAX_BATCH):
            self.api.json(
                "POST",
                f"{url}/{album_id}:batchAddMediaItems",
                json={"mediaItemIds": instance_ids[start : start + MAX_BATCH]},
            )


def _opened(stream: BinaryIO) -> Callable[[], AbstractContextManager[BinaryIO]]:
    """An open stream as an ``UploadJob`` opener (the caller closes it)."""
    return lambda: nullcontext(stream)


def _result(item: dict[str, Any], content_hash: str) -> UploadResult:
    return UploadResult(
        instance_id=str(item["id"]),
        url=item.get("productUrl"),
        visibility=VisibilityObservation(Visibility.PRIVATE, raw="library"),
        extra={
            "filename": item.get("filename"),
            "mime_type": item.get("mimeType"),
            "marker": marker_for(content_hash),
        },
    )


def _text_body(response: requests.Response) -> str:
    token = response.text.strip()
    if not token or len(token) > 4096 or any(c.isspace() for c in token):
        raise ValueError("upload token missing or malformed")
    return token


def _filename(record: Record) -> str:
    name = (record.get("metadata") or {}).get("filename") or ""
    name = str(name).replace("/", "_").replace("\\", "_")
    name = "".join(ch for ch in name if ch.isprintable()).strip()
    if not name:
        ext = mimetypes.guess_extension(_mime(record)) or ""
        name = f"{record['photo_id']}{ext}"
    return name


def _header_safe(name: str) -> str:
    """HTTP headers carry Latin-1 at best: UTF-8 percent-encoded, as Google's upload
    protocol expects (batchCreate's JSON carries the readable name)."""
    return quote(name, safe=" !#$&'()+,;=@[]^_`{}~-.")


def _mime(record: Record) -> str:
    media = record.get("media") or {}
    mime = media.get("mime_type")
    if isinstance(mime, str) and "/" in mime:
        return mime
    filename = str((record.get("metadata") or {}).get("filename") or "")
    extra = {".heic": "image/heic", ".heif": "image/heif", ".dng": "image/x-adobe-dng"}
    guessed = extra.get(Path(filename).suffix.lower()) or mimetypes.guess_type(filename)[0]
    return guessed or "application/octet-stream"


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "google-photos"
