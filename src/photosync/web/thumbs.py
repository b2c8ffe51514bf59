"""Thumbnails of originals, made on demand in a few worker threads and cached on disk.

The cache is ``.photosync/thumbs/<size>/<ab>/<digest>.jpg`` (never in git; deleting
it costs only time). Originals are read from the archive's primary blob store, never
changed. Memory stays bounded: at most ``workers`` images are decoded at once, JPEGs
are decoded at reduced size (``Image.draft``), an image of more than
``MAX_DECODE_PIXELS`` after that gets a placeholder, never decoded, and Pillow's
decompression-bomb limit stays on. Only ``imaging.decodable_formats()`` are
decoded (EPS would start ghostscript); anything else gets a placeholder. A video gets a poster frame decoded by PyAV
(imported only here), or a labelled placeholder when no frame can be read (so does
a file Pillow cannot read).
"""

from __future__ import annotations

import importlib.util
import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from photosync.imaging import decodable_formats

try:  # HEIC/HEIF through Pillow
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - a dependency; without it HEIC gets a placeholder
    pass

log = logging.getLogger(__name__)

#: name -> longest side in pixels
SIZES = {"s": 240, "m": 480, "l": 1600}
#: the most pixels decoded for one thumbnail (after a JPEG's reduced-size draft):
#: ~150 MB of RGB. Pillow's own bomb limit (~179 megapixels, x2 before it refuses)
#: lets a PNG of 170 megapixels through at ~1 GB a worker.
MAX_DECODE_PIXELS = 50_000_000
DECODED_FORMATS = (
    "JPEG",
    "MPO",
    "PNG",
    "GIF",
    "TIFF",
    "WEBP",
    "BMP",
    "DIB",
    "HEIF",
    "AVIF",
    "JPEG2000",
    "ICO",
    "PPM",
    "TGA",
    "PCX",
    "PSD",
    "QOI",
    "DDS",
    "PCD",
)


@dataclass(frozen=True)
class Thumb:
    path: Path
    #: "image" (decoded from the original), "poster" (a video frame by PyAV),
    #: "placeholder" (a labelled card: no decoder, or the original is not here)
    kind: str


def posters() -> bool:
    """Can a video get a poster frame here (PyAV installed)?"""
    return importlib.util.find_spec("av") is not None


class Thumbnailer:
    """Makes and caches thumbnails; one job per (digest, size) at a time."""

    def __init__(self, cache: Path, originals: Path, *, workers: int = 2) -> None:
        self.cache = cache
        self.originals = originals  # the primary store's folder (blobs/)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="thumb")
        self._lock = threading.Lock()
        self._jobs: dict[tuple[str, str], Future[Thumb]] = {}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _paths(self, digest: str, size: str) -> tuple[Path, Path]:
        folder = self.cache / size / digest[:2]
        return folder / f"{digest}.jpg", folder / f"{digest}.placeholder.jpg"

    def get(self, digest: str, size: str, *, kind: str, label: str) -> Thumb:
        """The thumbnail of an original (``digest`` already validated against a record)."""
        made, _placeholder = self._paths(digest, size)
        if made.is_file():
            return Thumb(made, "poster" if kind == "video" else "image")
        key = (digest, size)
        with self._lock:
            job = self._jobs.get(key)
            if job is None:
                job = self._pool.submit(self._make, digest, size, kind, label)
                self._jobs[key] = job
        try:
            return job.result()
        finally:
            with self._lock:
                if self._jobs.get(key) is job and job.done():
                    del self._jobs[key]

    def _original(self, digest: str) -> Path:
        return self.originals / "sha256" / digest[:2] / digest

    def _make(self, digest: str, size: str, kind: str, label: str) -> Thumb:
        made, placeholder = self._paths(digest, size)
        made.parent.mkdir(parents=True, exist_ok=True)
        source = self._original(digest)
        longest = SIZES[size]
        if not source.is_file():
            return self._placeholder(placeholder, longest, f"{label}\noriginal not on this machine")
        if kind == "video":
            frame = _poster_frame(source)
            if frame is None:
                return self._placeholder(placeholder, longest, f"video: {label}\n(no frame read)")
            frame.thumbnail((longest, longest))
            _save(frame.convert("RGB"), made)
            return Thumb(made, "poster")
        try:
            with Image.open(source, formats=decodable_formats()) as image:
                image.draft("RGB", (longest, longest))  # JPEG: decode at reduced size
                width, height = image.size
                if width * height > MAX_DECODE_PIXELS:
                    log.info("no thumbnail for %s: %dx%d is too large", digest, width, height)
                    return self._placeholder(
                        placeholder, longest, f"{label}\n({width}x{height}: too large to preview)"
                    )
                upright = ImageOps.exif_transpose(image)
                upright.thumbnail((longest, longest))
                _save(upright.convert("RGB"), made)
        except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as error:
            log.info("no thumbnail for %s: %s", digest, error)
            return self._placeholder(placeholder, longest, f"{label}\n(no preview)")
        return Thumb(made, "poster" if kind == "video" else "image")

    def _placeholder(self, path: Path, longest: int, text: str) -> Thumb:
        if not path.is_file():
            card = Image.new("RGB", (longest, longest * 3 // 4), (60, 64, 72))
            draw = ImageDraw.Draw(card)
            draw.multiline_text((12, 12), text, fill=(230, 230, 230), spacing=6)
            _save(card, path)
        return Thumb(path, "placeholder")


def _save(image: Image.Image, path: Path) -> None:
    """Written to a temp name then renamed: a reader never sees half a thumbnail."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    image.save(tmp, "JPEG", quality=82, optimize=True)
    os.replace(tmp, path)


def _poster_frame(source: Path) -> Image.Image | None:
    """A frame about a second in (or the first one), by PyAV (FFmpeg in its wheel);
    None when the file has no video stream it can decode."""
    try:
        import av  # only the thumbnail code needs it: every other command starts without
    except ImportError:  # pragma: no cover - a dependency; without it a video gets a placeholder
        return None
    try:
        with av.open(str(source), mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if container.duration and container.duration > 2 * av.time_base:
                container.seek(av.time_base, any_frame=False)  # in microseconds: 1 s
            for frame in container.decode(stream):  # the first frame decoded is the poster
                if frame.width * frame.height > MAX_DECODE_PIXELS:
                    return None
                image: Image.Image = frame.to_image()
                return image
    except Exception as error:  # any file, any codec: a placeholder, never a 500
        log.info("no poster frame of %s: %s", source.name, error)
    return None
