"""Google Photos Picker API: fetch the items a person picks by hand.

What the Picker hands out is a *derivative*: location stripped, maybe
re-encoded. Items come back marked ``quality="derivative"`` and
``provenance="picker"`` with no location, so they can fill a gap but never
override Takeout metadata or count as the original.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

import requests

from photosync.credentials import CredentialStore
from photosync.errors import ItemUnavailable, PhotosyncError, ServiceError
from photosync.model import ObservedMetadata, Visibility
from photosync.services.base import ListingReport, RemoteItem, SourceService, VisibilityObservation
from photosync.services.google.api import GoogleApi, make_http
from photosync.services.google.auth import PICKER_SCOPES, GoogleAuth, GoogleEndpoints
from photosync.services.http import HttpClient

PAGE_SIZE = 100
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")
_SAFE_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class PickedItem:
    """One picked photo or video, downloaded (``path``) or not (``problem``)."""

    id: str
    filename: str
    mime_type: str
    media_type: str  # "photo" | "video"
    create_time: str | None = None
    width: int | None = None
    height: int | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    path: Path | None = None
    sha256: str | None = None
    size: int | None = None
    problem: str | None = None
    quality: str = "derivative"
    provenance: str = "picker"
    extra: dict[str, Any] = field(default_factory=dict)

    def to_remote_item(self) -> RemoteItem:
        """As a listing item: a derivative with no location and no original."""
        return RemoteItem(
            instance_id=self.id,
            version=self.sha256 or "not-downloaded",
            filename=self.filename,
            size=self.size,
            media_type=self.media_type,
            observed=ObservedMetadata(
                filename=self.filename,
                camera_make=self.camera_make,
                camera_model=self.camera_model,
            ),
            visibility=VisibilityObservation(Visibility.PRIVATE, raw="library"),
            quality="derivative",
            original_available=False,
            local_path=self.path,
            extra={"provenance": "picker", "create_time": self.create_time, **self.extra},
            problems=[self.problem] if self.problem else [],
        )


def parse_duration(value: Any, default: float) -> float:
    """Google's ``"5s"`` / ``"0.5s"`` durations."""
    if isinstance(value, str):
        found = _DURATION.match(value)
        if found:
            return float(found.group(1))
    return default


class GooglePicker:
    """Picker sessions for one account; settings as for ``GooglePhotosLibrary``."""

    def __init__(
        self,
        name: str,
        settings: dict[str, Any],
        *,
        store: CredentialStore | None = None,
        auth: GoogleAuth | None = None,
        http: HttpClient | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.endpoints = GoogleEndpoints.from_settings(settings)
        self.auth = auth or GoogleAuth.for_service(
            name, settings, scopes=PICKER_SCOPES, store=store
        )
        self.api = GoogleApi(self.auth, http or make_http(name, settings))
        self._sleep = sleep
        self._monotonic = monotonic

    def close(self) -> None:
        self.api.http.close()

    def pick(
        self, on_link: Callable[[str], None], *, timeout: float, dest_dir: Path
    ) -> list[PickedItem]:
        """Create a session, show its link, wait for the pick, download, delete the session."""
        base = self.endpoints.picker
        session = self.api.json("POST", f"{base}/sessions", json={})
        session_id = str(session.get("id") or "")
        if not session_id or not isinstance(session.get("pickerUri"), str):
            raise ServiceError(f"{self.name}: the Picker API returned no session")
        try:
            on_link(session["pickerUri"])
            self._wait_for_pick(session_id, session, timeout)
            return self._download_all(session_id, dest_dir)
        finally:
            # sessions expire on their own; a failed delete loses nothing
            with contextlib.suppress(PhotosyncError):
                self.api.json("DELETE", f"{base}/sessions/{session_id}")

    def _wait_for_pick(self, session_id: str, session: dict[str, Any], timeout: float) -> None:
        deadline = self._monotonic() + timeout
        while not session.get("mediaItemsSet"):
            polling = session.get("pollingConfig") or {}
            interval = parse_duration(polling.get("pollInterval"), 5.0)
            left = parse_duration(polling.get("timeoutIn"), timeout)
            now = self._monotonic()
            if now >= deadline or left <= 0:
                raise ServiceError(
                    f"{self.name}: nothing was picked before the picker session timed out",
                    hint="open the link, pick photos and press Done, then run again",
                )
            self._sleep(max(0.0, min(interval, deadline - now)))
            session = self.api.json("GET", f"{self.endpoints.picker}/sessions/{session_id}")

    def list_picked(self, session_id: str) -> list[dict[str, Any]]:
        url = f"{self.endpoints.picker}/mediaItems"
        items: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {"sessionId": session_id, "pageSize": PAGE_SIZE}
            if token:
                params["pageToken"] = token
            page = self.api.json("GET", url, params=params)
            items += [i for i in page.get("mediaItems") or [] if isinstance(i, dict)]
            token = page.get("nextPageToken")
            if not token:
                return items

    def _download_all(self, session_id: str, dest_dir: Path) -> list[PickedItem]:
        dest_dir.mkdir(parents=True, exist_ok=True)
        listed = self.list_picked(session_id)
        picked: list[PickedItem] = []
        for raw in listed:
            item = _picked(raw)
            base_url = (raw.get("mediaFile") or {}).get("baseUrl")
            for attempt in range(2):
                try:
                    if not isinstance(base_url, str):
                        raise ItemUnavailable("no baseUrl")
                    self._download(item, base_url, dest_dir)
                    item.problem = None
                    break
                except ItemUnavailable as exc:
                    item.problem = f"download failed: {exc}"
                    if attempt == 0:  # baseUrls expire after a while: ask for fresh ones
                        fresh = {i.get("id"): i for i in self.list_picked(session_id)}
                        base_url = ((fresh.get(item.id) or {}).get("mediaFile") or {}).get(
                            "baseUrl"
                        )
            picked.append(item)
        return picked

    def _download(self, item: PickedItem, base_url: str, dest_dir: Path) -> None:
        suffix = "=dv" if item.media_type == "video" else "=d"
        ext = Path(item.filename).suffix.lower()
        if not re.fullmatch(r"\.[a-z0-9]{1,5}", ext):
            ext = ""
        target = dest_dir / f"{_SAFE_ID.sub('_', item.id)}{ext}"

        def save(response: requests.Response) -> tuple[str, int]:
            digest = hashlib.sha256()
            size = 0
            with target.open("wb") as handle:
                for chunk in response.iter_content(1024 * 1024):
                    digest.update(chunk)
                    size += len(chunk)
                    handle.write(chunk)
            expected = response.headers.get("Content-Length")
            if expected is not None and int(expected) != size:
                raise requests.exceptions.ChunkedEncodingError("download cut short")
            return digest.hexdigest(), size

        item.sha256, item.size = self.api.call("GET", base_url + suffix, save, stream=True)
        item.path = target


def _picked(raw: dict[str, Any]) -> PickedItem:
    media_file = raw.get("mediaFile") or {}
    meta = media_file.get("mediaFileMetadata") or {}
    kind = "video" if raw.get("type") == "VIDEO" else "photo"

    def as_int(value: Any) -> int | None:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None

    create_time = raw.get("createTime")
    if isinstance(create_time, str):
        try:
            datetime.fromisoformat(create_time.replace("Z", "+00:00"))
        except ValueError:
            create_time = None
    return PickedItem(
        id=str(raw.get("id")),
        filename=str(media_file.get("filename") or raw.get("id")),
        mime_type=str(media_file.get("mimeType") or "application/octet-stream"),
        media_type=kind,
        create_time=create_time if isinstance(create_time, str) else None,
        width=as_int(meta.get("width")),
        height=as_int(meta.get("height")),
        camera_make=meta.get("cameraMake") if isinstance(meta.get("cameraMake"), str) else None,
        camera_model=meta.get("cameraModel") if isinstance(meta.get("cameraModel"), str) else None,
    )


def pick(
    picker: GooglePicker,
    on_link: Callable[[str], None],
    *,
    timeout: float,
    dest_dir: Path,
) -> list[PickedItem]:
    """``GooglePicker.pick`` as a function, for the CLI."""
    return picker.pick(on_link, timeout=timeout, dest_dir=dest_dir)


class PickedSource(SourceService):
    """Downloaded Picker items as a one-off source for discover (quality: derivative)."""

    type_name = "google-picker"
    over_network = True

    def __init__(self, name: str, items: list[PickedItem]) -> None:
        super().__init__(name, {})
        self.items = items

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        for item in self.items:
            if item.path is None:
                report.warnings.append(
                    f"picked item {item.filename} was not downloaded: {item.problem}"
                )
                continue
            yield item.to_remote_item()

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        assert item.local_path is not None
        return open(item.local_path, "rb")
