"""A Google Takeout generator with every quirk real exports have.

Tests and the demo need Takeout archives whose truth is known; real exports
cannot be shipped. ``generate_takeout`` writes ``.zip`` or ``.tgz`` parts with
both sidecar naming forms, the 46-character cut, numbered copies, missing media
extensions, localized product/album/special-folder names and edit suffixes,
albums as copies of year-folder photos, Live photo pairs, Archive/Trash/Locked
Folder/Failed Videos, orphans on both sides, odd timestamps and geo blocks, and
spreads files over parts so that some sidecars sit in another part than their
media. The returned ``TakeoutManifest`` is the truth to assert against.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import math
import random
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import Image

SIDECAR_STEM_LIMIT = 46
_EPOCH_2015 = 1420070400
_EPOCH_2024 = 1704067200


@dataclass(frozen=True)
class TakeoutLocale:
    product: str
    album_metadata: str
    edited: str
    archive: str
    trash: str
    locked: str
    failed: str
    untitled: str
    month: str  # used only to make ``formatted`` look localized (it must never be parsed)


LOCALES: dict[str, TakeoutLocale] = {
    "en": TakeoutLocale(
        "Google Photos", "metadata.json", "-edited", "Archive", "Trash", "Locked Folder",
        "Failed Videos", "Untitled", "Jan",
    ),
    "de": TakeoutLocale(
        "Google Fotos", "Metadaten.json", "-bearbeitet", "Archiv", "Papierkorb",
        "Gesperrter Ordner", "Fehlgeschlagene Videos", "Unbenannt", "Jän.",
    ),
    "fr": TakeoutLocale(
        "Google Photos", "métadonnées.json", "-modifié", "Archive", "Corbeille",
        "Dossier verrouillé", "Vidéos ayant échoué", "Sans titre", "janv.",
    ),
    "pl": TakeoutLocale(
        "Zdjęcia Google", "metadane.json", "-edytowane", "Archiwum", "Kosz",
        "Folder zablokowany", "Nieudane filmy", "Bez tytułu", "sty",
    ),
    "it": TakeoutLocale(
        "Google Foto", "metadati.json", "-modificato", "Archivio", "Cestino",
        "Cartella bloccata", "Video non riusciti", "Senza titolo", "gen",
    ),
    "es": TakeoutLocale(
        "Google Fotos", "metadatos.json", "-editado", "Archivo", "Papelera",
        "Carpeta bloqueada", "Vídeos fallidos", "Sin título", "ene",
    ),
}  # fmt: skip


@dataclass
class ExpectedItem:
    """The truth about one media file the generator wrote (once, however many copies)."""

    quirk: str
    filename: str
    path: str  # canonical copy, relative to the product folder
    sha256: str
    size: int
    media_type: str
    google_key: str | None
    sidecar: str | None  # relative to the product folder
    taken_date: str | None
    location: dict[str, float] | None
    caption: str | None
    albums: list[str] = field(default_factory=list)
    people: list[str] = field(default_factory=list)
    favorited: bool = False
    #: who may see it on Google, widest first: an album shared by link ("protected")
    #: is public, one shared with people or a photo from someone's share is friends
    visibility: str = "private"
    archived: bool = False
    trashed: bool = False
    locked: bool = False
    failed_video: bool = False
    edit_of_sha256: str | None = None
    live_of_sha256: str | None = None


@dataclass
class TakeoutManifest:
    parts: list[Path]
    fmt: str
    locale: str
    product_folder: str
    items: list[ExpectedItem]
    #: paths (relative to the product folder) of sidecars that have no media
    orphan_sidecars: list[str]
    #: paths of media written without any sidecar (edits and Live halves excluded)
    media_without_sidecar: list[str]
    #: sha256 of items whose sidecar was written to another part than the media
    split_across_parts: list[str]
    #: album copies whose bytes differ from the item's own (``differing_album_copy``):
    #: path (relative to the product folder) -> (its sha256, the item's sha256)
    differing_copies: dict[str, tuple[str, str]] = field(default_factory=dict)

    def by_sha(self) -> dict[str, ExpectedItem]:
        return {item.sha256: item for item in self.items}

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["parts"] = [str(p) for p in self.parts]
        return data


# ---------------------------------------------------------------------------
# bytes


class _Media:
    """Hands out unique real bytes per kind: given files first, then generated ones."""

    def __init__(self, photos: Sequence[Path] | None, rng: random.Random) -> None:
        self.rng = rng
        self.seen: set[str] = set()
        self.pools: dict[str, list[bytes]] = {"jpeg": [], "heic": [], "video": []}
        for path in photos or []:
            ext = path.suffix.lower()
            kind = {
                ".jpg": "jpeg",
                ".jpeg": "jpeg",
                ".heic": "heic",
                ".mov": "video",
                ".mp4": "video",
            }.get(ext)
            if kind is None or not path.is_file():
                continue
            data = path.read_bytes()
            if len(data) < 64:
                continue
            self.pools[kind].append(data)

    def take(self, kind: str) -> bytes:
        pool = self.pools[kind]
        while pool:
            data = pool.pop(0)
            if self._fresh(data):
                return data
        while True:
            data = self._generate(kind)
            if self._fresh(data):
                return data

    def derive(self, original: bytes) -> bytes:
        """An 'edited' copy: the original re-encoded brighter, or fresh bytes if undecodable."""
        try:
            with Image.open(io.BytesIO(original)) as image:
                image.load()
                edited = image.convert("RGB").point(lambda v: min(255, v + 24))
                out = io.BytesIO()
                edited.save(out, format="JPEG", quality=80)
                data = out.getvalue()
        except Exception:
            data = self._generate("jpeg")
        return data if self._fresh(data) else self.take("jpeg")

    def _fresh(self, data: bytes) -> bool:
        digest = hashlib.sha256(data).hexdigest()
        if digest in self.seen:
            return False
        self.seen.add(digest)
        return True

    def _generate(self, kind: str) -> bytes:
        if kind == "video":
            payload = self.rng.randbytes(2048)
            ftyp = b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  "
            mdat = (8 + len(payload)).to_bytes(4, "big") + b"mdat" + payload
            return ftyp + mdat
        image = Image.new("RGB", (48, 36))
        pixels = [
            (self.rng.randrange(256), self.rng.randrange(256), self.rng.randrange(256))
            for _ in range(48 * 36)
        ]
        image.putdata(pixels)
        out = io.BytesIO()
        if kind == "heic":
            try:
                import pillow_heif

                pillow_heif.register_heif_opener()
                image.save(out, format="HEIF", quality=90)
                return out.getvalue()
            except Exception:
                out = io.BytesIO()
        image.save(out, format="JPEG", quality=90)
        return out.getvalue()


# ---------------------------------------------------------------------------
# names


def _exif_moment(data: bytes) -> int | None:
    """EXIF DateTimeOriginal as epoch seconds (its offset applied, else read as UTC)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            ifd = image.getexif().get_ifd(0x8769)
    except Exception:
        return None
    text, offset = ifd.get(0x9003), ifd.get(0x9011)
    try:
        when = datetime.strptime(str(text), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    zone = UTC
    if isinstance(offset, str) and len(offset) == 6 and offset[0] in "+-":
        with contextlib.suppress(ValueError):
            sign = 1 if offset[0] == "+" else -1
            zone = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6])))
    return int(when.replace(tzinfo=zone).timestamp())


def _exif_gps(data: bytes) -> tuple[float, float] | None:
    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(0x8825)
        lat = sum(float(v) / 60**i for i, v in enumerate(gps[2]))
        lng = sum(float(v) / 60**i for i, v in enumerate(gps[4]))
    except Exception:
        return None
    lat = -lat if gps.get(1) == "S" else lat
    lng = -lng if gps.get(3) == "W" else lng
    if not (math.isfinite(lat) and math.isfinite(lng)) or abs(lat) > 90 or abs(lng) > 180:
        return None
    return (round(lat, 7), round(lng, 7)) if (lat or lng) else None


def sidecar_name(
    media_name: str, *, form: str = "old", counter: int = 0, drop_ext: bool = False
) -> str:
    """The sidecar name Google writes for ``media_name`` (without its copy counter)."""
    base = media_name
    if drop_ext and "." in base:
        base = base.rsplit(".", 1)[0]
    stem = base + (".supplemental-metadata" if form == "new" else "")
    stem = stem[:SIDECAR_STEM_LIMIT]
    if counter:
        stem += f"({counter})"
    return stem + ".json"


def _padded(prefix: str, length: int, filler: str = "x") -> str:
    return (prefix + filler * length)[:length]


# ---------------------------------------------------------------------------
# the generator


@dataclass
class _Photo:
    quirk: str
    name: str
    kind: str
    folder: str  # "year" | "archive" | "trash" | "locked" | "failed"
    sidecar: str | None
    taken: int | None  # None: field missing
    taken_zero: bool = False
    created: int = 0
    geo: dict[str, float] | None = None
    geo_exif: dict[str, float] | None = None
    caption: str | None = None
    people: list[str] = field(default_factory=list)
    favorited: bool = False
    title: str | None = None
    #: the ``googlePhotosOrigin`` key: ``fromSharedAlbum`` for a photo from someone's share
    origin: str = "mobileUpload"
    albums: list[tuple[str, str, str | None]] = field(default_factory=list)  # album, name, sidecar
    data: bytes = b""
    key: str | None = None
    parent: _Photo | None = None
    relation: str | None = None  # "edit" | "live"


_ZERO_GEO = {
    "latitude": 0.0,
    "longitude": 0.0,
    "altitude": 0.0,
    "latitudeSpan": 0.0,
    "longitudeSpan": 0.0,
}


def _geo(lat: float, lng: float, alt: float = 0.0) -> dict[str, float]:
    return {
        "latitude": lat,
        "longitude": lng,
        "altitude": alt,
        "latitudeSpan": 0.0,
        "longitudeSpan": 0.0,
    }


def _expected_location(photo: _Photo) -> dict[str, float] | None:
    for block in (photo.geo_exif, photo.geo):
        if block and (block["latitude"] or block["longitude"]):
            loc = {"lat": block["latitude"], "lng": block["longitude"]}
            if block.get("altitude"):
                loc["alt"] = block["altitude"]
            return loc
    return None


def generate_takeout(
    out_dir: Path,
    photos: list[Path] | None = None,
    *,
    parts: int = 3,
    fmt: str = "zip",
    locale: str = "en",
    seed: int = 0,
    export_name: str | None = None,
    differing_album_copy: bool = False,
) -> TakeoutManifest:
    """Write a multi-part Takeout into ``out_dir`` and return its truth.

    ``differing_album_copy``: the first photo's album copy is re-encoded at half size
    (real exports hold such pairs), so one Google item has two files that differ.
    """
    if fmt not in ("zip", "tgz"):
        raise ValueError(f"fmt must be 'zip' or 'tgz', not {fmt!r}")
    if locale not in LOCALES:
        raise ValueError(f"unknown locale {locale!r}; known: {', '.join(sorted(LOCALES))}")
    if parts < 1:
        raise ValueError("parts must be at least 1")
    loc = LOCALES[locale]
    rng = random.Random(seed)
    media = _Media(photos, rng)
    out_dir.mkdir(parents=True, exist_ok=True)

    def stamp() -> int:
        return rng.randrange(_EPOCH_2015, _EPOCH_2024)

    album_a, album_b, album_d = "Summer Trip", "Birthday 2019", "Kraków ❤"
    album_c = f"{loc.untitled}(2)"
    specs: list[_Photo] = []

    def add(
        quirk: str, name: str, *, kind: str = "jpeg", form: str | None = "old", **kw: Any
    ) -> _Photo:
        side = sidecar_name(name, form=form) if form else None
        photo = _Photo(
            quirk=quirk,
            name=name,
            kind=kind,
            folder=kw.pop("folder", "year"),
            sidecar=side,
            taken=kw.pop("taken", stamp()),
            **kw,
        )
        specs.append(photo)
        return photo

    normal = add(
        "old-form", "IMG_0001.jpg", caption="Sunset at the beach", people=["Ada"], favorited=True
    )
    normal.albums.append((album_a, normal.name, normal.sidecar))
    new = add("new-form", "IMG_0002.jpg", form="new", geo_exif=_geo(48.8584, 2.2945, 12.5))
    new.albums += [(album_a, new.name, new.sidecar), (album_d, new.name, new.sidecar)]
    cut_ext = add(
        "old-46-cut-in-ext", _padded("Screenshot_20190815-123456_Long_Application", 44) + ".jpg"
    )
    cut_ext.albums.append((album_b, cut_ext.name, cut_ext.sidecar))
    add(
        "old-46-reconstructed", _padded("Old_scan_of_a_family_album", 32, "_") + "reconstructed.jpg"
    )
    add("new-51-supplemental-metad", _padded("IMG_20200102_", 27, "1")[:23] + ".jpg", form="new")
    add("new-51-supple", _padded("PANO_20200304_", 35, "2") + ".jpg", form="new")
    add("new-51-s", _padded("Photo_20200506_", 40, "3") + ".jpg", form="new")
    add("new-51-natural", "PXL_20230102_130000000.MP.jpg", form="new")
    first = add("numbered-original", "IMG_3479.JPG")
    copy = add("numbered-copy", "IMG_3479(1).JPG", form=None, title="IMG_3479.JPG")
    copy.sidecar = sidecar_name("IMG_3479.JPG", counter=1)
    copy.albums.append((album_b, "IMG_3479.JPG", "IMG_3479.JPG.json"))
    first.title = "IMG_3479.JPG"
    add("new-form-numbered-original", "IMG_5000.jpg", form="new")
    new_copy = add("new-form-numbered-copy", "IMG_5000(1).jpg", form=None, title="IMG_5000.jpg")
    new_copy.sidecar = sidecar_name("IMG_5000.jpg", form="new", counter=1)
    no_ext = add(
        "new-form-missing-ext",
        "Peanut Butter Balls.jpg",
        form=None,
        caption="Recipe",
        origin="fromSharedAlbum",  # saved from a friend's shared album
    )
    no_ext.sidecar = sidecar_name(no_ext.name, form="new", drop_ext=True)
    uni = add("unicode-name", "Café ☕ déjà vu.jpg", form="new", caption="Ça va")
    uni.albums.append((album_d, uni.name, uni.sidecar))
    add("taken-zero", "IMG_0100.jpg", taken=0, taken_zero=True)
    add("taken-missing", "IMG_0101.jpg", taken=None)
    geo1 = add(
        "geo-exif-over-zero-geodata",
        "IMG_0200.jpg",
        geo=dict(_ZERO_GEO),
        geo_exif=_geo(-33.8568, 151.2153),
    )
    geo1.albums.append((album_c, geo1.name, geo1.sidecar))
    add(
        "geo-data-when-exif-zero",
        "IMG_0201.jpg",
        geo=_geo(52.2297, 21.0122),
        geo_exif=dict(_ZERO_GEO),
    )
    add(
        "geo-exif-over-geodata",
        "IMG_0202.jpg",
        geo=_geo(40.0, -74.0),
        geo_exif=_geo(40.7128, -74.006),
    )
    still = add("live-still", "IMG_6000.HEIC", kind="heic", form="new")
    still.albums.append((album_a, still.name, still.sidecar))
    live = add("live-video", "IMG_6000.MOV", kind="video", form=None)
    live.parent, live.relation = still, "live"
    live.albums.append((album_a, live.name, None))
    pixel = add("pixel-still", "PXL_20230103_140000000.jpg", form="new")
    pixel_motion = add("pixel-motion", "PXL_20230103_140000000.MP", kind="video", form=None)
    pixel_motion.parent, pixel_motion.relation = pixel, "live"
    original = add("edit-original", "IMG_7000.jpg", caption="Before edit")
    original.albums.append((album_a, original.name, original.sidecar))
    edited = add("edited-copy", f"IMG_7000{loc.edited}.jpg", form=None)
    edited.parent, edited.relation = original, "edit"
    edited.albums.append((album_a, edited.name, None))
    add("archived", "IMG_0300.jpg", folder="archive")
    add("trashed", "IMG_0301.jpg", folder="trash")
    add("locked", "IMG_0302.jpg", folder="locked")
    add("failed-video", "VID_0303.mp4", kind="video", folder="failed")
    add("video", "VID_0400.mp4", kind="video", form="new")
    orphan_media = add("media-without-sidecar", "IMG_8888.jpg", form=None)

    # bytes, keys, times
    for photo in specs:
        if photo.relation == "edit" and photo.parent is not None:
            photo.data = media.derive(photo.parent.data)
        else:
            photo.data = media.take(photo.kind)
            camera = _exif_moment(photo.data)
            if camera is not None and photo.taken and not photo.taken_zero:
                # Google's photoTakenTime is the camera's moment (its clock read as UTC
                # when it states no zone): a real export never contradicts its EXIF
                # unless the user edited the date
                photo.taken = camera
            fix = _exif_gps(photo.data)
            if fix is not None:
                photo.geo_exif = _geo(*fix)  # geoDataExif is the file's own fix
        photo.created = rng.randrange(_EPOCH_2015, _EPOCH_2024 + 86400 * 365)
        if photo.sidecar is not None:
            photo.key = "AF1Qip" + "".join(
                rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
                for _ in range(38)
            )

    def year_folder(photo: _Photo) -> str:
        source = photo.parent or photo
        seconds = source.taken or source.created
        return f"Photos from {datetime.fromtimestamp(seconds, tz=UTC).year}"

    def home(photo: _Photo) -> str:
        return {
            "year": year_folder(photo),
            "archive": loc.archive,
            "trash": loc.trash,
            "locked": loc.locked,
            "failed": loc.failed,
        }[photo.folder]

    def sidecar_json(photo: _Photo) -> dict[str, Any]:
        created = photo.created
        data: dict[str, Any] = {
            "title": photo.title or photo.name,
            "description": photo.caption or "",
            "imageViews": str(rng.randrange(0, 50)),
            "creationTime": {
                "timestamp": str(created),
                "formatted": f"3 {loc.month} 1999, 23:59:59 UTC",
            },
        }
        if photo.taken_zero:
            data["photoTakenTime"] = {"timestamp": "0", "formatted": f"1 {loc.month} 1970"}
        elif photo.taken is not None:
            data["photoTakenTime"] = {
                "timestamp": str(photo.taken),
                "formatted": f"1 {loc.month} 2001, 00:00:00 UTC+2",
            }
        data["geoData"] = photo.geo if photo.geo is not None else dict(_ZERO_GEO)
        data["geoDataExif"] = photo.geo_exif if photo.geo_exif is not None else dict(_ZERO_GEO)
        if photo.people:
            data["people"] = [{"name": n} for n in photo.people]
        data["url"] = f"https://photos.google.com/photo/{photo.key}"
        data["googlePhotosOrigin"] = (
            {
                "mobileUpload": {
                    "deviceFolder": {"localFolderName": ""},
                    "deviceType": "ANDROID_PHONE",
                }
            }
            if photo.origin == "mobileUpload"
            else {photo.origin: {}}
        )
        if photo.favorited:
            data["favorited"] = True
        if photo.folder == "archive":
            data["archived"] = True
        if photo.folder == "trash":
            data["trashed"] = True
        return data

    files: list[tuple[str, bytes]] = []  # (product-relative path, bytes)
    pairs: list[tuple[int, int, _Photo]] = []  # indexes of media and sidecar in files
    for photo in specs:
        folder = home(photo)
        files.append((f"{folder}/{photo.name}", photo.data))
        if photo.sidecar is not None:
            raw = json.dumps(sidecar_json(photo), ensure_ascii=False, indent=2).encode()
            files.append((f"{folder}/{photo.sidecar}", raw))
            pairs.append((len(files) - 2, len(files) - 1, photo))
    albums_meta: dict[str, Any] = {
        album_a: {
            "title": album_a,
            "description": "Two weeks by the sea",
            "access": "protected",
            "date": {"timestamp": "1561939200", "formatted": f"1 {loc.month} 2019"},
            "geoData": _geo(43.0, 5.0),
        },
        album_b: {
            "albumData": {
                "title": album_b,
                "description": "",
                "access": "",
                "date": {"timestamp": "1560000000", "formatted": "x"},
            }
        },
        album_c: {"title": ""},
        album_d: {"title": album_d, "shared": True},  # shared with people, no link
    }
    #: who sees an album's photos: by link (protected) anyone, shared with people friends
    album_levels = {album_a: "public", album_b: "private", album_d: "friends"}
    ranks = {"private": 0, "friends": 1, "public": 2}
    for album, meta in albums_meta.items():
        files.append(
            (f"{album}/{loc.album_metadata}", json.dumps(meta, ensure_ascii=False).encode())
        )
    differing: dict[str, tuple[str, str]] = {}
    for photo in specs:
        for album, name, side in photo.albums:
            data = photo.data
            if differing_album_copy and photo is normal and not differing:
                data = _half_size(photo.data)
                differing[f"{album}/{name}"] = (
                    hashlib.sha256(data).hexdigest(),
                    hashlib.sha256(photo.data).hexdigest(),
                )
            files.append((f"{album}/{name}", data))
            if side is not None and photo.sidecar is not None:
                files.append(
                    (
                        f"{album}/{side}",
                        json.dumps(sidecar_json(photo), ensure_ascii=False).encode(),
                    )
                )
    orphan_path = "Photos from 2021/IMG_9999.jpg.json"
    orphan = {
        "title": "IMG_9999.jpg",
        "photoTakenTime": {"timestamp": "1612345678", "formatted": "x"},
        "url": "https://photos.google.com/photo/AF1QipOrphanSidecarWithoutAnyMedia000000000",
    }
    files.append((orphan_path, json.dumps(orphan).encode()))
    files += [
        ("print-subscriptions.json", b'{"subscriptions": []}'),
        ("shared_album_comments.json", b"[]"),
        ("user-generated-memory-titles.json", b'{"titles": []}'),
    ]

    # spread over parts; force a few sidecars away from their media
    assignment = [rng.randrange(parts) for _ in files]
    split: list[str] = []
    if parts > 1:
        for media_index, sidecar_index, photo in pairs:
            if len(split) < 4 and photo.parent is None and photo.folder == "year":
                assignment[sidecar_index] = (assignment[media_index] + 1) % parts
        for media_index, sidecar_index, photo in pairs:
            if assignment[media_index] != assignment[sidecar_index]:
                split.append(hashlib.sha256(photo.data).hexdigest())
    prefix = f"Takeout/{loc.product}/"
    name = export_name or f"takeout-20260101T{seed % 1000000:06d}Z"
    part_files: list[list[tuple[str, bytes]]] = [[] for _ in range(parts)]
    for (path, data), part in zip(files, assignment, strict=True):
        part_files[part].append((prefix + path, data))
    part_files[0].append(("Takeout/archive_browser.html", b"<html><body>Takeout</body></html>"))
    written: list[Path] = []
    for number, members in enumerate(part_files, start=1):
        suffix = "zip" if fmt == "zip" else "tgz"
        target = out_dir / f"{name}-{number:03d}.{suffix}"
        _write_part(target, members, fmt)
        written.append(target)

    items: list[ExpectedItem] = []
    for photo in specs:
        source = photo.parent or photo
        if source.sidecar is None:  # nothing but the file itself is known
            source = _Photo(
                quirk="", name="", kind="", folder=photo.folder, sidecar=None, taken=None
            )
        albums = sorted({a for a, _, _ in photo.albums} | {a for a, _, _ in source.albums})
        folder = home(photo)
        levels = [album_levels.get(a, "private") for a in albums]
        if source.origin != "mobileUpload":
            levels.append("friends")
        items.append(
            ExpectedItem(
                quirk=photo.quirk,
                filename=photo.name,
                path=f"{folder}/{photo.name}",
                sha256=hashlib.sha256(photo.data).hexdigest(),
                size=len(photo.data),
                media_type="video" if photo.kind == "video" else "photo",
                google_key=photo.key,
                sidecar=f"{folder}/{photo.sidecar}" if photo.sidecar else None,
                taken_date=(
                    datetime.fromtimestamp(source.taken, tz=UTC).isoformat().replace("+00:00", "Z")
                    if source.taken and not source.taken_zero
                    else None
                ),
                location=_expected_location(source),
                caption=source.caption,
                albums=albums,
                people=sorted(source.people),
                favorited=source.favorited,
                visibility=max(levels, key=ranks.__getitem__, default="private"),
                archived=source.folder == "archive",
                trashed=source.folder == "trash",
                locked=source.folder == "locked",
                failed_video=source.folder == "failed",
                edit_of_sha256=(
                    hashlib.sha256(photo.parent.data).hexdigest()
                    if photo.parent and photo.relation == "edit"
                    else None
                ),
                live_of_sha256=(
                    hashlib.sha256(photo.parent.data).hexdigest()
                    if photo.parent and photo.relation == "live"
                    else None
                ),
            )
        )
    return TakeoutManifest(
        parts=written,
        fmt=fmt,
        locale=locale,
        product_folder=loc.product,
        items=items,
        orphan_sidecars=[orphan_path],
        media_without_sidecar=[f"{home(orphan_media)}/{orphan_media.name}"],
        split_across_parts=sorted(set(split)),
        differing_copies=differing,
    )


def _half_size(data: bytes) -> bytes:
    """The same picture re-encoded at half size, as a service's album copy can be."""
    with Image.open(io.BytesIO(data)) as image:
        small = image.convert("RGB").resize((max(1, image.width // 2), max(1, image.height // 2)))
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=60)
    return out.getvalue()


def _write_part(target: Path, members: list[tuple[str, bytes]], fmt: str) -> None:
    if fmt == "zip":
        with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, data)
        return
    with tarfile.open(target, "w:gz") as archive:
        for name, data in members:
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mtime = 1767225600
            member.mode = 0o644
            archive.addfile(member, io.BytesIO(data))


def main(argv: list[str] | None = None) -> int:
    """``python -m photosync.emulators.takeout OUT [--fmt tgz] [--locale de]`` for the demo."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--fmt", default="zip", choices=("zip", "tgz"))
    parser.add_argument("--locale", default="en", choices=sorted(LOCALES))
    parser.add_argument("--parts", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--photos", type=Path, nargs="*", default=None)
    args = parser.parse_args(argv)
    manifest = generate_takeout(
        args.out, args.photos, parts=args.parts, fmt=args.fmt, locale=args.locale, seed=args.seed
    )
    (args.out / "takeout-manifest.json").write_text(
        json.dumps(manifest.to_json(), indent=2, ensure_ascii=False), encoding="utf-8"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
