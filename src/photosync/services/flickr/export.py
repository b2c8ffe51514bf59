"""Flickr's "Download your data" export as a source: the route to originals for free accounts.

The export is a folder of zips: one (or more) metadata zip(s) holding
``photo_<id>.json`` and ``albums.json``, and ``data-download-N.zip`` parts whose
media names end in ``_<photoid>_o.<ext>``. Zips are read as streams and never
extracted; member names that could escape a folder (zip-slip) are refused.
Instance ids are Flickr photo ids, so they match what the API connector lists.

Settings: ``{"type": "flickr-export", "path": "/path/to/export-folder-or-zip"}``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.errors import ConfigError, ItemUnavailable
from photosync.model import ObservedMetadata, Visibility
from photosync.model.record import Location
from photosync.services.base import ListingReport, RemoteItem, SourceService, VisibilityObservation
from photosync.services.flickr.mapping import content_text, stated_taken_date, to_float

_PHOTO_JSON = re.compile(r"^photo_(\d+)\.json$")
_MEDIA = re.compile(r"^(?P<stem>.*?)_?(?P<id>\d+)_o\.(?P<ext>[A-Za-z0-9]+)$")
_VIDEO_EXT = frozenset(
    {"mp4", "mov", "m4v", "avi", "3gp", "mts", "m2ts", "wmv", "mpg", "mpeg", "webm"}
)
MAX_JSON_BYTES = 16 * 1024 * 1024

_PRIVACY = {
    "public": Visibility.PUBLIC,
    "private": Visibility.PRIVATE,
    "friends": Visibility.FRIENDS,
    "friend": Visibility.FRIENDS,
    "family": Visibility.FRIENDS,
    "friends & family": Visibility.FRIENDS,
    "friends&family": Visibility.FRIENDS,
}


def unsafe_member_name(name: str) -> bool:
    """True for names that would escape an extraction folder (absolute, drive, '..', '\\')."""
    if not name or "\x00" in name or "\\" in name:
        return True
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return True
    return any(part == ".." for part in name.split("/"))


@dataclass
class _Entry:
    archive: Path
    member: str


@dataclass
class _MediaEntry(_Entry):
    size: int = 0
    crc: int = 0
    stem: str = ""
    ext: str = ""


@dataclass
class _Index:
    meta: dict[str, _Entry] = field(default_factory=dict)
    media: dict[str, _MediaEntry] = field(default_factory=dict)
    albums: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    #: True once an albums.json was read: then "in no album" is a fact, not a gap
    albums_known: bool = False
    warnings: list[str] = field(default_factory=list)


class FlickrExportService(SourceService):
    type_name = "flickr-export"
    snapshot_listing = True

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        raw = settings.get("path")
        if not isinstance(raw, str) or not raw:
            raise ConfigError(f'{name}: a flickr-export service needs a "path" setting')
        self.path = Path(raw).expanduser()
        self._local = threading.local()
        self._open_zips: list[zipfile.ZipFile] = []
        self._lock = threading.Lock()

    # -- scanning -------------------------------------------------------------

    def _zip_paths(self) -> list[Path]:
        if self.path.is_file():
            return [self.path]
        if not self.path.is_dir():
            raise ConfigError(f"{self.name}: export path {str(self.path)!r} does not exist")
        return sorted(p for p in self.path.iterdir() if p.is_file() and p.suffix.lower() == ".zip")

    def _scan(self) -> _Index:
        index = _Index()
        paths = self._zip_paths()
        if not paths:
            raise ConfigError(f"{self.name}: no .zip files in {str(self.path)!r}")
        for path in paths:
            try:
                with zipfile.ZipFile(path) as archive:
                    infos = archive.infolist()
                    album_member = next(
                        (
                            i.filename
                            for i in infos
                            if i.filename.rsplit("/", 1)[-1] == "albums.json"
                        ),
                        None,
                    )
                    if album_member and not unsafe_member_name(album_member):
                        self._read_albums(archive, album_member, index)
            except (zipfile.BadZipFile, OSError) as error:
                index.warnings.append(
                    f"{self.name}: {path.name} is not a readable zip ({error}); skipped"
                )
                continue
            for info in infos:
                name = info.filename
                if info.is_dir():
                    continue
                if unsafe_member_name(name):
                    index.warnings.append(
                        f"{self.name}: {path.name}: refused unsafe member name {name!r}"
                    )
                    continue
                base = name.rsplit("/", 1)[-1]
                meta = _PHOTO_JSON.match(base)
                if meta:
                    index.meta.setdefault(meta.group(1), _Entry(path, name))
                    continue
                media = _MEDIA.match(base)
                if media:
                    photo_id = media.group("id")
                    if photo_id in index.media:
                        index.warnings.append(
                            f"{self.name}: photo {photo_id} appears twice; kept the first"
                        )
                        continue
                    index.media[photo_id] = _MediaEntry(
                        path,
                        name,
                        size=info.file_size,
                        crc=info.CRC,
                        stem=media.group("stem"),
                        ext=media.group("ext").lower(),
                    )
        return index

    def _read_albums(self, archive: zipfile.ZipFile, member: str, index: _Index) -> None:
        try:
            with archive.open(member) as stream:
                data = json.loads(stream.read(MAX_JSON_BYTES))
        except (ValueError, OSError, zipfile.BadZipFile) as error:
            index.warnings.append(
                f"{self.name}: albums.json is unreadable ({error}); albums skipped"
            )
            return
        albums = data.get("albums", []) if isinstance(data, dict) else []
        index.albums_known = True
        for album in albums if isinstance(albums, list) else []:
            if not isinstance(album, dict):
                continue
            summary = {"id": str(album.get("id", "")), "title": content_text(album.get("title"))}
            for photo_id in album.get("photos", []) or []:
                index.albums.setdefault(str(photo_id), []).append(summary)

    # -- listing --------------------------------------------------------------

    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        index = self._scan()
        report.warnings.extend(index.warnings)
        for photo_id in sorted(set(index.meta) | set(index.media), key=lambda v: (len(v), v)):
            item = self._item(photo_id, index)
            if since is not None and item.modified_at is not None and item.modified_at < since:
                continue
            yield item

    def _item(self, photo_id: str, index: _Index) -> RemoteItem:
        problems: list[str] = []
        meta_entry = index.meta.get(photo_id)
        media = index.media.get(photo_id)
        data: dict[str, Any] = {}
        raw = b""
        if meta_entry is None:
            problems.append(f"Flickr export has no photo_{photo_id}.json; metadata unknown")
        else:
            try:
                with self._zip(meta_entry.archive).open(meta_entry.member) as stream:
                    raw = stream.read(MAX_JSON_BYTES)
                loaded = json.loads(raw)
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                data = loaded
            except (ValueError, OSError, zipfile.BadZipFile) as error:
                problems.append(f"malformed photo_{photo_id}.json in the Flickr export: {error}")
        if media is None:
            problems.append("the Flickr export holds no original for this photo")
        ext = media.ext if media else _ext_from_url(content_text(data.get("original")))
        filename = f"{media.stem}.{ext}" if media and media.stem else f"{photo_id}.{ext or 'jpg'}"
        taken, taken_source, taken_unknown = stated_taken_date(
            data.get("date_taken"),
            _first(data, "date_taken_granularity", "datetakengranularity"),
            _first(data, "date_taken_unknown", "datetakenunknown"),
            source="flickr-export:date_taken",
        )
        imported = _parse_time(data.get("date_imported"))
        tags = _tags(data.get("tags"))
        privacy = content_text(data.get("privacy")).strip().lower()
        level = _PRIVACY.get(privacy)
        if level is None:
            level = Visibility.PRIVATE
            if data:
                problems.append(
                    f"unknown privacy {privacy!r} in the Flickr export; treated as private"
                )
        version_parts = [
            f"{media.crc:08x}:{media.size}" if media else "-",
            hashlib.sha256(raw).hexdigest()[:16] if raw else "-",
        ]
        extra: dict[str, Any] = {
            "source": "flickr-export",
            "photopage": content_text(data.get("photopage")) or None,
            "license": content_text(data.get("license")) or None,
            "date_imported": content_text(data.get("date_imported")) or None,
            "privacy_raw": privacy or None,
            "albums": index.albums.get(photo_id) or None,
            "archive": media.archive.name if media else None,
            "member": media.member if media else None,
            # the photo's JSON (comments, notes, counts: more than the record maps) is
            # kept as a sidecar blob: ``sidecar_files``
            "metadata_archive": meta_entry.archive.name if meta_entry and raw else None,
            "metadata_member": meta_entry.member if meta_entry and raw else None,
        }
        return RemoteItem(
            instance_id=photo_id,
            version=":".join(version_parts),
            filename=filename,
            size=media.size if media else None,
            media_type="video" if ext in _VIDEO_EXT else "photo",
            observed=ObservedMetadata(
                taken_date=taken,
                taken_date_source=taken_source,
                filename=filename if media and media.stem else None,
                location=_geo(data.get("geo")),
                tags=tags,
                caption=content_text(data.get("description")) or None,
                title=content_text(data.get("name")) or None,
                albums=[a["title"] for a in index.albums.get(photo_id, []) if a["title"]]
                if index.albums_known
                else None,
            ),
            visibility=VisibilityObservation(level, privacy or None),
            url=content_text(data.get("photopage")) or None,
            quality="original",
            original_available=media is not None,
            modified_at=imported,
            modified_at_source="service:upload",
            taken_unknown=taken_unknown,
            extra={k: v for k, v in extra.items() if v is not None},
            problems=problems,
        )

    # -- bytes -----------------------------------------------------------------

    def _zip(self, path: Path) -> zipfile.ZipFile:
        """One open ZipFile per thread and archive: members are read concurrently by workers."""
        cache: dict[Path, zipfile.ZipFile] = self._local.__dict__.setdefault("zips", {})
        archive = cache.get(path)
        if archive is None:
            try:
                archive = zipfile.ZipFile(path)
            except (zipfile.BadZipFile, OSError) as error:
                raise ItemUnavailable(f"{self.name}: cannot open {path.name}: {error}") from None
            cache[path] = archive
            with self._lock:
                self._open_zips.append(archive)
        return archive

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        return self._open(item)

    def sidecar_files(
        self, item: RemoteItem
    ) -> list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]]:
        """The photo's ``photo_<id>.json``, kept like an original beside its copy."""
        archive_name, member = item.extra.get("metadata_archive"), item.extra.get("metadata_member")
        if not archive_name or not member:
            return []
        name = member.rsplit("/", 1)[-1]
        return [(name, functools.partial(self._open_member, archive_name, member))]

    def _open(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        archive_name, member = item.extra.get("archive"), item.extra.get("member")
        if not item.original_available or not archive_name or not member:
            raise ItemUnavailable(
                f"{self.name}: the export holds no original for {item.instance_id}"
            )
        return self._open_member(archive_name, member)

    @contextmanager
    def _open_member(self, archive_name: str, member: str) -> Iterator[BinaryIO]:
        if unsafe_member_name(member) or "/" in archive_name or archive_name.startswith("."):
            raise ItemUnavailable(f"{self.name}: refused unsafe export member {member!r}")
        path = self.path if self.path.is_file() else self.path / archive_name
        try:
            stream = self._zip(path).open(member)
        except KeyError:
            raise ItemUnavailable(f"{self.name}: {member} is no longer in {archive_name}") from None
        with stream:
            yield stream  # type: ignore[misc]

    def close(self) -> None:
        with self._lock:
            for archive in self._open_zips:
                archive.close()
            self._open_zips.clear()
        self._local = threading.local()


def _ext_from_url(url: str) -> str:
    match = re.search(r"\.([A-Za-z0-9]+)(?:\?.*)?$", url)
    return match.group(1).lower() if match else ""


def _parse_time(value: Any) -> datetime | None:
    text = content_text(value).strip()
    try:
        return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def _first(data: dict[str, Any], *keys: str) -> Any:
    """The first of ``keys`` the export's JSON holds (Flickr's API spells them two ways)."""
    return next((data[key] for key in keys if key in data), None)


def _tags(value: Any) -> list[str]:
    out: list[str] = []
    for entry in value if isinstance(value, list) else []:
        tag = content_text(entry.get("tag") if isinstance(entry, dict) else entry).strip()
        if tag and tag not in out:
            out.append(tag)
    return out


def _geo_number(value: Any) -> float | None:
    """Micro-degree strings ("49696401" -> 49.696401); values with a dot are degrees already."""
    text = content_text(value).strip()
    number = to_float(text)
    if number is None:
        return None
    return number if "." in text else number / 1_000_000


def _geo(value: Any) -> Location | None:
    entries = value if isinstance(value, list) else [value]
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        lat, lng = _geo_number(entry.get("latitude")), _geo_number(entry.get("longitude"))
        if lat is None or lng is None or (lat == 0 and lng == 0):
            continue
        if -90 <= lat <= 90 and -180 <= lng <= 180:
            return {"lat": lat, "lng": lng}
    return None
