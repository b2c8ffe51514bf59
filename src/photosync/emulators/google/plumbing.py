"""What every route of the emulator shares: reading a request, answering it (a
``Reply`` raised anywhere), Google's error body, bearer tokens, paging, and the
expiring baseUrl of an item.
"""

from __future__ import annotations

import json
import secrets
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from photosync.emulators.google.state import DEFAULT_PAGE, MAX_PHOTO_BYTES, GoogleState, StoredItem


class Reply(Exception):
    """Raised inside a route to answer immediately."""

    def __init__(
        self, status: int, body: Any = None, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def google_error(status: int, code_name: str, message: str) -> Reply:
    return Reply(status, {"error": {"code": status, "message": message, "status": code_name}})


class HandlerBase(BaseHTTPRequestHandler):
    """The HTTP plumbing; ``GoogleHandler`` adds the routes (oauth, downloads, library, picker)."""

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
                raise Reply(
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
                raise google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
            if fault == "slow":
                time.sleep(self.server.faults.slow_s)  # type: ignore[attr-defined]
            truncate = fault == "truncate"
            self._route(method, path)
            raise google_error(404, "NOT_FOUND", f"no route for {method} {path}")
        except Reply as reply:
            self._send(reply, truncate=truncate)
        except Exception as exc:  # a bug in the emulator must still answer
            self._send(google_error(500, "INTERNAL", f"emulator error: {exc!r}"))

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raise google_error(411, "INVALID_ARGUMENT", "chunked bodies are not accepted")
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise google_error(400, "INVALID_ARGUMENT", "bad Content-Length") from None
        if size < 0 or size > MAX_PHOTO_BYTES + 1024:
            raise google_error(413, "INVALID_ARGUMENT", "request too large")
        return self.rfile.read(size)

    def _send(self, reply: Reply, *, truncate: bool = False) -> None:
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
            raise google_error(400, "INVALID_ARGUMENT", "Content-Type must be application/json")
        try:
            data = json.loads(self._body or b"{}")
        except ValueError:
            raise google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.") from None
        if not isinstance(data, dict):
            raise google_error(400, "INVALID_ARGUMENT", "Invalid JSON payload: not an object")
        return data

    def _form(self) -> dict[str, str]:
        if not self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            raise Reply(
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
            raise Reply(
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
                raise Reply(
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
                raise google_error(
                    403, "PERMISSION_DENIED", "Request had insufficient authentication scopes."
                )
            return token

    def _page_size(self, raw: Any, maximum: int) -> int:
        if raw in (None, ""):
            return DEFAULT_PAGE
        try:
            size = int(raw)
        except (TypeError, ValueError):
            raise google_error(400, "INVALID_ARGUMENT", "pageSize must be a number") from None
        if size < 1 or size > maximum:
            raise google_error(400, "INVALID_ARGUMENT", f"pageSize must be 1..{maximum}")
        return size

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

    def _route(self, method: str, path: str) -> None:
        """Answer by raising ``Reply``; returning means no route matched."""
        raise NotImplementedError
