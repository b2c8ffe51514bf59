"""Ground truth for identity tests: the shared photos' manifest, their pairs, generated variants.

The candidates' metadata comes from MANIFEST.tsv (exiftool's reading), not from
photosync's own extractor, so these tests measure the matcher alone.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from PIL import Image, ImageOps

from photosync.identity import Candidate, MatchKind, fingerprint_file

# pairs inside one of these sets are the same picture (must merge automatically)
SAME = "same"
# same base picture with a visible difference (the orientation set has a digit drawn on
# each copy, and landscape_1 has other tones): merging or flagging for a human are both right
RELATED = "related"
# everything else, including the HDR on/off pair (two shots): must never merge
DIFFERENT = "different"

ORIENTATION_SET = [f"photos/orientation/landscape_{i}.jpg" for i in range(1, 9)]
HDR_NO = "photos/neardup/iphone_hdr_NO.jpg"
HDR_YES = "photos/neardup/iphone_hdr_YES.jpg"


@dataclass(frozen=True)
class Row:
    file: str
    sha256: str
    size: int
    filetype: str
    taken: str | None
    subsec: str | None
    make: str | None
    model: str | None
    notes: str


def _iso(dto: str, offset: str) -> str | None:
    """exiftool "2008:05:30 15:56:01[.fff][+hh:mm|Z]" -> ISO 8601, None for blank/zero dates."""
    m = re.fullmatch(
        r"(\d{4}):(\d{2}):(\d{2}) (\d{2}:\d{2}:\d{2}(?:\.\d+)?)(Z|[+-]\d{2}:\d{2})?", dto.strip()
    )
    if not m or m.group(1) == "0000":
        return None
    zone = m.group(5) or offset.strip()
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}T{m.group(4)}{zone}"


def read_manifest(testdata: Path) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    with (testdata / "MANIFEST.tsv").open(encoding="utf-8", newline="") as fh:
        for rec in csv.DictReader(fh, delimiter="\t"):
            rows[rec["file"]] = Row(
                file=rec["file"],
                sha256=rec["sha256"],
                size=int(rec["bytes"]),
                filetype=rec["exiftool_FileType"],
                taken=_iso(rec["DateTimeOriginal"], rec["OffsetTimeOriginal"]),
                subsec=rec["SubSecTimeOriginal"] or None,
                make=rec["Make"] or None,
                model=rec["Model"] or None,
                notes=rec["notes"],
            )
    return rows


def _format_of(name: str) -> str:
    ext = Path(name).suffix.lower().lstrip(".")
    return {"jpg": "jpeg", "heif": "heic"}.get(ext, ext)


def shared_candidates(testdata: Path) -> tuple[list[Candidate], dict[str, str]]:
    """One Candidate per file in the manifest; also the reason each unfingerprinted file got none."""
    out: list[Candidate] = []
    reasons: dict[str, str] = {}
    for row in read_manifest(testdata).values():
        result = fingerprint_file(testdata / row.file)
        if result.fingerprint is None:
            reasons[row.file] = result.reason or "?"
        out.append(
            Candidate(
                key=row.file,
                fingerprint=result.fingerprint,
                content_hash=row.sha256,
                width=result.width,
                height=result.height,
                taken_date=row.taken,
                subsec=row.subsec,
                camera_make=row.make,
                camera_model=row.model,
                size_bytes=row.size,
                format=_format_of(row.file),
                filename=Path(row.file).name,
            )
        )
    return out, reasons


def shared_truth(testdata: Path, keys: Iterable[str]) -> dict[frozenset[str], str]:
    """Label of every pair of shared files (default DIFFERENT)."""
    manifest = read_manifest(testdata)
    derived = json.loads((testdata / "near-duplicates.json").read_text(encoding="utf-8"))
    groups: list[set[str]] = []

    def join(*files: str) -> None:
        hit = [g for g in groups if g & set(files)]
        merged = set(files).union(*hit)
        for g in hit:
            groups.remove(g)
        groups.append(merged)

    for name, info in derived.items():
        join(name, info["from"])
    by_tag: dict[str, list[str]] = {}
    for row in manifest.values():
        found = re.search(r"\b(D\d+|N\d+|X\d+)\b", row.notes)
        if found:
            by_tag.setdefault(found.group(1), []).append(row.file)
    for tag, files in by_tag.items():
        if tag == "N2":  # "two iPhone shots of same scene (HDR off/on)": different photos
            continue
        if len(files) > 1:
            join(*files)
    labels: dict[frozenset[str], str] = {}
    for a, b in combinations(sorted(keys), 2):
        pair = frozenset((a, b))
        if any(a in g and b in g for g in groups):
            labels[pair] = SAME
        elif _orientation_base(a) and _orientation_base(b):
            labels[pair] = RELATED
        else:
            labels[pair] = DIFFERENT
    return labels


def _orientation_base(name: str) -> bool:
    """Files that show the orientation-set waterfall (the set itself and its derived copies)."""
    return name in ORIENTATION_SET or name.startswith("photos/derived/landscape_")


# --- generated variants ---------------------------------------------------------

#: variant name -> (keeps EXIF metadata, expected kind against its source)
VARIANTS: dict[str, tuple[bool, MatchKind]] = {
    "q50": (True, MatchKind.QUALITY_VARIANT),
    "q70": (True, MatchKind.QUALITY_VARIANT),
    "q85": (True, MatchKind.QUALITY_VARIANT),
    "resize50": (True, MatchKind.QUALITY_VARIANT),
    "resize25": (True, MatchKind.QUALITY_VARIANT),
    "exif_stripped": (False, MatchKind.QUALITY_VARIANT),
    "rotated_pixels_noexif": (False, MatchKind.QUALITY_VARIANT),
    "rotated_pixels_tagged": (True, MatchKind.QUALITY_VARIANT),
    "png": (False, MatchKind.QUALITY_VARIANT),
    "webp": (True, MatchKind.QUALITY_VARIANT),
    "crop80": (True, MatchKind.EDIT_VARIANT),
}
#: crops without metadata: must not be merged; recognising them is not required
CROP_NOEXIF = "crop80_noexif"

_ORIENTATION = 0x0112


@dataclass(frozen=True)
class Variant:
    source: str
    name: str
    path: Path
    keeps_metadata: bool


def _exif_copy(raw: bytes, orientation: int | None) -> Image.Exif:
    """A fresh Exif (``getexif()`` returns one shared, cached object per image)."""
    exif = Image.Exif()
    if raw:
        exif.load(raw)
    if orientation is not None:
        exif[_ORIENTATION] = orientation
    return exif


def make_variants(source: Path, out_dir: Path, stem: str) -> list[tuple[str, Path, bool]]:
    """Write the variants of one real photo; returns (variant name, path, keeps metadata)."""
    out: list[tuple[str, Path, bool]] = []
    with Image.open(source) as im:
        is_heif = im.format == "HEIF"
        raw = im.convert("RGB")
        exif_raw = im.getexif().tobytes()
        upright = raw if is_heif else ImageOps.exif_transpose(im).convert("RGB")
    exif = _exif_copy(exif_raw, None)
    exif_up = _exif_copy(exif_raw, 1)

    def save(
        name: str, img: Image.Image, fmt: str = "JPEG", ext: str = "jpg", **kw: object
    ) -> None:
        path = out_dir / f"{stem}__{name}.{ext}"
        img.save(path, fmt, **kw)
        out.append((name, path, VARIANTS.get(name, (False,))[0]))

    w, h = upright.size
    for q in (50, 70, 85):
        if is_heif:  # HEIC -> JPEG the way a service converts it
            save(f"q{q}", upright, quality=q, exif=exif_up)
        else:  # re-encode with the stored pixels and the stored orientation tag
            save(f"q{q}", raw, quality=q, exif=exif)
    save(
        "resize50",
        upright.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        quality=80,
        exif=exif_up,
    )
    save(
        "resize25",
        upright.resize((w // 4, h // 4), Image.Resampling.LANCZOS),
        quality=80,
        exif=exif_up,
    )
    save("exif_stripped", upright, quality=88)
    # orientation applied to the pixels and EXIF dropped (what many services store);
    # differs from the stored pixels whenever the source carries an orientation tag
    save("rotated_pixels_noexif", upright, quality=90)
    # pixels turned 90 degrees CCW, orientation tag 6 turns them back for display
    tagged = _exif_copy(exif_raw, 6)
    save(
        "rotated_pixels_tagged",
        upright.transpose(Image.Transpose.ROTATE_90),
        quality=90,
        exif=tagged,
    )
    save("png", upright, "PNG", "png", compress_level=1)
    save("webp", upright, "WEBP", "webp", quality=80, method=0, exif=exif_up)
    box = (w // 10, h // 10, w - w // 10, h - h // 10)
    save("crop80", upright.crop(box), quality=90, exif=exif_up)
    save(CROP_NOEXIF, upright.crop(box), quality=90)
    return out


def variant_candidate(path: Path, source_row: Row, keeps_metadata: bool) -> Candidate:
    data = path.read_bytes()
    result = fingerprint_file(path)
    meta = source_row if keeps_metadata else None
    return Candidate(
        key=f"variant:{path.name}",
        fingerprint=result.fingerprint,
        content_hash=hashlib.sha256(data).hexdigest(),
        width=result.width,
        height=result.height,
        taken_date=meta.taken if meta else None,
        subsec=meta.subsec if meta else None,
        camera_make=meta.make if meta else None,
        camera_model=meta.model if meta else None,
        size_bytes=len(data),
        format=_format_of(path.name),
        filename=path.name,
    )


def encode_jpeg(img: Image.Image, quality: int = 85) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()
