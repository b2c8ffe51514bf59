"""Perceptual fingerprints that survive re-encoding, resizing and format changes.

The same photo rarely has the same bytes on two services, so identity needs a
description of what the picture *looks like*.  A fingerprint holds:

* a 64-bit DCT perceptual hash (the classic pHash: 32x32 grey, 2-D DCT, the 8x8
  lowest frequencies against their median) - cheap to index and to compare;
* an 8x8 RGB thumbnail (192 bytes) that tells a re-encode (colours within a
  few levels) from an edit or a second shot of the same scene (HDR on/off,
  filters), which pHash alone cannot;
* the displayed dimensions (after EXIF orientation).

Everything is computed from the picture as it is *displayed*: EXIF orientation
is applied first (pillow-heif already applies HEIF rotation and reports
orientation 1, so HEIF is never rotated twice).  Decoding uses the JPEG DCT
scaling of ``Image.draft`` and embedded HEIF thumbnails, so a 12 MP JPEG costs a
few milliseconds instead of a full decode.

Tiny and flat images (test patterns, 8x8 thumbnails, truncated files) collide
with each other at pHash distance 0-5; they get no fingerprint, with a reason.
"""

from __future__ import annotations

import base64
import binascii
import struct
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photosync.errors import PhotosyncError
from photosync.imaging import decodable_formats
from photosync.model.record import MediaFingerprint

if TYPE_CHECKING:  # numpy and Pillow are imported when an image is read, not by every command
    import numpy as np
    from PIL import Image

HASH_BITS = 64
#: smallest displayed side that gets a fingerprint: below it images collide
MIN_SIDE = 64
#: standard deviation (0-255 grey levels, on the 32x32 image) below which an image is flat
MIN_STDDEV = 6.0
#: fewer set bits than this means many DCT coefficients tie at the median
MIN_HASH_BITS_SET = 28
#: draft/thumbnail request: decode at the smallest scale that is still this big
DRAFT_SIZE = 128
THUMB_SIDE = 8
THUMB_BYTES = THUMB_SIDE * THUMB_SIDE * 3

#: formats whose decoder already applies the stored rotation (pillow-heif reports 1 afterwards)
_SELF_ORIENTING = frozenset({"HEIF"})
#: formats with a fast reduced-size decode (DCT scaling or embedded thumbnails)
_DRAFTABLE = frozenset({"JPEG", "MPO", "HEIF"})
_ORIENTATION_TAG = 0x0112
#: what Pillow's plugins raise on damaged data (a tag of the wrong type, a short table)
_DAMAGE = (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, struct.error)
#: what each EXIF orientation asks for (as ``ImageOps.exif_transpose`` does it)
_TRANSPOSES = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}


@cache
def _register_heif() -> None:
    """Pillow reads HEIF once pillow_heif registered its opener (once per process)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


class FingerprintError(PhotosyncError):
    """A file could not be read at all (missing, unreadable) or a stored fingerprint is malformed."""


@cache
def _dct_matrix(n: int) -> np.ndarray:
    """Unnormalised DCT-II basis (the scipy ``dct`` convention pHash uses)."""
    import numpy as np

    k = np.arange(n, dtype=np.float64)[:, None]
    x = np.arange(n, dtype=np.float64)[None, :]
    return 2.0 * np.cos(np.pi * k * (2.0 * x + 1.0) / (2.0 * n))


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a picture looks like, small enough to live in the photo record (and, with
    slots, in memory for every photo of a library while resolve matches them)."""

    phash: int
    #: displayed size (after EXIF orientation) of the full image, not of the decoded draft
    width: int
    height: int
    #: 8x8 RGB, row-major, 192 bytes
    thumb: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.phash < (1 << HASH_BITS):
            raise FingerprintError(f"phash {self.phash!r} is not a 64-bit unsigned integer")
        if self.width <= 0 or self.height <= 0:
            raise FingerprintError(
                f"fingerprint dimensions {self.width}x{self.height} are not positive"
            )
        if len(self.thumb) != THUMB_BYTES:
            raise FingerprintError(
                f"fingerprint thumbnail has {len(self.thumb)} bytes, expected {THUMB_BYTES}"
            )

    @property
    def aspect(self) -> float:
        return self.width / self.height

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def phash_hex(self) -> str:
        return f"{self.phash:016x}"

    def distance(self, other: Fingerprint) -> int:
        """Hamming distance of the perceptual hashes (0-64)."""
        return hamming(self.phash, other.phash)

    def thumb_distance(self, other: Fingerprint) -> float:
        """Mean absolute difference of the 8x8 colour thumbnails, in 0-255 levels.

        Re-encodes and resizes stay below ~3; brightness, contrast, colour filters and
        HDR on/off move it by 10-30 while leaving pHash almost unchanged.
        """
        import numpy as np

        a = np.frombuffer(self.thumb, dtype=np.uint8).astype(np.int16)
        b = np.frombuffer(other.thumb, dtype=np.uint8).astype(np.int16)
        return float(np.abs(a - b).mean())

    def thumb_peak(self, other: Fingerprint) -> int:
        """Largest single channel difference of the thumbnails (0-255)."""
        import numpy as np

        a = np.frombuffer(self.thumb, dtype=np.uint8).astype(np.int16)
        b = np.frombuffer(other.thumb, dtype=np.uint8).astype(np.int16)
        return int(np.abs(a - b).max())

    def to_dict(self) -> MediaFingerprint:
        """JSON shape for the record's ``media.fingerprint`` field."""
        return {
            "algo": "dct64+rgb8x8",
            "phash": self.phash_hex,
            "width": self.width,
            "height": self.height,
            "thumb": base64.b64encode(self.thumb).decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: Any) -> Fingerprint:
        """Inverse of ``to_dict``; a malformed value is a clear error, never a traceback."""
        if not isinstance(data, dict):
            raise FingerprintError(
                f"stored fingerprint must be an object, got {type(data).__name__}"
            )
        algo = data.get("algo", "dct64+rgb8x8")
        if algo != "dct64+rgb8x8":
            raise FingerprintError(f"unknown fingerprint algorithm {algo!r}")
        try:
            phash = int(str(data["phash"]), 16)
            width = int(data["width"])
            height = int(data["height"])
            thumb = base64.b64decode(str(data["thumb"]), validate=True)
        except (KeyError, ValueError, TypeError, binascii.Error) as exc:
            raise FingerprintError(f"malformed stored fingerprint: {exc!r}") from None
        return cls(phash=phash, width=width, height=height, thumb=thumb)


@dataclass(frozen=True)
class FingerprintResult:
    """A fingerprint, or why there is none (and the size, when it could be read)."""

    fingerprint: Fingerprint | None
    reason: str | None = None
    width: int | None = None
    height: int | None = None


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def compute_fingerprint(path: Path) -> Fingerprint | None:
    """Fingerprint of an image file, or None when it cannot be told apart reliably.

    Use ``fingerprint_file`` to learn why a file got none.  Raises
    ``FingerprintError`` only when the file itself cannot be read.
    """
    return fingerprint_file(path).fingerprint


def fingerprint_file(path: Path) -> FingerprintResult:
    """Decode ``path`` at reduced size and fingerprint what it displays."""
    from PIL import Image, UnidentifiedImageError

    _register_heif()
    path = Path(path)
    try:
        with warnings.catch_warnings():
            # Corrupt-EXIF and decompression-bomb warnings are Pillow's, not the user's
            warnings.simplefilter("ignore")
            with Image.open(path, formats=decodable_formats()) as im:
                return _fingerprint_open_image(im)
    except (FileNotFoundError, IsADirectoryError, PermissionError) as exc:
        raise FingerprintError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnidentifiedImageError:
        return FingerprintResult(None, "not a decodable image")
    except Image.DecompressionBombError:
        return FingerprintResult(None, "image too large to decode safely")
    except _DAMAGE as exc:
        # truncated or corrupt data (Pillow's plugins raise any of these on damage): a
        # partial decode would collide with other partial decodes; one damaged file
        # must not stop a pass over the whole archive
        return FingerprintResult(None, f"undecodable image data: {exc}")


def fingerprint_image(im: Image.Image) -> FingerprintResult:
    """Fingerprint an already opened/created image (no orientation tag applied if none)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _fingerprint_open_image(im)
        except _DAMAGE as exc:
            return FingerprintResult(None, f"undecodable image data: {exc}")


def _orientation(im: Image.Image, fmt: str | None) -> int:
    """The stored rotation still to apply (1: none)."""
    if fmt in _SELF_ORIENTING:
        return 1
    try:
        orientation = im.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a broken EXIF block must not cost the fingerprint
        return 1
    return orientation if orientation in _TRANSPOSES else 1


def _displayed_size(im: Image.Image, orientation: int) -> tuple[int, int]:
    width, height = im.size
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def _to_rgb(im: Image.Image) -> Image.Image:
    """RGB without surprises: alpha over white, 16-bit and float rescaled instead of clipped."""
    import numpy as np
    from PIL import Image

    if im.mode == "RGB":
        return im
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        a = np.asarray(im, dtype=np.float64)
        lo, hi = float(a.min()), float(a.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        return Image.fromarray(((a - lo) * scale).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        im.mode == "P" and "transparency" in im.info
    ):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _fingerprint_open_image(im: Image.Image) -> FingerprintResult:
    import numpy as np
    from PIL import Image

    fmt = im.format
    orientation = _orientation(im, fmt)
    width, height = _displayed_size(im, orientation)
    if min(width, height) < MIN_SIDE:
        return FingerprintResult(
            None,
            f"too small ({width}x{height} < {MIN_SIDE} px): tiny images collide",
            width,
            height,
        )
    if fmt in _DRAFTABLE:
        # JPEG: DCT scaling 1/2..1/8; HEIF: an embedded thumbnail that is a scaled copy, if any
        im.draft("RGB", (DRAFT_SIZE, DRAFT_SIZE))
    im.load()
    if orientation != 1:
        # the pixels exif_transpose gives, without its copy when nothing turns (a
        # quarter of the work after decoding) or its rewrite of the EXIF block (which
        # raises on a damaged tag, where the rotation itself is clear)
        im = im.transpose(Image.Transpose[_TRANSPOSES[orientation]])
    rgb = _to_rgb(im)
    factor = min(rgb.size) // DRAFT_SIZE
    if factor >= 2:  # formats without draft (PNG, WebP, TIFF): cheap box reduction first
        rgb = rgb.reduce(factor)
    grey = np.asarray(rgb.convert("L").resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    if float(grey.std()) < MIN_STDDEV:
        return FingerprintResult(None, "flat image (too little detail to identify)", width, height)
    dct = _dct_matrix(32) @ grey @ _dct_matrix(32).T
    low = dct[:8, :8].flatten()
    bits = low > np.median(low)
    if int(bits.sum()) < MIN_HASH_BITS_SET:
        return FingerprintResult(
            None, "too few distinct DCT coefficients (flat or synthetic image)", width, height
        )
    phash = int.from_bytes(np.packbits(bits).tobytes(), "big")
    thumb = rgb.resize((THUMB_SIDE, THUMB_SIDE), Image.Resampling.BOX).tobytes()
    return FingerprintResult(Fingerprint(phash, width, height, thumb), None, width, height)
