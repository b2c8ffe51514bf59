"""Google Takeout archives as a read-only source of original photos.

A Takeout export is the only way to get a Google Photos library's original
bytes and its metadata (the Library API reads app-created items only). Exports
come as several ``.zip``/``.tgz`` parts, each a complete archive; a photo and
its JSON sidecar can sit in different parts, so *every* part is indexed before
anything is matched. Archives are read as streams; nothing is unpacked to disk.

Decisions (documented for the workflow and the user):

* The product folder (``Takeout/Google Photos``, ``Takeout/Google Fotos``,
  ``Takeout/Zdjęcia Google`` ...) is found by structure: the parent of the
  ``Photos from YYYY`` folders, else the folder under ``Takeout/`` holding the
  most media files.
* A photo that sits in its year folder and in album folders is ONE item; album
  folders add membership (``extra["albums"]``). Identity groups files, it never
  decides whether bytes are kept: a file of the item that may differ from the
  first one (another size, or another zip CRC) is listed as one of its
  ``copies`` (id ``<id>#copy:<path>``); discover stores every one and gives the
  item's id the best (resolve's quality rules). Same-size files in folders and
  tar parts are taken as identical (telling them apart costs a second read).
  Flags a sidecar states (archived, trashed, favorited) hold whichever file's
  sidecar said them.
* Identity: ``instance_id`` is the key of the sidecar's ``url``
  (``https://photos.google.com/photo/<key>``); without one it is
  ``path:<path under the product folder>:<size>`` (and the item names those
  path ids as ``aliases``, so that an export lacking a sidecar part and a
  complete one agree on one instance). ``-edited`` copies become
  ``<parent>#edit:<file>`` and Live/motion video halves ``<parent>#live:<file>``;
  both inherit the parent's sidecar metadata and are linked both ways in
  ``extra`` (``edit_of``/``edits``, ``live_photo_of``/``live_photo_video``).
* Archive: a normal photo flagged ``extra["archived"]``.
  Trash: listed so it is never lost, flagged ``trashed`` and
  ``do_not_replicate`` (never uploaded anywhere).
  Locked Folder: listed, private, flagged ``locked`` and ``do_not_replicate``.
  Failed Videos: listed with a problem note (Google could not process them).
* Dates come from ``photoTakenTime.timestamp`` as UTC; ``formatted`` is never
  parsed; a missing or ``"0"`` timestamp means no date from the sidecar.
* ``version`` digests the size and the mapped metadata (not view counts), so a
  re-import or a later full/incremental export leaves unchanged items alone.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.blobstore.base import open_regular
from photosync.errors import ItemUnavailable, PhotosyncError
from photosync.model import ObservedMetadata, Visibility
from photosync.services.base import (
    ListingReport,
    RemoteItem,
    SourceService,
    VisibilityObservation,
)

GB = 1024**3
MB = 1024**2
#: Google's own limits are 200 MB per photo and 20 GB per video.
DEFAULT_MAX_ENTRY_BYTES = 21 * GB
DEFAULT_MAX_SIDECAR_BYTES = 2 * MB
#: uncompressed/compressed; photos barely compress, so a huge ratio is a bomb
DEFAULT_MAX_RATIO = 100.0
#: entries smaller than this may compress well (JSON, blank images) without suspicion
RATIO_FLOOR_BYTES = 4 * MB
MAX_ENTRIES = 5_000_000
#: a sidecar name is cut to this many characters before ``.json``
SIDECAR_STEM_LIMIT = 46
#: a truncated sidecar stem is at least this long (shorter ones must match exactly)
MIN_TRUNCATED_STEM = 30
SUPPLEMENTAL = ".supplemental-metadata"

PHOTO_EXTS = frozenset(
    [
        ".jpg",
        ".jpeg",
        ".jpe",
        ".png",
        ".gif",
        ".heic",
        ".heif",
        ".webp",
        ".tif",
        ".tiff",
        ".bmp",
        ".avif",
        ".dng",
        ".cr2",
        ".cr3",
        ".nef",
        ".arw",
        ".orf",
        ".rw2",
        ".raf",
        ".srw",
        ".pef",
        ".raw",
        ".ico",
        ".jxl",
    ]
)
VIDEO_EXTS = frozenset(
    [
        ".mp4",
        ".mov",
        ".m4v",
        ".3gp",
        ".3g2",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".mts",
        ".m2ts",
        ".wmv",
        ".flv",
        ".mp",
        ".mv",
    ]
)
_MOTION_SUFFIXES = (".mp", ".mv", ".ls", ".ts")

YEAR_FOLDER = re.compile(
    r"^(?:Photos from|Fotos von|Fotos de|Photos de|Foto dal|Foto del|Zdjęcia z|Фото за|"
    r"Foto's uit|Fotos från|Billeder fra)\s+((?:18|19|20)\d{2})$",
    re.IGNORECASE,
)
ALBUM_METADATA_STEMS = frozenset(
    unicodedata.normalize("NFC", name).casefold()
    for name in (
        "metadata",
        "métadonnées",
        "metadaten",
        "metadati",
        "metadatos",
        "metadane",
        "metadados",
        "metagegevens",
        "metadata (1)",
        "метаданные",
        "metadatové údaje",
        "metaadatok",
        "メタデータ",
        "元数据",
    )
)
_ALBUM_KEYS = frozenset(
    {"title", "description", "access", "date", "geoData", "location", "enrichments", "shared"}
)
_PHOTO_SIDECAR_KEYS = frozenset(
    {"photoTakenTime", "creationTime", "url", "imageViews", "geoDataExif", "googlePhotosOrigin"}
)
#: best-effort localized names of the special folders; sidecar flags count too
SPECIAL_FOLDERS: dict[str, str] = {
    **dict.fromkeys(
        ("archive", "archiv", "archivio", "archivo", "archiwum", "arquivo", "archief", "архив"),
        "archive",
    ),
    **dict.fromkeys(
        (
            "trash",
            "bin",
            "papierkorb",
            "corbeille",
            "cestino",
            "papelera",
            "kosz",
            "lixeira",
            "prullenbak",
            "корзина",
        ),
        "trash",
    ),
    **dict.fromkeys(
        (
            "locked folder",
            "gesperrter ordner",
            "dossier verrouillé",
            "cartella bloccata",
            "carpeta bloqueada",
            "folder zablokowany",
            "zablokowany folder",
            "pasta trancada",
            "vergrendelde map",
        ),
        "locked",
    ),
    **dict.fromkeys(
        (
            "failed videos",
            "fehlgeschlagene videos",
            "vidéos ayant échoué",
            "video non riusciti",
            "vídeos fallidos",
            "nieudane filmy",
        ),
        "failed",
    ),
}
#: suffixes Google appends to the stem of an edited copy, by locale
EDIT_SUFFIXES = tuple(
    unicodedata.normalize("NFC", s)
    for s in (
        "-edited",
        "-modifié",
        "-modifie",
        "-bearbeitet",
        "-modificato",
        "-editado",
        "-edytowane",
        "-bewerkt",
        "-redigerad",
        "-redigeret",
        "-muokattu",
        "-upraveno",
        "-szerkesztett",
        "-изменено",
        "-編集済み",
        "-已编辑",
    )
)
_COUNTER = re.compile(r"^(.*)\((\d+)\)$")
_MEDIA_COUNTER = re.compile(r"^(.*)\((\d+)\)(\.[^.()]*)?$")
_URL_KEY = re.compile(r"/photo/([A-Za-z0-9_\-]+)")


class TakeoutError(PhotosyncError):
    """A Takeout part cannot be read (not an archive, truncated, a bomb)."""


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def split_ext(name: str) -> tuple[str, str]:
    """(stem, ".ext") of a file name; ext is "" when there is none."""
    dot = name.rfind(".")
    if dot <= 0 or dot == len(name) - 1 or " " in name[dot:]:
        return name, ""
    return name[:dot], name[dot:]


def media_kind(name: str) -> str | None:
    ext = split_ext(name)[1].lower()
    if ext in PHOTO_EXTS:
        return "photo"
    if ext in VIDEO_EXTS:
        return "video"
    return None


# ---------------------------------------------------------------------------
# Sidecar name matching (pure functions, property-tested)


def _media_keys(media: str) -> list[tuple[str, int]]:
    """(name without copy counter, counter) readings of a media file name."""
    keys = [(media, 0)]
    found = _MEDIA_COUNTER.match(media)
    if found and found.group(1):
        keys.append((found.group(1) + (found.group(3) or ""), int(found.group(2))))
    return keys


def _sidecar_keys(sidecar: str) -> list[tuple[str, int]]:
    """(stem without counter, counter) readings of a sidecar name."""
    stem = sidecar[: -len(".json")]
    keys = [(stem, 0)]
    found = _COUNTER.match(stem)
    if found and found.group(1):
        keys.append((found.group(1), int(found.group(2))))
    return keys


def _full_forms(base: str) -> list[tuple[str, int]]:
    """Untruncated sidecar stems Google may have written for ``base``, with a rank."""
    stem, ext = split_ext(base)
    forms = [(base + SUPPLEMENTAL, 3), (base, 3)]
    if ext:
        forms += [(stem + SUPPLEMENTAL, 2), (stem, 1)]
    return forms


def sidecar_score(media: str, sidecar: str, title: str | None = None) -> float:
    """How well ``sidecar`` fits ``media`` (0 = not at all).

    Exact name forms beat truncated ones; the sidecar's ``title`` (the name as
    uploaded) breaks ties between media that share a truncated prefix.
    """
    best = 0.0
    for base, counter in _media_keys(media):
        for key, key_counter in _sidecar_keys(sidecar):
            if key_counter != counter:
                continue
            for form, rank in _full_forms(base):
                if key == form:
                    best = max(best, 100.0 + rank * 10)
                elif (
                    len(key) >= MIN_TRUNCATED_STEM
                    and len(form) > len(key)
                    and len(key) <= SIDECAR_STEM_LIMIT + 1
                    and form.startswith(key)
                ):
                    best = max(best, 50.0 + rank * 5 + len(key) / 100.0)
    if best and title:
        if nfc(title) == media:
            best += 30.0
        elif any(nfc(title) == base for base, _ in _media_keys(media)):
            best += 20.0
    if best and media_kind(media) == "photo":
        best += 1.0
    return best


def match_sidecars(
    media: Iterable[str],
    sidecars: Iterable[str],
    titles: dict[str, str] | None = None,
) -> dict[str, str]:
    """Pair media names with sidecar names of one folder, each used at most once."""
    titles = titles or {}
    media_list = sorted(set(media))
    sidecar_list = sorted(set(sidecars))
    pairs: list[tuple[float, str, str]] = []
    for m in media_list:
        for s in sidecar_list:
            score = sidecar_score(m, s, titles.get(s))
            if score > 0:
                pairs.append((score, m, s))
    pairs.sort(key=lambda p: (-p[0], p[1], p[2]))
    matched: dict[str, str] = {}
    used: set[str] = set()
    for _, m, s in pairs:
        if m in matched or s in used:
            continue
        matched[m] = s
        used.add(s)
    return matched


def edit_parent_name(name: str, siblings: Iterable[str]) -> tuple[str, str] | None:
    """(original name, suffix) when ``name`` is an edited copy of a sibling."""
    stem, ext = split_ext(name)
    counter = ""
    found = _COUNTER.match(stem)
    if found:
        stem, counter = found.group(1), f"({found.group(2)})"
    folded = stem.casefold()
    names = set(siblings)
    for suffix in EDIT_SUFFIXES:
        if folded.endswith(suffix.casefold()) and len(stem) > len(suffix):
            base = stem[: -len(suffix)] + counter
            for candidate in (base + ext, *sorted(n for n in names if split_ext(n)[0] == base)):
                if candidate in names and candidate != name:
                    return candidate, stem[len(stem) - len(suffix) :]
    return None


def motion_stem(name: str) -> str:
    """The stem Live/motion halves share: ``IMG_1.HEIC``/``IMG_1.MOV``, ``PXL.MP.jpg``/``PXL.MP``."""
    stem, ext = split_ext(name)
    if ext.lower() in _MOTION_SUFFIXES:
        return stem
    inner_stem, inner_ext = split_ext(stem)
    if inner_ext.lower() in _MOTION_SUFFIXES:
        return inner_stem
    return stem


# ---------------------------------------------------------------------------
# Sidecar content


def _epoch(value: Any) -> int | None:
    if not isinstance(value, dict):
        return None
    raw = value.get("timestamp")
    if isinstance(raw, bool) or raw is None:
        return None
    try:
        seconds = int(str(raw).strip())
    except ValueError:
        return None
    return seconds if seconds > 0 else None


def utc_iso(seconds: int) -> str | None:
    try:
        moment = datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return moment.isoformat().replace("+00:00", "Z")


def _geo(value: Any) -> dict[str, float] | None:
    """A location from a geoData block; all zeros (or garbage) means none."""
    if not isinstance(value, dict):
        return None
    try:
        lat = float(value.get("latitude") or 0.0)
        lng = float(value.get("longitude") or 0.0)
        alt = float(value.get("altitude") or 0.0)
    except (TypeError, ValueError):
        return None
    if lat == 0.0 and lng == 0.0:
        return None
    if not (-90.0 <= lat <= 90.0 and -180.0 <= lng <= 180.0):
        return None
    location = {"lat": lat, "lng": lng}
    if alt:
        location["alt"] = alt
    return location


def _sidecar_sources(facts: SidecarFacts) -> list[dict[str, Any]]:
    """Every date, place and caption the sidecar states, each labelled: kept on the
    instance whatever wins (discover compares them with the file's own)."""
    stated: list[tuple[str, str, Any]] = [
        ("google-takeout:photoTakenTime", "taken_date", facts.taken_date),
        ("google-takeout:geoData", "location", facts.geo_data),
        ("google-takeout:geoDataExif", "location", facts.geo_data_exif),
        ("google-takeout:description", "caption", facts.caption),
        # what else Google knew: who is in it, a favourite, where it came from (the
        # view count changes with every look: it stays in the stored sidecar blob only)
        ("google-takeout:people", "people", facts.people or None),
        ("google-takeout:favorited", "favorite", True if facts.favorited else None),
        ("google-takeout:googlePhotosOrigin", "origin", facts.origin),
        ("google-takeout:appSource", "app", facts.app_source),
    ]
    return [
        {"source": source, "field": name, "value": value}
        for source, name, value in stated
        if value is not None
    ]


def copy_id(photo_id: str, rel: str) -> str:
    """The id of one more file of an item, whose bytes differ from the item's own."""
    return f"{photo_id}#copy:{rel}"


def _sidecar_flags(facts: SidecarFacts) -> set[str]:
    """Flags a sidecar states; they hold for the item whichever of its files said them."""
    said = {"archive": facts.archived, "trash": facts.trashed, "favorited": facts.favorited}
    return {flag for flag, on in said.items() if on}


def url_key(url: Any) -> str | None:
    if not isinstance(url, str):
        return None
    found = _URL_KEY.search(url)
    return found.group(1) if found else None


@dataclass
class SidecarFacts:
    """What one photo sidecar says, already mapped to photosync's terms."""

    taken_date: str | None = None
    location: dict[str, float] | None = None
    #: both places the sidecar states: geoData (Google's, maybe the user's edit)
    #: and geoDataExif (the camera's, as uploaded)
    geo_data: dict[str, float] | None = None
    geo_data_exif: dict[str, float] | None = None
    caption: str | None = None
    title: str | None = None
    url: str | None = None
    key: str | None = None
    created: datetime | None = None
    people: list[str] = field(default_factory=list)
    favorited: bool = False
    archived: bool = False
    trashed: bool = False
    origin: dict[str, Any] | None = None
    app_source: str | None = None


def parse_sidecar(data: Any) -> SidecarFacts:
    """Map a sidecar dict; unexpected field types are ignored, never fatal."""
    facts = SidecarFacts()
    if not isinstance(data, dict):
        return facts
    taken = _epoch(data.get("photoTakenTime"))
    if taken is not None:
        facts.taken_date = utc_iso(taken)
    created = _epoch(data.get("creationTime"))
    if created is not None:
        with contextlib.suppress(OverflowError, OSError, ValueError):
            facts.created = datetime.fromtimestamp(created, tz=UTC)
    facts.geo_data, facts.geo_data_exif = _geo(data.get("geoData")), _geo(data.get("geoDataExif"))
    facts.location = facts.geo_data_exif or facts.geo_data
    description = data.get("description")
    if isinstance(description, str) and description.strip():
        facts.caption = description
    title = data.get("title")
    if isinstance(title, str) and title:
        facts.title = nfc(title)
    if isinstance(data.get("url"), str):
        facts.url = data["url"]
        facts.key = url_key(data["url"])
    people = data.get("people")
    if isinstance(people, list):
        facts.people = sorted(
            {p["name"] for p in people if isinstance(p, dict) and isinstance(p.get("name"), str)}
        )
    facts.favorited = data.get("favorited") is True
    facts.archived = data.get("archived") is True
    facts.trashed = data.get("trashed") is True
    origin = data.get("googlePhotosOrigin")
    if isinstance(origin, dict) and origin:
        facts.origin = origin
    app = data.get("appSource")
    if isinstance(app, dict) and isinstance(app.get("androidPackageName"), str):
        facts.app_source = app["androidPackageName"]
    return facts


def album_title(data: Any) -> str | None:
    """Title from an album metadata file (plain, ``albumData`` wrapper or ``{"title"}``)."""
    if isinstance(data, dict) and isinstance(data.get("albumData"), dict):
        data = data["albumData"]
    if isinstance(data, dict) and isinstance(data.get("title"), str) and data["title"].strip():
        return nfc(data["title"])
    return None


def album_access(data: Any) -> str:
    """How an album is shared, from its metadata file: ``access`` (``protected``: by
    link; ``""``/``private``: not shared) and ``shared: true``. A file without either
    (newer exports write just ``{"title": ...}``) is an album nobody was invited to."""
    if isinstance(data, dict) and isinstance(data.get("albumData"), dict):
        data = data["albumData"]
    if not isinstance(data, dict):
        return "unreadable"
    access = data.get("access")
    said = access.strip().lower() if isinstance(access, str) else ""
    if data.get("shared") is True and said in ("", "private"):
        return "shared"
    if access is not None and not isinstance(access, str):
        return "unreadable"
    return said


#: Takeout's sharing, as the canonical level whoever may see the photo there: an album
#: shared by link (``protected``) or public is anyone with the link, an album shared
#: with people (``shared``) or a photo that came from someone's shared album or a
#: partner share is ``friends``. Any other value is not understood: reported as the
#: widest (public) so the audit shows it; what photosync pushes never comes from here
SHARING_LEVELS: dict[str, Visibility] = {
    "": Visibility.PRIVATE,
    "private": Visibility.PRIVATE,
    "shared": Visibility.FRIENDS,
    "fromsharedalbum": Visibility.FRIENDS,
    "frompartnersharing": Visibility.FRIENDS,
    "protected": Visibility.PUBLIC,
    "public": Visibility.PUBLIC,
}


def sharing_level(sharing: dict[str, str]) -> Visibility:
    """The widest level any of an item's shares shows it at (audit: fail closed); an
    access value Takeout may add that photosync does not know counts as public."""
    levels = [SHARING_LEVELS.get(value, Visibility.PUBLIC) for value in sharing.values()]
    return max(levels, key=lambda level: level.rank, default=Visibility.PRIVATE)


def _origin_sharing(facts: SidecarFacts) -> str | None:
    """``fromSharedAlbum`` / ``fromPartnerSharing``: the photo came from someone's share."""
    for key in ("fromSharedAlbum", "fromPartnerSharing"):
        if facts.origin and key in facts.origin:
            return key.lower()
    return None


def _album_like(data: Any) -> bool:
    """Content that can only be an album's metadata file (whatever its localized name)."""
    if not isinstance(data, dict):
        return False
    if "albumData" in data:
        return True
    keys = set(data)
    return bool(keys) and keys <= _ALBUM_KEYS and not keys & _PHOTO_SIDECAR_KEYS


# ---------------------------------------------------------------------------
# Archive index


@dataclass(frozen=True)
class Entry:
    """One regular file inside a part (or an unpacked folder)."""

    part: Path
    export: str  # parts of one export share this; separate exports are separate namespaces
    kind: str  # "zip" | "tar" | "dir"
    member: str  # name inside the archive, or absolute path for "dir"
    path: str  # NFC POSIX path relative to the part's root
    size: int
    offset: int = -1  # data offset in the (decompressed) tar stream
    gzipped: bool = False
    #: the entry's own time (zip/tar header, file mtime), POSIX seconds
    mtime: float | None = None
    #: CRC-32 from the zip directory (free to read): tells same-size copies apart
    crc: int | None = None

    def may_differ(self, other: Entry) -> bool:
        """Could these two files hold different bytes (without reading either)?"""
        if self.size != other.size:
            return True
        return self.crc is not None and other.crc is not None and self.crc != other.crc


@dataclass
class _Json:
    """A JSON file reduced to what matching needs (full dicts of 100k sidecars weigh GBs)."""

    error: str | None = None
    is_object: bool = False
    title: str | None = None
    facts: SidecarFacts | None = None
    album_like: bool = False
    album_title: str | None = None
    album_access: str = ""

    @classmethod
    def of(cls, data: Any) -> _Json:
        if not isinstance(data, dict):
            return cls()
        title = data.get("title")
        return cls(
            is_object=True,
            title=nfc(title) if isinstance(title, str) else None,
            facts=parse_sidecar(data),
            album_like=_album_like(data),
            album_title=album_title(data),
            album_access=album_access(data),
        )


def safe_member_path(name: str) -> str | None:
    """The normalised relative path of an archive member, or None when unsafe (zip-slip)."""
    if not name or "\x00" in name:
        return None
    posix = name.replace("\\", "/")
    if posix.startswith("/") or re.match(r"^[A-Za-z]:", posix):
        return None
    parts = [p for p in posix.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return nfc("/".join(parts))


class _Indexer:
    """Reads the directory of every part and the JSON files in it."""

    def __init__(
        self,
        *,
        max_entry_bytes: int,
        max_sidecar_bytes: int,
        max_ratio: float,
        warn: Callable[[str], None],
    ) -> None:
        self.max_entry_bytes = max_entry_bytes
        self.max_sidecar_bytes = max_sidecar_bytes
        self.max_ratio = max_ratio
        self.warn = warn
        self.entries: dict[tuple[str, str], Entry] = {}
        self.json: dict[tuple[str, str], _Json] = {}

    def add_part(self, part: Path) -> None:
        if part.is_dir():
            archives = sorted(
                p for p in part.iterdir() if p.is_file() and _archive_kind(p) is not None
            )
            if archives and not (part / "Takeout").is_dir():
                for archive in archives:
                    self.add_part(archive)
                return
            self._add_dir(part)
            return
        if not part.exists():
            raise TakeoutError(f"Takeout part not found: {part}")
        kind = _archive_kind(part)
        if kind == "zip":
            self._add_zip(part)
        elif kind == "tar":
            self._add_tar(part)
        else:
            raise TakeoutError(
                f"{part} is not a Takeout part",
                hint="pass the .zip or .tgz files Google sent, or a folder they were unpacked into",
            )

    def _take(self, entry: Entry, read_json: Callable[[], bytes] | None) -> None:
        if len(self.entries) >= MAX_ENTRIES:
            raise TakeoutError(f"{entry.part}: more than {MAX_ENTRIES} entries; refusing to index")
        existing = self.entries.get((entry.export, entry.path))
        if existing is not None:
            if existing.size != entry.size:
                self.warn(
                    f"{entry.path} appears in {existing.part.name} and {entry.part.name} "
                    f"with different sizes; kept the first"
                )
            return
        if entry.size > self.max_entry_bytes:
            self.warn(
                f"{entry.part.name}: {entry.path} skipped: {entry.size} bytes is over the cap"
            )
            return
        key = (entry.export, entry.path)
        self.entries[key] = entry
        if entry.path.lower().endswith(".json"):
            if entry.size > self.max_sidecar_bytes:
                self.json[key] = _Json(
                    error=f"oversized JSON ({entry.size} bytes > {self.max_sidecar_bytes}); ignored"
                )
                return
            assert read_json is not None
            try:
                raw = read_json()
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, tarfile.TarError) as exc:
                self.json[key] = _Json(error=f"unreadable JSON: {exc}")
                return
            self.json[key] = _decode_json(raw, self.max_sidecar_bytes)

    def _add_dir(self, root: Path) -> None:
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            for name in sorted(files):
                full = Path(folder) / name
                rel = full.relative_to(root).as_posix()
                if full.is_symlink() or not full.is_file():
                    self.warn(f"{rel}: not a regular file (symlink?); skipped")
                    continue
                path = safe_member_path(rel)
                if path is None:
                    continue
                info = full.stat()
                size = info.st_size
                entry = Entry(
                    part=root,
                    export=export_key(root),
                    kind="dir",
                    member=str(full),
                    path=path,
                    size=size,
                    mtime=info.st_mtime,
                )
                self._take(entry, functools.partial(_read_file, full, self.max_sidecar_bytes))

    def _add_zip(self, part: Path) -> None:
        try:
            archive = zipfile.ZipFile(part)
        except (zipfile.BadZipFile, OSError) as exc:
            raise TakeoutError(
                f"{part.name} is not a readable zip: {exc}",
                hint="the download may be incomplete; download this part again",
            ) from exc
        with archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                path = safe_member_path(info.filename)
                if path is None:
                    self.warn(
                        f"{part.name}: unsafe entry name {info.filename!r} skipped (zip-slip)"
                    )
                    continue
                if info.flag_bits & 0x1:
                    self.warn(f"{part.name}: {path} is encrypted; skipped")
                    continue
                if info.file_size > RATIO_FLOOR_BYTES and info.file_size > self.max_ratio * max(
                    info.compress_size, 1
                ):
                    self.warn(
                        f"{part.name}: {path} skipped: compression ratio "
                        f"{info.file_size}/{info.compress_size} looks like a zip bomb"
                    )
                    continue
                entry = Entry(
                    part=part,
                    export=export_key(part),
                    kind="zip",
                    member=info.filename,
                    path=path,
                    size=info.file_size,
                    mtime=_zip_time(info.date_time),
                    crc=info.CRC,
                )
                self._take(
                    entry,
                    functools.partial(_read_zip_member, archive, info, self.max_sidecar_bytes),
                )

    def _add_tar(self, part: Path) -> None:
        gzipped = _is_gzip(part)
        compressed_size = max(part.stat().st_size, 1)
        declared = 0
        try:
            with tarfile.open(part, mode="r|gz" if gzipped else "r|") as archive:
                for info in archive:
                    path = safe_member_path(info.name)
                    if info.isdir():
                        continue
                    if path is None:
                        self.warn(
                            f"{part.name}: unsafe entry name {info.name!r} skipped (zip-slip)"
                        )
                        continue
                    if not info.isfile():
                        self.warn(f"{part.name}: {path} is a link or device; skipped")
                        continue
                    declared += info.size
                    if declared > 4 * GB and declared > self.max_ratio * compressed_size:
                        raise TakeoutError(
                            f"{part.name}: declared contents are over {self.max_ratio:g} times the "
                            f"archive size; refusing a likely archive bomb"
                        )
                    entry = Entry(
                        part=part,
                        export=export_key(part),
                        kind="tar",
                        member=info.name,
                        path=path,
                        size=info.size,
                        offset=info.offset_data,
                        mtime=float(info.mtime),
                        gzipped=gzipped,
                    )

                    def read(info: tarfile.TarInfo = info) -> bytes:
                        handle = archive.extractfile(info)
                        if handle is None:
                            return b""
                        return _read_capped(handle, self.max_sidecar_bytes)

                    self._take(entry, read)
        except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
            raise TakeoutError(
                f"{part.name} is not a readable tar archive (or is truncated): {exc}",
                hint="the download may be incomplete; download this part again",
            ) from exc


_PART_NAME = re.compile(r"^(.*)-\d{1,4}\.(?:zip|tgz|tar\.gz|tar)$", re.IGNORECASE)


def export_key(part: Path) -> str:
    """What the parts of one export share: ``takeout-20260101T000000Z`` for ``...-001.zip``."""
    found = _PART_NAME.match(part.name)
    return found.group(1) if found else part.name


def _zip_time(date_time: tuple[int, int, int, int, int, int]) -> float | None:
    try:
        return datetime(*date_time, tzinfo=UTC).timestamp()  # zip times carry no zone
    except ValueError:
        return None


def _entry_time(entry: Entry) -> datetime | None:
    if entry.mtime is None:
        return None
    try:
        return datetime.fromtimestamp(entry.mtime, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _archive_kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(".zip"):
        return "zip"
    if name.endswith((".tgz", ".tar.gz", ".tar")):
        return "tar"
    return None


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as handle:
        return handle.read(2) == b"\x1f\x8b"


def _read_file(path: Path, cap: int) -> bytes:
    return _read_capped(path.open("rb"), cap)


def _read_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int) -> bytes:
    return _read_capped(archive.open(info), cap)


def _read_capped(handle: BinaryIO | io.BufferedIOBase | Any, cap: int) -> bytes:
    with handle:
        data: bytes = handle.read(cap + 1)
    return data


def _decode_json(raw: bytes, cap: int) -> _Json:
    if len(raw) > cap:
        return _Json(error=f"oversized JSON (> {cap} bytes); ignored")
    try:
        return _Json.of(json.loads(raw.decode("utf-8-sig")))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        return _Json(error=f"malformed JSON: {str(exc)[:120]}")


# ---------------------------------------------------------------------------
# Building photos from the index


@dataclass
class _Photo:
    instance_id: str
    entry: Entry
    rel: str  # path under the product folder of the canonical copy
    kind: str
    sidecar: str | None = None
    #: the sidecar JSON's entry: its bytes are kept (discover stores them as a blob)
    sidecar_entry: Entry | None = None
    facts: SidecarFacts = field(default_factory=SidecarFacts)
    albums: set[str] = field(default_factory=set)
    folders: set[str] = field(default_factory=set)
    flags: set[str] = field(default_factory=set)
    #: album title -> its ``album_access``, for every album of the item that says one
    sharing: dict[str, str] = field(default_factory=dict)
    #: in an album whose metadata file is in no part given: its sharing is not known
    sharing_unknown: bool = False
    problems: list[str] = field(default_factory=list)
    edit_of: str | None = None
    edit_suffix: str | None = None
    live_of: str | None = None
    edits: set[str] = field(default_factory=set)
    live_videos: set[str] = field(default_factory=set)
    copies: int = 0
    #: other files of this very item whose bytes may differ: (entry, rel), each one read
    other_files: list[tuple[Entry, str]] = field(default_factory=list)


@dataclass
class _Folder:
    name: str  # path under the product root ("" for the root itself)
    export: str
    kind: str  # "year" | "album" | "archive" | "trash" | "locked" | "failed" | "root"
    media: dict[str, Entry] = field(default_factory=dict)
    sidecars: dict[str, Entry] = field(default_factory=dict)
    album_title: str | None = None
    #: the album's sharing as its metadata file says it (``album_access``); None: the
    #: parts given hold no metadata file for it (sharing unknown, not "not shared")
    album_access: str | None = None


class TakeoutIndex:
    """All photos of a set of Takeout parts, with sidecars matched across parts."""

    def __init__(
        self,
        parts: Iterable[Path],
        *,
        max_entry_bytes: int = DEFAULT_MAX_ENTRY_BYTES,
        max_sidecar_bytes: int = DEFAULT_MAX_SIDECAR_BYTES,
        max_ratio: float = DEFAULT_MAX_RATIO,
    ) -> None:
        self.warnings: list[str] = []
        self._indexer = _Indexer(
            max_entry_bytes=max_entry_bytes,
            max_sidecar_bytes=max_sidecar_bytes,
            max_ratio=max_ratio,
            warn=self.warnings.append,
        )
        for part in parts:
            self._indexer.add_part(Path(part))
        self.photos: dict[str, _Photo] = {}
        #: ids of the other files of an item (``copy_id``) -> their entries, for open_item
        self.copy_entries: dict[str, Entry] = {}
        self.roots = self._product_roots()
        self._build()

    # -- structure --------------------------------------------------------

    def _product_roots(self) -> list[str]:
        roots: set[str] = set()
        for _export, path in self._indexer.entries:
            parts = path.split("/")
            for position, component in enumerate(parts[:-1]):
                if YEAR_FOLDER.match(component):
                    roots.add("/".join(parts[:position]))
                    break
        if roots:
            return sorted(roots, key=len, reverse=True)
        # no year folders: the folder under Takeout/ with the most photo sidecars
        # (other products, e.g. YouTube, have media but no ``<name>.<ext>.json``)
        counts: dict[str, tuple[int, int]] = {}
        for _export, path in self._indexer.entries:
            parts = path.split("/")
            if len(parts) >= 3 and parts[0] == "Takeout":
                root = "/".join(parts[:2])
            elif parts[0] == "Takeout":
                root = "Takeout"
            else:
                root = ""
            sidecars, media = counts.get(root, (0, 0))
            name = parts[-1]
            if name.lower().endswith(".json"):
                stem = name[: -len(".json")]
                if SUPPLEMENTAL[:3] in stem.lower() or media_kind(stem):
                    sidecars += 1
            elif media_kind(name) is not None:
                media += 1
            counts[root] = (sidecars, media)
        candidates = {root: c for root, c in counts.items() if c[1]}
        if not candidates:
            return []
        return [max(sorted(candidates), key=lambda r: candidates[r])]

    def _folders(self) -> list[_Folder]:
        folders: dict[tuple[str, str], _Folder] = {}
        for (export, path), entry in self._indexer.entries.items():
            root = next(
                (r for r in self.roots if r == "" or path.startswith(r + "/")),
                None,
            )
            if root is None:
                continue
            rel = path[len(root) + 1 :] if root else path
            folder_name, _, name = rel.rpartition("/")
            folder = folders.get((export, folder_name))
            if folder is None:
                folder = folders[(export, folder_name)] = _Folder(
                    name=folder_name, export=export, kind="album"
                )
            if name.lower().endswith(".json"):
                if folder_name == "":
                    continue  # product-level files (print-subscriptions.json, ...)
                folder.sidecars[name] = entry
            elif media_kind(name) is not None:
                folder.media[name] = entry
            elif not name.lower().endswith((".html", ".htm", ".txt", ".csv")):
                # unknown extension: keep it (a Takeout never holds junk worth losing)
                folder.media[name] = entry
        for folder in folders.values():
            self._classify(folder)
        order = {
            "year": 0,
            "root": 1,
            "archive": 2,
            "locked": 3,
            "failed": 4,
            "trash": 5,
            "album": 6,
        }
        return sorted(folders.values(), key=lambda f: (order[f.kind], f.export, f.name))

    def _classify(self, folder: _Folder) -> None:
        leaf = folder.name.rpartition("/")[2]
        if folder.name == "":
            folder.kind = "root"
            return
        meta_name = None
        for name, entry in sorted(folder.sidecars.items()):
            stem = name[: -len(".json")]
            parsed = self._indexer.json.get((entry.export, entry.path), _Json())
            named = nfc(stem).casefold() in ALBUM_METADATA_STEMS
            if (named or parsed.album_like) and split_ext(stem)[1] == "":
                meta_name = name
                folder.album_title = parsed.album_title
                folder.album_access = parsed.album_access
                if named:
                    break
        if meta_name is not None:
            del folder.sidecars[meta_name]
        if YEAR_FOLDER.match(leaf):
            folder.kind = "year"
            return
        special = SPECIAL_FOLDERS.get(nfc(leaf).casefold())
        if special is not None and (meta_name is None or folder.album_title in (None, leaf)):
            folder.kind = special
            return
        folder.kind = "album"
        if folder.album_title is None:
            folder.album_title = leaf

    # -- matching ---------------------------------------------------------

    def _facts(self, entry: Entry) -> tuple[SidecarFacts, str | None]:
        parsed = self._indexer.json.get((entry.export, entry.path), _Json())
        if parsed.error is not None:
            return SidecarFacts(), f"sidecar {entry.path}: {parsed.error}"
        if not parsed.is_object or parsed.facts is None:
            return SidecarFacts(), f"sidecar {entry.path}: not a JSON object; ignored"
        return parsed.facts, None

    def _titles(self, folder: _Folder) -> dict[str, str]:
        titles: dict[str, str] = {}
        for name, entry in folder.sidecars.items():
            title = self._indexer.json.get((entry.export, entry.path), _Json()).title
            if title is not None:
                titles[name] = title
        return titles

    def _plan(
        self, folder: _Folder
    ) -> tuple[_Folder, list[str], dict[str, tuple[str, str]], dict[str, str]]:
        """A folder's primaries, its children (edits, Live halves) and matched sidecars."""
        names = list(folder.media)
        children: dict[str, tuple[str, str]] = {}
        for name in names:
            parent = edit_parent_name(name, names)
            if parent is not None:
                children[name] = ("edit", parent[0])
        primaries = [n for n in names if n not in children]
        matched = match_sidecars(primaries, folder.sidecars, self._titles(folder))
        # Live/motion halves: a video with no sidecar beside a photo with the same stem
        stills = {motion_stem(n): n for n in sorted(primaries) if media_kind(n) == "photo"}
        for name in sorted(primaries):
            if name in matched or media_kind(name) != "video":
                continue
            still = stills.get(motion_stem(name))
            if still is not None:
                children[name] = ("live", still)
        primaries = [n for n in primaries if n not in children]
        return folder, primaries, children, matched

    def _build(self) -> None:
        by_fingerprint: dict[tuple[str, int], str] = {}
        pending_orphans: list[tuple[_Folder, str, Entry]] = []
        plans = [self._plan(folder) for folder in self._folders()]
        # media with a sidecar first, in every folder: a copy without one (its sidecar in a
        # part not given, or only beside the album copy) then finds the Google id by name and size
        local_ids: list[dict[str, str]] = []
        for folder, primaries, _children, matched in plans:
            local_ids.append(
                {
                    name: self._add_primary(folder, name, matched[name], by_fingerprint)
                    for name in sorted(primaries)
                    if name in matched
                }
            )
        for (folder, primaries, children, matched), ids in zip(plans, local_ids, strict=True):
            for name in sorted(primaries):
                if name not in matched:
                    ids[name] = self._add_primary(folder, name, None, by_fingerprint)
            for name in sorted(children):
                relation, parent_name = children[name]
                parent_id = ids.get(parent_name)
                if parent_id is None:  # an edit of an edit, or of a live half: attach to root
                    nested = children.get(parent_name)
                    parent_id = ids.get(nested[1]) if nested else None
                if parent_id is None:
                    ids[name] = self._add_primary(folder, name, None, by_fingerprint)
                    continue
                ids[name] = self._add_child(folder, name, relation, parent_id, by_fingerprint)
            used = set(matched.values())
            for sidecar_name, entry in sorted(folder.sidecars.items()):
                if sidecar_name not in used:
                    pending_orphans.append((folder, sidecar_name, entry))
        for folder, _sidecar_name, entry in pending_orphans:
            facts, _error = self._facts(entry)
            if facts.key and facts.key in self.photos:
                self._add_membership(self.photos[facts.key], folder)
                continue
            self.warnings.append(f"sidecar with no media: {entry.path} (in {entry.part.name})")
        for photo in self.photos.values():
            if photo.sidecar is None and photo.edit_of is None and photo.live_of is None:
                self.warnings.append(
                    f"media with no sidecar (listed without Google metadata): {photo.rel}"
                )

    def _add_membership(self, photo: _Photo, folder: _Folder) -> None:
        photo.copies += 1
        photo.folders.add(folder.name)
        if folder.kind == "album" and folder.album_title:
            photo.albums.add(folder.album_title)
            if folder.album_access is not None:
                photo.sharing[folder.album_title] = folder.album_access
            else:
                photo.sharing_unknown = True
        elif folder.kind in ("archive", "trash", "locked", "failed"):
            photo.flags.add(folder.kind)

    def _merge(self, photo_id: str, folder: _Folder, entry: Entry) -> _Photo | None:
        existing = self.photos.get(photo_id)
        if existing is None:
            return None
        rel = f"{folder.name}/{entry.path.rpartition('/')[2]}" if folder.name else entry.path
        known = [existing.entry, *(other for other, _rel in existing.other_files)]
        if all(other.may_differ(entry) for other in known):
            # identity groups the files; it never decides whether bytes are kept
            existing.other_files.append((entry, rel))
            self.copy_entries[copy_id(photo_id, rel)] = entry
            existing.problems.append(
                f"copies differ: {existing.rel} ({existing.entry.size} bytes) and {rel} "
                f"({entry.size} bytes); both are kept, the better one as the original"
            )
        self._add_membership(existing, folder)
        return existing

    def _add_primary(
        self,
        folder: _Folder,
        name: str,
        sidecar_name: str | None,
        by_fingerprint: dict[tuple[str, int], str],
    ) -> str:
        entry = folder.media[name]
        rel = f"{folder.name}/{name}" if folder.name else name
        facts = SidecarFacts()
        problem = None
        sidecar_rel = None
        sidecar_entry = None
        if sidecar_name is not None:
            sidecar_entry = folder.sidecars[sidecar_name]
            facts, problem = self._facts(sidecar_entry)
            sidecar_rel = f"{folder.name}/{sidecar_name}"
        fingerprint = (name, entry.size)
        # without a Google id: the path and size, the same in every export of this file
        photo_id = facts.key or by_fingerprint.get(fingerprint) or f"path:{rel}:{entry.size}"
        existing = self._merge(photo_id, folder, entry)
        if existing is not None:
            if existing.sidecar is None and sidecar_rel is not None:
                existing.sidecar, existing.facts = sidecar_rel, facts
                existing.sidecar_entry = sidecar_entry
            # what any of its sidecars says about the item holds, whichever came first
            existing.flags.update(_sidecar_flags(facts))
            if problem and problem not in existing.problems:
                existing.problems.append(problem)
                self.warnings.append(problem)
            return photo_id
        photo = _Photo(
            instance_id=photo_id,
            entry=entry,
            rel=rel,
            kind=media_kind(name) or "unknown",
            sidecar=sidecar_rel,
            sidecar_entry=sidecar_entry,
            facts=facts,
        )
        if problem:
            photo.problems.append(problem)
            self.warnings.append(problem)
        self.photos[photo_id] = photo
        by_fingerprint.setdefault(fingerprint, photo_id)
        self._add_membership(photo, folder)
        return photo_id

    def _add_child(
        self,
        folder: _Folder,
        name: str,
        relation: str,
        parent_id: str,
        by_fingerprint: dict[tuple[str, int], str],
    ) -> str:
        entry = folder.media[name]
        rel = f"{folder.name}/{name}" if folder.name else name
        child_id = f"{parent_id}#{relation}:{name}"
        if self._merge(child_id, folder, entry) is not None:
            return child_id
        parent = self.photos[parent_id]
        photo = _Photo(
            instance_id=child_id,
            entry=entry,
            rel=rel,
            kind=media_kind(name) or "unknown",
            facts=parent.facts,
        )
        if relation == "edit":
            photo.edit_of = parent_id
            stem = split_ext(name)[0]
            photo.edit_suffix = next(
                (s for s in EDIT_SUFFIXES if stem.casefold().endswith(s.casefold())), None
            )
            parent.edits.add(child_id)
        else:
            photo.live_of = parent_id
            parent.live_videos.add(child_id)
        self.photos[child_id] = photo
        by_fingerprint.setdefault((name, entry.size), child_id)
        self._add_membership(photo, folder)
        return child_id

    # -- output -----------------------------------------------------------

    def items(self) -> Iterator[RemoteItem]:
        for photo_id in sorted(self.photos):
            yield self._item(self.photos[photo_id])

    def _item(self, photo: _Photo, *, entry: Entry | None = None, rel: str = "") -> RemoteItem:
        """The item, or with ``entry`` one more file of it (id ``<id>#copy:<rel>``)."""
        copy_of = photo.instance_id if entry is not None else None
        entry = entry or photo.entry
        rel = rel or photo.rel
        facts = photo.facts
        parent = self.photos.get(photo.edit_of or photo.live_of or "")
        flags = set(photo.flags) | (parent.flags if parent else set())
        albums = set(photo.albums) | (parent.albums if parent else set())
        flags |= _sidecar_flags(facts)
        sharing = {**(parent.sharing if parent else {}), **photo.sharing}
        origin_share = _origin_sharing(facts)
        if origin_share is not None:
            sharing["googlePhotosOrigin"] = origin_share  # the photo's own origin
        level = sharing_level(sharing)
        unknown = (photo.sharing_unknown or bool(parent and parent.sharing_unknown)) and (
            level is Visibility.PRIVATE
        )
        extra: dict[str, Any] = {
            "takeout_path": rel,
            "sidecar": photo.sidecar if photo.sidecar else None,
            "albums": sorted(albums),
            "people": facts.people,
            "favorited": "favorited" in flags,
            "archived": "archive" in flags,
            "trashed": "trash" in flags,
            "locked": "locked" in flags,
            "failed_video": "failed" in flags,
            "do_not_replicate": bool({"trash", "locked"} & flags),
        }
        if facts.title:
            extra["google_title"] = facts.title
        if facts.origin:
            extra["origin"] = facts.origin
        if facts.app_source:
            extra["app_source"] = facts.app_source
        if photo.edit_of:
            extra["edit_of"] = photo.edit_of
            extra["variant"] = "edited"
            extra["edit_suffix"] = photo.edit_suffix
        if photo.edits:
            extra["edits"] = sorted(photo.edits)
        if photo.live_of:
            extra["live_photo_of"] = photo.live_of
        if photo.live_videos:
            extra["live_photo_video"] = sorted(photo.live_videos)
        problems = list(photo.problems)
        if "failed" in flags:
            problems.append("in Google's 'Failed Videos' folder: Google could not process it")
        if "trash" in flags:
            problems.append("in the Google Photos trash: kept in the archive, never replicated")
        if copy_of is not None:
            extra["copy_of"] = copy_of
        filename = rel.rpartition("/")[2]
        observed = ObservedMetadata(
            taken_date=facts.taken_date,
            taken_date_source="google-takeout:photoTakenTime" if facts.taken_date else None,
            filename=filename,
            location=facts.location,
            caption=facts.caption,
            albums=sorted(albums),
            sources=_sidecar_sources(facts),
        )
        version_basis: dict[str, Any] = {
            "size": entry.size,
            "observed": observed.to_json(),
            "extra": {k: v for k, v in extra.items() if k not in ("takeout_path", "sidecar")},
        }
        if photo.other_files and copy_of is None:
            # an item's version covers all its files: one changed, the item is read again
            version_basis["files"] = [(e.size, e.crc) for e, _ in photo.other_files]
        version = hashlib.sha256(
            json.dumps(version_basis, sort_keys=True, default=str).encode()
        ).hexdigest()[:32]
        return RemoteItem(
            instance_id=photo.instance_id if copy_of is None else copy_id(copy_of, rel),
            version=version,
            filename=filename,
            size=entry.size,
            media_type=photo.kind if photo.kind in ("photo", "video") else None,
            observed=observed,
            # an album whose metadata is in a part not given: sharing not said (discover
            # keeps what an earlier export said), unless a known share is wider already
            visibility=None
            if unknown
            else VisibilityObservation(
                level,
                raw="locked-folder"
                if "locked" in flags
                else ({"shared": dict(sorted(sharing.items()))} if sharing else "library"),
            ),
            url=facts.url if not (photo.edit_of or photo.live_of or copy_of) else None,
            quality="original",
            original_available=True,
            local_path=Path(entry.member) if entry.kind == "dir" else None,
            modified_at=facts.created or _entry_time(entry),
            modified_at_source="service:upload" if facts.created else "file:mtime",
            extra=extra,
            problems=problems,
            aliases=self._path_ids(photo) if copy_of is None else (f"path:{rel}:{entry.size}",),
            copies=tuple(self._item(photo, entry=e, rel=r) for e, r in photo.other_files)
            if copy_of is None
            else (),
            copy_id=copy_id(photo.instance_id, rel) if photo.other_files else None,
        )

    def _path_ids(self, photo: _Photo) -> tuple[str, ...]:
        """The path-based ids this file gets in an export that lacks its sidecar."""
        name = photo.rel.rpartition("/")[2]
        parent_id = photo.edit_of or photo.live_of
        if parent_id is not None:
            parent = self.photos.get(parent_id)
            relation = "edit" if photo.edit_of else "live"
            if parent is None:
                return ()
            return tuple(f"{alias}#{relation}:{name}" for alias in self._path_ids(parent))
        if photo.instance_id.startswith("path:"):
            return ()
        return tuple(
            sorted(
                f"path:{folder + '/' if folder else ''}{name}:{photo.entry.size}"
                for folder in photo.folders
            )
        )


# ---------------------------------------------------------------------------
# Streams


class _BoundedStream(io.RawIOBase):
    """Exactly ``size`` bytes from ``inner``; read errors become ItemUnavailable."""

    def __init__(self, inner: Any, size: int, label: str, closers: list[Any]) -> None:
        super().__init__()
        self._inner = inner
        self._left = size
        self._label = label
        self._closers = closers

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)
        want = min(len(view), self._left)
        try:
            chunk = self._inner.read(want)
        except (OSError, EOFError, zipfile.BadZipFile, zlib.error) as exc:
            raise ItemUnavailable(f"{self._label}: cannot read from the archive: {exc}") from exc
        if not chunk:
            raise ItemUnavailable(f"{self._label}: archive ended {self._left} bytes early")
        view[: len(chunk)] = chunk
        self._left -= len(chunk)
        return len(chunk)

    def close(self) -> None:
        if not self.closed:
            for closer in reversed(self._closers):
                with contextlib.suppress(Exception):
                    closer.close()
        super().close()


def open_entry(entry: Entry) -> BinaryIO:
    """A stream of one entry's bytes without unpacking the archive."""
    label = f"{entry.part.name}:{entry.path}"
    try:
        if entry.kind == "dir":
            handle = open_regular(Path(entry.member))  # closed by the stream; never a FIFO
            raw: io.RawIOBase = _BoundedStream(handle, entry.size, label, [handle])
        elif entry.kind == "zip":
            archive = zipfile.ZipFile(entry.part)
            member = archive.open(entry.member)
            raw = _BoundedStream(member, entry.size, label, [archive, member])
        else:
            outer: Any = gzip.open(entry.part, "rb") if entry.gzipped else open(entry.part, "rb")  # noqa: SIM115
            outer.seek(entry.offset)
            raw = _BoundedStream(outer, entry.size, label, [outer])
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error) as exc:
        raise ItemUnavailable(f"{label}: cannot open: {exc}") from exc
    return io.BufferedReader(raw, buffer_size=1024 * 1024)


# ---------------------------------------------------------------------------
# The service


class TakeoutSource(SourceService):
    """Google Photos as read from Takeout parts; settings ``{"paths": [...]}``.

    Optional settings: ``max_entry_bytes``, ``max_sidecar_bytes``, ``max_ratio``.
    """

    type_name = "google-takeout"

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        paths = settings.get("paths")
        if isinstance(paths, str):
            paths = [paths]
        if not isinstance(paths, list) or not paths or not all(isinstance(p, str) for p in paths):
            raise TakeoutError(
                f'service {name!r}: settings need "paths": a list of Takeout parts or folders'
            )
        self.paths = [Path(p).expanduser() for p in paths]
        self._index: TakeoutIndex | None = None

    @classmethod
    def from_paths(cls, paths: Iterable[Path | str], name: str = "google-photos") -> TakeoutSource:
        """For ``photosync discover --service google-photos --takeout PATH...``."""
        return cls(name, {"paths": [str(p) for p in paths]})

    def index(self) -> TakeoutIndex:
        if self._index is None:
            self._index = TakeoutIndex(
                self.paths,
                max_entry_bytes=int(self.settings.get("max_entry_bytes", DEFAULT_MAX_ENTRY_BYTES)),
                max_sidecar_bytes=int(
                    self.settings.get("max_sidecar_bytes", DEFAULT_MAX_SIDECAR_BYTES)
                ),
                max_ratio=float(self.settings.get("max_ratio", DEFAULT_MAX_RATIO)),
            )
        return self._index

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        self._index = None  # parts may have been added since the last listing
        index = self.index()
        report.warnings.extend(index.warnings)
        if not index.roots and not index.photos:
            report.warnings.append(
                "no Google Photos folder found in the Takeout parts "
                + ", ".join(p.name for p in self.paths)
            )
        for item in index.items():
            if since is not None and item.modified_at is not None and item.modified_at < since:
                continue
            yield item

    def sidecar_files(
        self, item: RemoteItem
    ) -> list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]]:
        photo = self.index().photos.get(item.instance_id)
        if photo is None or photo.sidecar_entry is None or photo.sidecar is None:
            return []
        entry = photo.sidecar_entry
        name = photo.sidecar.rpartition("/")[2]
        return [(name, lambda: contextlib.closing(open_entry(entry)))]

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        index = self.index()
        photo = index.photos.get(item.instance_id)
        entry = photo.entry if photo is not None else index.copy_entries.get(item.instance_id)
        if entry is None:
            raise ItemUnavailable(f"{item.instance_id} is not in the Takeout parts given")
        return contextlib.closing(open_entry(entry))
