"""Reading Takeout parts (zip, tar/tgz, or an unpacked folder) as streams: the
directory of every part with its JSON files, the caps against bombs and zip-slip,
and a bounded stream of one entry's bytes. Nothing is unpacked to disk.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import io
import os
import re
import tarfile
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from photosync.blobstore.base import open_regular
from photosync.errors import ItemUnavailable, PhotosyncError
from photosync.services.google.takeout.names import nfc
from photosync.services.google.takeout.sidecars import SidecarJson, decode_json

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


class TakeoutError(PhotosyncError):
    """A Takeout part cannot be read (not an archive, truncated, a bomb)."""


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


class PartsReader:
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
        self.json: dict[tuple[str, str], SidecarJson] = {}

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
                self.json[key] = SidecarJson(
                    error=f"oversized JSON ({entry.size} bytes > {self.max_sidecar_bytes}); ignored"
                )
                return
            assert read_json is not None
            try:
                raw = read_json()
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, tarfile.TarError) as exc:
                self.json[key] = SidecarJson(error=f"unreadable JSON: {exc}")
                return
            self.json[key] = decode_json(raw, self.max_sidecar_bytes)

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


def entry_time(entry: Entry) -> datetime | None:
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
