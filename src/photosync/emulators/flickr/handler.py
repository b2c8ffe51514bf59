"""The HTTP side of the emulator: routing, faults, Flickr's XML/JSON encoding,
multipart bodies, and the static image host.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from photosync.emulators.flickr.media import derivative, make_jpeg, sniff_format
from photosync.emulators.flickr.methods import (
    FlickrError,
    dispatch,
    do_replace,
    do_upload,
)
from photosync.emulators.flickr.oauth import (
    OAuthProblem,
    approve,
    exchange_access_token,
    issue_request_token,
    parse_auth_header,
    verify,
)
from photosync.emulators.flickr.state import PERM_RANK, EmuToken, FlickrState

_STATIC = re.compile(r"^/(\d+)/(\d+)_([0-9a-f]+)(?:_([a-z]))?\.(\w+)$")
_VIDEO_PLAY = re.compile(r"^/photos/([^/]+)/(\d+)/play/orig/([0-9a-f]+)/?$")
_VIDEO_FILE = re.compile(r"^/video/(\d+)_([0-9a-f]+)_o\.(\w+)$")


def _xml_element(name: str, value: Any) -> str:
    if isinstance(value, list):
        return "".join(_xml_element(name, item) for item in value)
    if not isinstance(value, dict):
        return f"<{name}>{escape(str(value))}</{name}>"
    attrs = "".join(
        f" {key}={quoteattr(str(item))}"
        for key, item in value.items()
        if key != "_content" and not isinstance(item, dict | list)
    )
    children = "".join(
        _xml_element(key, item) for key, item in value.items() if isinstance(item, dict | list)
    )
    text = escape(str(value["_content"])) if "_content" in value else ""
    return f"<{name}{attrs}>{text}{children}</{name}>"


def render(payload: dict[str, Any], fmt: str, nojsoncallback: bool) -> tuple[bytes, str]:
    if fmt == "json":
        body = json.dumps(payload)
        if not nojsoncallback:
            body = f"jsonFlickrApi({body})"
        return body.encode(), "application/json; charset=utf-8"
    stat = payload.get("stat", "ok")
    if stat == "fail":
        inner = (
            f"<err code={quoteattr(str(payload['code']))} msg={quoteattr(payload['message'])} />"
        )
    else:
        inner = "".join(_xml_element(k, v) for k, v in payload.items() if k != "stat")
    xml = f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="{stat}">{inner}</rsp>\n'
    return xml.encode(), "text/xml; charset=utf-8"


def parse_multipart(
    body: bytes, content_type: str
) -> tuple[dict[str, str], dict[str, tuple[str, bytes]]]:
    """Form fields and files of a multipart/form-data body; ValueError when malformed."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if not match:
        raise ValueError("multipart body without boundary")
    delimiter = b"--" + match.group(1).encode()
    fields: dict[str, str] = {}
    files: dict[str, tuple[str, bytes]] = {}
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise ValueError("multipart body is not terminated")
    for chunk in chunks[1:-1]:
        if not chunk.startswith(b"\r\n") or not chunk.endswith(b"\r\n"):
            raise ValueError("malformed multipart part")
        head, sep, content = chunk[2:-2].partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("multipart part without headers")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', headers)
        if not name:
            raise ValueError("multipart part without a name")
        filename = re.search(r'filename="([^"]*)"', headers)
        if filename is not None:
            files[name.group(1)] = (filename.group(1), content)
        else:
            fields[name.group(1)] = content.decode("utf-8")
    return fields, files


class FlickrHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FlickrEmulator/1.0"
    disable_nagle_algorithm = True  # headers and body go out as separate writes

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: tests and the demo read call counts instead."""

    @property
    def state(self) -> FlickrState:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._guarded("GET")

    def do_POST(self) -> None:
        self._guarded("POST")

    def _guarded(self, verb: str) -> None:
        try:
            self._handle(verb)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up (its timeout); nothing to answer
        except Exception as error:  # an emulator bug must show up as a 500, not a hang
            self.state.calls["emulator_error"] += 1
            self.close_connection = True
            with contextlib.suppress(OSError):
                self._send(
                    500, f"emulator error: {type(error).__name__}: {error}".encode(), "text/plain"
                )

    # -- plumbing -------------------------------------------------------

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
        *,
        truncate: bool = False,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if truncate:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body[: len(body) // 2] if truncate else body)
        if truncate:
            self.wfile.flush()
            self.close_connection = True

    def _handle(self, verb: str) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(400, b"bad Content-Length", "text/plain")
            self.close_connection = True
            return
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._send(411, b"Length Required", "text/plain")
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        self._fault = self.server.faults.draw(path)  # type: ignore[attr-defined]
        if self._fault == "429":
            retry = str(self.server.faults.retry_after_s)  # type: ignore[attr-defined]
            self._send(429, b"Too Many Requests", "text/plain", {"Retry-After": retry})
            return
        if self._fault == "5xx":
            self._send(503, b"Service Unavailable", "text/html")
            return
        if self._fault == "slow":
            time.sleep(self.server.faults.slow_s)  # type: ignore[attr-defined]
        try:
            if path.startswith("/services/oauth/"):
                self._oauth(verb, path, parts.query, body)
            elif path.rstrip("/") == "/services/rest":
                self._rest(verb, path, parts.query, body)
            elif path.rstrip("/") in ("/services/upload", "/services/replace"):
                self._upload(verb, path, parts.query, body)
            else:
                self._static(path, parts.query)
        except OAuthProblem as problem:
            self.state.calls["oauth_rejected"] += 1
            self._send(
                401, f"oauth_problem={problem.problem}".encode(), "text/plain; charset=utf-8"
            )

    @property
    def _truncate(self) -> bool:
        return getattr(self, "_fault", None) == "truncate"

    def _base_url(self, path: str) -> str:
        host = (self.headers.get("Host") or "127.0.0.1").lower()
        return f"http://{host}{path}"

    def _collect(
        self, query: str, body: bytes, multipart_fields: dict[str, str] | None
    ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(all parameters for the signature, the non-OAuth request parameters)."""
        params = parse_qsl(query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if multipart_fields is not None:
            params += list(multipart_fields.items())
        elif "application/x-www-form-urlencoded" in ctype and body:
            params += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        header = parse_auth_header(self.headers.get("Authorization", ""))
        signed = params + header
        plain = [(k, v) for k, v in params if not k.startswith("oauth_")]
        return signed, plain

    def _verify(
        self,
        verb: str,
        path: str,
        signed: list[tuple[str, str]],
        *,
        need_token: str | None,
    ) -> tuple[dict[str, str], EmuToken | None]:
        return verify(self.state, verb, self._base_url(path), signed, need_token=need_token)

    # -- OAuth endpoints -------------------------------------------------

    def _oauth(self, verb: str, path: str, query: str, body: bytes) -> None:
        state = self.state
        step = path.rstrip("/").rsplit("/", 1)[-1]
        state.calls[f"oauth.{step}"] += 1
        if step == "authorize":
            self._authorize(query)
            return
        signed, _ = self._collect(query, body, None)
        if step == "request_token":
            oauth, _ = self._verify(verb, path, signed, need_token=None)
            reply = issue_request_token(state, oauth)
        elif step == "access_token":
            oauth, request_token = self._verify(verb, path, signed, need_token="request")
            reply = exchange_access_token(state, oauth, request_token)
        else:
            self._send(404, b"not found", "text/plain")
            return
        self._send(
            200, urlencode(reply).encode(), "text/plain; charset=utf-8", truncate=self._truncate
        )

    def _authorize(self, query: str) -> None:
        """The page the user approves on; the emulator approves at once and shows the verifier."""
        try:
            token = approve(self.state, dict(parse_qsl(query)))
        except ValueError as refused:
            self._send(400, str(refused).encode(), "text/plain")
            return
        reply = urlencode({"oauth_token": token.token, "oauth_verifier": token.verifier})
        if token.callback != "oob":
            sep = "&" if "?" in token.callback else "?"
            self._send(302, b"", "text/plain", {"Location": f"{token.callback}{sep}{reply}"})
            return
        self._send(200, reply.encode(), "text/plain; charset=utf-8")

    # -- REST ------------------------------------------------------------

    def _rest(self, verb: str, path: str, query: str, body: bytes) -> None:
        signed, plain = self._collect(query, body, None)
        args = dict(plain)
        fmt = args.get("format", "rest")
        nojson = args.get("nojsoncallback") == "1"
        method = args.get("method", "")
        self.state.calls[method or "(none)"] += 1
        self.state.calls["rest"] += 1

        def reply(payload: dict[str, Any]) -> None:
            encoded, ctype = render(payload, fmt if fmt in ("json", "rest") else "rest", nojson)
            self._send(200, encoded, ctype, truncate=self._truncate)

        if fmt not in ("json", "rest"):
            reply({"stat": "fail", "code": 111, "message": f'Format "{fmt}" not found'})
            return
        if self._fault == "201":
            reply(
                {
                    "stat": "fail",
                    "code": 201,
                    "message": "Sorry, the Flickr API service is not currently available.",
                }
            )
            return
        token: EmuToken | None = None
        if any(k.startswith("oauth_") for k, _ in signed):
            has_token = any(k == "oauth_token" for k, _ in signed)
            _, token = self._verify(verb, path, signed, need_token="access" if has_token else None)
        elif self.state.consumers.get(args.get("api_key", "")) is None:
            reply({"stat": "fail", "code": 100, "message": "Invalid API Key (Key not found)"})
            return
        reply(dispatch(self.state, method, args, token, verb, self._base_url("")))

    # -- upload / replace -------------------------------------------------

    def _upload(self, verb: str, path: str, query: str, body: bytes) -> None:
        state = self.state
        with state.lock:
            state.uploads_in_flight += 1
            state.max_uploads_in_flight = max(state.max_uploads_in_flight, state.uploads_in_flight)
        try:
            if state.upload_latency_s:
                time.sleep(state.upload_latency_s)
            self._upload_now(verb, path, query, body)
        finally:
            with state.lock:
                state.uploads_in_flight -= 1

    def _upload_now(self, verb: str, path: str, query: str, body: bytes) -> None:
        state = self.state
        replace = "replace" in path
        state.calls["upload.replace" if replace else "upload"] += 1

        def xml_fail(code: int, message: str) -> None:
            encoded, ctype = render(
                {"stat": "fail", "code": code, "message": message}, "rest", False
            )
            self._send(200, encoded, ctype)

        if verb != "POST":
            xml_fail(3, "General upload failure: POST required")
            return
        try:
            fields, files = parse_multipart(body, self.headers.get("Content-Type", ""))
        except ValueError as exc:
            self._send(400, f"bad multipart body: {exc}".encode(), "text/plain")
            return
        signed, _ = self._collect(query, body, fields)
        _, token = self._verify(verb, path, signed, need_token="access")
        assert token is not None
        if PERM_RANK.get(token.perms or "none", 0) < PERM_RANK["write"]:
            xml_fail(
                99, "Insufficient permissions. Method requires write privileges; read granted."
            )
            return
        if "photo" not in files:
            xml_fail(2, "No photo specified")
            return
        data = files["photo"][1]
        if not data:
            xml_fail(4, "Filesize was zero")
            return
        sniffed = sniff_format(data)
        if sniffed is None:
            xml_fail(5, "Filetype was not recognised")
            return
        with state.lock:
            if replace:
                outcome = do_replace(state, fields, data, sniffed)
            else:
                outcome = do_upload(state, fields, files["photo"][0], data)
        if isinstance(outcome, FlickrError):
            xml_fail(outcome.code, outcome.message)
            return
        encoded = (
            f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">{outcome}</rsp>\n'.encode()
        )
        self._send(200, encoded, "text/xml; charset=utf-8", truncate=self._truncate)

    # -- static host -------------------------------------------------------

    def _static(self, path: str, query: str) -> None:
        state = self.state
        state.calls["static"] += 1
        if self._fault == "201":
            self._fault = None
        match = _STATIC.match(path)
        if match:
            _server, pid, secret, suffix, ext = match.groups()
            photo = state.photos.get(pid)
            if photo is None:
                self._send(404, b"not found", "text/plain")
                return
            if suffix == "o":
                if not state.pro or secret != photo.originalsecret:
                    self._send(404, b"not found", "text/plain")
                    return
                if photo.media == "video":
                    if ext != "jpg":
                        self._send(404, b"not found", "text/plain")
                        return
                    content = make_jpeg(10_000_000 + int(pid) % 1_000_000, photo.datetaken)
                    self._send(200, content, "image/jpeg", truncate=self._truncate)
                    return
                if ext != photo.originalformat:
                    self._send(404, b"not found", "text/plain")
                    return
                self._send(200, photo.content(), _mime(ext), truncate=self._truncate)
                return
            if secret != photo.secret or photo.media == "video":
                self._send(404, b"not found", "text/plain")
                return
            self._send(200, derivative(photo.content()), "image/jpeg", truncate=self._truncate)
            return
        match = _VIDEO_PLAY.match(path)
        if match:
            _owner, pid, osecret = match.groups()
            photo = state.photos.get(pid)
            if (
                photo is None
                or photo.media != "video"
                or not state.pro
                or osecret != photo.originalsecret
            ):
                self._send(404, b"not found", "text/plain")
                return
            sig = hmac.new(state.api_secret.encode(), pid.encode(), hashlib.sha1).hexdigest()
            location = f"/video/{pid}_{osecret}_o.{photo.originalformat}?s={sig}"
            self._send(302, b"", "text/plain", {"Location": location})
            return
        match = _VIDEO_FILE.match(path)
        if match:
            pid, osecret, ext = match.groups()
            photo = state.photos.get(pid)
            sig = hmac.new(state.api_secret.encode(), pid.encode(), hashlib.sha1).hexdigest()
            if (
                photo is None
                or osecret != photo.originalsecret
                or dict(parse_qsl(query)).get("s") != sig
            ):
                self._send(403, b"forbidden", "text/plain")
                return
            self._send(200, photo.content(), _mime(ext), truncate=self._truncate)
            return
        self._send(404, b"not found", "text/plain")


def _mime(ext: str) -> str:
    return {
        "jpg": "image/jpeg",
        "png": "image/png",
        "gif": "image/gif",
        "heic": "image/heic",
        "mp4": "video/mp4",
        "mov": "video/quicktime",
    }.get(ext, "application/octet-stream")
