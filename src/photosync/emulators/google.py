"""Google OAuth 2.0, Photos Library API and Picker API emulators on 127.0.0.1.

One threaded HTTP server speaks all three protocols as Google documents them
(see /work/shared/reference/google-photos.md), so that the connector, the tests
and a user's rehearsal run exercise real HTTP, real OAuth (PKCE S256 verified)
and the API's real limits: batchCreate takes at most 50 items and one call at a
time per user, pages hold at most 100 items, only app-created items are
visible, identical bytes are de-duplicated, an upload token makes one item
once (then it is invalid), tokens expire, Picker baseUrls expire and hand out
location-stripped re-encodes. Faults come from ``FaultPlan``.

Paths (relative to ``server.url``):

* ``/o/oauth2/auth`` (auto-approves, 302 to the loopback redirect_uri), ``/token``
* Library: ``/v1/uploads``, ``/v1/mediaItems``, ``/v1/mediaItems:batchCreate``,
  ``/v1/mediaItems:search``, ``/v1/mediaItems:batchGet``, ``/v1/mediaItems/{id}``,
  ``/v1/albums``, ``/v1/albums/{id}:batchAddMediaItems``
* Picker: ``/picker/v1/sessions``, ``/picker/v1/sessions/{id}``,
  ``/picker/v1/mediaItems?sessionId=``
* Downloads: ``/media/{token}=d`` (bearer required, expiring)
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from photosync.emulators.base import EmulatorServer, FaultPlan

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


def _now_iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64url_sha256(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).decode().rstrip("=")


def strip_location(data: bytes) -> bytes:
    """What Google hands out for ``=d``: EXIF kept except GPS, re-encoded when decodable."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.load()
            exif = image.getexif()
            exif.pop(0x8825, None)  # GPS IFD
            out = io.BytesIO()
            if image.format == "JPEG":
                image.save(out, format="JPEG", quality=85, exif=exif.tobytes())
            else:
                image.convert("RGB").save(out, format="JPEG", quality=85, exif=exif.tobytes())
            return out.getvalue()
    except Exception:
        return data


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
            "creationTime": _now_iso(self.created),
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
                id=_new_id("L"),
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


def _new_id(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(24).replace("-", "A").replace("_", "B")


class _Reply(Exception):
    """Raised inside a route to answer immediately."""

    def __init__(
        self, status: int, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _google_error(status: int, code_name: str, message: str) -> _Reply:
    return _Reply(status, {"error": {"code": status, "message": message, "status": code_name}})


class GoogleHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "GoogleEmulator/1.0"
    #: headers and body go out as separate writes; without this each reply waits
    #: for a delayed ACK (~40 ms)
    disable_nagle_algorithm = True

    # -- plumbing -------------------------------------------------------------

    @property
    def state(self) -> GoogleState:
        state: GoogleState = self.server.state  # type: ignore[attr-defined]
        return state

    def _origin(self) -> str:
        address: Any = self.server.server_address
        return f"http://127.0.0.1:{address[1]}"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        self.query = parse_qs(parts.query, keep_blank_values=True)
        truncate = False
        try:
            self._body = self._read_body()
            fault = self.server.faults.draw(path)  # type: ignore[attr-defined]
            if fault == "429":
                retry = str(self.server.faults.retry_after_s)  # type: ignore[attr-defined]
                raise _Reply(
                    429,
                    {
                        "error": {
                            "code": 429,
                            "message": "Quota exceeded",
                            "status": "RESOURCE_EXHAUSTED",
                        }
                    },
                    headers={"Retry-After": retry},
                )
            if fault == "5xx":
                raise _google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
            if fault == "slow":
                time.sleep(self.server.faults.slow_s)  # type: ignore[attr-defined]
            truncate = fault == "truncate"
            self._route(method, path)
            raise _google_error(404, "NOT_FOUND", f"no route for {method} {path}")
        except _Reply as reply:
            self._send(reply, truncate=truncate)
        except Exception as exc:  # a bug in the emulator must still answer
            self._send(_google_error(500, "INTERNAL", f"emulator error: {exc!r}"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise _google_error(411, "INVALID_ARGUMENT", "chunked bodies are not accepted")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _google_error(400, "INVALID_ARGUMENT", "bad Content-Length") from None
        if size < 0 or size > MAX_PHOTO_BYTES + 1024:
            raise _google_error(413, "INVALID_ARGUMENT", "request too large")
        return self.rfile.read(size)

    def _send(self, reply: _Reply, *, truncate: bool = False) -> None:
        body = reply.body
        content_type = "application/json; charset=utf-8"
        if isinstance(body, bytes):
            raw = body
            content_type = reply.headers.pop("Content-Type", "application/octet-stream")
        elif isinstance(body, str):
            raw = body.encode()
            content_type = reply.headers.pop("Content-Type", "text/plain; charset=utf-8")
        elif body is None:
            raw = b""
        else:
            raw = json.dumps(body).encode()
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if raw or reply.status != 302:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(raw)))
        if truncate:
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(raw[: len(raw) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(raw)

    def _json(self) -> dict[str, Any]:
        if not self.headers.get("Content-Type", "").startswith("application/json"):
            raise _google_error(400, "INVALID_ARGUMENT", "Content-Type must be application/json")
        try:
            data = json.loads(self._body or b"{}")
        except ValueError:
            raise _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        if not isinstance(data, dict):
            raise _google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload: not an object")
        return data

    def _form(self) -> dict[str, str]:
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            raise _Reply(
                400, {"error": "invalid_request", "error_description": "form body required"}
            )
        fields = parse_qs(self._body.decode("utf-8", "replace"), keep_blank_values=True)
        return {key: values[-1] for key, values in fields.items()}

    def _arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None

    def _bearer(self, needed: frozenset[str]) -> dict[str, Any]:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            raise _Reply(
                401,
                {
                    "error": {
                        "code": 401,
                        "message": "Request is missing required authentication credential.",
                        "status": "UNAUTHENTICATED",
                    }
                },
                headers={"WWW-Authenticate": 'Bearer realm="https://accounts.google.com/"'},
            )
        state = self.state
        with state.lock:
            token = state.access_tokens.get(header[len("Bearer ") :].strip())
            if token is None or token["expires"] <= state.now():
                if token is not None:
                    state.stats["expired_token_rejections"] += 1
                raise _Reply(
                    401,
                    {
                        "error": {
                            "code": 401,
                            "message": "Request had invalid authentication credentials.",
                            "status": "UNAUTHENTICATED",
                        }
                    },
                    headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
                )
            if not set(token["scopes"]) & needed:
                raise _google_error(
                    403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
                )
            return token

    # -- routing -----------------------------------------------------------------

    def _route(self, method: str, path: str) -> None:
        if path == "/o/oauth2/auth" and method == "GET":
            self._authorize()
        if path == "/token" and method == "POST":
            self._token()
        if path.startswith("/media/") and method == "GET":
            self._download(path[len("/media/") :])
        if path.startswith("/picker/v1/"):
            self._picker(method, path[len("/picker/v1/") :])
        if path.startswith("/pick/") and method == "GET":
            # the pickerUri a person opens: here every library item is picked at once
            session_id = path[len("/pick/") :]
            if session_id not in self.state.sessions:
                raise _Reply(404, "no such picking session")
            self.state.pick(session_id)
            raise _Reply(200, "Picked. You can close this window.")
        if path.startswith("/v1/"):
            self._library(method, path[len("/v1/") :])

    # -- OAuth -------------------------------------------------------------------

    def _authorize(self) -> None:
        state = self.state
        client_id = self._arg("client_id")
        redirect_uri = self._arg("redirect_uri") or ""
        if client_id not in state.clients:
            raise _Reply(400, "Error 401: invalid_client", headers={"Content-Type": "text/plain"})
        target = urlsplit(redirect_uri)
        if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost", "::1"):
            raise _Reply(400, "Error 400: redirect_uri_mismatch (loopback only)")

        def fail(error: str) -> None:
            query = urlencode({"error": error, "state": self._arg("state") or ""})
            raise _Reply(302, None, headers={"Location": f"{redirect_uri}?{query}"})

        if self._arg("response_type") != "code":
            fail("unsupported_response_type")
        challenge = self._arg("code_challenge")
        if not challenge or self._arg("code_challenge_method") != "S256":
            fail("invalid_request")
        scopes = (self._arg("scope") or "").split()
        if not scopes or any(s in REMOVED_SCOPES or s not in KNOWN_SCOPES for s in scopes):
            fail("invalid_scope")
        code = "4/" + secrets.token_urlsafe(32)
        with state.lock:
            state.codes[code] = {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "challenge": challenge,
                "scopes": scopes,
                "expires": state.now() + 600,
                "user": USER,
            }
        query = urlencode(
            {"code": code, "state": self._arg("state") or "", "scope": " ".join(scopes)}
        )
        raise _Reply(302, None, headers={"Location": f"{redirect_uri}?{query}"})

    def _client(self, form: dict[str, str]) -> str:
        client_id, secret = form.get("client_id"), form.get("client_secret")
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            try:
                decoded = base64.b64decode(header[6:]).decode()
                client_id, _, secret = decoded.partition(":")
            except ValueError:
                pass
        if client_id is None or self.state.clients.get(client_id) != secret:
            raise _Reply(401, {"error": "invalid_client", "error_description": "Unauthorized"})
        return client_id

    def _token(self) -> None:
        state = self.state
        form = self._form()
        client_id = self._client(form)
        grant = form.get("grant_type")
        with state.lock:
            if grant == "authorization_code":
                code = state.codes.pop(form.get("code", ""), None)
                if code is None or code["expires"] <= state.now() or code["client_id"] != client_id:
                    raise _Reply(
                        400, {"error": "invalid_grant", "error_description": "Malformed auth code."}
                    )
                if form.get("redirect_uri") != code["redirect_uri"]:
                    raise _Reply(
                        400, {"error": "redirect_uri_mismatch", "error_description": "Bad Request"}
                    )
                verifier = form.get("code_verifier", "")
                if (
                    not (43 <= len(verifier) <= 128)
                    or _b64url_sha256(verifier) != code["challenge"]
                ):
                    raise _Reply(
                        400,
                        {"error": "invalid_grant", "error_description": "Invalid code verifier."},
                    )
                refresh = "1//" + secrets.token_urlsafe(32)
                state.refresh_tokens[refresh] = {
                    "client_id": client_id,
                    "scopes": code["scopes"],
                    "user": code["user"],
                }
                state.stats["token_grants"] += 1
                reply = self._grant(code["scopes"], code["user"])
                reply["refresh_token"] = refresh
                raise _Reply(200, reply, headers={"Cache-Control": "no-store"})
            if grant == "refresh_token":
                stored = state.refresh_tokens.get(form.get("refresh_token", ""))
                if stored is None or stored["client_id"] != client_id:
                    raise _Reply(
                        400,
                        {
                            "error": "invalid_grant",
                            "error_description": "Token has been expired or revoked.",
                        },
                    )
                state.stats["refresh_grants"] += 1
                raise _Reply(
                    200,
                    self._grant(stored["scopes"], stored["user"]),
                    headers={"Cache-Control": "no-store"},
                )
        raise _Reply(
            400,
            {
                "error": "unsupported_grant_type",
                "error_description": f"Invalid grant_type: {grant}",
            },
        )

    def _grant(self, scopes: list[str], user: str) -> dict[str, Any]:
        state = self.state
        token = "ya29." + secrets.token_urlsafe(40)
        lifetime = state.access_token_lifetime_s
        state.access_tokens[token] = {
            "scopes": scopes,
            "user": user,
            "expires": state.now() + lifetime,
        }
        return {
            "access_token": token,
            "expires_in": int(lifetime),
            "scope": " ".join(scopes),
            "token_type": "Bearer",
        }

    # -- downloads ---------------------------------------------------------------

    def _base_url(self, item: StoredItem) -> str:
        state = self.state
        token = secrets.token_urlsafe(24)
        with state.lock:
            born_expired = state.expire_next_base_urls > 0
            if born_expired:
                state.expire_next_base_urls -= 1
            expires = state.now() - 1 if born_expired else state.now() + state.base_url_lifetime_s
            state.media_tokens[token] = {"item": item.id, "expires": expires, "user": item.user}
        return f"{self._origin()}/media/{token}"

    def _download(self, rest: str) -> None:
        token, _, options = rest.partition("=")
        self._bearer(LIBRARY_READ | {SCOPE_PICKER})
        state = self.state
        with state.lock:
            entry = state.media_tokens.get(token)
            if entry is None:
                raise _google_error(404, "NOT_FOUND", "unknown baseUrl")
            if entry["expires"] <= state.now():
                state.stats["expired_base_url_rejections"] += 1
                raise _google_error(403, "PERMISSION_DENIED", "baseUrl has expired")
            item = state.items.get(entry["item"]) or state.picker_library.get(entry["item"])
            state.stats["downloads"] += 1
        if item is None:
            raise _google_error(404, "NOT_FOUND", "media item is gone")
        video = item.mime_type.startswith("video/")
        if options not in ("d", "dv") and not options.startswith("w"):
            raise _google_error(400, "INVALID_ARGUMENT", f"unsupported baseUrl option {options!r}")
        if video and options != "dv":
            raise _google_error(400, "INVALID_ARGUMENT", "videos download with =dv")
        data = item.data if video else strip_location(item.data)
        mime = item.mime_type if video or data is item.data else "image/jpeg"
        raise _Reply(200, data, headers={"Content-Type": mime})

    # -- Library API -------------------------------------------------------------

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
                raise _google_error(404, "NOT_FOUND", "Requested entity was not found.")
            raise _Reply(200, item.to_json(self._base_url(item)))
        if rest.startswith(("sharedAlbums", "albums/")) and (
            rest.startswith("sharedAlbums")
            or rest.endswith((":share", ":unshare", ":join", ":leave"))
        ):
            self._bearer(LIBRARY_READ | LIBRARY_WRITE)
            raise _google_error(403, "PERMISSION_DENIED", "Sharing is no longer available to apps.")
        if rest == "albums" and method == "GET":
            self._list_albums()
        if rest == "albums" and method == "POST":
            self._create_album()
        if rest.startswith("albums/") and rest.endswith(":batchAddMediaItems") and method == "POST":
            self._album_add(rest[len("albums/") : -len(":batchAddMediaItems")])

    def _upload(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        if self.headers.get("X-Goog-Upload-Protocol") != "raw":
            raise _google_error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Protocol must be raw")
        if not self.headers.get("Content-Type", "").startswith("application/octet-stream"):
            raise _google_error(
                400, "INVALID_ARGUMENT", "Content-Type must be application/octet-stream"
            )
        mime = self.headers.get("X-Goog-Upload-Content-Type")
        if not mime or "/" not in mime:
            raise _google_error(400, "INVALID_ARGUMENT", "X-Goog-Upload-Content-Type is required")
        if self.headers.get("Content-Length") is None:
            raise _google_error(411, "INVALID_ARGUMENT", "Content-Length is required")
        if not self._body:
            raise _google_error(400, "INVALID_ARGUMENT", "empty upload")
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
        raise _Reply(200, upload_token, headers={"Content-Type": "text/plain"})

    def _batch_create(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        body = self._json()
        new_items = body.get("newMediaItems")
        if not isinstance(new_items, list) or not new_items:
            raise _google_error(400, "INVALID_ARGUMENT", "newMediaItems is required")
        if len(new_items) > MAX_BATCH:
            raise _google_error(
                400, "INVALID_ARGUMENT", f"Request must have at most {MAX_BATCH} newMediaItems."
            )
        state = self.state
        user = token["user"]
        with state.lock:
            lock = state.write_locks.setdefault(user, threading.Lock())
        if not lock.acquire(blocking=False):
            with state.lock:
                state.stats["batch_create_concurrent_rejections"] += 1
            raise _google_error(
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
                        raise _google_error(400, "INVALID_ARGUMENT", "Invalid album id")
                state.stats["batch_create_calls"] += 1
                state.stats["batch_create_max_items"] = max(
                    state.stats["batch_create_max_items"], len(new_items)
                )
                results = [self._create_one(entry, user, album_id) for entry in new_items]
        finally:
            lock.release()
        raise _Reply(200, {"newMediaItemResults": results})

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
                id=_new_id("A"),
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
                    raise _google_error(400, "INVALID_ARGUMENT", "Invalid album id")
                return [state.items[i] for i in album["items"] if state.items[i].app_created]
            return sorted(
                (i for i in state.items.values() if i.app_created and i.user == USER),
                key=lambda i: (i.created, i.id),
            )

    def _page_size(self, raw: Any, maximum: int) -> int:
        if raw in (None, ""):
            return DEFAULT_PAGE
        try:
            size = int(raw)
        except (TypeError, ValueError):
            raise _google_error(400, "INVALID_ARGUMENT", "pageSize must be a number") from None
        if size < 1 or size > maximum:
            raise _google_error(400, "INVALID_ARGUMENT", f"pageSize must be 1..{maximum}")
        return size

    def _page_items(self, items: list[StoredItem], raw_size: Any, raw_token: Any) -> None:
        size = self._page_size(raw_size, MAX_PAGE)
        start = 0
        if raw_token:
            try:
                start = int(base64.urlsafe_b64decode(str(raw_token).encode()).decode())
            except ValueError:
                raise _google_error(400, "INVALID_ARGUMENT", "Invalid page token") from None
        chunk = items[start : start + size]
        reply: dict[str, Any] = {"mediaItems": [i.to_json(self._base_url(i)) for i in chunk]}
        if start + size < len(items):
            reply["nextPageToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        if not chunk:
            reply = {}
        raise _Reply(200, reply)

    def _batch_get(self) -> None:
        token = self._bearer(LIBRARY_READ)
        ids = self.query.get("mediaItemIds", [])
        if not ids:
            raise _google_error(400, "INVALID_ARGUMENT", "mediaItemIds is required")
        if len(ids) > MAX_BATCH:
            raise _google_error(400, "INVALID_ARGUMENT", f"at most {MAX_BATCH} mediaItemIds")
        results: list[dict[str, Any]] = []
        for item_id in ids:
            item = self.state.items.get(item_id)
            if item is None or not item.app_created or item.user != token["user"]:
                results.append({"status": {"code": 5, "message": "NOT_FOUND"}})
            else:
                results.append({"mediaItem": item.to_json(self._base_url(item))})
        raise _Reply(200, {"mediaItemResults": results})

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
        raise _Reply(200, reply)

    def _create_album(self) -> None:
        token = self._bearer(LIBRARY_WRITE)
        album = self._json().get("album")
        title = album.get("title") if isinstance(album, dict) else None
        if not isinstance(title, str) or not title or len(title) > 500:
            raise _google_error(400, "INVALID_ARGUMENT", "album.title is required (max 500)")
        album_id = _new_id("B")
        with self.state.lock:
            self.state.albums[album_id] = {
                "id": album_id,
                "title": title,
                "items": [],
                "user": token["user"],
            }
        raise _Reply(
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
            raise _google_error(400, "INVALID_ARGUMENT", f"mediaItemIds: 1..{MAX_BATCH} ids")
        state = self.state
        with state.lock:
            album = state.albums.get(album_id)
            if album is None or album["user"] != token["user"]:
                raise _google_error(
                    400, "INVALID_ARGUMENT", "Invalid album id (only app-created albums)"
                )
            for item_id in ids:
                item = state.items.get(item_id)
                if item is None or not item.app_created:
                    raise _google_error(
                        400, "INVALID_ARGUMENT", "Invalid media item id (only app-created items)"
                    )
            if len(album["items"]) + len(ids) > 20000:
                raise _google_error(400, "INVALID_ARGUMENT", "album is full (20,000 items)")
            for item_id in ids:
                if item_id not in album["items"]:
                    album["items"].append(item_id)
        raise _Reply(200, {})

    # -- Picker API -------------------------------------------------------------

    def _session_json(self, session: PickerSession) -> dict[str, Any]:
        state = self.state
        return {
            "id": session.id,
            "pickerUri": f"{self._origin()}/pick/{session.id}",
            "pollingConfig": {
                "pollInterval": f"{state.poll_interval_s:g}s",
                "timeoutIn": f"{max(0.0, session.created + state.session_timeout_s - state.now()):g}s",
            },
            "expireTime": _now_iso(session.created + state.session_timeout_s),
            "mediaItemsSet": session.media_items_set,
        }

    def _session(self, session_id: str, user: str) -> PickerSession:
        session = self.state.sessions.get(session_id)
        if session is None or session.deleted or session.user != user:
            raise _google_error(404, "NOT_FOUND", "session not found")
        if session.created + self.state.session_timeout_s <= self.state.now():
            raise _google_error(400, "FAILED_PRECONDITION", "session has expired")
        return session

    def _picker(self, method: str, rest: str) -> None:
        token = self._bearer(frozenset({SCOPE_PICKER}))
        state = self.state
        if rest == "sessions" and method == "POST":
            session = PickerSession(id=_new_id("S"), user=token["user"], created=state.now())
            with state.lock:
                state.sessions[session.id] = session
            raise _Reply(200, self._session_json(session))
        if rest.startswith("sessions/"):
            session = self._session(rest[len("sessions/") :], token["user"])
            if method == "GET":
                raise _Reply(200, self._session_json(session))
            if method == "DELETE":
                session.deleted = True
                raise _Reply(200, {})
        if rest == "mediaItems" and method == "GET":
            session = self._session(self._arg("sessionId") or "", token["user"])
            if not session.media_items_set:
                raise _google_error(
                    400, "FAILED_PRECONDITION", "The user has not picked items yet."
                )
            size = self._page_size(self._arg("pageSize"), MAX_PAGE)
            start = int(self._arg("pageToken") or 0)
            chunk = session.picked[start : start + size]
            items = []
            for item_id in chunk:
                item = state.picker_library[item_id]
                kind = "VIDEO" if item.mime_type.startswith("video/") else "PHOTO"
                items.append(
                    {
                        "id": item.id,
                        "createTime": _now_iso(item.created),
                        "type": kind,
                        "mediaFile": {
                            "baseUrl": self._base_url(item),
                            "mimeType": item.mime_type,
                            "filename": item.filename,
                            "mediaFileMetadata": {"width": 48, "height": 36},
                        },
                    }
                )
            reply: dict[str, Any] = {"mediaItems": items}
            if start + size < len(session.picked):
                reply["nextPageToken"] = str(start + size)
            raise _Reply(200, reply)


class GoogleEmulator:
    """The emulator server plus the endpoint settings a connector needs."""

    def __init__(
        self, state: GoogleState | None = None, *, port: int = 0, faults: FaultPlan | None = None
    ) -> None:
        self.state = state or GoogleState()
        self.server = EmulatorServer(GoogleHandler, self.state, port=port, faults=faults)

    @property
    def url(self) -> str:
        return self.server.url

    def endpoints(self) -> dict[str, str]:
        return {
            "library": f"{self.url}/v1",
            "picker": f"{self.url}/picker/v1",
            "oauth_token": f"{self.url}/token",
            "oauth_auth": f"{self.url}/o/oauth2/auth",
        }

    def start(self) -> GoogleEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GoogleEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def approve(auth_url: str, opener: Callable[[str], Any] | None = None) -> None:
    """Play the user's browser: open the authorization URL and follow the redirect."""
    import requests

    (opener or (lambda url: requests.get(url, timeout=10)))(auth_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Google Photos/OAuth emulator on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="test-client")
    parser.add_argument("--client-secret", default="test-secret")
    args = parser.parse_args(argv)
    emulator = GoogleEmulator(
        GoogleState(clients={args.client_id: args.client_secret}), port=args.port
    )
    endpoints = " ".join(f"--endpoint {key}={url}" for key, url in emulator.endpoints().items())
    info = {
        "url": emulator.url,
        "endpoints": emulator.endpoints(),
        "client_id": args.client_id,
        "client_secret": args.client_secret,
    }
    print(json.dumps(info))  # first line: for programs
    print(f"Google Photos emulator at {emulator.url}")
    print(f"client id:     {args.client_id}")
    print(f"client secret: {args.client_secret}")
    print("add it as a service (one line):")
    print(
        f"  photosync service add google-photos --type google-photos --target --no-source {endpoints} --requests-per-hour 100000"
    )
    print("then: photosync auth google-photos (the emulator approves the consent page by itself)")
    print(f"picker sessions can be approved at {emulator.url}/pick/<session-id>", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
