"""Benchmark: the first `photosync replicate --execute` to a new local-folder location.

What a user runs, as processes, side by side in one interleaved run (median of N rounds):
``photosync replicate --execute`` of an archive whose originals are not yet in its new
local location (one run per ``--code`` tree given: the same command with another
``PYTHONPATH``, to compare two versions), ``rclone copy`` of the same blob tree to a
fresh folder, and ``cp -r`` of it followed by ``sync`` (what a careful copy by hand
costs: the bytes made durable once, at the end).

Each round clones the discovered template archive (blobs hard-linked), adds a fresh
folder as its location (not timed), then times each command in an order that rotates
round by round. Besides wall times, each command's CPU seconds (user + system, of the
process and its children) are kept: on a shared 2-core machine CPU tells the sides
apart where wall times are noise.

    python bench/bench_replicate_local.py [--count 2000] [--size 100000] [--rounds 5] \
        [--code before=/path/to/old/src] [--code after=src] [--engine]

``--engine`` times the blob pass alone too (``blobsync.copy_sorted_blobs`` from the
archive's store to a fresh folder, in its own process: what the copying costs without
the records ``replicate`` then writes and commits).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discover import generate
from bench_replicate_s3 import clone_archive

_COMPILE = "import compileall, sys; compileall.compile_dir(sys.argv[1], quiet=1)"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command run to completion."""
    before = children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start, children_cpu() - before


#: the blob pass alone: every blob of the archive's store copied to a fresh local folder
#: by ``blobsync.copy_sorted_blobs`` (4 workers, the journal), as replicate does it
_ENGINE = """
import sys
from pathlib import Path
from photosync.blobstore.blobsync import JsonlJournal, copy_sorted_blobs
from photosync.blobstore.local import LocalBlobStore
source = LocalBlobStore(Path(sys.argv[1]), name="local")
target = LocalBlobStore(Path(sys.argv[2]), name="nas")
work = Path(sys.argv[3])
report = copy_sorted_blobs(
    ((d, source.stat(d).size) for d in source.iter_digests()),
    [source, target],
    [source, target],
    workers=4,
    journal=JsonlJournal(work / "journal.jsonl"),
    tmp_dir=work,
)
assert report.ok, report.failed
"""


def photosync_cmd(archive: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "photosync", "--archive", str(archive), "-q", *args]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--code",
        action="append",
        default=[],
        help="NAME=SRC: a photosync source tree to time (repeatable; default: the installed one)",
    )
    parser.add_argument(
        "--engine",
        action="store_true",
        help="also time the blob pass alone (copy_sorted_blobs in a fresh process, per --code)",
    )
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    args = parser.parse_args()
    codes = dict(item.split("=", 1) for item in args.code) or {"photosync": ""}
    base = dict(os.environ)
    base.pop("PYTHONDONTWRITEBYTECODE", None)  # installed photosync has its bytecode
    envs: dict[str, dict[str, str]] = {}
    for name, src in codes.items():
        env = dict(base)
        if src:
            env["PYTHONPATH"] = str(Path(src).resolve())
            subprocess.run([sys.executable, "-c", _COMPILE, env["PYTHONPATH"]], check=True)
        envs[name] = env
    steps: list[tuple[str, Callable[[Path, Path], tuple[float, float]]]] = []
    for name, env in envs.items():
        steps.append(
            (name, lambda a, _d, e=env: timed(photosync_cmd(a, "replicate", "--execute"), e))
        )
    if args.engine:
        for name, env in envs.items():
            steps.append(
                (
                    f"{name}_engine",
                    lambda a, d, e=env: timed(
                        [sys.executable, "-c", _ENGINE, str(a / "blobs"), str(d), str(a)], e
                    ),
                )
            )
    have_rclone = shutil.which("rclone") is not None
    with tempfile.TemporaryDirectory(prefix="bench-local-", dir=args.workdir) as tmp:
        work = Path(tmp)
        env0 = next(iter(envs.values()))
        library = work / "library"
        t0 = time.perf_counter()
        total = generate(library, args.count, args.size)
        template = work / "template"
        init = [sys.executable, "-m", "photosync", "init", str(template)]
        subprocess.run(init, check=True, capture_output=True, env=env0)
        add = ["service", "add", "lib", "--type", "local", "--path", str(library)]
        subprocess.run(photosync_cmd(template, *add), check=True, env=env0)
        subprocess.run(photosync_cmd(template, "discover"), check=True, env=env0)
        shutil.rmtree(library)
        blobs = template / "blobs" / "sha256"
        print(
            f"{args.count} photos, {total / 1e6:.0f} MB, archive ready in "
            f"{time.perf_counter() - t0:.0f} s",
            flush=True,
        )
        if have_rclone:
            steps.append(
                (
                    "rclone_copy",
                    lambda _a, d: timed(["rclone", "copy", str(blobs), str(d / "sha256")], env0),
                )
            )

        def cp_sync(_a: Path, d: Path) -> tuple[float, float]:
            d.mkdir()
            return timed(["sh", "-c", f"cp -r '{blobs}' '{d}/sha256' && sync"], env0)

        steps.append(("cp_r_sync", cp_sync))
        wall: dict[str, list[float]] = {name: [] for name, _ in steps}
        cpu: dict[str, list[float]] = {name: [] for name, _ in steps}
        for round_no in range(args.rounds):
            shift = round_no % len(steps)
            order = steps[shift:] + steps[:shift]
            for name, step in order:
                archive = work / f"archive-{name}-{round_no}"
                dest = work / f"dest-{name}-{round_no}"
                if name.endswith("_engine"):
                    archive.mkdir()
                    subprocess.run(["cp", "-al", str(template / "blobs"), str(archive)], check=True)
                if name in envs:
                    clone_archive(template, archive)
                    storage = ["storage", "add", "nas", "--type", "local", "--path", str(dest)]
                    subprocess.run(photosync_cmd(archive, *storage), check=True, env=envs[name])
                subprocess.run(["sync"], check=True)
                seconds, used = step(archive, dest)
                wall[name].append(seconds)
                cpu[name].append(used)
                copied = sum(1 for _ in (dest / "sha256").rglob("*") if _.is_file())
                if copied != args.count:
                    raise SystemExit(f"{name}: {copied} blobs copied, want {args.count}")
                shutil.rmtree(archive, ignore_errors=True)
                subprocess.run(["chmod", "-R", "u+w", str(dest)], check=True)
                shutil.rmtree(dest)
            line = ", ".join(f"{n} {wall[n][-1]:.2f} s (cpu {cpu[n][-1]:.2f})" for n in wall)
            print(f"round {round_no + 1}: {line}", flush=True)
        result = {
            "photos": args.count,
            "bytes": total,
            "rounds": args.rounds,
            "median_wall_s": {n: statistics.median(v) for n, v in wall.items()},
            "median_cpu_s": {n: statistics.median(v) for n, v in cpu.items()},
            "median_wall_per_blob_us": {
                n: statistics.median(v) / args.count * 1e6 for n, v in wall.items()
            },
            "all_wall_s": wall,
            "all_cpu_s": cpu,
        }
        print(json.dumps(result, indent=2), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
