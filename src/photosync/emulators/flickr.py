"""A Flickr emulator: OAuth 1.0a, the REST API, upload/replace and the static image host.

It follows Flickr's documented protocol closely enough that the real connector
cannot tell the difference: every call is HMAC-SHA1 verified (401 text/plain
``oauth_problem=...`` otherwise), answers use Flickr's JSON/XML mapping and its
error envelope, permissions are enforced, free accounts get no originals, and
faults (429, 5xx, code 201, slow and truncated bodies) come from a ``FaultPlan``.

Run it by hand::

    python -m photosync.emulators.flickr --port 8765 --seed-photos 200
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import io
import json
import re
import secrets
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit
from xml.sax.saxutils import escape, quoteattr

from photosync.emulators.base import EmulatorServer, FaultPlan

DEFAULT_API_KEY = "emulator-api-key-0001"
DEFAULT_API_SECRET = "emulator-api-secret-0001"
DEFAULT_NSID = "12345678@N00"
TIMESTAMP_WINDOW_S = 300
FIRST_SEEDED_ID = 50_000_000_000
FREE_MAX_ITEMS = 1000
FREE_MAX_NON_PUBLIC = 50
PERM_RANK = {"none": 0, "read": 1, "write": 2, "delete": 3}
_MACHINE_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*=.+$")
_TAG_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_STATIC = re.compile(r"^/(\d+)/(\d+)_([0-9a-f]+)(?:_([a-z]))?\.(\w+)$")
_VIDEO_PLAY = re.compile(r"^/photos/([^/]+)/(\d+)/play/orig/([0-9a-f]+)/?$")
_VIDEO_FILE = re.compile(r"^/video/(\d+)_([0-9a-f]+)_o\.(\w+)$")


# ---------------------------------------------------------------------------
# Generated media
# ---------------------------------------------------------------------------


def make_jpeg(index: int, taken: str, *, size: tuple[int, int] = (24, 16)) -> bytes:
    """A small, unique, deterministic JPEG whose EXIF says when it was taken."""
    from PIL import Image

    rng_bytes = hashlib.sha256(f"photo-{index}".encode()).digest()
    image = Image.new("RGB", size, (rng_bytes[0], rng_bytes[1], rng_bytes[2]))
    pixels = image.load()
    assert pixels is not None
    for x in range(size[0]):
        pixels[x, x % size[1]] = (rng_bytes[3], rng_bytes[4], rng_bytes[5])
    exif = Image.Exif()
    exif[0x010F] = "EmuCam"  # Make
    exif[0x0110] = f"Model {index % 7}"  # Model
    exif[0x0132] = taken.replace("-", ":")  # DateTime
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[0x9003] = taken.replace("-", ":")  # DateTimeOriginal
    exif_ifd[0xA420] = f"{index:032x}"  # ImageUniqueID: makes the bytes unique
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80, exif=exif)
    return out.getvalue()


def make_mp4(index: int, created_unix: int) -> bytes:
    """A tiny MP4 (ftyp + moov/mvhd + mdat) with a creation time; unique per index."""

    def box(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", 8 + len(payload)) + kind + payload

    mac_time = created_unix + 2_082_844_800  # seconds since 1904-01-01
    mvhd = struct.pack(">B3xIIII", 0, mac_time, mac_time, 1000, 1000)
    mvhd += struct.pack(">I", 0x00010000) + struct.pack(">H", 0x0100) + b"\0" * 10
    mvhd += struct.pack(">9I", 0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000)
    mvhd += b"\0" * 24 + struct.pack(">I", 2)
    ftyp = box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2mp41")
    moov = box(b"moov", box(b"mvhd", mvhd))
    mdat = box(b"mdat", hashlib.sha256(f"video-{index}".encode()).digest() * 4)
    return ftyp + moov + mdat


def _sniff_format(data: bytes) -> tuple[str, str] | None:
    """(media, originalformat) from magic bytes, or None when Flickr would refuse the file."""
    if data[:3] == b"\xff\xd8\xff":
        return "photo", "jpg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "photo", "png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "photo", "gif"
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "photo", "heic"
        if brand == b"qt  ":
            return "video", "mov"
        return "video", "mp4"
    return None


def _exif_taken(data: bytes) -> str | None:
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            exif = image.getexif()
            raw = exif.get_ifd(0x8769).get(0x9003) or exif.get(0x0132)
    except Exception:
        return None
    if not isinstance(raw, str) or len(raw) < 19:
        return None
    return f"{raw[0:4]}-{raw[5:7]}-{raw[8:10]} {raw[11:19]}"


def _derivative(data: bytes) -> bytes:
    """A re-encoded smaller JPEG: what a free account may still fetch."""
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            small = image.convert("RGB")
            small.thumbnail((1024, 1024))
            out = io.BytesIO()
            small.save(out, "JPEG", quality=60)
            return out.getvalue()
    except Exception:
        return b""


# ---------------------------------------------------------------------------
# State
# ---------------------------------------------------------------------------


def clean_tag(raw: str) -> str:
    """Flickr's normalised tag: machine tags lower-cased, others stripped to alphanumerics."""
    if _MACHINE_TAG.match(raw):
        return raw.lower()
    return "".join(ch for ch in raw.lower() if ch.isalnum())


def parse_tag_string(value: str) -> list[str]:
    """Space separated, double quotes group words (Flickr's tag argument syntax)."""
    out: list[str] = []
    for quoted, bare in _TAG_TOKEN.findall(value):
        tag = (quoted or bare).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


@dataclass
class EmuPhoto:
    id: str
    secret: str
    server: str
    originalsecret: str
    originalformat: str
    title: str
    description: str
    tags: list[str]
    is_public: int
    is_friend: int
    is_family: int
    dateupload: int
    lastupdate: int
    datetaken: str
    granularity: int = 0
    taken_unknown: bool = False
    latitude: float | None = None
    longitude: float | None = None
    accuracy: int = 0
    media: str = "photo"
    license: str = "0"
    width: int = 24
    height: int = 16
    camera_make: str | None = None
    camera_model: str | None = None
    exif_hidden: bool = False
    seed_index: int | None = None
    data: bytes | None = None
    #: when search starts showing the photo (state clock; see ``search_lag_s``)
    indexed_at: float = 0.0

    def content(self) -> bytes:
        if self.data is None:
            index = self.seed_index or 0
            if self.media == "video":
                self.data = make_mp4(index, self.dateupload)
            else:
                self.data = make_jpeg(index, self.datetaken)
        return self.data

    @property
    def privacy(self) -> tuple[int, int, int]:
        return (self.is_public, self.is_friend, self.is_family)


@dataclass
class EmuToken:
    token: str
    secret: str
    kind: str  # "request" | "access"
    perms: str | None = None
    callback: str = "oob"
    verifier: str | None = None


@dataclass
class EmuTicket:
    id: str
    photo_id: str | None
    polls_left: int
    failed: bool = False


@dataclass
class EmuPhotoset:
    id: str
    title: str
    description: str
    primary: str
    photos: list[str]
    created: int
    updated: int


class FlickrError(Exception):
    """A Flickr error envelope (HTTP 200, stat=fail)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class OAuthProblem(Exception):
    """An OAuth failure: HTTP 401 text/plain ``oauth_problem=...``."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


class FlickrState:
    """One Flickr account (photos, albums, tokens) plus the API key that may call it."""

    def __init__(
        self,
        *,
        api_key: str = DEFAULT_API_KEY,
        api_secret: str = DEFAULT_API_SECRET,
        nsid: str = DEFAULT_NSID,
        username: str = "emulated-user",
        fullname: str = "Emulated User",
        pro: bool = True,
        default_privacy: tuple[int, int, int] = (1, 0, 0),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.consumers = {api_key: api_secret}
        self.api_key = api_key
        self.api_secret = api_secret
        self.nsid = nsid
        self.username = username
        self.fullname = fullname
        self.pro = pro
        #: what Flickr applies when an upload omits the privacy flags
        self.default_privacy = default_privacy
        self.clock = clock
        self.lock = threading.RLock()
        self.photos: dict[str, EmuPhoto] = {}
        self.photosets: dict[str, EmuPhotoset] = {}
        self.tokens: dict[str, EmuToken] = {}
        self.tickets: dict[str, EmuTicket] = {}
        self.calls: Counter[str] = Counter()
        self.requests_log: list[dict[str, str]] = []
        self._nonces: set[tuple[str, str, str, str]] = set()
        self._next_id = FIRST_SEEDED_ID
        #: "lying" mode: listings silently drop this share of photos (but keep ``total``)
        self.lying_drop_every: int = 0
        #: Flickr stops serving people.getPhotos past this page
        self.max_page = 10_000
        #: seconds an upload takes (a network's transfer time), and the most seen at once
        self.upload_latency_s = 0.0
        self.uploads_in_flight = 0
        self.max_uploads_in_flight = 0
        #: checkTickets answers "not complete" this many times before completing
        self.ticket_polls = 1
        #: "privacy ignored" mode: setPerms and an upload's privacy flags reply ok but
        #: change nothing (the photo keeps its level, or gets the account default)
        self.privacy_ignored = False
        #: seconds before search (flickr.photos.search) shows a new upload, as Flickr's
        #: index does at times; measured on ``clock``, so a test's fake clock drives it
        self.search_lag_s = 0.0

    # -- seeding and direct manipulation (tests) --------------------------

    def now(self) -> int:
        return int(self.clock())

    def _new_id(self) -> str:
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    def seed(
        self, count: int, *, video_every: int = 100, start_upload: int = 1_230_768_000
    ) -> None:
        """Add ``count`` deterministic photos (every ``video_every``-th a video)."""
        with self.lock:
            for _ in range(count):
                index = len(self.photos)
                pid = self._new_id()
                upload = start_upload + index * 37_003
                taken_unix = upload - 3600 * (1 + index % 48)
                taken = datetime.fromtimestamp(taken_unix, UTC).strftime("%Y-%m-%d %H:%M:%S")
                privacy = [(1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 1, 1), (0, 0, 0)][index % 5]
                video = video_every > 0 and index % video_every == video_every - 1
                digest = hashlib.sha1(f"{pid}".encode()).hexdigest()
                photo = EmuPhoto(
                    id=pid,
                    secret=digest[:10],
                    server=str(65535 - index % 100),
                    originalsecret=digest[10:20],
                    originalformat="mp4" if video else "jpg",
                    title=f"Photo {index}",
                    description=f"Seeded photo number {index}" if index % 3 else "",
                    tags=[f"tag{index % 10}", "seeded", *(["two words"] if index % 4 == 0 else [])],
                    is_public=privacy[0],
                    is_friend=privacy[1],
                    is_family=privacy[2],
                    dateupload=upload,
                    lastupdate=upload + index % 1000,
                    datetaken=taken,
                    granularity=[0, 0, 0, 4, 6][index % 5] if index % 11 == 5 else 0,
                    taken_unknown=index % 97 == 13,
                    latitude=round(48.0 + (index % 100) / 1000, 6) if index % 3 == 0 else None,
                    longitude=round(11.0 + (index % 50) / 1000, 6) if index % 3 == 0 else None,
                    accuracy=16 if index % 3 == 0 else 0,
                    media="video" if video else "photo",
                    license=str(index % 4),
                    camera_make="EmuCam",
                    camera_model=f"Model {index % 7}",
                    seed_index=index,
                )
                self.photos[pid] = photo

    def add_photo(self, data: bytes, **fields: Any) -> EmuPhoto:
        """Store an uploaded file as Flickr would; fields override defaults."""
        sniffed = _sniff_format(data) or ("photo", "jpg")
        now = self.now()
        taken = _exif_taken(data) if sniffed[0] == "photo" else None
        pid = self._new_id()
        photo = EmuPhoto(
            id=pid,
            secret=secrets.token_hex(5),
            server="65535",
            originalsecret=secrets.token_hex(5),
            originalformat=sniffed[1],
            title=fields.pop("title", ""),
            description=fields.pop("description", ""),
            tags=fields.pop("tags", []),
            is_public=self.default_privacy[0],
            is_friend=self.default_privacy[1],
            is_family=self.default_privacy[2],
            dateupload=now,
            lastupdate=now,
            datetaken=taken or datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d %H:%M:%S"),
            taken_unknown=taken is None,
            media=sniffed[0],
            data=data,
            indexed_at=self.clock() + self.search_lag_s,
        )
        for key, value in fields.items():
            setattr(photo, key, value)
        with self.lock:
            self.photos[pid] = photo
        return photo

    def touch(self, photo_id: str, **changes: Any) -> None:
        """Change a photo as the owner would on the website; bumps ``lastupdate``."""
        with self.lock:
            photo = self.photos[photo_id]
            for key, value in changes.items():
                setattr(photo, key, value)
            photo.lastupdate = max(self.now(), photo.lastupdate + 1)

    def issue_access_token(self, perms: str = "write") -> tuple[str, str]:
        """An already-authorised token, for tests that do not exercise the OAuth dance."""
        token = EmuToken(
            secrets.token_hex(8) + "-" + secrets.token_hex(4), secrets.token_hex(8), "access", perms
        )
        with self.lock:
            self.tokens[token.token] = token
        return token.token, token.secret

    def find_by_machine_tag(self, tag: str) -> list[EmuPhoto]:
        wanted = tag.lower()
        with self.lock:
            return [p for p in self.photos.values() if any(t.lower() == wanted for t in p.tags)]

    def non_public_count(self) -> int:
        return sum(1 for p in self.photos.values() if not p.is_public)


# ---------------------------------------------------------------------------
# OAuth 1.0a verification (written from RFC 5849, independent of the client's library)
# ---------------------------------------------------------------------------


def _pct(value: str) -> str:
    return quote(value, safe="~-._")


def signature_base(method: str, base_url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((_pct(k), _pct(v)) for k, v in params if k != "oauth_signature")
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _pct(base_url), _pct(normalized)))


def hmac_sha1(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def _parse_auth_header(value: str) -> list[tuple[str, str]]:
    if not value.lower().startswith("oauth "):
        return []
    out = []
    for key, raw in re.findall(r'([A-Za-z0-9_]+)="([^"]*)"', value[6:]):
        if key != "realm":
            out.append((unquote(key), unquote(raw)))
    return out


# ---------------------------------------------------------------------------
# Response encoding: Flickr's XML <-> JSON mapping
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# Multipart (upload endpoint)
# ---------------------------------------------------------------------------


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


# ---------------------------------------------------------------------------
# The request handler
# ---------------------------------------------------------------------------


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
        header = _parse_auth_header(self.headers.get("Authorization", ""))
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
        """Check an OAuth-signed request like Flickr; returns (oauth params, token)."""
        oauth = {k: v for k, v in signed if k.startswith("oauth_")}
        if not oauth:
            raise OAuthProblem("parameter_absent&oauth_parameters_absent=oauth_consumer_key")
        missing = [
            name
            for name in (
                "oauth_consumer_key",
                "oauth_signature_method",
                "oauth_signature",
                "oauth_timestamp",
                "oauth_nonce",
            )
            if name not in oauth
        ]
        if missing:
            raise OAuthProblem("parameter_absent&oauth_parameters_absent=" + "%26".join(missing))
        state = self.state
        consumer_secret = state.consumers.get(oauth["oauth_consumer_key"])
        if consumer_secret is None:
            raise OAuthProblem("consumer_key_unknown")
        if oauth["oauth_signature_method"] != "HMAC-SHA1":
            raise OAuthProblem("signature_method_rejected")
        if oauth.get("oauth_version", "1.0") != "1.0":
            raise OAuthProblem("version_rejected")
        try:
            stamp = int(oauth["oauth_timestamp"])
        except ValueError:
            raise OAuthProblem("timestamp_refused") from None
        if abs(stamp - time.time()) > TIMESTAMP_WINDOW_S:
            raise OAuthProblem("timestamp_refused")
        token: EmuToken | None = None
        token_secret = ""
        token_id = oauth.get("oauth_token")
        if need_token is not None:
            token = state.tokens.get(token_id or "")
            if token is None or token.kind != need_token:
                raise OAuthProblem("token_rejected")
            token_secret = token.secret
        elif token_id:
            raise OAuthProblem("token_rejected")
        expected = hmac_sha1(
            signature_base(verb, self._base_url(path), signed), consumer_secret, token_secret
        )
        if not hmac.compare_digest(expected, oauth["oauth_signature"]):
            raise OAuthProblem("signature_invalid")
        nonce_key = (
            oauth["oauth_consumer_key"],
            token_id or "",
            oauth["oauth_timestamp"],
            oauth["oauth_nonce"],
        )
        with state.lock:
            if nonce_key in state._nonces:
                raise OAuthProblem("nonce_used")
            state._nonces.add(nonce_key)
        return oauth, token

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
            callback = oauth.get("oauth_callback")
            if not callback:
                raise OAuthProblem("parameter_absent&oauth_parameters_absent=oauth_callback")
            token = EmuToken(
                secrets.token_hex(8), secrets.token_hex(8), "request", callback=callback
            )
            with state.lock:
                state.tokens[token.token] = token
            reply = {
                "oauth_callback_confirmed": "true",
                "oauth_token": token.token,
                "oauth_token_secret": token.secret,
            }
        elif step == "access_token":
            oauth, request_token = self._verify(verb, path, signed, need_token="request")
            assert request_token is not None
            if (
                request_token.verifier is None
                or oauth.get("oauth_verifier") != request_token.verifier
            ):
                raise OAuthProblem("verifier_invalid")
            access = EmuToken(
                f"{secrets.token_hex(8)}-{secrets.token_hex(4)}",
                secrets.token_hex(8),
                "access",
                perms=request_token.perms,
            )
            with state.lock:
                del state.tokens[request_token.token]
                state.tokens[access.token] = access
            reply = {
                "fullname": state.fullname,
                "oauth_token": access.token,
                "oauth_token_secret": access.secret,
                "user_nsid": state.nsid,
                "username": state.username,
            }
        else:
            self._send(404, b"not found", "text/plain")
            return
        self._send(
            200, urlencode(reply).encode(), "text/plain; charset=utf-8", truncate=self._truncate
        )

    def _authorize(self, query: str) -> None:
        """The page the user approves on; the emulator approves at once and shows the verifier."""
        args = dict(parse_qsl(query))
        token = self.state.tokens.get(args.get("oauth_token", ""))
        perms = args.get("perms", "read")
        if token is None or token.kind != "request":
            self._send(400, b"oauth_problem=token_rejected", "text/plain")
            return
        if perms not in ("read", "write", "delete"):
            self._send(400, b"invalid perms", "text/plain")
            return
        token.perms = perms
        token.verifier = "-".join(secrets.token_hex(2) for _ in range(3))
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
        spec = _METHODS.get(method)
        if spec is None:
            reply({"stat": "fail", "code": 112, "message": f'Method "{method}" not found'})
            return
        function, needed = spec
        granted = PERM_RANK.get(token.perms or "none", 0) if token else 0
        if granted < needed:
            message = "User not logged in / Insufficient permissions"
            reply({"stat": "fail", "code": 99, "message": message})
            return
        if needed >= PERM_RANK["write"] and verb != "POST":
            reply({"stat": "fail", "code": 99, "message": "Write methods must be called with POST"})
            return
        try:
            with self.state.lock:
                payload = function(_Call(self.state, args, token, self._base_url("")))
        except FlickrError as error:
            reply({"stat": "fail", "code": error.code, "message": error.message})
            return
        reply({**payload, "stat": "ok"})

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
        sniffed = _sniff_format(data)
        if sniffed is None:
            xml_fail(5, "Filetype was not recognised")
            return
        with state.lock:
            if replace:
                outcome = self._do_replace(fields, data, sniffed)
            else:
                outcome = self._do_upload(fields, files["photo"][0], data)
        if isinstance(outcome, FlickrError):
            xml_fail(outcome.code, outcome.message)
            return
        encoded = (
            f'<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="ok">{outcome}</rsp>\n'.encode()
        )
        self._send(200, encoded, "text/xml; charset=utf-8", truncate=self._truncate)

    def _do_upload(self, fields: dict[str, str], filename: str, data: bytes) -> str | FlickrError:
        state = self.state
        privacy = list(state.default_privacy)
        for position, name in enumerate(("is_public", "is_friend", "is_family")):
            if name in fields and not state.privacy_ignored:
                if fields[name] not in ("0", "1"):
                    return FlickrError(3, f"General upload failure: bad {name}")
                privacy[position] = int(fields[name])
        if not state.pro:
            if len(state.photos) >= FREE_MAX_ITEMS:
                return FlickrError(6, "User exceeded upload limit (free accounts hold 1,000 items)")
            if privacy[0] == 0 and state.non_public_count() >= FREE_MAX_NON_PUBLIC:
                return FlickrError(
                    6, "User exceeded upload limit (free accounts hold 50 non-public items)"
                )
        title = fields.get("title")
        if title is None:
            title = filename.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        photo = state.add_photo(
            data,
            title=title,
            description=fields.get("description", ""),
            tags=parse_tag_string(fields.get("tags", "")),
            is_public=privacy[0],
            is_friend=privacy[1],
            is_family=privacy[2],
        )
        state.requests_log.append(
            {
                "kind": "upload",
                "photo_id": photo.id,
                **{k: v for k, v in fields.items() if not k.startswith("oauth_")},
            }
        )
        if fields.get("async") == "1":
            ticket = EmuTicket(state._new_id(), photo.id, state.ticket_polls)
            state.tickets[ticket.id] = ticket
            return f"<ticketid>{ticket.id}</ticketid>"
        return f"<photoid>{photo.id}</photoid>"

    def _do_replace(
        self, fields: dict[str, str], data: bytes, sniffed: tuple[str, str]
    ) -> str | FlickrError:
        state = self.state
        if not state.pro:
            return FlickrError(7, "Replace is only available to Pro accounts")
        photo = state.photos.get(fields.get("photo_id", ""))
        if photo is None:
            return FlickrError(1, "Photo not found")
        photo.data = data
        photo.media, photo.originalformat = sniffed
        photo.secret = secrets.token_hex(5)
        photo.originalsecret = secrets.token_hex(5)
        photo.lastupdate = max(state.now(), photo.lastupdate + 1)
        if fields.get("async") == "1":
            ticket = EmuTicket(state._new_id(), photo.id, state.ticket_polls)
            state.tickets[ticket.id] = ticket
            return f"<ticketid>{ticket.id}</ticketid>"
        return (
            f'<photoid secret="{photo.secret}" originalsecret="{photo.originalsecret}">'
            f"{photo.id}</photoid>"
        )

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
            self._send(200, _derivative(photo.content()), "image/jpeg", truncate=self._truncate)
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


# ---------------------------------------------------------------------------
# REST methods
# ---------------------------------------------------------------------------


@dataclass
class _Call:
    state: FlickrState
    args: dict[str, str]
    token: EmuToken | None
    base: str
    extras: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.extras = {e.strip() for e in self.args.get("extras", "").split(",") if e.strip()}

    @property
    def is_owner(self) -> bool:
        return self.token is not None

    def require(
        self, *names: str, code: int = 1, message: str = "Required arguments missing"
    ) -> None:
        for name in names:
            if not self.args.get(name):
                raise FlickrError(code, message)

    def photo(self, code: int = 1) -> EmuPhoto:
        photo = self.state.photos.get(self.args.get("photo_id", ""))
        if photo is None or not self.can_see(photo):
            raise FlickrError(code, "Photo not found")
        return photo

    def can_see(self, photo: EmuPhoto) -> bool:
        return self.is_owner or bool(photo.is_public)

    def int_arg(self, name: str, default: int) -> int:
        try:
            return int(self.args.get(name) or default)
        except ValueError:
            return default

    def user_id(self) -> str:
        user = self.args.get("user_id", "me")
        if user == "me":
            if not self.is_owner:
                raise FlickrError(2, "Unknown user")
            return self.state.nsid
        if user != self.state.nsid:
            raise FlickrError(2, "Unknown user")
        return user

    def static_url(self, photo: EmuPhoto) -> str:
        ext = "jpg" if photo.media == "video" else photo.originalformat
        return f"{self.base}/{photo.server}/{photo.id}_{photo.originalsecret}_o.{ext}"

    def listing(self, photo: EmuPhoto) -> dict[str, Any]:
        """A photo element as listings return it, with the requested extras."""
        state, extras = self.state, self.extras
        out: dict[str, Any] = {
            "id": photo.id,
            "owner": state.nsid,
            "secret": photo.secret,
            "server": photo.server,
            "farm": 66,
            "title": photo.title,
            "ispublic": photo.is_public,
            "isfriend": photo.is_friend,
            "isfamily": photo.is_family,
        }
        if "description" in extras:
            out["description"] = {"_content": photo.description}
        if "license" in extras:
            out["license"] = photo.license
        if "date_upload" in extras:
            out["dateupload"] = str(photo.dateupload)
        if "date_taken" in extras:
            out["datetaken"] = photo.datetaken
            out["datetakengranularity"] = photo.granularity
            out["datetakenunknown"] = "1" if photo.taken_unknown else "0"
        if "last_update" in extras:
            out["lastupdate"] = str(photo.lastupdate)
        if "original_format" in extras and state.pro:
            out["originalsecret"] = photo.originalsecret
            out["originalformat"] = photo.originalformat
        if "o_dims" in extras and state.pro:
            out["o_width"] = str(photo.width)
            out["o_height"] = str(photo.height)
        if "geo" in extras:
            if photo.latitude is not None and photo.longitude is not None:
                out["latitude"] = f"{photo.latitude:.6f}"
                out["longitude"] = f"{photo.longitude:.6f}"
                out["accuracy"] = str(photo.accuracy)
            else:
                out["latitude"], out["longitude"], out["accuracy"] = 0, 0, 0
            out["context"] = 0
        if "tags" in extras:
            out["tags"] = " ".join(clean_tag(t) for t in photo.tags if not _MACHINE_TAG.match(t))
        if "machine_tags" in extras:
            out["machine_tags"] = " ".join(
                clean_tag(t) for t in photo.tags if _MACHINE_TAG.match(t)
            )
        if "media" in extras:
            out["media"] = photo.media
            out["media_status"] = "ready"
        if "path_alias" in extras:
            out["pathalias"] = None
        if "url_o" in extras and state.pro:
            out["url_o"] = self.static_url(photo)
            out["height_o"] = photo.height
            out["width_o"] = photo.width
        return out

    def page_of(
        self, photos: list[EmuPhoto], root: str = "photos", *, lying: bool = False
    ) -> dict[str, Any]:
        per_page = self.int_arg("per_page", 100)
        per_page = 100 if per_page < 1 else min(per_page, 500)
        page = max(1, self.int_arg("page", 1))
        total = len(photos)
        pages = max(1, -(-total // per_page)) if total else 0
        chunk = (
            [] if page > self.state.max_page else photos[(page - 1) * per_page : page * per_page]
        )
        if lying and self.state.lying_drop_every:
            chunk = [p for i, p in enumerate(chunk) if i % self.state.lying_drop_every != 0]
        return {
            root: {
                "page": page,
                "pages": pages,
                "perpage": per_page,
                "total": str(total),
                "photo": [self.listing(p) for p in chunk],
            }
        }


def _privacy_match(photo: EmuPhoto, privacy_filter: int) -> bool:
    triple = photo.privacy
    return {
        1: triple[0] == 1,
        2: triple == (0, 1, 0),
        3: triple == (0, 0, 1),
        4: triple == (0, 1, 1),
        5: triple == (0, 0, 0),
    }.get(privacy_filter, True)


def _sorted_posted(photos: list[EmuPhoto]) -> list[EmuPhoto]:
    return sorted(photos, key=lambda p: (p.dateupload, int(p.id)), reverse=True)


def m_test_login(call: _Call) -> dict[str, Any]:
    return {"user": {"id": call.state.nsid, "username": {"_content": call.state.username}}}


def m_check_token(call: _Call) -> dict[str, Any]:
    if call.token is None:
        raise FlickrError(98, "Invalid auth token")
    token = call.state.tokens.get(call.args.get("oauth_token") or call.token.token)
    if token is None or token.kind != "access" or token.token != call.token.token:
        raise FlickrError(98, "Invalid auth token")
    return {
        "oauth": {
            "token": {"_content": token.token},
            "perms": {"_content": token.perms or "none"},
            "user": {
                "nsid": call.state.nsid,
                "username": call.state.username,
                "fullname": call.state.fullname,
            },
        }
    }


def _date_filter(call: _Call, photos: list[EmuPhoto]) -> list[EmuPhoto]:
    low = call.args.get("min_upload_date")
    high = call.args.get("max_upload_date")
    try:
        if low:
            photos = [p for p in photos if p.dateupload >= int(low)]
        if high:
            photos = [p for p in photos if p.dateupload <= int(high)]
    except ValueError:
        raise FlickrError(3, "Invalid upload date") from None
    return photos


def m_get_photos(call: _Call) -> dict[str, Any]:
    call.require("user_id")
    call.user_id()
    photos = [p for p in call.state.photos.values() if call.can_see(p)]
    photos = _date_filter(call, photos)
    privacy_filter = call.int_arg("privacy_filter", 0)
    if privacy_filter:
        photos = [p for p in photos if _privacy_match(p, privacy_filter)]
    return call.page_of(_sorted_posted(photos), lying=True)


def m_recently_updated(call: _Call) -> dict[str, Any]:
    call.require("min_date", message="Required argument missing.")
    try:
        since = int(call.args["min_date"])
    except ValueError:
        raise FlickrError(2, "Not a valid date") from None
    photos = [p for p in call.state.photos.values() if p.lastupdate >= since]
    photos.sort(key=lambda p: (p.lastupdate, int(p.id)), reverse=True)
    return call.page_of(photos)


def m_search(call: _Call) -> dict[str, Any]:
    criteria = ("user_id", "tags", "machine_tags", "text", "min_upload_date", "max_upload_date")
    if not any(call.args.get(name) for name in criteria):
        raise FlickrError(
            3,
            "Parameterless searches have been disabled. Please use flickr.photos.getRecent instead.",
        )
    now = call.state.clock()
    photos = [p for p in call.state.photos.values() if call.can_see(p) and p.indexed_at <= now]
    if call.args.get("user_id"):
        call.user_id()
    photos = _date_filter(call, photos)
    if call.args.get("machine_tags"):
        wanted = [t.strip().lower() for t in call.args["machine_tags"].split(",") if t.strip()]
        if not all(_MACHINE_TAG.match(t) for t in wanted):
            raise FlickrError(11, "No valid machine tags")
        mode_all = call.args.get("machine_tag_mode") == "all"
        test = all if mode_all else any
        photos = [p for p in photos if test(w in {t.lower() for t in p.tags} for w in wanted)]
    if call.args.get("tags"):
        wanted = [clean_tag(t) for t in call.args["tags"].split(",") if t.strip()]
        mode_all = call.args.get("tag_mode") == "all"
        test = all if mode_all else any
        photos = [p for p in photos if test(w in {clean_tag(t) for t in p.tags} for w in wanted)]
    if call.args.get("text"):
        needle = call.args["text"].lower()
        photos = [
            p for p in photos if needle in f"{p.title} {p.description} {' '.join(p.tags)}".lower()
        ]
    privacy_filter = call.int_arg("privacy_filter", 0)
    if privacy_filter:
        photos = [p for p in photos if _privacy_match(p, privacy_filter)]
    return call.page_of(_sorted_posted(photos))


def m_get_info(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    state = call.state
    info: dict[str, Any] = {
        "id": photo.id,
        "secret": photo.secret,
        "server": photo.server,
        "farm": 66,
        "dateuploaded": str(photo.dateupload),
        "isfavorite": 0,
        "license": photo.license,
        "safety_level": "0",
        "rotation": 0,
    }
    if state.pro:
        info["originalsecret"] = photo.originalsecret
        info["originalformat"] = photo.originalformat
    info.update(
        {
            "owner": {"nsid": state.nsid, "username": state.username, "realname": state.fullname},
            "title": {"_content": photo.title},
            "description": {"_content": photo.description},
            "visibility": {
                "ispublic": photo.is_public,
                "isfriend": photo.is_friend,
                "isfamily": photo.is_family,
            },
            "dates": {
                "posted": str(photo.dateupload),
                "taken": photo.datetaken,
                "takengranularity": photo.granularity,
                "takenunknown": "1" if photo.taken_unknown else "0",
                "lastupdate": str(photo.lastupdate),
            },
            "permissions": {"permcomment": 3, "permaddmeta": 2},
            "tags": {
                "tag": [
                    {
                        "id": f"{photo.id}-{i}",
                        "author": state.nsid,
                        "authorname": state.username,
                        "raw": raw,
                        "_content": clean_tag(raw),
                        "machine_tag": 1 if _MACHINE_TAG.match(raw) else 0,
                    }
                    for i, raw in enumerate(photo.tags)
                ]
            },
            "urls": {
                "url": [
                    {
                        "type": "photopage",
                        "_content": f"https://www.flickr.com/photos/{state.nsid}/{photo.id}/",
                    }
                ]
            },
            "media": photo.media,
        }
    )
    if photo.latitude is not None and photo.longitude is not None:
        info["location"] = {
            "latitude": f"{photo.latitude:.6f}",
            "longitude": f"{photo.longitude:.6f}",
            "accuracy": str(photo.accuracy),
        }
    return {"photo": info}


def m_get_sizes(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    state = call.state
    base = f"{call.base}/{photo.server}/{photo.id}_{photo.secret}"
    sizes: list[dict[str, Any]] = [
        {
            "label": "Square",
            "width": 75,
            "height": 75,
            "source": f"{base}_s.jpg",
            "media": photo.media,
        },
        {
            "label": "Large",
            "width": 1024,
            "height": 683,
            "source": f"{base}_b.jpg",
            "media": photo.media,
        },
    ]
    if photo.media == "video":
        sizes = [{**s, "media": "video"} for s in sizes]
    if state.pro and call.is_owner:
        sizes.append(
            {
                "label": "Original",
                "width": photo.width,
                "height": photo.height,
                "source": call.static_url(photo),
                "media": photo.media,
            }
        )
        if photo.media == "video":
            sizes.append(
                {
                    "label": "Video Original",
                    "width": photo.width,
                    "height": photo.height,
                    "source": f"{call.base}/photos/{state.nsid}/{photo.id}/play/orig/"
                    f"{photo.originalsecret}/",
                    "media": "video",
                }
            )
    return {
        "sizes": {"canblog": 0, "canprint": 0, "candownload": 1 if state.pro else 0, "size": sizes}
    }


def m_get_exif(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    if photo.exif_hidden and not call.is_owner:
        raise FlickrError(2, "Permission denied")
    exif = []
    if photo.camera_make:
        exif.append(
            {
                "tagspace": "IFD0",
                "tagspaceid": 0,
                "tag": "Make",
                "label": "Make",
                "raw": {"_content": photo.camera_make},
            }
        )
    if photo.camera_model:
        exif.append(
            {
                "tagspace": "IFD0",
                "tagspaceid": 0,
                "tag": "Model",
                "label": "Model",
                "raw": {"_content": photo.camera_model},
            }
        )
    if not photo.taken_unknown:
        exif.append(
            {
                "tagspace": "ExifIFD",
                "tagspaceid": 0,
                "tag": "DateTimeOriginal",
                "label": "Date and Time (Original)",
                "raw": {"_content": photo.datetaken.replace("-", ":")},
            }
        )
    return {
        "photo": {
            "id": photo.id,
            "secret": photo.secret,
            "server": photo.server,
            "farm": 66,
            "camera": f"{photo.camera_make or ''} {photo.camera_model or ''}".strip(),
            "exif": exif,
        }
    }


def _bump(call: _Call, photo: EmuPhoto) -> None:
    photo.lastupdate = max(call.state.now(), photo.lastupdate + 1)


def m_set_perms(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    call.require("is_public", "is_friend", "is_family", code=2)
    values = []
    for name in ("is_public", "is_friend", "is_family"):
        if call.args[name] not in ("0", "1"):
            raise FlickrError(2, "Required arguments missing")
        values.append(int(call.args[name]))
    state = call.state
    if (
        not state.pro
        and values[0] == 0
        and photo.is_public
        and state.non_public_count() >= FREE_MAX_NON_PUBLIC
    ):
        raise FlickrError(2, "Free accounts may hold at most 50 non-public items")
    if not state.privacy_ignored:
        photo.is_public, photo.is_friend, photo.is_family = values
    _bump(call, photo)
    return {
        "photoid": {
            "_content": photo.id,
            "secret": photo.secret,
            "originalsecret": photo.originalsecret,
        }
    }


def m_set_meta(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    if "title" not in call.args and "description" not in call.args:
        raise FlickrError(2, "At least one of title or description must be set")
    if "title" in call.args:
        photo.title = call.args["title"]
    if "description" in call.args:
        photo.description = call.args["description"]
    _bump(call, photo)
    return {}


def m_set_tags(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    if "tags" not in call.args:
        raise FlickrError(1, "Photo not found")
    tags = parse_tag_string(call.args["tags"])
    if len(tags) > 75:
        raise FlickrError(2, "Maximum number of tags reached")
    photo.tags = tags
    _bump(call, photo)
    return {}


def m_set_dates(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    if not call.args.get("date_taken") and not call.args.get("date_posted"):
        raise FlickrError(2, "Not enough arguments")
    granularity = call.args.get("date_taken_granularity")
    if granularity is not None and granularity not in ("0", "4", "6", "8"):
        raise FlickrError(3, "Invalid granularity")
    if call.args.get("date_posted"):
        try:
            photo.dateupload = int(call.args["date_posted"])
        except ValueError:
            raise FlickrError(4, "Invalid date_posted") from None
    if call.args.get("date_taken"):
        taken = call.args["date_taken"]
        try:
            datetime.strptime(taken, "%Y-%m-%d %H:%M:%S")
        except ValueError:
            raise FlickrError(5, "Invalid Date Taken Format") from None
        photo.datetaken = taken
        photo.taken_unknown = False
    if granularity is not None:
        photo.granularity = int(granularity)
    _bump(call, photo)
    return {}


def m_set_location(call: _Call) -> dict[str, Any]:
    photo = call.photo()
    call.require("lat", "lon", code=2, message="Required arguments missing.")
    try:
        lat = float(call.args["lat"])
    except ValueError:
        raise FlickrError(3, "Not a valid latitude.") from None
    try:
        lon = float(call.args["lon"])
    except ValueError:
        raise FlickrError(4, "Not a valid longitude.") from None
    if not -90 <= lat <= 90:
        raise FlickrError(3, "Not a valid latitude.")
    if not -180 <= lon <= 180:
        raise FlickrError(4, "Not a valid longitude.")
    accuracy = call.int_arg("accuracy", 16)
    if not 1 <= accuracy <= 16:
        raise FlickrError(5, "Not a valid accuracy.")
    photo.latitude, photo.longitude, photo.accuracy = round(lat, 6), round(lon, 6), accuracy
    _bump(call, photo)
    return {}


def _photoset_json(photoset: EmuPhotoset, state: FlickrState) -> dict[str, Any]:
    videos = sum(
        1
        for pid in photoset.photos
        if state.photos.get(pid, None) and state.photos[pid].media == "video"
    )
    return {
        "id": photoset.id,
        "primary": photoset.primary,
        "secret": "0",
        "server": "0",
        "farm": 0,
        "photos": len(photoset.photos) - videos,
        "videos": videos,
        "title": {"_content": photoset.title},
        "description": {"_content": photoset.description},
        "date_create": str(photoset.created),
        "date_update": str(photoset.updated),
    }


def m_photosets_get_list(call: _Call) -> dict[str, Any]:
    if call.args.get("user_id"):
        call.user_id()
    elif not call.is_owner:
        raise FlickrError(1, "User not found")
    sets = sorted(call.state.photosets.values(), key=lambda s: s.created, reverse=True)
    return {
        "photosets": {
            "page": 1,
            "pages": 1,
            "perpage": len(sets),
            "total": len(sets),
            "cancreate": 1,
            "photoset": [_photoset_json(s, call.state) for s in sets],
        }
    }


def m_photosets_get_photos(call: _Call) -> dict[str, Any]:
    photoset = call.state.photosets.get(call.args.get("photoset_id", ""))
    if photoset is None:
        raise FlickrError(1, "Photoset not found")
    photos = [call.state.photos[pid] for pid in photoset.photos if pid in call.state.photos]
    photos = [p for p in photos if call.can_see(p)]
    page = call.page_of(photos, "photoset")["photoset"]
    for item in page["photo"]:
        item["isprimary"] = "1" if item["id"] == photoset.primary else "0"
    page.update(
        {
            "id": photoset.id,
            "primary": photoset.primary,
            "owner": call.state.nsid,
            "ownername": call.state.username,
            "title": photoset.title,
        }
    )
    return {"photoset": page}


def m_photosets_create(call: _Call) -> dict[str, Any]:
    call.require("title", code=1, message="No title specified")
    primary = call.state.photos.get(call.args.get("primary_photo_id", ""))
    if primary is None:
        raise FlickrError(2, "Photo not found")
    now = call.state.now()
    photoset = EmuPhotoset(
        call.state._new_id(),
        call.args["title"],
        call.args.get("description", ""),
        primary.id,
        [primary.id],
        now,
        now,
    )
    call.state.photosets[photoset.id] = photoset
    return {
        "photoset": {
            "id": photoset.id,
            "url": f"https://www.flickr.com/photos/{call.state.nsid}/sets/{photoset.id}/",
        }
    }


def m_photosets_add_photo(call: _Call) -> dict[str, Any]:
    photoset = call.state.photosets.get(call.args.get("photoset_id", ""))
    if photoset is None:
        raise FlickrError(1, "Photoset not found")
    photo_id = call.args.get("photo_id", "")
    if photo_id not in call.state.photos:
        raise FlickrError(2, "Photo not found")
    if photo_id in photoset.photos:
        raise FlickrError(3, "Photo already in set")
    photoset.photos.append(photo_id)
    photoset.updated = call.state.now()
    return {}


def m_people_get_info(call: _Call) -> dict[str, Any]:
    call.require("user_id")
    if call.args["user_id"] not in (call.state.nsid, "me"):
        raise FlickrError(1, "User not found")
    state = call.state
    return {
        "person": {
            "id": state.nsid,
            "nsid": state.nsid,
            "ispro": 1 if state.pro else 0,
            "username": {"_content": state.username},
            "realname": {"_content": state.fullname},
            "photos": {"count": {"_content": len(state.photos)}},
        }
    }


def m_upload_status(call: _Call) -> dict[str, Any]:
    state = call.state
    limit = "lots" if state.pro else str(max(0, FREE_MAX_ITEMS - len(state.photos)))
    return {
        "user": {
            "id": state.nsid,
            "ispro": 1 if state.pro else 0,
            "username": {"_content": state.username},
            "filesize": {"maxbytes": "1073741824", "maxkb": "1048576"},
            "videosize": {"maxbytes": "1073741824", "maxkb": "1048576"},
            "sets": {"created": len(state.photosets), "remaining": "lots"},
            "videos": {
                "uploaded": sum(1 for p in state.photos.values() if p.media == "video"),
                "remaining": limit,
            },
        }
    }


def m_check_tickets(call: _Call) -> dict[str, Any]:
    call.require("tickets")
    out = []
    for ticket_id in call.args["tickets"].split(","):
        ticket = call.state.tickets.get(ticket_id.strip())
        if ticket is None:
            out.append({"id": ticket_id.strip(), "invalid": 1})
        elif ticket.failed:
            out.append({"id": ticket.id, "complete": 2})
        elif ticket.polls_left > 0:
            ticket.polls_left -= 1
            out.append({"id": ticket.id, "complete": 0})
        else:
            out.append({"id": ticket.id, "complete": 1, "photoid": ticket.photo_id})
    return {"uploader": {"ticket": out}}


_READ, _WRITE = PERM_RANK["read"], PERM_RANK["write"]
_METHODS: dict[str, tuple[Callable[[_Call], dict[str, Any]], int]] = {
    "flickr.test.login": (m_test_login, _READ),
    "flickr.auth.oauth.checkToken": (m_check_token, 0),
    "flickr.people.getPhotos": (m_get_photos, 0),
    "flickr.people.getInfo": (m_people_get_info, 0),
    "flickr.people.getUploadStatus": (m_upload_status, _READ),
    "flickr.photos.recentlyUpdated": (m_recently_updated, _READ),
    "flickr.photos.search": (m_search, 0),
    "flickr.photos.getInfo": (m_get_info, 0),
    "flickr.photos.getSizes": (m_get_sizes, 0),
    "flickr.photos.getExif": (m_get_exif, 0),
    "flickr.photos.setPerms": (m_set_perms, _WRITE),
    "flickr.photos.setMeta": (m_set_meta, _WRITE),
    "flickr.photos.setTags": (m_set_tags, _WRITE),
    "flickr.photos.setDates": (m_set_dates, _WRITE),
    "flickr.photos.geo.setLocation": (m_set_location, _WRITE),
    "flickr.photosets.getList": (m_photosets_get_list, 0),
    "flickr.photosets.getPhotos": (m_photosets_get_photos, 0),
    "flickr.photosets.create": (m_photosets_create, _WRITE),
    "flickr.photosets.addPhoto": (m_photosets_add_photo, _WRITE),
    "flickr.photos.upload.checkTickets": (m_check_tickets, 0),
}


# ---------------------------------------------------------------------------
# Entry points
# ---------------------------------------------------------------------------


class FlickrEmulator(EmulatorServer):
    """``EmulatorServer`` running ``FlickrHandler`` over a ``FlickrState``."""

    def __init__(
        self, state: FlickrState | None = None, *, port: int = 0, faults: FaultPlan | None = None
    ) -> None:
        self.state = state or FlickrState()
        super().__init__(FlickrHandler, self.state, port=port, faults=faults)

    def start(self) -> FlickrEmulator:
        """Like the base, with a short poll interval so that ``stop`` returns quickly in tests."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> FlickrEmulator:
        return self.start()

    def endpoints(self) -> dict[str, str]:
        """The ``endpoints`` block of a services.json entry that points at this emulator."""
        return {
            "rest": f"{self.url}/services/rest/",
            "upload": f"{self.url}/services/upload/",
            "replace": f"{self.url}/services/replace/",
            "oauth": f"{self.url}/services/oauth/",
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run a Flickr emulator on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed-photos", type=int, default=200)
    parser.add_argument("--free", action="store_true", help="emulate a free account (no originals)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument(
        "--search-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="search shows a new upload only this long after it (give the service "
        "the same search_lag_s)",
    )
    parser.add_argument(
        "--privacy-ignored",
        action="store_true",
        help="setPerms and an upload's privacy flags reply ok but change nothing",
    )
    args = parser.parse_args(argv)
    state = FlickrState(api_key=args.api_key, api_secret=args.api_secret, pro=not args.free)
    state.search_lag_s = args.search_lag
    state.privacy_ignored = args.privacy_ignored
    state.seed(args.seed_photos)
    emulator = FlickrEmulator(state, port=args.port)
    print(
        f"Flickr emulator at {emulator.url} ({len(state.photos)} photos, "
        f"{'free' if args.free else 'pro'} account)"
    )
    print(f"API key:    {state.api_key}")
    print(f"API secret: {state.api_secret}")
    endpoints = " ".join(f"--endpoint {key}={url}" for key, url in emulator.endpoints().items())
    print("services.json endpoints: " + json.dumps(emulator.endpoints()))
    print("add it as a service (one line):")
    print(
        f"  photosync service add flickr --type flickr --target {endpoints} --requests-per-hour 100000"
    )
    print("then: photosync auth flickr (with the key and secret above)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
