"""One emulated Flickr account: its photos, albums, tokens and tickets, the API key
that may call it, and the switches tests turn (lag, lying listings, latency).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from photosync.emulators.flickr.media import exif_taken, make_jpeg, make_mp4, sniff_format

DEFAULT_API_KEY = "emulator-api-key-0001"
DEFAULT_API_SECRET = "emulator-api-secret-0001"
DEFAULT_NSID = "12345678@N00"
FIRST_SEEDED_ID = 50_000_000_000
PERM_RANK = {"none": 0, "read": 1, "write": 2, "delete": 3}
MACHINE_TAG = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*:[A-Za-z_][A-Za-z0-9_]*=.+$")
_TAG_TOKEN = re.compile(r'"([^"]*)"|(\S+)')


def clean_tag(raw: str) -> str:
    """Flickr's normalised tag: machine tags lower-cased, others stripped to alphanumerics."""
    if MACHINE_TAG.match(raw):
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
        sniffed = sniff_format(data) or ("photo", "jpg")
        now = self.now()
        taken = exif_taken(data) if sniffed[0] == "photo" else None
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
