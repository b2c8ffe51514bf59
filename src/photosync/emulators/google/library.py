"""The Photos Library API: uploads, batchCreate (50 at most, one call at a time),
listing and search of app-created items only, albums.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from typing import Any

from photosync.emulators.google.plumbing import HandlerBase, Reply, google_error
from photosync.emulators.google.state import (
    LIBRARY_READ,
    LIBRARY_WRITE,
    MAX_ALBUM_PAGE,
    MAX_BATCH,
    MAX_PAGE,
    USER,
    StoredItem,
    new_id,
)


class LibraryRoutes(HandlerBase):
    """``/v1/...``: mediaItems, uploads and albums."""

    def _library(self, method: str, rest: str) -> None:
        if rest == "uploads" and method == "POST":
            self._upload()
        if rest == "mediaItems:batchCreate" and method == "POST":
            self._batch_create()
        if rest == "mediaItems" and method == "GET":
            self._bearer(LIBRARY_READ)
            self._page_items(self._visible(None), self._arg("pageSize"), self._arg("pageToken"))
        if rest == "mediaItems:search" and method == "POST":
            self._bearer(LIBRARY_READ)
            body = self._json()
            album = body.get("albumId")
            self._page_items(self._visible(album), body.get("pageSize"), body.get("pageToken"))
        if rest == "mediaItems:batchGet" and method == "GET":
            self._batch_get()
        if rest.startswith("mediaItems/") and method == "GET":
            token = self._bearer(LIBRARY_READ)
            item = self.state.items.get(rest[len("mediaItems/") :])
            if item is None or not item.app_created or item.user != token["user"]:
                raise google_error(404, "NOT_FOUND", "Requested entity was not found.")
            raise Reply(200, item.to_json(self._base_url(item)))
        if rest.startswith(("sharedAlbums", "albums/")) and (
            rest.startswith("sharedAlbums")
            or rest.endswith((":share", ":unshare", ":join", ":leave"))
        ):
            self._bearer(LIBRARY_READ | LIBRARY_WRITE)
            raise google_error(403, "PERMISSION_DENIED", "Sharing is no longer available to apps.")
        if rest == "albums" and method == "GET":
            self._list_albums()
        if rest == "albums" and method == "POST":
            self._create_album()
        if rest.startswith("albums/") and rest.endswith(":batchAddMediaItems") and method == "POST":
            self._album_add(rest[len("albums/") : -len(":batchAddMediaItems")])

    def _upload(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        if self.headers.get("X-Goog-Upload-Protocol") != "raw":
            raise google_error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Protocol must be raw")
        if not self.headers.get("Content-Type", "").startswith("application/octet-stream"):
            raise google_error(
                400, "INVALID_ARGUMENT", "Content-Type must be application/octet-stream"
            )
        mime = self.headers.get("X-Goog-Upload-Content-Type")
        if not mime or "/" not in mime:
            raise google_error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Content-Type is required")
        if self.headers.get("Content-Length") is None:
            raise google_error(411, "INVALID_ARGUMENT", "Content-Length is required")
        if not self._body:
            raise google_error(400, "INVALID_ARGUMENT", "empty upload")
        upload_token = "CAIS" + secrets.token_urlsafe(48)
        state = self.state
        with state.lock:
            state.uploads[upload_token] = {
                "user": token["user"],
                "data": self._body,
                "mime": mime,
                "expires": state.now() + 86400,
            }
            state.stats["uploads"] += 1
        raise Reply(200, upload_token, headers={"Content-Type": "text/plain"})

    def _batch_create(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        body = self._json()
        new_items = body.get("newMediaItems")
        if not isinstance(new_items, list) or not new_items:
            raise google_error(400, "INVALID_ARGUMENT", "newMediaItems is required")
        if len(new_items) > MAX_BATCH:
            raise google_error(
                400, "INVALID_ARGUMENT", f"Request must have at most {MAX_BATCH} newMediaItems."
            )
        state = self.state
        user = token["user"]
        with state.lock:
            lock = state.write_locks.setdefault(user, threading.Lock())
        if not lock.acquire(blocking=False):
            with state.lock:
                state.stats["batch_create_concurrent_rejections"] += 1
            raise google_error(
                429,
                "RESOURCE_EXHAUSTED",
                "Concurrent write request: one batchCreate at a time per user.",
            )
        try:
            if state.batch_create_hold_s:
                time.sleep(state.batch_create_hold_s)
            album_id = body.get("albumId")
            with state.lock:
                if album_id is not None:
                    album = state.albums.get(album_id)
                    if album is None or album["user"] != user:
                        raise google_error(400, "INVALID_ARGUMENT", "Invalid album id")
                state.stats["batch_create_calls"] += 1
                state.stats["batch_create_max_items"] = max(
                    state.stats["batch_create_max_items"], len(new_items)
                )
                results = [self._create_one(entry, user, album_id) for entry in new_items]
        finally:
            lock.release()
        raise Reply(200, {"newMediaItemResults": results})

    def _create_one(self, entry: Any, user: str, album_id: str | None) -> dict[str, Any]:
        state = self.state
        simple = entry.get("simpleMediaItem") if isinstance(entry, dict) else None
        upload_token = simple.get("uploadToken") if isinstance(simple, dict) else None
        result: dict[str, Any] = {"uploadToken": upload_token}
        upload = state.uploads.get(upload_token or "")
        if upload is None or upload["user"] != user or upload["expires"] <= state.now():
            result["status"] = {
                "code": 3,
                "message": "NOT_FOUND: upload token is invalid or expired",
            }
            return result
        description = entry.get("description", "")
        if not isinstance(description, str) or len(description) > 1000:
            result["status"] = {
                "code": 3,
                "message": "INVALID_ARGUMENT: description over 1000 characters",
            }
            return result
        filename = simple.get("fileName") if isinstance(simple, dict) else None
        if not isinstance(filename, str) or not filename or "/" in filename:
            result["status"] = {"code": 3, "message": "INVALID_ARGUMENT: fileName is required"}
            return result
        data = upload["data"]
        digest = hashlib.sha256(data).hexdigest()
        if digest in state.refuse_sha256:
            result["status"] = {"code": 13, "message": "INTERNAL: failed to create this item"}
            return result
        existing = next(
            (i for i in state.items.values() if i.user == user and i.sha256 == digest), None
        )
        if existing is not None:
            state.stats["dedup_hits"] += 1
            item = existing
            if not item.app_created:
                # Google keeps the library copy; the app still cannot read it
                state.uploads.pop(str(upload_token), None)
                result["status"] = {"message": "Success"}
                result["mediaItem"] = {"id": item.id, "filename": item.filename}
                return result
        else:
            item = StoredItem(
                id=new_id("A"),
                user=user,
                filename=filename,
                mime_type=upload["mime"],
                data=data,
                sha256=digest,
                description=description,
                created=state.now(),
            )
            state.items[item.id] = item
            # the Picker shows the whole library, photosync's own uploads included
            state.picker_library[item.id] = item
        if album_id is not None and item.id not in state.albums[album_id]["items"]:
            state.albums[album_id]["items"].append(item.id)
        state.uploads.pop(str(upload_token), None)  # an upload token makes one item, once
        result["status"] = {"message": "Success"}
        result["mediaItem"] = item.to_json(self._base_url(item))
        return result

    def _visible(self, album_id: Any) -> list[StoredItem]:
        state = self.state
        with state.lock:
            if album_id is not None:
                album = state.albums.get(str(album_id))
                if album is None:
                    raise google_error(400, "INVALID_ARGUMENT", "Invalid album id")
                return [state.items[i] for i in album["items"] if state.items[i].app_created]
            return sorted(
                (i for i in state.items.values() if i.app_created and i.user == USER),
                key=lambda i: (i.created, i.id),
            )

    def _page_items(self, items: list[StoredItem], raw_size: Any, raw_token: Any) -> None:
        size = self._page_size(raw_size, MAX_PAGE)
        start = 0
        if raw_token:
            try:
                start = int(base64.urlsafe_b64decode(str(raw_token).encode()).decode())
            except ValueError:
                raise google_error(400, "INVALID_ARGUMENT", "Invalid page token") from None
        chunk = items[start : start + size]
        reply: dict[str, Any] = {"mediaItems": [i.to_json(self._base_url(i)) for i in chunk]}
        if start + size < len(items):
            reply["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        if not chunk:
            reply = {}
        raise Reply(200, reply)

    def _batch_get(self) -> None:
        token = self._bearer(LIBRARY_READ)
        ids = self.query.get("mediaItemIds", [])
        if not ids:
            raise google_error(400, "INVALID_ARGUMENT", "mediaItemIds is required")
        if len(ids) > MAX_BATCH:
            raise google_error(400, "INVALID_ARGUMENT", f"at most {MAX_BATCH} mediaItemIds")
        results: list[dict[str, Any]] = []
        for item_id in ids:
            item = self.state.items.get(item_id)
            if item is None or not item.app_created or item.user != token["user"]:
                results.append({"status": {"code": 5, "message": "NOT_FOUND"}})
            else:
                results.append({"mediaItem": item.to_json(self._base_url(item))})
        raise Reply(200, {"mediaItemResults": results})

    def _list_albums(self) -> None:
        token = self._bearer(LIBRARY_READ)
        size = self._page_size(self._arg("pageSize"), MAX_ALBUM_PAGE)
        start = int(self._arg("pageToken") or 0)
        albums = sorted(
            (a for a in self.state.albums.values() if a["user"] == token["user"]),
            key=lambda a: str(a["id"]),
        )
        chunk = albums[start : start + size]
        reply: dict[str, Any] = {
            "albums": [
                {
                    "id": a["id"],
                    "title": a["title"],
                    "mediaItemsCount": str(len(a["items"])),
                    "isWriteable": True,
                }
                for a in chunk
            ]
        }
        if start + size < len(albums):
            reply["nextPageToken"] = str(start + size)
        raise Reply(200, reply)

    def _create_album(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        album = self._json().get("album")
        title = album.get("title") if isinstance(album, dict) else None
        if not isinstance(title, str) or not title or len(title) > 500:
            raise google_error(400, "INVALID_ARGUMENT", "album.title is required (max 500)")
        album_id = new_id("B")
        with self.state.lock:
            self.state.albums[album_id] = {
                "id": album_id,
                "title": title,
                "items": [],
                "user": token["user"],
            }
        raise Reply(
            200,
            {
                "id": album_id,
                "title": title,
                "productUrl": f"https://photos.google.com/lr/album/{album_id}",
                "isWriteable": True,
            },
        )

    def _album_add(self, album_id: str) -> None:
        token = self._bearer(LIBRARY_WRITE)
        ids = self._json().get("mediaItemIds")
        if not isinstance(ids, list) or not ids or len(ids) > MAX_BATCH:
            raise google_error(400, "INVALID_ARGUMENT", f"mediaItemIds: 1..{MAX_BATCH} ids")
        state = self.state
        with state.lock:
            album = state.albums.get(album_id)
            if album is None or album["user"] != token["user"]:
                raise google_error(
                    400, "INVALID_ARGUMENT", "Invalid album id (only app-created albums)"
                )
            for item_id in ids:
                item = state.items.get(item_id)
                if item is None or not item.app_created:
                    raise google_error(
                        400, "INVALID_ARGUMENT", "Invalid media item id (only app-created items)"
                    )
            if len(album["items"]) + len(ids) > 20000:
                raise google_error(400, "INVALID_ARGUMENT", "album is full (20,000 items)")
            for item_id in ids:
                if item_id not in album["items"]:
                    album["items"].append(item_id)
        raise Reply(200, {})
