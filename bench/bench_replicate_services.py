"""Benchmark: `photosync replicate --execute` to Flickr and Google Photos (the bundled
emulators), one upload at a time against parallel uploads, in one interleaved run.

Both emulators run in this process on loopback with a fixed delay per request
(``--latency``, a network's round trip; Flickr's uploads take ``--upload-s`` more),
so that waiting on the network, which parallel uploads overlap, is what is
measured. Each round and mode gets its own archive and its own photos (Google
de-duplicates bytes it has seen). "one at a time" is the same command with the
services' ``parallel_uploads`` switched off, which is the path every upload took
before (Google: one ``batchCreate`` per photo); "parallel" is the default
(``max_parallel_uploads`` 4, Google's ``batchCreate`` with up to 50 items).
Flickr's real limit of 3,600 requests an hour is lifted for both modes.

    python bench/bench_replicate_services.py [--photos 100] [--rounds 2] [--latency 0.03]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discover import generate

MODES = ("one at a time", "parallel")
SEQUENTIAL = (
    "import sys\n"
    "from photosync.services.flickr.service import FlickrService\n"
    "from photosync.services.google.library import GooglePhotosLibrary\n"
    "FlickrService.parallel_uploads = False\n"
    "GooglePhotosLibrary.parallel_uploads = False\n"
    "from photosync.cli import cli\n"
    "cli.main(args=sys.argv[1:], prog_name='photosync')\n"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--latency", type=float, default=0.03, help="seconds per request")
    parser.add_argument("--upload-s", type=float, default=0.1, help="Flickr: seconds per upload")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-services-") as tmp:
        work = Path(tmp)
        os.environ.update(PHOTOSYNC_CONFIG_DIR=str(work / "config"), PHOTOSYNC_KEYRING="file")
        from photosync.archive.archive import Archive
        from photosync.emulators.base import FaultPlan
        from photosync.emulators.rehearsal import authorise, start_rehearsal
        from photosync.workflow.discover import discover
        from photosync.workflow.resolve import auto_resolve

        rehearsal = start_rehearsal(flickr_photos=0)
        try:
            authorise(rehearsal)
            for emulator in (rehearsal.flickr, rehearsal.google):
                emulator.faults = FaultPlan(rate_slow=1.0, slow_s=args.latency)
            rehearsal.flickr.state.upload_latency_s = args.upload_s
            times: dict[str, list[float]] = {mode: [] for mode in MODES}
            for round_no in range(args.rounds):
                order = MODES if round_no % 2 == 0 else MODES[::-1]
                for mode in order:
                    name = f"r{round_no}-{MODES.index(mode)}"
                    library = work / f"{name}-lib"
                    generate(library, args.photos, args.size)
                    # a unique byte per file and mode: neither service has seen these
                    for path in sorted(library.rglob("*.jpg")):
                        path.write_bytes(path.read_bytes() + name.encode())
                    archive = Archive.init(work / f"{name}-archive")
                    services = {
                        "lib": {
                            "type": "local",
                            "path": str(library),
                            "enabled": True,
                            "target": False,
                        },
                        **rehearsal.settings,
                    }
                    services["flickr"] = {
                        **services["flickr"],
                        "source": False,
                        "rate_limit": {"requests_per_hour": 36_000_000},
                    }
                    services["google-photos"] = {
                        **services["google-photos"],
                        "requests_per_hour": 36_000_000,
                    }
                    archive.save_services(services)
                    archive.commit("bench: services")
                    archive.lock()
                    discover(archive, services=["lib"])
                    auto_resolve(archive)
                    archive.close()
                    command = (
                        [sys.executable, "-c", SEQUENTIAL]
                        if mode == "one at a time"
                        else [sys.executable, "-m", "photosync"]
                    )
                    start = time.perf_counter()
                    done = subprocess.run(
                        [*command, "--archive", str(archive.root), "-q", "replicate", "--execute"],
                        capture_output=True,
                        text=True,
                        check=False,
                    )
                    elapsed = time.perf_counter() - start
                    if done.returncode != 0:
                        raise SystemExit(f"{mode}: exit {done.returncode}\n{done.stderr}")
                    times[mode].append(elapsed)
                    print(f"round {round_no + 1} {mode}: {elapsed:.2f} s", flush=True)
            stats = rehearsal.google.state.stats
            flickr = rehearsal.flickr.state
            expected = 2 * args.rounds * args.photos
            if (
                len(flickr.photos) != expected
                or len(rehearsal.google.state.app_items()) != expected
            ):
                raise SystemExit("a photo is missing or doubled on a service")
            best = {mode: min(v) for mode, v in times.items()}
            result = {
                "photos_per_run": args.photos,
                "latency_s": args.latency,
                "flickr_upload_s": args.upload_s,
                "min_s": best,
                "all_s": times,
                "speed_up": best["one at a time"] / best["parallel"],
                "google_batch_create_calls": stats["batch_create_calls"],
                "google_batch_create_max_items": stats["batch_create_max_items"],
                "flickr_max_uploads_in_flight": flickr.max_uploads_in_flight,
            }
            print(json.dumps(result, indent=2))
        finally:
            rehearsal.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
