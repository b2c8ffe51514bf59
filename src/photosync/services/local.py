"""A local folder as a service: a source (a phone dump, a camera card) and a target.

As a source it lists media files by walking the folder with ``os.scandir``
(stat only, no file contents), so an unchanged folder is re-discovered without
reading a byte. As a target it copies originals into ``YYYY/MM/<name>`` and
never overwrites a different file.
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.blobstore.base import CHUNK_SIZE, hash_file, open_regular
from photosync.blobstore.local import pid_alive
from photosync.errors import ConfigError, ItemUnavailable, NotRegularFile
from photosync.metadata.formats import SNIFF_BYTES, kind_by_name, sniff_media
from photosync.model import Record, Visibility
from photosync.services.base import (
    ListingReport,
    RemoteItem,
    SourceService,
    TargetService,
    UploadResult,
)

SIDECAR_EXTENSIONS = frozenset({"xmp"})
MAX_NAME_BYTES = 200


def media_kind(name: str) -> str | None:
    """Photo or video by extension (``metadata.formats``); content is asked when this says no."""
    return kind_by_name(name)


def safe_filename(name: str, fallback: str = "photo") -> str:
    """A name safe to create anywhere: no separators, control characters or dot-dot,
    bounded length, extension kept."""
    name = unicodedata.normalize("NFC", name)
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch.isprintable() and ch not in '<>:"|?*')
    name = re.sub(r"\s+", " ", name).strip(" .")
    if not name or set(name) <= {"."}:
        name = fallback
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    ext = ext[:16]
    while len((stem + "." + ext).encode("utf-8")) > MAX_NAME_BYTES and stem:
        stem = stem[:-1]
    return f"{stem}.{ext}" if ext else stem


class LocalFolderService(SourceService, TargetService):
    type_name = "local"

    def __init__(self, name: str, settings: dict[str, Any]) -> None:
        super().__init__(name, settings)
        if not settings.get("path"):
            raise ConfigError(f"service {name!r} (type local) has no path")
        self.root = Path(os.path.expanduser(settings["path"]))
        #: glob patterns on the path under the folder (``*`` crosses ``/``), case-insensitive:
        #: ``include`` archives a matching file even when it is no photo or video,
        #: ``exclude`` never archives a matching one (it is counted, not named)
        self.include = [p.lower() for p in _patterns(settings.get("include"))]
        self.exclude = [p.lower() for p in _patterns(settings.get("exclude"))]
        self._swept: set[Path] = set()

    @functools.cached_property
    def place(self) -> str:  # resolved once a run, not once an upload
        return str(self.root.resolve())

    # source -------------------------------------------------------------------------
    def list_items(
        self, *, since: datetime | None, cursor: str | None, report: ListingReport
    ) -> Iterator[RemoteItem]:
        if not self.root.is_dir():
            raise ConfigError(
                f"folder {self.root} of service {self.name!r} does not exist or is not a folder",
                hint="Check the path with `photosync service list`; a missing drive is not an empty library.",
            )
        since_ns = int(since.timestamp() * 1e9) if since else None
        for folder, listed in self._walk(self.root, report):
            # the folder's path under the root, once: per file only strings are joined
            # (pathlib per file was most of a no-op discover of 100,000 files)
            under = folder.relative_to(self.root).as_posix()
            prefix = "" if under == "." else under + "/"
            entries = []
            for entry in listed:
                if self.exclude and self._matches(self._rel(entry), self.exclude):
                    report.excluded += 1
                elif entry.name.startswith(".") and not self._matches(
                    self._rel(entry), self.include
                ):
                    report.left_out.append(
                        f"{self._rel(entry)}: a hidden file; left out "
                        "(add an `include` pattern to archive it)"
                    )
                else:
                    entries.append(entry)
            sidecars: dict[str, list[os.DirEntry[str]]] = {}
            for entry in entries:
                if _ext(entry.name) in SIDECAR_EXTENSIONS:
                    sidecars.setdefault(entry.name.lower(), []).append(entry)
            attached: set[str] = set()
            media: list[tuple[os.DirEntry[str], str]] = []
            for entry in entries:
                if _ext(entry.name) in SIDECAR_EXTENSIONS:
                    continue  # a sidecar goes with its photo; one without a photo is named below
                kind = media_kind(entry.name) or _sniffed_kind(entry, report)
                if kind is None and self.include and self._matches(self._rel(entry), self.include):
                    kind = "unknown"  # the user asked for it: archived whatever it is
                if kind is None:
                    report.left_out.append(f"{self._rel(entry)}: {_why_left_out(entry.name)}")
                    continue
                media.append((entry, kind))
                if sidecars:
                    attached.update(s.name.lower() for s in _sidecars_for(entry.name, sidecars))
            for key, same_name in sorted(sidecars.items()):
                for sidecar in same_name:
                    if key in attached:
                        continue
                    kind = _sniffed_kind(sidecar, report)
                    if kind is not None:  # a photo whose name lies: archived as what it is
                        media.append((sidecar, kind))
                    else:
                        report.left_out.append(
                            f"{self._rel(sidecar)}: an XMP sidecar with no photo of its name "
                            "beside it"
                        )
            for entry, kind in media:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError as error:
                    report.warnings.append(f"cannot read {entry.path}: {error.strerror}")
                    continue
                if since_ns is not None and st.st_mtime_ns < since_ns:
                    continue
                own_sidecars = _sidecars_for(entry.name, sidecars)
                version = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"
                for sidecar in own_sidecars:
                    sst = sidecar.stat()
                    version += f"|{portable_name(sidecar.name)}:{sst.st_size}:{sst.st_mtime_ns}"
                rel = prefix + entry.name
                extra: dict[str, Any] = {}
                if own_sidecars:
                    extra["sidecars"] = [portable_name(s.name) for s in own_sidecars]
                    if any(portable_name(s.name) != s.name for s in own_sidecars):
                        extra["raw_sidecars_hex"] = [raw_name_hex(s.name) for s in own_sidecars]
                if portable_name(rel) != rel:
                    # not valid UTF-8: archived under an escaped id, the raw bytes kept beside
                    extra["raw_path_hex"] = raw_name_hex(rel)
                yield RemoteItem(
                    instance_id=portable_name(rel),
                    version=version,
                    filename=portable_name(entry.name),
                    size=st.st_size,
                    media_type=kind,
                    quality="original",
                    local_path=folder / entry.name,
                    sidecar_paths=tuple(Path(s.path) for s in own_sidecars),
                    modified_at=_file_time(st.st_mtime),
                    extra=extra,
                )
            del folder

    def _rel(self, entry: os.DirEntry[str]) -> str:
        """The entry's path under the root, as stored (asked only when needed: listing cost)."""
        return portable_name(Path(entry.path).relative_to(self.root).as_posix())

    @staticmethod
    def _matches(relpath: str, patterns: list[str]) -> bool:
        lowered = relpath.lower()
        name = lowered.rsplit("/", 1)[-1]
        return any(
            fnmatch.fnmatchcase(lowered, p) or fnmatch.fnmatchcase(name, p) for p in patterns
        )

    def _walk(
        self, top: Path, report: ListingReport
    ) -> Iterator[tuple[Path, list[os.DirEntry[str]]]]:
        stack = [top]
        while stack:
            folder = stack.pop()
            try:
                with os.scandir(folder) as scan:
                    entries = sorted(scan, key=lambda e: e.name)
            except OSError as error:
                report.warnings.append(f"cannot list {folder}: {error.strerror}")
                continue
            files = []
            for entry in entries:
                if entry.name.startswith(".photosync"):
                    continue  # photosync's own: a target's temp copy, an export's manifest
                if entry.is_symlink():
                    report.warnings.append(
                        f"skipped symlink {portable_name(entry.path)}: photosync reads only real "
                        "files (add the folder it points to as a service of its own)"
                    )
                elif entry.is_dir(follow_symlinks=False) and entry.name.startswith("."):
                    report.left_out.append(
                        f"{portable_name(Path(entry.path).relative_to(self.root).as_posix())}/: "
                        "a hidden folder, not read; left out (add it as a service of its own "
                        "to archive what it holds)"
                    )
                elif entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    files.append(entry)
                else:  # whatever its name (a sidecar's, a document's): named, never read
                    report.warnings.append(
                        f"skipped {portable_name(entry.path)}: not a regular file "
                        "(a FIFO, device or socket), never read"
                    )
            yield folder, files
            stack.sort(reverse=True)

    def open_item(self, item: RemoteItem) -> AbstractContextManager[BinaryIO]:
        path = item.local_path or self.root / raw_relpath(item)
        try:
            return open_regular(path)
        except OSError as error:
            raise ItemUnavailable(f"cannot read {path}: {error.strerror}") from error

    def sidecar_paths(self, item: RemoteItem) -> list[Path]:
        """The item's sidecar files: as listed, else found again by the names its
        instance recorded (an item rebuilt from a record)."""
        if item.sidecar_paths:
            return list(item.sidecar_paths)
        base = (item.local_path or self.root / raw_relpath(item)).parent
        raw = item.extra.get("raw_sidecars_hex")
        names = (
            [os.fsdecode(bytes.fromhex(h)) for h in raw] if raw else item.extra.get("sidecars", [])
        )
        return [base / name for name in names]

    def sidecar_files(
        self, item: RemoteItem
    ) -> list[tuple[str, Callable[[], AbstractContextManager[BinaryIO]]]]:
        return [
            (portable_name(path.name), functools.partial(open_regular, path))
            for path in self.sidecar_paths(item)
        ]

    # target ----------------------------------------------------------------------------
    def target_relpath(self, record: Record) -> str:
        taken = record["metadata"].get("taken_date") or ""
        folder = f"{taken[:4]}/{taken[5:7]}" if len(taken) >= 7 else "undated"
        name = record["metadata"].get("filename") or record["photo_id"]
        return f"{folder}/{safe_filename(name, fallback=record['photo_id'])}"

    def find_existing(self, record: Record) -> UploadResult | None:
        wanted = self.target_relpath(record)
        self._sweep_stale_temps((self.root / wanted).parent)
        for candidate in self._candidates(wanted):
            path = self.root / candidate
            if not path.exists():
                return None
            if _holds(path, record["content_hash"].removeprefix("sha256:")):
                return UploadResult(instance_id=candidate, url=path.as_uri())
        return None

    def upload(self, record: Record, stream: BinaryIO, *, visibility: Visibility) -> UploadResult:
        """Copy into the folder under a free name; an identical file already there counts."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = record["content_hash"].removeprefix("sha256:")
        wanted = self.target_relpath(record)
        (self.root / wanted).parent.mkdir(parents=True, exist_ok=True)
        folder = (self.root / wanted).parent
        self._sweep_stale_temps(folder)
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".photosync-{os.getpid()}-")
        try:
            hasher = hashlib.sha256()
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    hasher.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if hasher.hexdigest() != digest:
                raise ItemUnavailable(f"bytes for {record['photo_id']} do not match its hash")
            for candidate in self._candidates(wanted):
                path = self.root / candidate
                if os.path.lexists(path):
                    if _holds(path, digest):
                        return UploadResult(instance_id=candidate, url=path.as_uri())
                    continue
                try:
                    os.link(tmp_name, path)  # fails if the name appeared meanwhile: no overwrite
                except FileExistsError:
                    continue
                return UploadResult(instance_id=candidate, url=path.as_uri())
            raise ItemUnavailable(f"no free file name for {wanted} in {self.root}")
        finally:
            Path(tmp_name).unlink(missing_ok=True)

    def _sweep_stale_temps(self, folder: Path) -> None:
        """Remove temp files our own killed runs left (their pid is gone); never user files."""
        if folder in self._swept:
            return
        self._swept.add(folder)
        for leftover in folder.glob(".photosync-*-*"):
            pid = leftover.name.split("-")[1]
            if pid.isdigit() and not pid_alive(int(pid)):
                leftover.unlink(missing_ok=True)

    @staticmethod
    def _candidates(relpath: str, limit: int = 1000) -> Iterator[str]:
        yield relpath
        stem, dot, ext = relpath.rpartition(".")
        if not dot or "/" in ext:
            stem, ext = relpath, ""
        for number in range(1, limit):
            yield f"{stem} ({number}).{ext}" if ext else f"{stem} ({number})"

    def max_visibility(self) -> Visibility:
        return Visibility.PRIVATE


def portable_name(name: str) -> str:
    """A name as it can be stored in JSON and git: itself when it is valid UTF-8, else
    its undecodable bytes escaped as ``\\xNN`` (the raw bytes go in ``raw_name_hex``)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "backslashreplace")
    return name


def raw_name_hex(name: str) -> str:
    """The bytes the file system holds for ``name``, in hex: recoverable exactly."""
    return os.fsencode(name).hex()


def raw_relpath(item: RemoteItem) -> str:
    """The item's path under the root as the file system spells it."""
    raw = item.extra.get("raw_path_hex")
    return os.fsdecode(bytes.fromhex(raw)) if raw else item.instance_id


def _holds(path: Path, digest: str) -> bool:
    """Does the file at ``path`` hold these bytes (a FIFO or symlink there does not)?"""
    try:
        return hash_file(path)[0] == digest
    except NotRegularFile:
        return False


def _file_time(mtime: float) -> datetime | None:
    """A file's modification time; None when no date can hold it (a clock gone wild
    wrote year 14645 on a disk that keeps it): the photo is then undated, not lost."""
    try:
        return datetime.fromtimestamp(mtime, UTC)
    except (ValueError, OverflowError, OSError):
        return None


def _patterns(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _sniffed_kind(entry: os.DirEntry[str], report: ListingReport) -> str | None:
    """Photo or video by the file's first bytes: for names whose extension says nothing."""
    try:
        with open_regular(Path(entry.path)) as fh:
            head = fh.read(SNIFF_BYTES)
    except (OSError, NotRegularFile) as error:
        report.warnings.append(f"cannot read {portable_name(entry.path)}: {error}")
        return None
    found = sniff_media(head)
    return found[1] if found else None


#: what a file left out most likely is, by extension: said in the report
_LEFT_OUT_REASONS = {
    "aae": "an Apple Photos edit file (the edit recipe, not a photo)",
    "json": "a JSON file (a Takeout sidecar is read by a google-takeout service)",
    "thm": "a camera's thumbnail of a video",
    "db": "a database (a Windows thumbnail cache?)",
    "ini": "a settings file",
    "txt": "a text file",
    "pdf": "a document",
}


def _why_left_out(name: str) -> str:
    ext = _ext(name)
    reason = _LEFT_OUT_REASONS.get(ext) or (
        f"not a photo or video photosync recognises (.{ext})"
        if ext
        else "not a photo or video photosync recognises"
    )
    return reason + "; left out (add an `include` pattern to archive it)"


def _ext(name: str) -> str:
    return name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _sidecars_for(name: str, sidecars: dict[str, list[os.DirEntry[str]]]) -> list[os.DirEntry[str]]:
    """``name.ext.xmp`` and ``name.xmp`` (the second only when it names one file); every
    spelling of each on a case-sensitive disk (``IMG.xmp`` and ``img.xmp`` are two files)."""
    lowered = name.lower()
    found = list(sidecars.get(f"{lowered}.xmp", []))
    stem = lowered.rsplit(".", 1)[0]
    if f"{stem}.xmp" != f"{lowered}.xmp":
        found.extend(sidecars.get(f"{stem}.xmp", []))
    return [s for s in found if s.name != name]  # a photo named .xmp is not its own sidecar
