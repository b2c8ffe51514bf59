"""Benchmark: photosync copying blobs to S3 against ``rclone copy``, on a loopback moto server.

Generates N files of about 100 KB in a local blob store layout, starts
``moto_server`` on 127.0.0.1 in its own process, then times
``copy_missing_blobs`` (parallel ``S3BlobStore.put_file``, as replicate does)
into one bucket and ``rclone copy`` of the same tree into another. Both
copies are then listed and checked complete. Nothing leaves the machine.

    python bench/bench_replicate_s3.py [--files 2000] [--size 100000] [--workers 16]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.s3 import S3BlobStore
from photosync.workflow.blobsync import copy_missing_blobs

KEY_ID = "benchkey"
SECRET = "benchsecret"  # a dummy for the loopback moto server only


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None:
                raise SystemExit("moto_server exited during start-up") from None
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("moto_server did not start within 30 s")


def make_blobs(root: Path, count: int, size: int) -> list[str]:
    store = LocalBlobStore(root, name="local")
    digests = []
    for _ in range(count):
        writer = store.writer()
        writer.write(os.urandom(size + int.from_bytes(os.urandom(2)) % 4096))
        digests.append(writer.commit(durable=False)[0])
    shutil.rmtree(store.tmp_dir, ignore_errors=True)
    return digests


def count_objects(client: object, bucket: str) -> int:
    paginator = client.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    return sum(len(page.get("Contents", [])) for page in paginator.paginate(Bucket=bucket))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--rclone-transfers", type=int, default=None, help="default: --workers")
    parser.add_argument(
        "--order",
        choices=("photosync-first", "rclone-first"),
        default="rclone-first",
        help="which copy runs first on the fresh server",
    )
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is not installed (apt-get install rclone)")
    transfers = args.rclone_transfers or args.workers

    work = Path(tempfile.mkdtemp(prefix="bench-s3-"))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
    )
    os.environ.update({k: env[k] for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    os.environ["AWS_DEFAULT_REGION"] = "us-east-1"
    server = start_moto(port)
    try:
        blobs = work / "blobs"
        t0 = time.perf_counter()
        digests = make_blobs(blobs, args.files, args.size)
        total = sum(p.stat().st_size for p in (blobs / "sha256").rglob("*") if p.is_file())
        print(
            f"generated {len(digests)} files, {total / 1e6:.1f} MB in {time.perf_counter() - t0:.1f} s"
        )

        admin = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        for bucket in ("photosync-bench", "rclone-bench"):
            admin.create_bucket(Bucket=bucket)

        def run_photosync() -> float:
            source = LocalBlobStore(blobs, name="local")
            target = S3BlobStore(
                "bench",
                "photosync-bench",
                endpoint_url=endpoint,
                region="us-east-1",
                addressing_style="path",
                max_concurrency=args.workers,
            )
            start = time.perf_counter()
            report = copy_missing_blobs(digests, source, [target], workers=args.workers)
            elapsed = time.perf_counter() - start
            if not report.ok or report.copied_count != len(digests):
                raise SystemExit(f"photosync copy incomplete: {report.failed}")
            return elapsed

        def run_rclone() -> float:
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
            # plain HTTP on loopback: a CA bundle from the environment only breaks rclone
            rclone_env.pop("AWS_CA_BUNDLE", None)
            command = [
                "rclone",
                "copy",
                str(blobs / "sha256"),
                "bench:rclone-bench/sha256",
                "--transfers",
                str(transfers),
                "--checkers",
                str(2 * transfers),
                "--s3-no-check-bucket",
            ]
            start = time.perf_counter()
            subprocess.run(command, env=rclone_env, check=True, stdout=subprocess.DEVNULL)
            return time.perf_counter() - start

        if args.order == "rclone-first":
            rclone_time = run_rclone()
            photosync_time = run_photosync()
        else:
            photosync_time = run_photosync()
            rclone_time = run_rclone()

        got_p = count_objects(admin, "photosync-bench")
        got_r = count_objects(admin, "rclone-bench")
        if got_p != len(digests) or got_r != len(digests):
            raise SystemExit(
                f"incomplete copies: photosync {got_p}, rclone {got_r}, want {len(digests)}"
            )
        print(f"photosync copy ({args.workers} workers): {photosync_time:.2f} s")
        print(f"rclone copy (--transfers {transfers}):   {rclone_time:.2f} s")
        ratio = photosync_time / rclone_time
        print(
            f"ratio photosync/rclone: {ratio:.2f} ({'meets' if ratio <= 1 else 'misses'} target <= 1.0)"
        )
        return 0 if ratio <= 1 else 1
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
