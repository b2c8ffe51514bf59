"""Which image formats photosync lets Pillow decode, in one place.

Decoding happens on files from any source (a Takeout, a shared folder): resolve's
fingerprints and ``photosync web``'s thumbnails. Pillow decodes most formats
in-process, but EPS starts ghostscript and a few scientific formats (FITS, GRIB,
HDF5, BUFR) hand the file to plugins. So decoding is limited to photo formats
Pillow reads itself; a file in another format is still archived bit-exact, it
only goes without a fingerprint or a preview.
"""

from __future__ import annotations

from functools import cache

#: photo formats Pillow decodes itself (HEIF/AVIF through pillow-heif or Pillow's AVIF)
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


@cache
def _available(registered: frozenset[str]) -> tuple[str, ...]:
    return tuple(name for name in DECODED_FORMATS if name in registered)


def decodable_formats() -> list[str]:
    """``DECODED_FORMATS`` this Pillow can open, for ``Image.open(..., formats=)``.

    Asked on each call: a plugin (pillow-heif) may register after the first one.
    """
    from PIL import Image

    Image.init()
    return list(_available(frozenset(Image.OPEN)))
