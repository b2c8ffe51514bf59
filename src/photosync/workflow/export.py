"""``photosync export DEST``: a browsable copy of the library for people and programs.

Read-only on the archive (no lock, no record written, no commit). Each item is
one original (the record's own, or with ``variants="all"`` every merged copy
too) in one album folder when the layout names ``{album}``. The bytes come
from the first blob location that has them, are hashed on the way (an original
is bit-exact or not exported), written to ``DEST/.photosync-export/tmp``, the
metadata format applied, the result re-read and hashed, its mtime set to the
taken date, and only then put under its name, never over an existing file.

The manifest (``DEST/.photosync-export/manifest.jsonl``, append-only, an
``intent`` line fsynced before a file gets its name, a ``done`` line after)
makes a killed export resumable and ``--update`` incremental: an item is
known by its content hash and album, so a renamed or re-dated photo is not
exported twice. A file the user changed or removed is never overwritten or
re-created; a changed photo whose old copy the user touched gets a new name.

Metadata formats are ``MetadataFormat`` subclasses in ``FORMATS``: adding a
format is one class and one line there.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import string
import threading
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from photosync.archive.archive import Archive
from photosync.archive.lock import ArchiveLock
from photosync.blobstore.base import CHUNK_SIZE, BlobStore, check_digest, hash_file
from photosync.errors import BlobError, ConfigError, PhotosyncError
from photosync.metadata.xmpwrite import EXIFTOOL_HINT, MetadataOut, embed, exiftool_path, xmp_packet
from photosync.model import (
    Record,
    album_titles,
    display_name,
    iter_instances,
    matches_selector,
    record_originals,
    record_sidecars,
)
from photosync.parallel import bounded_map
from photosync.workflow.context import all_stores, check_selectors
from photosync.workflow.progress import Progress, SilentProgress
from photosync.workflow.restore import download_workers

log = logging.getLogger(__name__)

DEFAULT_LAYOUT = "{year}/{month}/{filename}"
LAYOUT_FIELDS = ("year", "month", "day", "filename", "stem", "ext", "album", "service", "photo_id")
NO_ALBUM = "No album"
UNDATED = "undated"
STATE_DIR = ".photosync-export"
MANIFEST = "manifest.jsonl"
SIDECAR_SUFFIX = ".xmp"
#: bytes per path component: FAT/NTFS/HFS+ allow 255, room kept for " (12)" and ".xmp"
MAX_COMPONENT_BYTES = 200
_FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f]')
_RESERVED = {"CON", "PRN", "AUX", "NUL"} | {f"{p}{n}" for p in ("COM", "LPT") for n in range(1, 10)}


# -- names ------------------------------------------------------------------------------


def safe_component(name: str) -> str:
    """A file or folder name every common file system accepts (FAT, NTFS, APFS/HFS+, ext4).

    NFC (macOS would otherwise show two spellings), no reserved characters, no
    trailing dot or space, no DOS device name, at most ``MAX_COMPONENT_BYTES``
    of UTF-8 with the extension kept. Never empty.
    """
    name = unicodedata.normalize("NFC", name)
    name = _FORBIDDEN.sub("_", name).strip(" ").rstrip(". ")
    if name in ("", ".", ".."):
        name = "_"
    stem, dot, ext = name.rpartition(".") if "." in name[1:] else (name, "", "")
    if stem.split(".")[0].upper() in _RESERVED:
        name = "_" + name
        stem = "_" + stem
    if len(name.encode("utf-8")) > MAX_COMPONENT_BYTES:
        tail = (dot + ext)[:16]
        budget = MAX_COMPONENT_BYTES - len(tail.encode("utf-8"))
        cut = stem.encode("utf-8")[:budget].decode("utf-8", "ignore").rstrip(". ")
        name = (cut or "_") + tail
    return name


def numbered(rel: str, n: int) -> str:
    """``a/b/IMG.jpg`` -> ``a/b/IMG (n).jpg``: the name a collision gets."""
    path = PurePosixPath(rel)
    return str(path.with_name(f"{path.stem} ({n}){path.suffix}"))


def check_layout(layout: str) -> list[str]:
    """The fields a layout uses; ConfigError for an unknown one or an empty layout."""
    used: list[str] = []
    try:
        parsed = list(string.Formatter().parse(layout))
    except ValueError as error:
        raise ConfigError(f"--layout {layout!r}: {error}") from None
    for _text, name, _spec, _conv in parsed:
        if name is None:
            continue
        if name not in LAYOUT_FIELDS:
            raise ConfigError(
                f"--layout {layout!r}: unknown field {{{name}}}",
                hint=f"Fields: {', '.join('{' + f + '}' for f in LAYOUT_FIELDS)}.",
            )
        used.append(name)
    if "filename" not in used and "stem" not in used and "photo_id" not in used:
        raise ConfigError(
            f"--layout {layout!r} names no file",
            hint="End it with {filename} (or {stem}.{ext}).",
        )
    return used


def render(layout: str, fields: dict[str, str]) -> str:
    """The relative path of one item: each segment filled in and made safe; empty ones dropped."""
    parts = [segment.format(**fields) for segment in layout.split("/")]
    return "/".join(safe_component(p) for p in parts if p.strip())


# -- metadata formats --------------------------------------------------------------------


class MetadataFormat(ABC):
    """How the canonical metadata travels with an exported file."""

    name: str
    #: a sidecar may be written beside the file (its name is reserved in the plan)
    sidecar: bool = False
    #: ``apply`` may change the copy's bytes (else they must still hash to the original)
    changes_bytes: bool = False

    def check(self) -> None:
        """Raise ConfigError when this format cannot run here (before anything is written)."""
        return None

    @abstractmethod
    def apply(self, copy: Path, meta: MetadataOut) -> tuple[bytes | None, str | None]:
        """Work on the copy in place; (sidecar bytes or None, a note for the report or None)."""


class XmpSidecar(MetadataFormat):
    """An XMP sidecar ``<file>.xmp`` beside each file; the original bytes untouched."""

    name = "xmp"
    sidecar = True

    def apply(self, copy: Path, meta: MetadataOut) -> tuple[bytes | None, str | None]:
        return xmp_packet(meta), None


class Embedded(MetadataFormat):
    """Written into the copy with exiftool; a sidecar instead where exiftool cannot write."""

    name = "embed"
    sidecar = True  # the fallback's name is reserved
    changes_bytes = True

    def __init__(self) -> None:
        self.exiftool = exiftool_path()

    def check(self) -> None:
        if self.exiftool is None:
            raise ConfigError(
                "--metadata embed needs exiftool, which is not installed", hint=EXIFTOOL_HINT
            )

    def apply(self, copy: Path, meta: MetadataOut) -> tuple[bytes | None, str | None]:
        assert self.exiftool is not None
        complaint = embed(copy, meta, exiftool=self.exiftool)
        if complaint is None:
            return None, None
        return xmp_packet(meta), f"exiftool could not write it ({complaint}): XMP sidecar instead"


class NoMetadata(MetadataFormat):
    name = "none"

    def apply(self, copy: Path, meta: MetadataOut) -> tuple[bytes | None, str | None]:
        return None, None


#: ``--metadata`` choices: add a format here
FORMATS: dict[str, type[MetadataFormat]] = {
    "xmp": XmpSidecar,
    "embed": Embedded,
    "none": NoMetadata,
}


# -- what is exported -------------------------------------------------------------------


def metadata_out(record: Record) -> MetadataOut:
    """The canonical metadata of a record as it goes out; albums become keywords too."""
    meta = record["metadata"]
    location: Mapping[str, Any] = meta.get("location") or {}
    keywords = list(dict.fromkeys([*(meta.get("tags") or []), *album_titles(record)]))
    return MetadataOut(
        taken_date=meta.get("taken_date"),
        lat=location.get("lat"),
        lng=location.get("lng"),
        alt=location.get("alt"),
        caption=meta.get("caption"),
        title=meta.get("title"),
        keywords=tuple(keywords),
    )


def taken_timestamp(taken: str | None) -> float | None:
    """The taken date as a file time (a date without offset is local wall-clock time)."""
    if not taken:
        return None
    text = taken.replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(text).timestamp()
    except (ValueError, OverflowError, OSError):
        return None


def _copy_filename(record: Record, digest: str) -> str:
    """The name a copy was really called: the record's for its own bytes, an instance's else."""
    if check_digest(record["content_hash"]) == digest:
        return display_name(record)
    for _service, instance in iter_instances(record):
        if check_digest(instance.get("content_hash") or record["content_hash"]) == digest:
            name = (instance.get("observed") or {}).get("filename")
            if name:
                return str(name)
    base = PurePosixPath(display_name(record))
    return f"{base.stem}-{digest[:8]}{base.suffix}"


def _fields(record: Record, digest: str, album: str) -> dict[str, str]:
    taken = str(record["metadata"].get("taken_date") or "")
    filename = _copy_filename(record, digest)
    path = PurePosixPath(filename)
    services = sorted(record["instances"])
    return {
        "year": taken[:4] if taken else UNDATED,
        "month": taken[5:7] if len(taken) >= 7 else "",
        "day": taken[8:10] if len(taken) >= 10 else "",
        "filename": filename,
        "stem": path.stem,
        "ext": path.suffix.removeprefix("."),
        "album": album,
        "service": str(record.get("canonical_source") or (services[0] if services else "")),
        "photo_id": str(record["photo_id"]),
    }


@dataclass
class Item:
    key: str
    photo_id: str
    digest: str
    rel: str
    sidecar_rel: str | None
    meta: MetadataOut
    meta_hash: str
    mtime: float | None
    #: new | update | resume
    action: str = "new"
    #: the earlier copy may be replaced (it is ours, untouched)
    replace: bool = False
    #: a sidecar the archive stores (an XMP, a Takeout JSON): copied as it is, beside
    #: its photo, no metadata format applied
    raw: bool = False


def _meta_hash(meta: MetadataOut, fmt: str) -> str:
    text = json.dumps([fmt, meta.__dict__], sort_keys=True, default=list, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- the manifest -------------------------------------------------------------------------


class Manifest:
    """What earlier exports to DEST wrote: key -> the last entry (an ``intent`` + ``done``)."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / MANIFEST
        self.entries: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        try:
            with open(self.path, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        item = json.loads(line)
                        key = str(item["key"])
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn last line of a killed run
                    if item.get("op") == "done":
                        if key in self.entries:
                            self.entries[key]["done"] = True
                    elif item.get("op") == "intent":
                        self.entries[key] = {**item, "done": False}
        except FileNotFoundError:
            pass

    @property
    def exists(self) -> bool:
        return self.path.exists()

    def _append(self, item: dict[str, Any], durable: bool) -> None:
        line = json.dumps(item, sort_keys=True, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())

    def intent(self, entry: dict[str, Any]) -> None:
        """Before a file gets its name: fsynced, so a killed run knows the name is ours."""
        self._append({"op": "intent", **entry}, durable=True)
        self.entries[entry["key"]] = {**entry, "done": False}

    def done(self, key: str) -> None:
        self._append({"op": "done", "key": key}, durable=False)
        self.entries[key]["done"] = True


# -- the report ----------------------------------------------------------------------------


@dataclass
class ExportReport:
    dest: str = ""
    dry_run: bool = False
    metadata: str = "xmp"
    layout: str = DEFAULT_LAYOUT
    variants: str = "best"
    #: items the library gives for this layout
    items: int = 0
    #: sidecars the archive stores (XMP, Takeout JSON), exported beside their photos
    #: (each also in written/updated/unchanged like a photo)
    sidecars: int = 0
    written: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    #: files an earlier export wrote that the user removed since (not re-created)
    removed_by_user: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    bytes_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dest": self.dest,
            "dry_run": self.dry_run,
            "metadata": self.metadata,
            "layout": self.layout,
            "variants": self.variants,
            "items": self.items,
            "sidecars": self.sidecars,
            "written": self.written,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed_by_user": self.removed_by_user,
            "failed": self.failed,
            "notes": self.notes,
            "bytes_written": self.bytes_written,
        }


# -- the run --------------------------------------------------------------------------------


class _Names:
    """Which relative paths are taken in DEST (case-insensitively: FAT, NTFS, APFS)."""

    def __init__(self, dest: Path, manifest: Manifest) -> None:
        self.dest = dest
        self.taken: set[str] = set()
        self._listed: set[str] = set()
        for entry in manifest.entries.values():
            for rel in (entry.get("path"), entry.get("sidecar")):
                if rel:
                    self.taken.add(str(rel).casefold())

    def taken_or_present(self, rel: str) -> bool:
        return self._on_disk(rel)

    def _on_disk(self, rel: str) -> bool:
        folder = str(PurePosixPath(rel).parent)
        if folder not in self._listed:
            self._listed.add(folder)
            try:
                with os.scandir(self.dest / folder) as entries:
                    for entry in entries:
                        prefix = "" if folder == "." else folder + "/"
                        self.taken.add((prefix + entry.name).casefold())
            except (FileNotFoundError, NotADirectoryError):
                pass
        return rel.casefold() in self.taken

    def claim(self, rel: str, sidecar: bool) -> tuple[str, str | None]:
        """The first free ``rel``, ``rel (1)``, ... (its sidecar name free too)."""
        n = 0
        while True:
            candidate = rel if n == 0 else numbered(rel, n)
            side = candidate + SIDECAR_SUFFIX if sidecar else None
            if not self._on_disk(candidate) and (side is None or not self._on_disk(side)):
                self.taken.add(candidate.casefold())
                if side is not None:
                    self.taken.add(side.casefold())
                return candidate, side
            n += 1


def _selected(records: Iterator[Record], only: Sequence[str]) -> list[Record]:
    chosen = [r for r in records if not only or any(matches_selector(r, s) for s in only)]
    chosen.sort(key=lambda r: (str(r["metadata"].get("taken_date") or "~"), r["photo_id"]))
    return chosen


def _ours_untouched(dest: Path, entry: dict[str, Any]) -> bool | None:
    """None: the file is gone; True: it still has the bytes we wrote; False: changed."""
    path = dest / str(entry["path"])
    try:
        return hash_file(path)[0] == entry.get("written")
    except FileNotFoundError:
        return None
    except OSError:
        return False


def plan_export(
    archive: Archive,
    dest: Path,
    fmt: MetadataFormat,
    manifest: Manifest,
    *,
    layout: str,
    variants: str,
    only: Sequence[str],
    report: ExportReport,
) -> list[Item]:
    """What to write, each with its final name; nothing is written here."""
    uses = check_layout(layout)
    names = _Names(dest, manifest)
    items: list[Item] = []
    for record in _selected(archive.iter_records(), only):
        own = check_digest(record["content_hash"])
        digests = (
            [own]
            if variants == "best"
            else [own, *sorted(set(record_originals(record)) - {own} - _sidecar_digests(record))]
        )
        albums = (album_titles(record) or [NO_ALBUM]) if "album" in uses else [""]
        meta = metadata_out(record)
        meta_hash = _meta_hash(meta, fmt.name)
        for digest in digests:
            stored = stored_sidecars(record, digest)
            for album in albums:
                report.items += 1
                rel = render(layout, _fields(record, digest, album))
                item = Item(f"{digest}/{album}", record["photo_id"], digest, rel, None, meta,
                            meta_hash, taken_timestamp(meta.taken_date))  # fmt: skip
                photo_rel = _plan_one(item, dest, fmt.sidecar, manifest, names, items, report)
                for name, side_digest, source_name in stored:
                    report.sidecars += 1
                    side_rel = sidecar_name(photo_rel, name, source_name)
                    if side_rel.casefold() == (photo_rel + SIDECAR_SUFFIX).casefold() and (
                        fmt.sidecar
                    ):  # photosync's own XMP takes name.ext.xmp: the stored one name.xmp
                        side_rel = str(PurePosixPath(photo_rel).with_suffix(SIDECAR_SUFFIX))
                    side = Item(f"{digest}/{album}/sidecar:{side_digest}", record["photo_id"],
                                side_digest, side_rel, None, meta, RAW_META, item.mtime,
                                raw=True)  # fmt: skip
                    _plan_one(side, dest, False, manifest, names, items, report)
    return items


#: the manifest's ``meta`` of a stored sidecar: copied as it is, never re-rendered
RAW_META = "stored-sidecar"


def _plan_one(
    item: Item,
    dest: Path,
    sidecar: bool,
    manifest: Manifest,
    names: _Names,
    items: list[Item],
    report: ExportReport,
) -> str:
    """Plan one file (a photo, or a stored sidecar); returns the path it has in DEST."""
    rel = item.rel
    entry = manifest.entries.get(item.key)
    if entry is None:
        item.rel, item.sidecar_rel = names.claim(rel, sidecar)
        items.append(item)
        return item.rel
    state = _ours_untouched(dest, entry)
    same = entry.get("digest") == item.digest and entry.get("meta") == item.meta_hash
    if not entry.get("done"):
        # a killed run: finish it under the name it claimed, unless someone
        # else's file sits there now
        if state is None or (state and same):
            item.rel, item.sidecar_rel = entry["path"], entry.get("sidecar")
            item.action, item.replace = "resume", bool(state)
        else:
            item.rel, item.sidecar_rel = names.claim(rel, sidecar)
        items.append(item)
        return item.rel
    if state is None:
        report.removed_by_user.append(str(entry["path"]))
        return str(entry["path"])
    if same:
        report.unchanged += 1
        return str(entry["path"])
    item.action = "update"
    side = entry.get("sidecar")
    if side is None and sidecar:  # e.g. --metadata none before, xmp now
        side = _free_sidecar_name(str(entry["path"]), names)
        if side is None:  # both forms are other files (a kept XMP, the user's)
            report.notes.append(
                f"{entry['path']}: no free name for its XMP sidecar (both "
                f"{PurePosixPath(str(entry['path'])).name}.xmp forms are taken); the photo "
                "is updated in place without one"
            )
    if state and _sidecar_untouched(dest, entry):
        item.rel, item.sidecar_rel = entry["path"], side
        item.replace = True
    else:  # the user changed our copy: it is theirs now, keep it
        item.rel, item.sidecar_rel = names.claim(rel, sidecar)
    items.append(item)
    return item.rel


def _free_sidecar_name(photo_rel: str, names: _Names) -> str | None:
    """Where photosync's XMP goes beside a photo exported before without one: ``IMG.jpg.xmp``,
    else ``IMG.xmp`` (a kept ``IMG.jpg.xmp`` went out under the first name), else None.

    Never a new name for the photo: that would write it a second time as ``IMG (1).jpg``.
    """
    for wanted in (
        photo_rel + SIDECAR_SUFFIX,
        str(PurePosixPath(photo_rel).with_suffix(SIDECAR_SUFFIX)),
    ):
        if not names.taken_or_present(wanted):
            names.taken.add(wanted.casefold())
            return wanted
    return None


def stored_sidecars(record: Record, digest: str) -> list[tuple[str, str, str]]:
    """(name, digest, the photo's name there) of each sidecar the archive keeps for the
    copy with these bytes, current ones only (an edited XMP's earlier version stays in
    the archive, not in a browsable export), each blob once."""
    out: list[tuple[str, str, str]] = []
    seen: set[str] = set()
    for _service, instance in iter_instances(record):
        held = check_digest(instance.get("content_hash") or record["content_hash"])
        if held != digest or instance.get("status") == "superseded":
            continue
        source_name = str((instance.get("observed") or {}).get("filename") or "")
        for sidecar in instance.get("sidecars") or []:
            side_digest = check_digest(sidecar["content_hash"])
            if sidecar.get("superseded") or side_digest in seen:
                continue
            seen.add(side_digest)
            out.append((str(sidecar["name"]), side_digest, source_name))
    return out


def sidecar_name(photo_rel: str, name: str, source_name: str) -> str:
    """Where a stored sidecar goes beside its exported photo, named so tools find it:
    a Takeout JSON as ``IMG_1.jpg.json``; an XMP as its source named it, after the
    photo's exported name: ``IMG_1.jpg.xmp`` (darktable, digiKam) or ``IMG_1.xmp``
    (Lightroom)."""
    suffix = PurePosixPath(name).suffix
    if suffix.lower() == ".json":
        return photo_rel + suffix
    folded, source = name.casefold(), source_name.casefold()
    if source and folded.startswith(source):
        return photo_rel + name[len(source_name) :]
    stem = PurePosixPath(source_name).stem.casefold()
    if stem and folded.startswith(stem + "."):
        return str(PurePosixPath(photo_rel).with_suffix("")) + name[len(stem) :]
    return photo_rel + suffix


def _sidecar_untouched(dest: Path, entry: dict[str, Any]) -> bool:
    side = entry.get("sidecar")
    if not side or not (dest / side).exists():
        return True
    try:
        return hash_file(dest / side)[0] == entry.get("sidecar_written")
    except OSError:
        return False


def export_library(
    archive: Archive,
    dest: Path,
    *,
    layout: str = DEFAULT_LAYOUT,
    metadata: str = "xmp",
    variants: str = "best",
    update: bool = False,
    only: Sequence[str] = (),
    dry_run: bool = False,
    progress: Progress | None = None,
    workers: int | None = None,
    stores: Sequence[BlobStore] | None = None,
) -> ExportReport:
    """Export the library (or ``only`` part of it) to ``dest``; see the module docstring."""
    progress = progress or SilentProgress()
    if metadata not in FORMATS:
        raise ConfigError(f"--metadata {metadata!r}: use one of {', '.join(FORMATS)}")
    if variants not in ("best", "all"):
        raise ConfigError(f"--variants {variants!r}: use best or all")
    fmt = FORMATS[metadata]()
    fmt.check()
    check_selectors(archive, only)
    dest = dest.expanduser().resolve()
    if dest == archive.root or archive.root in dest.parents:
        raise ConfigError(
            f"{dest} is inside the archive",
            hint="Export somewhere else: the archive's folder is git's and photosync's.",
        )
    if dest.exists() and not dest.is_dir():
        raise ConfigError(f"{dest} is not a folder")
    state = dest / STATE_DIR
    manifest = Manifest(state)
    if manifest.exists and not update:
        raise ConfigError(
            f"{dest} holds an earlier export",
            hint="Add --update to write only what is new or changed (an interrupted export "
            "is finished the same way), or choose an empty folder.",
        )
    report = ExportReport(str(dest), dry_run, metadata, layout, variants)
    lock: ArchiveLock | None = None
    if not dry_run:
        try:
            state.mkdir(parents=True, exist_ok=True)
        except OSError as error:  # not "free some space": the folder cannot be made at all
            raise ConfigError(
                f"cannot create the export folder {dest}: {error.strerror or error}",
                hint="Choose a folder you may write to (or create it first), then run again.",
            ) from error
        lock = ArchiveLock(state / "lock").acquire()
    try:
        items = plan_export(archive, dest, fmt, manifest, layout=layout, variants=variants,
                            only=only, report=report)  # fmt: skip
        if dry_run:
            for item in items:
                (report.updated if item.action == "update" else report.written).append(item.rel)
            return report
        tmp = state / "tmp"
        tmp.mkdir(exist_ok=True)
        for leftover in tmp.iterdir():  # copies a killed run never named: not the user's
            leftover.unlink(missing_ok=True)
        sources = list(stores) if stores is not None else all_stores(archive)
        sources.sort(key=lambda s: not s.local_files)
        _write_all(items, dest, tmp, fmt, manifest, sources, report, progress,
                   workers or download_workers(archive))  # fmt: skip
    finally:
        if lock is not None:
            lock.release()
    return report


def _write_all(
    items: list[Item],
    dest: Path,
    tmp: Path,
    fmt: MetadataFormat,
    manifest: Manifest,
    sources: Sequence[BlobStore],
    report: ExportReport,
    progress: Progress,
    workers: int,
) -> None:
    lock = threading.Lock()
    counter = iter(range(1, 1 << 62))

    def one(item: Item) -> None:
        with lock:
            number = next(counter)
        try:
            size, note = _write_item(item, dest, tmp / f"{number}", fmt, manifest, sources)
        except (PhotosyncError, OSError) as error:
            with lock:
                report.failed[item.rel] = str(error)
            log.warning("export %s: %s", item.rel, error)
        else:
            with lock:
                (report.updated if item.action == "update" else report.written).append(item.rel)
                report.bytes_written += size
                if note:
                    report.notes.append(f"{item.rel}: {note}")
        progress.advance()

    progress.start("export", len(items))
    try:
        for _ in bounded_map(one, items, workers=workers, name="export"):
            pass
    finally:
        progress.finish()
    report.written.sort()
    report.updated.sort()


def _fetch(digest: str, sources: Sequence[BlobStore], to: Path) -> None:
    """The verified bytes of an original into ``to`` from the first source with good ones."""
    problems: list[str] = []
    for source in sources:
        hasher = hashlib.sha256()
        try:
            with source.open(digest) as stream, open(to, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    out.write(chunk)
        except (PhotosyncError, OSError) as error:
            problems.append(f"{source.name}: {error}")
            continue
        if hasher.hexdigest() == digest:
            return
        problems.append(f"{source.name}: corrupt")
    to.unlink(missing_ok=True)
    raise BlobError(
        f"no good copy of sha256:{digest} ({'; '.join(problems) or 'no locations'}); "
        "see `photosync verify`, `photosync restore`"
    )


def _durable(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _place(tmp: Path, final: Path, replace: bool) -> None:
    """Give ``tmp`` its name: never over an existing file unless it is our own earlier copy."""
    final.parent.mkdir(parents=True, exist_ok=True)
    if replace:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)  # atomic, and fails when the name exists
    except FileExistsError:
        raise BlobError(f"{final} appeared while exporting; it is left alone") from None
    except OSError:  # FAT/exFAT and some network shares have no hard links
        if final.exists():
            raise BlobError(f"{final} appeared while exporting; it is left alone") from None
        os.rename(tmp, final)
        return
    tmp.unlink()


def _write_item(
    item: Item,
    dest: Path,
    tmp: Path,
    fmt: MetadataFormat,
    manifest: Manifest,
    sources: Sequence[BlobStore],
) -> tuple[int, str | None]:
    """One item, verified, under its name; (bytes written, a note)."""
    side_tmp = tmp.with_name(tmp.name + SIDECAR_SUFFIX)
    try:
        _fetch(item.digest, sources, tmp)
        sidecar, note = (None, None) if item.raw else fmt.apply(tmp, item.meta)
        _durable(tmp)
        written, size = hash_file(tmp)  # read back: what is named is what was checked
        if (item.raw or not fmt.changes_bytes) and written != item.digest:
            raise BlobError(
                f"the copy of sha256:{item.digest} does not read back as the original "
                f"(sha256:{written}); nothing was named"
            )
        side_written = None
        if sidecar is not None and item.sidecar_rel is not None:
            side_tmp.write_bytes(sidecar)
            _durable(side_tmp)
            side_written = hashlib.sha256(side_tmp.read_bytes()).hexdigest()
            if side_written != hashlib.sha256(sidecar).hexdigest():
                raise BlobError(f"the sidecar of {item.rel} did not read back as written")
        if item.mtime is not None:
            for path in (tmp, side_tmp) if side_written else (tmp,):
                os.utime(path, (item.mtime, item.mtime))
        manifest.intent(
            {
                "key": item.key,
                "photo_id": item.photo_id,
                "digest": item.digest,
                "path": item.rel,
                "sidecar": item.sidecar_rel if side_written else None,
                "written": written,
                "sidecar_written": side_written,
                "meta": item.meta_hash,
            }
        )
        _place(tmp, dest / item.rel, item.replace)
        if side_written and item.sidecar_rel is not None:
            side_final = dest / item.sidecar_rel
            if (
                item.action == "resume"
                and side_final.exists()
                and (hash_file(side_final)[0] == side_written)
            ):
                side_tmp.unlink()  # the killed run had named it already
            else:
                _place(side_tmp, side_final, item.replace and item.action == "update")
        manifest.done(item.key)
        return size + (len(sidecar) if side_written and sidecar else 0), note
    finally:
        tmp.unlink(missing_ok=True)
        side_tmp.unlink(missing_ok=True)


def _sidecar_digests(record: Record) -> set[str]:
    """Sidecar blobs are not variants of the photo: not exported as pictures."""
    return {check_digest(value) for value in record_sidecars(record)}
