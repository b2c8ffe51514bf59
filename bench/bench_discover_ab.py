"""Cold discover of one library by two versions of photosync, interleaved (A B A B ...).

    python bench/bench_discover_ab.py --before REV [--after PATH] [--rounds 3] [--scale 1.0]
    python bench/bench_discover_ab.py --readers --dateless [--scale 0.1]
    python bench/bench_discover_ab.py --extraction [--rounds 5]

``--before`` is a git revision of this repository (its ``src/`` is unpacked into a
temp folder) or a folder holding a ``photosync`` package; ``--after`` defaults to
this checkout's ``src``. The library is bench_discover's ``many`` profile (10,000
JPEGs of about 100 KB with EXIF date and camera); each round runs a cold discover
into a fresh archive with each version in turn, so both see the same machine
load. Prints each time and the median ratio after/before (issue 13: at most 1.10).

``--readers`` compares ``metadata.reader: builtin`` (before) with ``auto`` (after) on this
checkout; ``--dateless`` writes the library's EXIF without a date, so that exiftool is
asked about every file (the worst case: what it costs when the built-in reader has no
answer).

``--resolve`` (issue 17 goal 2) times the first ``resolve --auto-resolve simple`` instead:
the library is discovered once (with ``--after``), and each round resolves a fresh copy
of that archive with each version in turn (fingerprints, matching, rules, the commit).

``--extraction`` (issue 13 goal 6) times three arms on this checkout: ``none`` (metadata
extraction replaced, in the bench process only, by a stub that reads no byte and states
what the bench files hold, from their names), ``builtin`` and ``auto`` (exiftool asked about what the
built-in reader could not answer, when installed), and prints auto/none and builtin/none:
what extraction costs a cold discover.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_discover
from bench_discover import PROFILES, generate

REPO = Path(__file__).resolve().parents[1]


def _unpack(rev: str, into: Path) -> Path:
    """``src/`` of a git revision, unpacked; returns the folder to put on PYTHONPATH."""
    blob = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", rev, "src"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(blob)) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def _set_reader(archive: Path, reader: str) -> None:
    prefs_path = archive / "config" / "user-preferences.json"
    prefs = json.loads(prefs_path.read_text(encoding="utf-8"))
    if prefs.get("metadata", {}).get("reader", "auto") == reader:
        return
    prefs["metadata"] = {"reader": reader}
    prefs_path.write_text(json.dumps(prefs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    subprocess.run(
        ["git", "-C", str(archive), "commit", "-q", "-m", f"bench: {reader}", str(prefs_path)],
        check=True,
        capture_output=True,
    )


#: bench-only: discover with metadata extraction replaced by a stub that reads no byte of
#: the file; it states what extraction finds in bench_discover's files (their date, camera
#: and caption follow from the index in the name), so records and folders are the same
#: and only the reading is left out
_NO_EXTRACTION = (
    "import photosync.workflow.discover as _d, datetime as _dt\n"
    "from photosync.metadata.types import MediaInfo as _M\n"
    "def _stub(path, **_kw):\n"
    " i = int(str(path).rsplit('_', 1)[1].split('.')[0])\n"
    " when = _dt.datetime(2015, 1, 1) + _dt.timedelta(minutes=37 * i)\n"
    " return _M(kind='photo', format='jpeg', mime_type='image/jpeg',\n"
    "  taken_date=when.isoformat(), taken_date_source='exif:DateTimeOriginal',\n"
    "  camera_make='Bench', camera_model=f'Camera {i % 7}', caption=f'bench photo {i}')\n"
    "_d.extract_media_info = _stub\n"
)


#: CPU seconds (user + system, the process and its children: git, exiftool) of each
#: ``_cold_discover``, in order: steadier than the wall clock on a loaded machine
CPU_SECONDS: list[float] = []


def _init_with_library(archive: Path, library: Path, env: dict[str, str]) -> list[str]:
    """``photosync init`` + the library as local service 'lib'; the command prefix."""
    run = [sys.executable, "-m", "photosync"]
    subprocess.run([*run, "init", str(archive)], check=True, capture_output=True, env=env)
    add = ["service", "add", "lib", "--type", "local", "--path", str(library)]
    subprocess.run(
        [*run, "--archive", str(archive), *add], check=True, capture_output=True, env=env
    )
    return run


def _cold_discover(
    src: Path, library: Path, workdir: Path, reader: str | None = None, *, extract: bool = True
) -> float:
    """Seconds of one cold discover (init and service add not counted) with ``src``'s code."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    archive = workdir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    _init_with_library(archive, library, env)
    if reader is not None:
        _set_reader(archive, reader)
    code = ("" if extract else _NO_EXTRACTION) + (
        "import sys,time;from photosync.cli import cli;t=time.perf_counter();"
        "rc=0\ntry:\n cli.main(args=sys.argv[1:],prog_name='photosync',standalone_mode=False)\n"
        "except SystemExit as e:\n rc=int(e.code or 0)\n"
        "import resource as R;a=R.getrusage(R.RUSAGE_SELF);b=R.getrusage(R.RUSAGE_CHILDREN)\n"
        "print('BENCH',time.perf_counter()-t,rc,a.ru_utime+a.ru_stime+b.ru_utime+b.ru_stime)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "--archive", str(archive), "-q", "discover"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH")), None)
    if line is None or line.split()[2] != "0":
        raise SystemExit(f"discover failed with {src}:\n{out.stdout}\n{out.stderr}")
    shutil.rmtree(archive, ignore_errors=True)
    CPU_SECONDS.append(float(line.split()[3]))
    return float(line.split()[1])


def _discovered(src: Path, library: Path, workdir: Path) -> Path:
    """An archive holding ``library`` discovered (not resolved), made by ``src``'s code."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    archive = workdir / "discovered"
    run = _init_with_library(archive, library, env)
    subprocess.run([*run, "--archive", str(archive), "-q", "discover"], check=True, env=env)
    return archive


def _first_resolve(src: Path, discovered: Path, workdir: Path) -> float:
    """Seconds of ``photosync resolve --auto-resolve simple`` (a process, start-up
    included) with ``src``'s code, on a fresh copy of ``discovered``."""
    archive = workdir / "archive"
    shutil.rmtree(archive, ignore_errors=True)
    subprocess.run(["cp", "-a", str(discovered), str(archive)], check=True)
    subprocess.run(["sync"], check=True)
    seconds = bench_discover._timed(
        [
            sys.executable,
            "-m",
            "photosync",
            "--archive",
            str(archive),
            "-q",
            "resolve",
            "--auto-resolve",
            "simple",
        ],
        env={**os.environ, "PYTHONPATH": str(src)},
        capture_output=True,
    )
    shutil.rmtree(archive, ignore_errors=True)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--before", help="git revision or folder with photosync")
    parser.add_argument("--readers", action="store_true", help="builtin vs auto, this checkout")
    parser.add_argument(
        "--extraction", action="store_true", help="no extraction vs builtin vs auto, this checkout"
    )
    parser.add_argument("--dateless", action="store_true", help="library EXIF without a date")
    parser.add_argument(
        "--resolve", action="store_true", help="time the first resolve instead of discover"
    )
    parser.add_argument("--after", type=Path, default=REPO / "src")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    count, size = PROFILES["many"]
    count = max(10, int(count * args.scale))
    with tempfile.TemporaryDirectory(prefix="photosync-ab-") as tmp:
        work = Path(tmp)
        if args.readers or args.extraction:
            before = args.after
        elif args.before is None:
            parser.error("--before REV (or --readers)")
        else:
            before = Path(args.before)
            if not (before / "photosync").is_dir():
                before = _unpack(args.before, work / "before")
        library = work / "library"
        if args.dateless:
            bench_discover.DATELESS = True
        generate(library, count, size)
        if args.extraction:
            return _extraction_rounds(args.after, library, work, args.rounds, count)
        readers = {"before": "builtin", "after": "auto"} if args.readers else {}
        discovered = _discovered(args.after, library, work) if args.resolve else None
        times: dict[str, list[float]] = {"before": [], "after": []}
        for round_no in range(args.rounds):
            order = [("before", before), ("after", args.after)]
            if round_no % 2:
                order.reverse()  # neither side always runs second (warmer caches)
            for name, src in order:
                if discovered is not None:
                    seconds = _first_resolve(src, discovered, work)
                else:
                    seconds = _cold_discover(src, library, work, readers.get(name))
                times[name].append(seconds)
                print(f"round {round_no + 1} {name:6} {seconds:7.2f} s", flush=True)
    med_before, med_after = statistics.median(times["before"]), statistics.median(times["after"])
    what = "first resolve" if args.resolve else "cold discover"
    print(
        f"{count} files, median {what}: before {med_before:.2f} s, after {med_after:.2f} s, "
        f"after/before {med_after / med_before:.3f} ({count / med_after:.0f} photos/s after; "
        f"load {os.getloadavg()[0]:.1f})"
    )
    return 0


def _extraction_rounds(src: Path, library: Path, work: Path, rounds: int, count: int) -> int:
    """none / builtin / auto in a rotating order each round; prints the median ratios."""
    arms = ["none", "builtin", "auto"]
    times: dict[str, list[float]] = {arm: [] for arm in arms}
    cpu: dict[str, list[float]] = {arm: [] for arm in arms}
    for round_no in range(rounds):
        shift = round_no % len(arms)  # each arm runs first, second and third in turn
        for arm in arms[shift:] + arms[:shift]:
            reader = None if arm == "none" else arm
            seconds = _cold_discover(src, library, work, reader, extract=arm != "none")
            times[arm].append(seconds)
            cpu[arm].append(CPU_SECONDS[-1])
            print(
                f"round {round_no + 1} {arm:7} {seconds:7.2f} s  cpu {CPU_SECONDS[-1]:7.2f} s",
                flush=True,
            )
    med = {arm: statistics.median(values) for arm, values in times.items()}
    ratios = {
        arm: statistics.median(t / n for t, n in zip(times[arm], times["none"], strict=True))
        for arm in ("builtin", "auto")
    }
    print(
        f"{count} files, median cold discover: "
        + ", ".join(f"{arm} {med[arm]:.2f} s" for arm in arms)
        + f"; auto/none {med['auto'] / med['none']:.3f} (per-round median "
        f"{ratios['auto']:.3f}), builtin/none {med['builtin'] / med['none']:.3f} (per-round "
        f"median {ratios['builtin']:.3f}), auto/builtin {med['auto'] / med['builtin']:.3f} "
        "(target: extraction <= 1.10)"
    )
    cmed = {arm: statistics.median(values) for arm, values in cpu.items()}
    print(
        "median CPU (user+system, with children): "
        + ", ".join(f"{arm} {cmed[arm]:.2f} s" for arm in arms)
        + f"; auto/none {cmed['auto'] / cmed['none']:.3f}, builtin/none "
        f"{cmed['builtin'] / cmed['none']:.3f}, auto/builtin {cmed['auto'] / cmed['builtin']:.3f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
