"""Benchmark: ``photosync restore`` against ``rclone copy`` and ``photosync export`` against ``cp -r``.

Builds a real archive of N small photos (discover of generated JPEGs), copies
its originals into a bucket of a loopback moto server and adds that bucket as a
storage location. Then, on the same machine and server:

- restore: ``blobs/`` removed, ``photosync restore`` (the CLI, as a user runs
  it) against ``rclone copy`` of the same objects into a local folder, same
  number of transfers (``max_parallel_downloads``);
- export: ``photosync export DEST`` (``--metadata xmp`` and ``none``) against
  ``cp -r`` of the same bytes (the blob folder).

Every copy is checked complete. Nothing leaves the machine.

    python bench/bench_restore_export.py [--photos 10000] [--workers 8]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import boto3
from botocore.config import Config

from photosync.blobstore.blobsync import copy_missing_blobs
from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.s3 import S3BlobStore
from photosync.emulators.samples import write_jpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_replicate_s3 import KEY_ID, SECRET, free_port, start_moto

BUCKET = "restore-bench"
PREFIX = "photos/"


def photosync(root: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", *args],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )


def timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is not installed (apt-get install rclone)")
    work = Path(tempfile.mkdtemp(prefix="bench-restore-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
        PHOTOSYNC_CONFIG_DIR=str(work / "config"),
        PHOTOSYNC_KEYRING="file",
    )
    os.environ.update(env)
    server = start_moto(port)
    try:
        t0 = time.perf_counter()
        library = work / "library"
        for i in range(args.photos):
            write_jpeg(
                library / f"d{i % 50}" / f"IMG_{i:05d}.jpg",
                seed=i,
                size=(64, 48),
                taken=datetime(2015 + i % 10, 1 + i % 12, 1 + i % 28, i % 24, i % 60, 0),
                description=f"photo {i}",
            )
        root = work / "archive"
        subprocess.run([sys.executable, "-m", "photosync", "init", str(root)], env=env,
                       check=True, capture_output=True)  # fmt: skip
        photosync(root, "service", "add", "lib", "--type", "local", "--path", str(library), env=env)
        prefs_file = root / "config" / "user-preferences.json"
        prefs = json.loads(prefs_file.read_text())
        prefs["sync_preferences"]["max_parallel_downloads"] = args.workers
        prefs_file.write_text(json.dumps(prefs, indent=2, sort_keys=True) + "\n")
        subprocess.run(["git", "-C", str(root), "commit", "-qam", "bench: workers"], check=True)
        photosync(root, "discover", env=env)
        print(f"archive of {args.photos} photos built in {time.perf_counter() - t0:.0f} s")

        admin = boto3.client(
            "s3", endpoint_url=endpoint, region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )  # fmt: skip
        admin.create_bucket(Bucket=BUCKET)
        local = LocalBlobStore(root / "blobs", "local")
        digests = list(local.iter_digests())
        cloud = S3BlobStore("cloud", BUCKET, prefix=PREFIX, endpoint_url=endpoint,
                            region="us-east-1", addressing_style="path")  # fmt: skip
        copied = copy_missing_blobs(digests, local, [cloud], workers=args.workers)
        assert copied.ok, copied.failed
        photosync(root, "storage", "add", "cloud", "--type", "s3", "--bucket", BUCKET,
                  "--prefix", PREFIX, "--endpoint", endpoint, "--region", "us-east-1",
                  "--addressing-style", "path", env=env)  # fmt: skip
        size = sum(p.stat().st_size for p in (root / "blobs" / "sha256").rglob("*") if p.is_file())
        print(f"{len(digests)} originals, {size / 1e6:.1f} MB, in s3://{BUCKET}/{PREFIX}")

        # -- restore against rclone copy --------------------------------------------------
        shutil.rmtree(root / "blobs")
        restore_s = timed(lambda: photosync(root, "restore", env=env))
        got = sum(1 for p in (root / "blobs" / "sha256").rglob("*") if p.is_file())
        assert got == len(digests), (got, len(digests))
        rclone_env = dict(
            env,
            RCLONE_CONFIG=str(work / "rclone-absent.conf"),
            RCLONE_CONFIG_BENCH_TYPE="s3",
            RCLONE_CONFIG_BENCH_PROVIDER="Other",
            RCLONE_CONFIG_BENCH_ENDPOINT=endpoint,
            RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=KEY_ID,
            RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=SECRET,
            RCLONE_CONFIG_BENCH_REGION="us-east-1",
            RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
        )
        rclone_env.pop("AWS_CA_BUNDLE", None)
        rclone_dest = work / "rclone-copy"
        rclone_s = timed(
            lambda: subprocess.run(
                ["rclone", "copy", f"bench:{BUCKET}/{PREFIX}sha256", str(rclone_dest),
                 "--transfers", str(args.workers), "--checkers", str(2 * args.workers)],
                env=rclone_env, check=True, stdout=subprocess.DEVNULL,
            )
        )  # fmt: skip
        got = sum(1 for p in rclone_dest.rglob("*") if p.is_file())
        assert got == len(digests), (got, len(digests))

        # -- export against cp -r ---------------------------------------------------------
        export_xmp_s = timed(lambda: photosync(root, "export", str(work / "x1"), env=env))
        export_none_s = timed(
            lambda: photosync(root, "export", str(work / "x2"), "--metadata", "none", env=env)
        )
        update_s = timed(lambda: photosync(root, "export", str(work / "x1"), "--update", env=env))
        cp_s = timed(
            lambda: subprocess.run(
                ["cp", "-r", str(root / "blobs" / "sha256"), str(work / "cp")], check=True
            )
        )
        for folder in ("x1", "x2"):
            got = sum(1 for p in (work / folder).rglob("*.jpg") if p.is_file())
            assert got == len(digests), (folder, got)

        print(f"restore ({args.workers} workers, CLI):  {restore_s:7.2f} s")
        print(f"rclone copy (--transfers {args.workers}):   {rclone_s:7.2f} s")
        print(f"  ratio restore/rclone: {restore_s / rclone_s:.2f}")
        print(f"export --metadata xmp:        {export_xmp_s:7.2f} s")
        print(f"export --metadata none:       {export_none_s:7.2f} s")
        print(f"export --update (nothing new): {update_s:6.2f} s")
        print(f"cp -r of the same bytes:      {cp_s:7.2f} s")
        print(f"  ratio export(none)/cp: {export_none_s / cp_s:.2f}, export(xmp)/cp: "
              f"{export_xmp_s / cp_s:.2f}")  # fmt: skip
        return 0
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
