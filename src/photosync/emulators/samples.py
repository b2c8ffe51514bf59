"""Sample photos made on the spot: the demo's library, test fixtures, benchmark data.

Real JPEG bytes with real EXIF (dates with offsets, GPS, camera), unique pixels
per seed so that no two samples collide by hash or by perceptual hash.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from PIL import Image

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825


def _rational(value: float) -> tuple[Fraction, Fraction, Fraction]:
    degrees = int(value)
    minutes_full = (value - degrees) * 60
    minutes = int(minutes_full)
    seconds = Fraction(round((minutes_full - minutes) * 60 * 1000), 1000)
    return Fraction(degrees), Fraction(minutes), seconds


def sample_image(seed: int, size: tuple[int, int] = (640, 480), noise: float = 0.0) -> Image.Image:
    """A picture with large unique shapes (so perceptual hashes differ) and optional noise."""
    rng = random.Random(seed)
    width, height = size
    small = Image.new("RGB", (16, 12))
    small.putdata(
        [(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(16 * 12)]
    )
    image = small.resize(size, Image.Resampling.BICUBIC)
    if noise > 0:
        grain = Image.frombytes("RGB", size, rng.randbytes(width * height * 3))
        image = Image.blend(image, grain, noise)
    return image


def write_jpeg(
    path: Path,
    *,
    seed: int,
    size: tuple[int, int] = (640, 480),
    taken: datetime | None = None,
    offset: str | None = None,
    subsec: str | None = None,
    gps: tuple[float, float] | None = None,
    make: str | None = "photosync",
    model: str | None = "Sample Camera",
    description: str | None = None,
    quality: int = 90,
    noise: float = 0.0,
) -> Path:
    image = sample_image(seed, size, noise)
    exif = Image.Exif()
    if make:
        exif[0x010F] = make
    if model:
        exif[0x0110] = model
    if description:
        exif[0x010E] = description
    if taken or offset or subsec:
        ifd = exif.get_ifd(_EXIF_IFD)
        if taken:
            ifd[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
            ifd[0x9004] = taken.strftime("%Y:%m:%d %H:%M:%S")
        if offset:
            ifd[0x9011] = offset
        if subsec:
            ifd[0x9291] = subsec
    if gps:
        lat, lng = gps
        gps_ifd = exif.get_ifd(_GPS_IFD)
        gps_ifd[1] = "N" if lat >= 0 else "S"
        gps_ifd[2] = _rational(abs(lat))
        gps_ifd[3] = "E" if lng >= 0 else "W"
        gps_ifd[4] = _rational(abs(lng))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=quality, exif=exif)
    return path


def write_xmp_sidecar(
    path: Path, *, caption: str | None = None, tags: list[str] | None = None
) -> Path:
    """A minimal, valid XMP sidecar as photo managers write them."""
    parts = []
    if caption is not None:
        parts.append(
            '<dc:description><rdf:Alt><rdf:li xml:lang="x-default">'
            f"{_xml_escape(caption)}</rdf:li></rdf:Alt></dc:description>"
        )
    if tags:
        items = "".join(f"<rdf:li>{_xml_escape(tag)}</rdf:li>" for tag in tags)
        parts.append(f"<dc:subject><rdf:Bag>{items}</rdf:Bag></dc:subject>")
    body = "".join(parts)
    path.write_text(
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        f"{body}</rdf:Description></rdf:RDF></x:xmpmeta>\n"
        '<?xpacket end="w"?>\n',
        encoding="utf-8",
    )
    return path


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


@dataclass
class SampleLibrary:
    """Two overlapping folders, as a phone dump and a laptop folder would be."""

    phone: Path
    laptop: Path
    photos: int
    shared: int


def make_demo_library(root: Path) -> SampleLibrary:
    """A small library that exercises every phase: duplicates, a caption conflict,
    a photo with no date, a corrupt file, GPS and none."""
    phone, laptop = root / "phone", root / "laptop"
    places = [(37.7749, -122.4194), (48.8584, 2.2945), (-33.8568, 151.2153), None]
    count = 0
    for index in range(10):
        taken = datetime(2024, 1 + index % 12, 3 + index, 10 + index % 8, 15, 30)
        write_jpeg(
            phone / "DCIM" / f"IMG_{1000 + index}.jpg",
            seed=index,
            taken=taken,
            offset="-08:00" if index % 2 else "+01:00",
            subsec=f"{index * 7 % 100:02d}",
            gps=places[index % len(places)],
            make="Apple",
            model="iPhone 14",
        )
        count += 1
    # the laptop holds byte-identical copies of three phone photos ...
    for index in (1, 2, 3):
        source = phone / "DCIM" / f"IMG_{1000 + index}.jpg"
        target = laptop / "2024" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(source.read_bytes())
    # ... one of them captioned differently on each side (a conflict to resolve)
    write_xmp_sidecar(
        phone / "DCIM" / "IMG_1002.jpg.xmp", caption="Sunset at the beach", tags=["beach"]
    )
    write_xmp_sidecar(
        laptop / "2024" / "IMG_1002.xmp",
        caption="Ocean Beach sunset with friends",
        tags=["beach", "friends"],
    )
    # a scan with no date at all, and a file cut short by a bad card
    write_jpeg(laptop / "scans" / "grandma-1962.jpg", seed=100, make=None, model=None)
    broken = laptop / "broken" / "IMG_9999.jpg"
    broken.parent.mkdir(parents=True, exist_ok=True)
    whole = write_jpeg(root / "whole.tmp.jpg", seed=101).read_bytes()
    broken.write_bytes(whole[: len(whole) // 3])
    (root / "whole.tmp.jpg").unlink()
    return SampleLibrary(phone=phone, laptop=laptop, photos=count + 2, shared=3)
