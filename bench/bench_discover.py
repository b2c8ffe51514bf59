"""Discover benchmark: cold and no-op discover against the physical floors, in one run.

    python bench/bench_discover.py                    # both profiles, full size
    python bench/bench_discover.py --profile many --scale 0.2
    python bench/bench_discover.py --fingerprints     # also perceptual fingerprints in discover
    python bench/bench_discover.py --profile many --repeats 3   # medians of interleaved rounds

Profiles (targets on a 2-core machine):
  large: 1,000 photos of about 4 MB. Floor = `cp -r` to the same filesystem then
         `sync`; target: cold discover <= 1.25 x that floor.
  many:  10,000 photos of about 100 KB. Target: cold discover >= 1,000 photos/s,
         no-op re-discover < 1 s.
  Both: peak memory (RSS of the discover process) < 200 MB and flat in N.

Files are unique JPEGs with EXIF: a few distinct noise images whose EXIF (date,
camera, a per-file comment) makes every file's bytes unique.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from PIL import Image

PROFILES = {"large": (1000, 4_000_000), "many": (10_000, 100_000)}
#: bench_discover_ab --dateless: EXIF with a camera but no date (exiftool is then asked)
DATELESS = False


def _base_jpegs(target_bytes: int, count: int = 6) -> list[bytes]:
    """A few noise JPEGs of about ``target_bytes`` (noise does not compress)."""
    rng = random.Random(7)
    pixels = int(target_bytes / 1.2)  # q=95 noise costs ~1.2 bytes per RGB pixel
    side = int((pixels / 1.33) ** 0.5)
    out = []
    for _ in range(count):
        image = Image.frombytes(
            "RGB", (int(side * 1.33), side), rng.randbytes(int(side * 1.33) * side * 3)
        )
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=95)
        out.append(buffer.getvalue())
    return out


def _with_exif(jpeg: bytes, index: int) -> bytes:
    """Insert an EXIF APP1 segment with a unique date and comment after SOI."""
    exif = Image.Exif()
    exif[0x010F] = "Bench"
    exif[0x0110] = f"Camera {index % 7}"
    taken = datetime(2015, 1, 1) + timedelta(minutes=37 * index)
    if not DATELESS:
        exif.get_ifd(0x8769)[0x9003] = taken.strftime("%Y:%m:%d %H:%M:%S")
    exif[0x010E] = f"bench photo {index}"
    payload = exif.tobytes()  # Pillow's bytes start with the "Exif\0\0" header already
    segment = b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload
    return jpeg[:2] + segment + jpeg[2:]


def generate(folder: Path, count: int, size: int) -> int:
    bases = _base_jpegs(size)
    total = 0
    for index in range(count):
        data = _with_exif(bases[index % len(bases)], index)
        path = folder / f"{index // 500:03d}" / f"IMG_{index:06d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        total += len(data)
    return total


def _timed(cmd: list[str] | str, **kwargs: object) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, **kwargs)  # type: ignore[call-overload]
    return time.perf_counter() - start


def _drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def _photosync(args: list[str], archive: Path) -> tuple[float, int]:
    """Wall time and peak RSS (bytes) of ``photosync ARGS`` as the user runs it: its own
    process, start-up included; the RSS is that child's (a fresh helper per run, so
    ``RUSAGE_CHILDREN`` sees only it and the git it starts)."""
    runner = (
        "import resource,subprocess,sys,time;t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "print('BENCH',time.perf_counter()-t,"
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss*1024,p.returncode);"
        "print(p.stdout[-2000:],p.stderr[-2000:],file=sys.stderr)"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            runner,
            sys.executable,
            "-m",
            "photosync",
            "--archive",
            str(archive),
            "-q",
            *args,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH")), None)
    if line is None or line.split()[3] not in ("0", "4"):
        raise SystemExit(f"photosync {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    _, seconds, rss, _rc = line.split()
    return float(seconds), int(rss)


def _enable_fingerprints(archive: Path) -> None:
    """Turn on ``fingerprint_during_discover`` (off by default: resolve computes them)."""
    prefs_path = archive / "config" / "user-preferences.json"
    prefs = json.loads(prefs_path.read_text(encoding="utf-8"))
    prefs["sync_preferences"]["fingerprint_during_discover"] = True
    prefs_path.write_text(json.dumps(prefs, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    subprocess.run(
        [
            "git",
            "-C",
            str(archive),
            "commit",
            "-q",
            "-m",
            "bench: fingerprints in discover",
            "config/user-preferences.json",
        ],
        check=True,
        capture_output=True,
    )


def _round(
    src: Path, workdir: Path, name: str, count: int, *, fingerprints: bool, index: int
) -> dict[str, float]:
    """One round, side by side: the floor (``cp -r && sync``), then photosync's cold
    discover, no-op discover and first resolve, each a process (RSS of that child).

    Nothing is deleted until every round is done (``run_profile``): on ext4 without a
    journal (this VM's disk) every new inode is checked against those deleted in the
    last 60-300 s, one buffer lookup each, so timing right after deleting 10,000 files
    measures that scan, not the command (seen in ``perf``: ``recently_deleted``)."""
    out: dict[str, float] = {}
    _drop_caches()
    copy_target = workdir / f"{name}-copy-{index}"
    out["floor_cp_sync_s"] = _timed(f"cp -r '{src}' '{copy_target}' && sync", shell=True)
    archive = workdir / f"{name}-archive-{index}"
    subprocess.run(
        [sys.executable, "-m", "photosync", "init", str(archive)], check=True, capture_output=True
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "photosync",
            "--archive",
            str(archive),
            "service",
            "add",
            "lib",
            "--type",
            "local",
            "--path",
            str(src),
        ],
        check=True,
        capture_output=True,
    )
    if fingerprints:
        _enable_fingerprints(archive)
    _drop_caches()
    cold_s, cold_rss = _photosync(["discover"], archive)
    subprocess.run(["sync"], check=True)
    noop_s, noop_rss = _photosync(["discover"], archive)
    # resolve fingerprints what discover did not (the default), so time it too
    resolve_s, resolve_rss = _photosync(["resolve", "--auto-resolve", "simple"], archive)
    out.update(
        {
            "cold_discover_s": cold_s,
            "cold_photos_per_s": count / cold_s,
            "cold_vs_cp_sync": cold_s / out["floor_cp_sync_s"],
            "noop_discover_s": noop_s,
            "peak_rss_mb_cold": cold_rss / 1e6,
            "peak_rss_mb_noop": noop_rss / 1e6,
            "first_resolve_s": resolve_s,
            "resolve_photos_per_s": count / resolve_s,
            "peak_rss_mb_resolve": resolve_rss / 1e6,
            "load_1min": os.getloadavg()[0],
        }
    )
    return out


def run_profile(
    name: str, scale: float, workdir: Path, *, fingerprints: bool = False, repeats: int = 1
) -> dict[str, object]:
    """``repeats`` rounds of floor and photosync interleaved: medians of times and of the
    per-round ratios (a shared machine's load moves both sides of a round alike); peak
    RSS is the largest seen."""
    count, size = PROFILES[name]
    count = max(10, int(count * scale))
    src = workdir / f"{name}-library"
    total = generate(src, count, size)
    subprocess.run(["sync"], check=True)
    results: dict[str, object] = {
        "profile": name,
        "photos": count,
        "bytes": total,
        "fingerprints": fingerprints,
        "page_cache_dropped": _drop_caches(),
        "repeats": repeats,
    }
    _drop_caches()
    results["floor_sha256_s"] = _timed(
        f"find '{src}' -type f -print0 | xargs -0 -n 200 openssl dgst -sha256 > /dev/null",
        shell=True,
    )
    rounds = [
        _round(src, workdir, name, count, fingerprints=fingerprints, index=index)
        for index in range(repeats)
    ]
    for index in range(repeats):  # deleted only now (``_round``)
        shutil.rmtree(workdir / f"{name}-copy-{index}", ignore_errors=True)
        shutil.rmtree(workdir / f"{name}-archive-{index}", ignore_errors=True)
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        results[key] = max(values) if key.startswith("peak_rss") else statistics.median(values)
    results["rounds"] = rounds
    shutil.rmtree(src, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--profile", choices=[*PROFILES, "all"], default="all")
    parser.add_argument(
        "--scale", type=float, default=1.0, help="fraction of the photo count (quick runs)"
    )
    parser.add_argument(
        "--fingerprints",
        action="store_true",
        help="compute perceptual fingerprints during discover",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="where to build libraries (default: a temp dir on /tmp's filesystem)",
    )
    parser.add_argument(
        "--repeats", type=int, default=1, help="interleaved rounds (floor, then photosync)"
    )
    args = parser.parse_args()
    profiles = list(PROFILES) if args.profile == "all" else [args.profile]
    with tempfile.TemporaryDirectory(prefix="photosync-bench-", dir=args.workdir) as tmp:
        for name in profiles:
            result = run_profile(
                name,
                args.scale,
                Path(tmp),
                fingerprints=args.fingerprints,
                repeats=args.repeats,
            )
            print(json.dumps(result, indent=2))
            if name == "large":
                verdict = result["cold_vs_cp_sync"] <= 1.25  # type: ignore[operator]
                print(
                    f"large: cold discover {result['cold_discover_s']:.2f} s vs cp+sync {result['floor_cp_sync_s']:.2f} s "
                    f"= {result['cold_vs_cp_sync']:.2f}x (target <= 1.25x: {'met' if verdict else 'NOT met'})"
                )
            else:
                print(
                    f"many: {result['cold_photos_per_s']:.0f} photos/s cold (target >= 1000), "
                    f"{result['cold_vs_cp_sync']:.2f}x cp+sync (target <= 2.2x), "
                    f"no-op {result['noop_discover_s']:.2f} s (target < 1 s)"
                )
            print(
                f"peak RSS {result['peak_rss_mb_cold']:.0f} MB cold, {result['peak_rss_mb_noop']:.0f} MB no-op (target < 200 MB)"
            )
            print(
                f"first resolve (matching, and fingerprints unless discover made them): {result['first_resolve_s']:.2f} s "
                f"= {result['resolve_photos_per_s']:.0f} photos/s (target >= 1000), "
                f"peak RSS {result['peak_rss_mb_resolve']:.0f} MB; load {result['load_1min']:.1f}"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
