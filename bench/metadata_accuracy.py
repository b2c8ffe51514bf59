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
import json
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from photosync.metadata import extract_media_info, find_sidecars, parse_xmp_sidecar
from photosync.metadata.exiftool import ExiftoolReader, find_exiftool
from photosync.metadata.extract import DATE_PRIORITY
from photosync.metadata.types import MediaInfo

FIELDS = ("date", "offset", "subsec", "gps", "make_model", "orientation", "size", "format")
GPS_TOLERANCE = 1e-5
#: seconds within which a date that is not exact is printed as "within 60 s"
NEAR_S = 60
_GT_DAY = re.compile(r"^(\d{4}):(\d{2}):(\d{2})$")
_GT_DATE = re.compile(
    r"^(\d{4}):(\d{2}):(\d{2}) (\d{2}):(\d{2})(?::(\d{2}))?(\.\d+)?(Z|[+-]\d{2}:\d{2})?"
    r"(?: DST)?$"
)
#: why a file still disagrees with exiftool where that is a choice or a known limit
#: (other misses are named by the reader's own note on the file, e.g. "no built-in
#: metadata reader for crw files")
REASONS = {
    ("date", "photos/jpeg-nomake/IPTC.jpg"): "IPTC DateCreated states the day only; the "
    "manifest has no DateTimeOriginal, exiftool -use MWG does (the day): install exiftool",
    ("date", "photos/other/ExifTool.tif"): "IPTC DateCreated states the day only; the "
    "manifest has no DateTimeOriginal, exiftool -use MWG does (the day): install exiftool",
    ("date", "photos/jpeg-nomake/long_description.jpg"): "photoshop:DateCreated (2003) is "
    "what exiftool -use MWG makes DateTimeOriginal of; the manifest has only xmp:CreateDate "
    "(2005): install exiftool",
    ("date", "photos/video/with-gps.mov"): "a real disagreement: Apple's Keys:CreationDate "
    "(ours, with offset) is 17 s before the mvhd CreateDate the manifest holds (the clip lasts "
    "4 s); the MWG ranks no video dates, so exiftool's CreateDate stays the truth",
    ("date", "photos/video/Pentax.avi"): "the AVI's IDIT says 2009/10/27 12:14:34 (so does "
    "Pentax's own record); exiftool 12.57 drops the seconds of that spelling",
    ("gps", "photos/gps/FLIR iPhone device.jpg"): "the place is only in FLIR's own GPS record "
    "(34.0754 N, 118.2543 W, as the manifest's note says); exiftool's GPS columns leave it out "
    "(its composite drops the W), we keep it signed",
    ("gps", "photos/camera/Nikon D5000.jpg"): "EXIF GPS seconds are 0/0 (exiftool drops the "
    "fix); the minutes and the embedded XMP state it, so we keep it",
    ("orientation", "photos/other/Sony.pmp"): "the PMP header's rotation code 0 (exiftool -n "
    "prints it raw) means horizontal: EXIF orientation 1",
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
    #: dates within ``NEAR_S`` of the truth (exact ones included), of those compared
    near: list[int] = field(default_factory=lambda: [0, 0])
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


@dataclass
class ExiftoolDates:
    """exiftool's own view of one file's dates (``-use MWG -time:all``)."""

    #: the MWG composite DateTimeOriginal as exiftool prints it, "" when it makes none
    mwg_original: str = ""
    #: every other date tag it reports, "Group:Tag" -> value
    tags: dict[str, str] = field(default_factory=dict)


def exiftool_truth(testdata: Path, files: list[str], executable: str) -> dict[str, ExiftoolDates]:
    """One exiftool run over ``files`` (relative to ``testdata``): each file's dates."""
    done = subprocess.run(
        [executable, "-j", "-G1", "-a", "-use", "MWG", "-time:all", "--System:all", "-@", "-"],
        input="\n".join(files) + "\n",
        capture_output=True,
        text=True,
        cwd=testdata,
        check=False,
    )
    out: dict[str, ExiftoolDates] = {}
    for entry in json.loads(done.stdout or "[]"):
        dates = ExiftoolDates()
        for key, value in entry.items():
            if key == "SourceFile" or not isinstance(value, str):
                continue
            if key == "MWG:DateTimeOriginal":
                dates.mwg_original = value
            else:
                dates.tags[key] = value
        out[entry["SourceFile"]] = dates
    return out


def _real_date(text: str) -> bool:
    m = _GT_DATE.match(text.strip()) or _GT_DAY.match(text.strip())
    return m is not None and m.group(1) != "0000"


def truth_date(
    row: dict[str, str], extra: ExiftoolDates | None = None
) -> tuple[datetime | date | None, str]:
    """The date the file should have, and where that truth comes from.

    The manifest's DateTimeOriginal; else exiftool's MWG composite DateTimeOriginal (a
    ``date`` when it states the day only); else the manifest's CreateDate.
    """
    if not _real_date(row["DateTimeOriginal"]) and extra and _real_date(extra.mwg_original):
        day = _GT_DAY.match(extra.mwg_original.strip())
        if day:
            return date(*(int(part) for part in day.groups())), "exiftool -use MWG"
        mwg_row = {**row, "DateTimeOriginal": extra.mwg_original, "DTO_group": "MWG"}
        return ground_truth_date(mwg_row), "exiftool -use MWG"
    return ground_truth_date(row), "manifest"


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


def _apart_s(expected: datetime, ours: datetime) -> float:
    """Seconds between two dates: instants when both have an offset, wall clocks otherwise."""
    if expected.tzinfo is not None and ours.tzinfo is not None:
        return abs((expected - ours).total_seconds())
    return abs((expected.replace(tzinfo=None) - ours.replace(tzinfo=None)).total_seconds())


def _same_time(expected: datetime, ours: datetime) -> bool:
    return _apart_s(expected, ours) < 1


def date_agreement(expected: datetime | date | None, info: MediaInfo) -> tuple[bool, bool | None]:
    """(exact, within ``NEAR_S``): None for the second when there is nothing to be near.

    A day-only truth agrees only with a day-only date of that day: a time we would state
    is one exiftool does not.
    """
    ours = _ours_date(info)
    if expected is None or ours is None:
        return expected is None and ours is None, None
    if not isinstance(expected, datetime):
        same = len(info.taken_date or "") == 10 and ours.date() == expected
        return same, same
    if info.taken_date is not None and len(info.taken_date) == 10:
        return False, False  # we state the day only where the truth has a time
    apart = _apart_s(expected, ours)
    return apart < 1, apart <= NEAR_S


def _stating_ours(extra: ExiftoolDates | None, info: MediaInfo) -> list[str]:
    """exiftool's date tags whose value is ours (to the second)."""
    ours = _ours_date(info)
    if extra is None or ours is None:
        return []
    found = []
    for tag, value in extra.tags.items():
        theirs = ground_truth_date(
            {
                "DateTimeOriginal": value,
                "DTO_group": tag.split(":")[0],
                "OffsetTimeOriginal": "",
                "SubSecTimeOriginal": "",
                "CreateDate": "",
                "CreateDate_group": "",
            }
        )
        if theirs is not None and _same_time(theirs, ours):
            found.append(f"{tag} {value}")
    return found


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


def compare(
    row: dict[str, str], info: MediaInfo, report: Report, extra: ExiftoolDates | None = None
) -> None:
    """Score one file against its manifest row (and exiftool's MWG dates, when given)."""
    name = row["file"]
    why = next((p for p in info.problems if "reader" in p or "exiftool" in p), "")
    file_type = row["exiftool_FileType"]
    is_sidecar = file_type == "XMP"
    is_video = file_type in ("MOV", "MP4")

    expected, truth = truth_date(row, extra)
    ours = _ours_date(info)
    ok, near = date_agreement(expected, info)
    report.near[1] += 1
    report.near[0] += bool(ok or near)
    detail = f"expected {expected} ({truth}), got {info.taken_date} [{info.taken_date_source}]"
    if not ok and near:
        detail += f", within {NEAR_S} s"
    stating = [] if ok else _stating_ours(extra, info)
    if stating:
        detail += "; exiftool also reports " + ", ".join(stating)
    report.record("date", ok, name, detail, why)
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


def evaluate(
    testdata: Path,
    *,
    repeat: int = 1,
    deep: ExiftoolReader | None = None,
    extra: Mapping[str, ExiftoolDates] | None = None,
) -> Report:
    """Score every manifest row; time ``repeat`` further runs per file.

    ``deep``: exiftool-assisted (what discover does with ``metadata.reader: auto``).
    ``extra``: ``exiftool_truth`` of the set (dates by exiftool's MWG convention).
    """
    report = Report()
    times: list[float] = []
    jpeg_times: list[float] = []
    for row in read_manifest(testdata):
        path = testdata / row["file"]
        info = extract(path, deep)
        compare(row, info, report, (extra or {}).get(row["file"]))
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
    executable = find_exiftool()
    extra = None
    if executable is None:
        print(
            "exiftool is not installed: dates are scored against the manifest alone",
            file=sys.stderr,
        )
    else:
        extra = exiftool_truth(testdata, [r["file"] for r in read_manifest(testdata)], executable)
    if args.reader in ("builtin", "both"):
        reports["builtin"] = evaluate(testdata, repeat=args.repeat, extra=extra)
    if args.reader in ("exiftool", "both"):
        if executable is None:
            print("exiftool is not installed: built-in figures only", file=sys.stderr)
            if args.reader == "exiftool":
                return 2
        else:
            with ExiftoolReader(executable) as deep:
                reports["exiftool"] = evaluate(testdata, repeat=args.repeat, deep=deep, extra=extra)
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
        if name == "date":
            cells = []
            for report in reports.values():
                matched, compared = report.near
                share = matched / compared if compared else 1.0
                cells.append(f"{matched:3}/{compared:<3} {share:6.1%}".rjust(24))
            print(f"{'  ±' + str(NEAR_S) + ' s':11} " + " ".join(cells))
    print(
        "date truth: the manifest's DateTimeOriginal, else "
        + ("exiftool -use MWG DateTimeOriginal, else " if extra is not None else "")
        + f"its CreateDate; '±{NEAR_S} s' counts the exact and those within a minute (the "
        "misses below include them)"
    )
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
