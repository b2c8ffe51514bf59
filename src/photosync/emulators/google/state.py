"""One emulated Google account: library items (app-created or not), albums, picker
sessions, OAuth clients and tokens, and the limits and switches tests turn.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

SCOPE_APPENDONLY = "https://www.googleapis.com/auth/photoslibrary.appendonly"
SCOPE_READ_APPCREATED = "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata"
SCOPE_EDIT_APPCREATED = "https://www.googleapis.com/auth/photoslibrary.edit.appcreateddata"
SCOPE_PICKER = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
REMOVED_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/photoslibrary",
        "https://www.googleapis.com/auth/photoslibrary.readonly",
        "https://www.googleapis.com/auth/photoslibrary.sharing",
    }
)
KNOWN_SCOPES = frozenset(
    {SCOPE_APPENDONLY, SCOPE_READ_APPCREATED, SCOPE_EDIT_APPCREATED, SCOPE_PICKER}
)
LIBRARY_WRITE = frozenset({SCOPE_APPENDONLY, SCOPE_EDIT_APPCREATED})
LIBRARY_READ = frozenset({SCOPE_READ_APPCREATED, SCOPE_EDIT_APPCREATED})

MAX_PHOTO_BYTES = 200 * 1024 * 1024
MAX_BATCH = 50
MAX_PAGE = 100
MAX_ALBUM_PAGE = 50
DEFAULT_PAGE = 25
USER = "user-1"


def now_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class StoredItem:
    id: str
    user: str
    filename: str
    mime_type: str
    data: bytes
    sha256: str
    description: str
    created: float
    app_created: bool = True

    def to_json(self, base_url: str) -> dict[str, Any]:
        kind = "video" if self.mime_type.startswith("video/") else "photo"
        meta: dict[str, Any] = {
            "creationTime": now_iso(self.created),
            "width": "48",
            "height": "36",
            kind: {},
        }
        return {
            "id": self.id,
            "description": self.description,
            "productUrl": f"https://photos.google.com/lr/photo/{self.id}",
            "baseUrl": base_url,
            "mimeType": self.mime_type,
            "filename": self.filename,
            "mediaMetadata": meta,
        }


@dataclass
class PickerSession:
    id: str
    user: str
    created: float
    picked: list[str] = field(default_factory=list)
    media_items_set: bool = False
    deleted: bool = False


@dataclass
class GoogleState:
    """Everything the emulator remembers; tests read and steer it directly."""

    clients: dict[str, str] = field(default_factory=lambda: {"test-client": "test-secret"})
    access_token_lifetime_s: float = 3600.0
    base_url_lifetime_s: float = 3600.0
    poll_interval_s: float = 0.05
    session_timeout_s: float = 600.0
    #: seconds batchCreate holds the per-user write lock (to make overlap observable)
    batch_create_hold_s: float = 0.0
    #: a fixed offset added to the clock, for tests that travel in time
    clock_offset_s: float = 0.0
    #: bytes (SHA-256 hex) batchCreate refuses item by item (status 13), the rest succeed
    refuse_sha256: set[str] = field(default_factory=set)
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    access_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    refresh_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, dict[str, Any]] = field(default_factory=dict)
    items: dict[str, StoredItem] = field(default_factory=dict)
    albums: dict[str, dict[str, Any]] = field(default_factory=dict)
    picker_library: dict[str, StoredItem] = field(default_factory=dict)
    sessions: dict[str, PickerSession] = field(default_factory=dict)
    media_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: the next N baseUrls handed out are already expired
    expire_next_base_urls: int = 0
    stats: dict[str, int] = field(
        default_factory=lambda: {
            "batch_create_calls": 0,
            "batch_create_max_items": 0,
            "batch_create_concurrent_rejections": 0,
            "uploads": 0,
            "dedup_hits": 0,
            "token_grants": 0,
            "refresh_grants": 0,
            "expired_token_rejections": 0,
            "downloads": 0,
            "expired_base_url_rejections": 0,
        }
    )

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.write_locks: dict[str, threading.Lock] = {}

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    # -- helpers for tests and the demo ------------------------------------

    def expire_access_tokens(self) -> None:
        with self.lock:
            for token in self.access_tokens.values():
                token["expires"] = self.now() - 1

    def add_library_item(
        self,
        data: bytes,
        filename: str,
        mime_type: str = "image/jpeg",
        *,
        app_created: bool = False,
    ) -> str:
        """A photo already in the user's library (not app-created unless said so)."""
        with self.lock:
            item = StoredItem(
                id=new_id("L"),
                user=USER,
                filename=filename,
                mime_type=mime_type,
                data=data,
                sha256=hashlib.sha256(data).hexdigest(),
                description="",
                created=self.now(),
                app_created=app_created,
            )
            self.items[item.id] = item
            self.picker_library[item.id] = item
            return item.id

    def pick(self, session_id: str, item_ids: list[str] | None = None) -> None:
        """The user picks items in the browser: ``mediaItemsSet`` flips to true."""
        with self.lock:
            session = self.sessions[session_id]
            session.picked = list(item_ids) if item_ids is not None else sorted(self.picker_library)
            session.media_items_set = True

    def app_items(self, user: str = USER) -> list[StoredItem]:
        with self.lock:
            return [i for i in self.items.values() if i.user == user and i.app_created]


def new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")
