"""How well does metadata extraction agree with exiftool on the real test photos?

Usage: ``python bench/metadata_accuracy.py [--shared PATH] [--repeat N] [--set photos|breadth]
[--reader builtin|exiftool|both]``

Reads ``testdata/MANIFEST.tsv`` (exiftool 12.57 ground truth), runs
``extract_media_info`` on every file (``parse_xmp_sidecar`` on sidecars) with the
built-in reader alone and assisted by exiftool (as discover does with
``metadata.reader: auto``), and prints the per-field match share of each side by
side, every remaining mismatch with its reason, and the mean extraction time per
file.  ``tests/metadata/test_metadata_real_photos.py`` imports ``evaluate``.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import statistics
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

from photosync.metadata import extract_media_info, find_sidecars, parse_xmp_sidecar
from photosync.metadata.exiftool import ExiftoolReader, find_exiftool
from photosync.metadata.extract import DATE_PRIORITY
from photosync.metadata.types import MediaInfo

FIELDS = ("date", "offset", "subsec", "gps", "make_model", "orientation", "size", "format")
GPS_TOLERANCE = 1e-5
_GT_DATE = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
    r"(?: DST)?$"
)
#: why a file still disagrees with exiftool where that is a choice or a known limit
#: (other misses are named by the reader's own note on the file, e.g. "no built-in
#: metadata reader for crw files")
REASONS = {
    ("date", "photos/jpeg-nomake/IPTC.jpg"): "IPTC DateCreated states the day only; "
    "exiftool makes no DateTimeOriginal without TimeCreated, we keep the day",
    ("date", "photos/other/ExifTool.tif"): "IPTC DateCreated states the day only; "
    "exiftool makes no DateTimeOriginal without TimeCreated, we keep the day",
    ("date", "photos/jpeg-nomake/long_description.jpg"): "photoshop:DateCreated (the taken "
    "date, 2003) beats xmp:CreateDate (when the file was made, 2005) as the MWG says",
    ("date", "photos/video/with-gps.mov"): "Apple's creationdate (start of capture, with "
    "offset) beats mvhd (written when recording ends, 17 s later)",
    ("date", "photos/video/Pentax.avi"): "the AVI's IDIT says 2009/10/27 12:14:34 (so does "
    "Pentax's own record); exiftool 12.57 drops the seconds of that spelling",
    ("gps", "photos/camera/Nikon D5000.jpg"): "EXIF GPS seconds are 0/0 (exiftool drops the "
    "fix); the minutes and the embedded XMP state it, so we keep it",
    ("make_model", "photos/video/QuickTime.mov"): "the make is in a Pentax-private TAGS atom",
}
_FILE_TYPES = {
    "JPEG": "jpeg",
    "HEIC": "heic",
    "HEIF": "heif",
    "PNG": "png",
    "Extended WEBP": "webp",
    "WEBP": "webp",
    "MOV": "mov",
    "MP4": "mp4",
    "MPO": "mpo",
    "TIFF": "tiff",
}


@dataclass
class Report:
    """Per-field (matched, compared) counts, the mismatches and timings."""

    counts: dict[str, list[int]] = field(default_factory=lambda: {f: [0, 0] for f in FIELDS})
    mismatches: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    files: int = 0

    def share(self, name: str) -> float:
        matched, compared = self.counts[name]
        return matched / compared if compared else 1.0

    def record(self, name: str, ok: bool, path: str, detail: str, why: str = "") -> None:
        self.counts[name][1] += 1
        if ok:
            self.counts[name][0] += 1
        else:
            why = REASONS.get((name, path), why)
            self.mismatches.append(f"{name:11} {path}: {detail}" + (f" -- {why}" if why else ""))


def read_manifest(testdata: Path) -> list[dict[str, str]]:
    with open(testdata / "MANIFEST.tsv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def ground_truth_date(row: dict[str, str]) -> datetime | None:
    """DateTimeOriginal when it is a real date, else CreateDate; QuickTime times are UTC."""
    for column, group_column in (
        ("DateTimeOriginal", "DTO_group"),
        ("CreateDate", "CreateDate_group"),
    ):
        m = _GT_DATE.match(row[column].strip())
        if not m or m.group(1) == "0000":
            continue
        y, mo, d, h, mi, s, frac, tz = m.groups()
        micro = int(float(frac) * 1_000_000) if frac else 0
        when = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro)
        if column == "DateTimeOriginal" and not tz and row["OffsetTimeOriginal"]:
            tz = row["OffsetTimeOriginal"]
        if column == "DateTimeOriginal" and not frac and row["SubSecTimeOriginal"]:
            digits = row["SubSecTimeOriginal"].strip()
            when = when.replace(microsecond=int(float("0." + digits) * 1_000_000))
        if tz == "Z" or (not tz and row[group_column] == "QuickTime"):
            return when.replace(tzinfo=UTC)
        if tz:
            sign = 1 if tz[0] == "+" else -1
            delta = timedelta(hours=int(tz[1:3]), minutes=int(tz[4:6]))
            return when.replace(tzinfo=timezone(sign * delta))
        return when
    return None


def _ours_date(info: MediaInfo) -> datetime | None:
    if not info.taken_date or (info.taken_date_source or "").split(":")[0] in ("file", "fallback"):
        return None
    return datetime.fromisoformat(info.taken_date)


def _same_time(expected: datetime, ours: datetime) -> bool:
    if expected.tzinfo is not None and ours.tzinfo is not None:
        return abs((expected - ours).total_seconds()) < 1
    return abs((expected.replace(tzinfo=None) - ours.replace(tzinfo=None)).total_seconds()) < 1


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _size(row: dict[str, str]) -> tuple[int, int] | None:
    m = re.match(r"ok \S+ (\d+)x(\d+)", row["pillow_decode"])
    if m:
        return int(m.group(1)), int(m.group(2))
    m = re.fullmatch(r"(\d+)x(\d+)", row["exiftool_ImageSize"].strip())
    if m and row["exiftool_FileType"] in ("MOV", "MP4"):
        return int(m.group(1)), int(m.group(2))
    return None


def _sidecar_info(path: Path) -> MediaInfo:
    facts, problems = parse_xmp_sidecar(path)
    info = MediaInfo(
        camera_make=facts.camera_make, camera_model=facts.camera_model, problems=problems
    )
    for source in DATE_PRIORITY:
        if source in facts.dates:
            info.taken_date, info.taken_date_source = facts.dates[source], source
            break
    info.location, info.orientation = facts.location, facts.orientation
    return info


def extract(path: Path, deep: ExiftoolReader | None = None) -> MediaInfo:
    if path.suffix.lower() == ".xmp":
        return _sidecar_info(path)
    return extract_media_info(path, sidecars=find_sidecars(path), deep=deep)


def compare(row: dict[str, str], info: MediaInfo, report: Report) -> None:
    """Score one file against its manifest row."""
    name = row["file"]
    why = next((p for p in info.problems if "reader" in p or "exiftool" in p), "")
    file_type = row["exiftool_FileType"]
    is_sidecar = file_type == "XMP"
    is_video = file_type in ("MOV", "MP4")

    expected = ground_truth_date(row)
    ours = _ours_date(info)
    ok = ours is None if expected is None else ours is not None and _same_time(expected, ours)
    report.record(
        "date",
        ok,
        name,
        f"expected {expected}, got {info.taken_date} [{info.taken_date_source}]",
        why,
    )
    if row["OffsetTimeOriginal"] and ours is not None:
        got = info.taken_date[-6:] if info.taken_date else ""
        report.record(
            "offset",
            got == row["OffsetTimeOriginal"],
            name,
            f"expected {row['OffsetTimeOriginal']}, got {info.taken_date}",
        )
    subsec = row["SubSecTimeOriginal"].strip().rstrip("0")
    if subsec and ours is not None:
        report.record(
            "subsec",
            f".{subsec}" in (info.taken_date or ""),
            name,
            f"expected .{subsec}, got {info.taken_date}",
        )

    lat, lng = _number(row["GPSLatitude"]), _number(row["GPSLongitude"])
    if is_sidecar:
        pass  # the manifest's GPS is exiftool's Composite of EXIF GPS: absent for XMP files
    elif lat is None or lng is None or (lat == 0 and lng == 0):
        ok = info.location is None
        want = "no location"
    else:
        ok = info.location is not None and (
            abs(info.location["lat"] - lat) < GPS_TOLERANCE
            and abs(info.location["lng"] - lng) < GPS_TOLERANCE
        )
        want = f"{lat},{lng}"
    if not is_sidecar:
        report.record("gps", ok, name, f"expected {want}, got {info.location}", why)

    want_camera = (row["Make"].strip() or None, row["Model"].strip() or None)
    got_camera = (info.camera_make, info.camera_model)
    report.record(
        "make_model",
        want_camera == got_camera,
        name,
        f"expected {want_camera}, got {got_camera}",
        why,
    )

    if is_sidecar:
        return
    decodes = row["pillow_decode"].startswith("ok")
    if not is_video and row["bytes"] != "0":
        orientation = row["Orientation"].strip()
        want_orientation = int(orientation) if orientation else None
        if file_type in ("HEIC", "HEIF") and decodes:
            want_orientation = 1  # pillow-heif applies the rotation itself
        report.record(
            "orientation",
            info.orientation == want_orientation,
            name,
            f"expected {want_orientation}, got {info.orientation}",
        )
    size = _size(row)
    if size is not None or row["bytes"] == "0":
        got_size = (info.width, info.height) if info.width else None
        report.record("size", got_size == size, name, f"expected {size}, got {got_size}")
    if file_type in _FILE_TYPES:
        want_format = _FILE_TYPES[file_type]
        report.record(
            "format", info.format == want_format, name, f"expected {want_format}, got {info.format}"
        )


def evaluate(testdata: Path, *, repeat: int = 1, deep: ExiftoolReader | None = None) -> Report:
    """Score every manifest row; time ``repeat`` further runs per file.

    ``deep``: exiftool-assisted (what discover does with ``metadata.reader: auto``).
    """
    report = Report()
    times: list[float] = []
    jpeg_times: list[float] = []
    for row in read_manifest(testdata):
        path = testdata / row["file"]
        info = extract(path, deep)
        compare(row, info, report)
        report.files += 1
        for _ in range(repeat):
            start = time.perf_counter()
            extract(path, deep)
            elapsed = time.perf_counter() - start
            times.append(elapsed)
            if row["exiftool_FileType"] == "JPEG":
                jpeg_times.append(elapsed)
    if times:
        report.seconds["mean"] = statistics.fmean(times)
        report.seconds["median"] = statistics.median(times)
    if jpeg_times:
        report.seconds["jpeg_mean"] = statistics.fmean(jpeg_times)
        report.seconds["jpeg_median"] = statistics.median(jpeg_times)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default_shared = Path(
        os.environ.get("PHOTOSYNC_SHARED", Path(__file__).resolve().parents[1].parent / "shared")
    )
    parser.add_argument(
        "--shared", type=Path, default=default_shared, help="folder holding testdata/"
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed runs per file")
    parser.add_argument(
        "--set",
        choices=("photos", "breadth"),
        default="photos",
        help="testdata/ (91 photos) or testdata/breadth/ (242 files of many makes and formats)",
    )
    parser.add_argument(
        "--reader",
        choices=("builtin", "exiftool", "both"),
        default="both",
        help="built-in reader alone, assisted by exiftool, or both side by side",
    )
    args = parser.parse_args(argv)
    testdata = args.shared / "testdata"
    if args.set == "breadth":
        testdata = testdata / "breadth"
    if not (testdata / "MANIFEST.tsv").is_file():
        print(f"no MANIFEST.tsv under {testdata}", file=sys.stderr)
        return 2
    reports: dict[str, Report] = {}
    if args.reader in ("builtin", "both"):
        reports["builtin"] = evaluate(testdata, repeat=args.repeat)
    if args.reader in ("exiftool", "both"):
        executable = find_exiftool()
        if executable is None:
            print("exiftool is not installed: built-in figures only", file=sys.stderr)
            if args.reader == "exiftool":
                return 2
        else:
            with ExiftoolReader(executable) as deep:
                reports["exiftool"] = evaluate(testdata, repeat=args.repeat, deep=deep)
                asked = deep.asked
    first = next(iter(reports.values()))
    print(f"files: {first.files}")
    print(
        f"{'field':11} "
        + " ".join(f"{name + ('-assisted' if name == 'exiftool' else ''):>24}" for name in reports)
    )
    for name in FIELDS:
        cells = []
        for report in reports.values():
            matched, compared = report.counts[name]
            cells.append(f"{matched:3}/{compared:<3} {report.share(name):6.1%}".rjust(24))
        print(f"{name:11} " + " ".join(cells))
    if "exiftool" in reports:
        print(f"exiftool asked about {asked // (args.repeat + 1)} of {first.files} files")
    for reader, report in reports.items():
        print(f"mismatches ({reader}):")
        for line in report.mismatches:
            print("  " + line)
        for key, value in report.seconds.items():
            print(f"time {key:11} {value * 1000:.3f} ms/file ({reader})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
