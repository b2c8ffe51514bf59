"""Reading the archive for people who look at it (``photosync web``): timeline, places,
albums, search, a photo's history. Never writes.

The timeline comes from the folder layout alone (``photos/YYYY/MM/``): the first page
of a large archive reads one month's records, not all of them. Search, the map and
albums need every record; ``Catalog`` keeps a small summary of each, read once and
then brought up to date from ``git diff`` whenever HEAD moves (a decision made on the
web page, a CLI run), so a page after a decision reads only the records it changed.
"""

from __future__ import annotations

import os
import re
import subprocess
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

import orjson

from photosync.model import (
    UNDATED_FOLDER,
    Instance,
    Record,
    album_titles,
    display_name,
    iter_instances,
    needs_decision,
    record_originals,
)

#: a photo id as photosync makes them (a UUID); anything else in a URL is refused
PHOTO_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
DIGEST = re.compile(r"^[0-9a-f]{64}$")
_YEAR_DIR = re.compile(r"^\d{4}$")
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True)
class Entry:
    """What browsing needs of one record: enough to list, find and place it."""

    photo_id: str
    rel: str
    name: str
    taken: str
    caption: str
    tags: tuple[str, ...]
    camera: str
    location: tuple[float, float] | None
    albums: tuple[str, ...]
    kind: str
    digest: str
    width: int | None
    height: int | None
    visibility: str
    state: str
    #: ids of the conflicts that wait for a person (open or skipped)
    waiting: tuple[str, ...]
    size: int = 0
    format: str = ""
    #: the services holding a copy
    services: tuple[str, ...] = ()

    @property
    def year(self) -> str:
        return self.taken[:4] if self.taken[:4].isdigit() else UNDATED_FOLDER


def summarize(record: Record, rel: str) -> Entry:
    meta = record["metadata"]
    camera_info = meta.get("camera_info") or {}
    camera = " ".join(str(camera_info.get(k) or "") for k in ("make", "model")).strip()
    location = meta.get("location")
    place = None
    if isinstance(location, dict) and "lat" in location and "lng" in location:
        place = (float(location["lat"]), float(location["lng"]))
    return Entry(
        photo_id=record["photo_id"],
        rel=rel,
        name=display_name(record),
        taken=str(meta.get("taken_date") or ""),
        caption=str(meta.get("caption") or ""),
        tags=tuple(str(t) for t in meta.get("tags") or ()),
        camera=camera,
        location=place,
        albums=tuple(album_titles(record)),
        kind=str(record["media"].get("kind") or "photo"),
        digest=str(record["content_hash"]).split(":", 1)[-1],
        width=record["media"].get("width"),
        height=record["media"].get("height"),
        visibility=str(record["visibility"]["canonical"]),
        state=str(record["processing_state"]),
        waiting=tuple(c["id"] for c in record["conflicts"] if needs_decision(c)),
        size=int(record["media"].get("size") or 0),
        format=str(record["media"].get("format") or ""),
        services=tuple(sorted(record["instances"])),
    )


def read_record(root: Path, rel: str) -> Record | None:
    """A record file as it is now; None when it is gone or unreadable (a torn hand edit)."""
    try:
        value = orjson.loads((root / rel).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(value, dict) or "photo_id" not in value:
        return None
    # shown as it is, even when a hand edit left it invalid: the pages read it with .get
    return cast(Record, value)


def _head(root: Path) -> str | None:
    """HEAD's commit, read from .git's files (every page asks: no git process for it);
    anything unusual (a .git file, a packed or detached ref) asks git."""
    git_dir = root / ".git"
    try:
        head = (git_dir / "HEAD").read_text(encoding="utf-8").strip()
        if head.startswith("ref: "):
            value = (git_dir / head[5:]).read_text(encoding="utf-8").strip()
            if re.fullmatch(r"[0-9a-f]{40,64}", value):
                return value
    except OSError:
        pass
    done = subprocess.run(
        ["git", "rev-parse", "--verify", "-q", "HEAD"],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or None


class Catalog:
    """Every record's ``Entry``, kept current with HEAD (thread-safe, read-only)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()
        self._head: str | None = None
        self._built = False
        self._entries: dict[str, Entry] = {}
        self._by_rel: dict[str, str] = {}

    def entries(self) -> dict[str, Entry]:
        """photo_id -> Entry as of the current HEAD."""
        head = _head(self.root)
        with self._lock:
            if self._built and head == self._head:
                return self._entries
            changed = self._changed_since(head) if self._built else None
            if changed is None:
                self._full()
            else:
                for rel in changed:
                    self._refresh(rel)
            self._head, self._built = head, True
            # a new dict each time: a request iterating the old one is never disturbed
            self._entries = dict(self._entries)
            return self._entries

    def _changed_since(self, head: str | None) -> list[str] | None:
        if self._head is None or head is None:
            return None
        done = subprocess.run(
            ["git", "diff", "--name-only", "-z", self._head, head, "--", "photos"],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            return None
        return [p for p in done.stdout.split("\0") if p.endswith(".json")]

    def _full(self) -> None:
        self._entries, self._by_rel = {}, {}
        for rel in record_files(self.root):
            self._refresh(rel)

    def _refresh(self, rel: str) -> None:
        old = self._by_rel.pop(rel, None)
        if old is not None and self._entries.get(old, None) and self._entries[old].rel == rel:
            del self._entries[old]
        record = read_record(self.root, rel)
        if record is None:
            return
        try:
            entry = summarize(record, rel)
        except (KeyError, TypeError, ValueError, AttributeError):
            return  # a record that does not hold the schema: `check` names it
        self._entries[entry.photo_id] = entry
        self._by_rel[rel] = entry.photo_id


def record_files(root: Path) -> Iterator[str]:
    """Every record's path relative to the archive, in folder order."""
    photos = root / "photos"
    for dirpath, dirnames, filenames in os.walk(photos):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".json") and not name.startswith("."):
                yield os.path.relpath(os.path.join(dirpath, name), root)


# one record without reading them all --------------------------------------------------------------
def find_record(root: Path, photo_id: str) -> str | None:
    """Where a photo's record is (``photos/YYYY/MM/<id>.json`` or ``photos/undated/``),
    found from its id alone; None for an id that is not one or not in the archive."""
    if not PHOTO_ID.match(photo_id):
        return None
    name = f"{photo_id}.json"
    photos = root / "photos"
    try:
        years = sorted((e for e in os.scandir(photos) if e.is_dir()), key=lambda e: e.name)
    except OSError:
        return None
    for year in years:
        if year.name == UNDATED_FOLDER:
            folders = [year.path]
        else:
            folders = [m.path for m in os.scandir(year.path) if m.is_dir()]
        for folder in folders:  # one stat per month folder, not a listing of its records
            path = os.path.join(folder, name)
            if os.path.isfile(path):
                return os.path.relpath(path, root)
    return None


def entry_for(root: Path, photo_id: str) -> Entry | None:
    rel = find_record(root, photo_id)
    record = None if rel is None else read_record(root, rel)
    if rel is None or record is None or record.get("photo_id") != photo_id:
        return None
    try:
        return summarize(record, rel)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def waiting_files(root: Path) -> list[str]:
    """The record files that may hold a conflict waiting for a person (open or skipped):
    ``git grep`` over the working tree finds them without parsing 10,000 records; the
    caller reads each and keeps what ``needs_decision`` says."""
    done = subprocess.run(
        [
            "git",
            "grep",
            "-l",
            "-z",
            "-F",
            "-e",
            '"status": "open"',
            "-e",
            '"status": "skipped"',
            "--",
            "photos",
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode == 1:
        return []  # nothing matched
    if done.returncode != 0:
        return list(record_files(root))
    return sorted(p for p in done.stdout.split("\0") if p.endswith(".json"))


# the timeline --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Month:
    year: str
    month: str  # "01".."12", or "" for the undated folder
    count: int

    @property
    def key(self) -> str:
        return f"{self.year}-{self.month}" if self.month else self.year

    @property
    def label(self) -> str:
        """``Mar`` for people; the undated folder says so."""
        if not self.month:
            return "no date"
        return _MONTH_NAMES[int(self.month) - 1] if 1 <= int(self.month) <= 12 else self.month


def months(root: Path) -> list[Month]:
    """Months with photos, newest first, counted from the folder layout (no record read)."""
    out = []
    photos = root / "photos"
    try:
        years = [e for e in os.scandir(photos) if e.is_dir()]
    except OSError:
        return []
    for year in years:
        if year.name == UNDATED_FOLDER:
            out.append(Month(UNDATED_FOLDER, "", _count_json(Path(year.path))))
            continue
        if not _YEAR_DIR.match(year.name):
            continue
        for month in os.scandir(year.path):
            if month.is_dir() and month.name.isdigit():
                count = _count_json(Path(month.path))
                if count:
                    out.append(Month(year.name, month.name, count))
    dated = sorted((m for m in out if m.month), key=lambda m: (m.year, m.month), reverse=True)
    return dated + [m for m in out if not m.month and m.count]


def _count_json(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        total += sum(1 for f in files if f.endswith(".json") and not f.startswith("."))
        del dirpath
    return total


def month_entries(root: Path, month: Month) -> list[Entry]:
    """The photos of one month (or the undated ones), in taken order."""
    folder = (
        root / "photos" / month.year / month.month if month.month else root / "photos" / month.year
    )
    found = []
    for dirpath, _dirs, files in os.walk(folder):
        for name in sorted(files):
            if not name.endswith(".json") or name.startswith("."):
                continue
            rel = os.path.relpath(os.path.join(dirpath, name), root)
            record = read_record(root, rel)
            if record is None:
                continue
            try:
                found.append(summarize(record, rel))
            except (KeyError, TypeError, ValueError, AttributeError):
                continue
    return sorted(found, key=lambda e: (e.taken, e.name))


# search, places, albums -----------------------------------------------------------------------
def search(entries: Iterable[Entry], query: str) -> list[Entry]:
    """Photos whose file name, caption, a tag, the camera or an album holds every word."""
    words = [w for w in query.lower().split() if w]
    if not words:
        return []
    out = []
    for entry in entries:
        text = " ".join(
            (entry.name, entry.caption, " ".join(entry.tags), entry.camera, " ".join(entry.albums))
        ).lower()
        if all(word in text for word in words):
            out.append(entry)
    return sorted(out, key=lambda e: (e.taken, e.name), reverse=True)


def placed(entries: Iterable[Entry]) -> list[Entry]:
    return [e for e in entries if e.location is not None]


def albums(entries: Iterable[Entry]) -> dict[str, list[Entry]]:
    out: dict[str, list[Entry]] = {}
    for entry in entries:
        for title in entry.albums:
            out.setdefault(title, []).append(entry)
    for members in out.values():
        members.sort(key=lambda e: (e.taken, e.name))
    return dict(sorted(out.items(), key=lambda item: item[0].lower()))


# one photo ---------------------------------------------------------------------------------------
@dataclass
class HistoryLine:
    commit: str
    when: str
    author: str
    subject: str


@dataclass
class PhotoView:
    record: Record
    rel: str
    history: list[HistoryLine] = field(default_factory=list)
    #: bare digest -> where its bytes are (locations named in the record; "local" if here)
    originals: dict[str, list[str]] = field(default_factory=dict)
    instances: list[tuple[str, Instance]] = field(default_factory=list)


def photo_view(root: Path, entry: Entry, *, local_has: set[str]) -> PhotoView | None:
    """Everything the photo page shows: instances, visibility, originals, history."""
    record = read_record(root, entry.rel)
    if record is None or record.get("photo_id") != entry.photo_id:
        return None
    view = PhotoView(record=record, rel=entry.rel, instances=list(iter_instances(record)))
    own = str(record["content_hash"]).split(":", 1)[-1]
    verified = [
        f"{loc.get('store')}: {loc.get('locator')} (verified {loc.get('verified_at')})"
        for loc in record.get("blob_locations") or []
    ]
    for digest in record_originals(record):
        where = list(verified) if digest == own else []
        if digest in local_has:
            where.insert(0, "this machine (blobs/)")
        view.originals[digest] = where
    view.history = history(root, entry.rel)
    return view


def history(root: Path, rel: str, limit: int = 50) -> list[HistoryLine]:
    """``git log`` of one record file (its renames followed): the audit trail of a photo."""
    done = subprocess.run(
        [
            "git",
            "log",
            f"-n{limit}",
            "--follow",
            "--format=%H%x1f%aI%x1f%an%x1f%s",
            "--",
            rel,
        ],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = []
    for line in done.stdout.splitlines():
        parts = line.split("\x1f")
        if len(parts) == 4:
            lines.append(HistoryLine(*parts))
    return lines
