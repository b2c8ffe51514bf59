"""XMP sidecar files: finding them beside a photo and reading them safely.

Two naming styles exist in the wild: ``IMG_1.xmp`` (Lightroom, digiKam default)
and ``IMG_1.jpg.xmp`` (darktable, digiKam option).  The extension match is
case-insensitive because cameras and tools disagree on case.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from photosync.metadata.facts import Facts
from photosync.metadata.xmp import MAX_SIDECAR_BYTES, parse_xmp_packet

_DIR_CACHE: OrderedDict[tuple[str, int], dict[str, list[str]]] = OrderedDict()
_DIR_CACHE_SIZE = 32
_DIR_LOCK = threading.Lock()


def _dir_index(folder: Path) -> dict[str, list[str]]:
    """Lower-cased name -> real names, cached per (folder, mtime) so a scan lists each folder once."""
    try:
        stamp = folder.stat().st_mtime_ns
    except OSError:
        return {}
    key = (str(folder), stamp)
    with _DIR_LOCK:
        cached = _DIR_CACHE.get(key)
        if cached is not None:
            _DIR_CACHE.move_to_end(key)
            return cached
    index: dict[str, list[str]] = {}
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if entry.name.lower().endswith(".xmp"):
                    index.setdefault(entry.name.lower(), []).append(entry.name)
    except OSError:
        return {}
    with _DIR_LOCK:
        _DIR_CACHE[key] = index
        if len(_DIR_CACHE) > _DIR_CACHE_SIZE:
            _DIR_CACHE.popitem(last=False)
    return index


def find_sidecars(path: Path) -> list[Path]:
    """Existing sidecars of ``path``: ``name.ext.xmp`` first (more specific), then ``name.xmp``."""
    path = Path(path)
    if path.suffix.lower() == ".xmp":
        return []
    index = _dir_index(path.parent)
    found: list[Path] = []
    for candidate in (path.name.lower() + ".xmp", path.stem.lower() + ".xmp"):
        for real in sorted(index.get(candidate, [])):
            sidecar = path.parent / real
            if sidecar not in found and sidecar.is_file():
                found.append(sidecar)
    return found


def parse_xmp_sidecar(path: Path) -> tuple[Facts, list[str]]:
    """Facts from one sidecar and the problems met; a bad sidecar yields empty facts, never an error."""
    path = Path(path)
    label = f"sidecar {path.name}"
    try:
        size = path.stat().st_size
        if size > MAX_SIDECAR_BYTES:
            return Facts(), [f"{label} ignored: {size} bytes is larger than 64 MB"]
        data = path.read_bytes()
    except OSError as exc:
        return Facts(), [f"{label} ignored: cannot read it ({exc.strerror or exc})"]
    facts = parse_xmp_packet(data, prefix="sidecar", label=label)
    problems, facts.problems = facts.problems, []
    if not problems and not data.strip():
        problems.append(f"{label} ignored: it is empty")
    return facts, problems
