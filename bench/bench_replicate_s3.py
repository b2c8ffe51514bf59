"""Benchmark: `photosync replicate --execute` / `verify` against rclone, on one loopback moto server.

What a user runs, as processes, side by side in one interleaved run (median of N rounds,
min too: the machine is shared, so one round says little):

* ``photosync replicate --execute`` of an archive whose originals are not yet in
  its S3 location  vs  ``rclone copy`` of the same blob tree (rclone's defaults);
* ``photosync verify`` (listing, sizes)  vs  ``rclone check --size-only``;
* ``photosync verify --read-data``  vs  ``rclone check --download`` (photosync hashes each
  blob's local copy and compares the bucket's with it; rclone only compares).

Profiles: ``small`` 2,000 x 100 KB, ``large`` 200 x 20 MB (multipart). Each round
copies the discovered template archive (blobs hard-linked, nothing else shared),
adds a fresh bucket as its location (not timed), then times the commands; the
rclone round copies into its own fresh bucket. Buckets are emptied after each
round (moto keeps objects in memory). Both sides use their defaults: photosync's
``max_parallel_uploads`` (4; verify re-reads 8 blobs at a time), rclone's ``--transfers 4
--checkers 8``. photosync runs from compiled bytecode, as installed by pip. Besides wall
times, each step's CPU seconds are kept, the command's and the moto server's: on a
shared 2-core machine both sides are often CPU-bound, and CPU tells them apart where
wall times are noise.

    python bench/bench_replicate_s3.py [--profile small|large|all] [--rounds 3] [--scale 1.0]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import boto3
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_discover import generate

KEY_ID = "benchkey"
SECRET = "benchsecret"  # a dummy for the loopback moto server only
PROFILES = {"small": (2000, 100_000), "large": (200, 20_000_000)}
_COMPILE = (
    "import compileall, os, photosync; compileall.compile_dir(os.path.dirname(photosync.__file__))"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_moto(port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1):
                return process
        except (urllib.error.URLError, ConnectionError, OSError):
            if process.poll() is not None:
                raise SystemExit("moto_server exited during start-up") from None
            time.sleep(0.05)
    process.terminate()
    raise SystemExit("moto_server did not start within 60 s")


def photosync(archive: Path, *args: str, env: dict[str, str]) -> float:
    """Wall time of one `photosync` process; exit 0 demanded."""
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(archive), "-q", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"photosync {' '.join(args)} exited {done.returncode}:\n{done.stderr}")
    return elapsed


def rclone(args: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(["rclone", *args], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def children_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int) -> float:
    """CPU seconds of a running process (the moto server), 0 where /proc cannot tell."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def clone_archive(template: Path, dest: Path) -> None:
    """A copy of the archive whose blobs are hard links (read-only files, never written)."""
    dest.mkdir()
    for child in template.iterdir():
        if child.name == "blobs":
            subprocess.run(["cp", "-al", str(child), str(dest / "blobs")], check=True)
        elif child.is_dir():
            shutil.copytree(child, dest / child.name, symlinks=True)
        else:
            shutil.copy2(child, dest / child.name)


def empty_bucket(admin: object, bucket: str) -> None:
    paginator = admin.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    for page in paginator.paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            admin.delete_objects(Bucket=bucket, Delete={"Objects": keys})  # type: ignore[attr-defined]
    admin.delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]


def count_objects(admin: object, bucket: str, prefix: str) -> int:
    paginator = admin.get_paginator("list_objects_v2")  # type: ignore[attr-defined]
    return sum(
        len(page.get("Contents", [])) for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
    )


def run_profile(name: str, args: argparse.Namespace, work: Path) -> dict[str, object]:
    count, size = PROFILES[name]
    count = max(4, int(count * args.scale))
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    env = dict(
        os.environ,
        AWS_ACCESS_KEY_ID=KEY_ID,
        AWS_SECRET_ACCESS_KEY=SECRET,
        AWS_DEFAULT_REGION="us-east-1",
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
        RCLONE_CONFIG=str(work / "rclone-absent.conf"),
        RCLONE_CONFIG_BENCH_TYPE="s3",
        RCLONE_CONFIG_BENCH_PROVIDER="Other",
        RCLONE_CONFIG_BENCH_ENDPOINT=endpoint,
        RCLONE_CONFIG_BENCH_ACCESS_KEY_ID=KEY_ID,
        RCLONE_CONFIG_BENCH_SECRET_ACCESS_KEY=SECRET,
        RCLONE_CONFIG_BENCH_REGION="us-east-1",
        RCLONE_CONFIG_BENCH_FORCE_PATH_STYLE="true",
        # keys and caches of this run stay in its temp dir
        PHOTOSYNC_CONFIG_DIR=str(work / "config"),
        PHOTOSYNC_KEYRING="file",
        AWS_CONFIG_FILE=str(work / "aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-credentials"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    env.pop("AWS_CA_BUNDLE", None)  # plain HTTP on loopback
    # photosync as a user has it installed: pip compiles its bytecode, so no run compiles
    # the sources again (a dev shell's PYTHONDONTWRITEBYTECODE=1 costs every process ~0.5 s
    # that rclone, one binary, never pays)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run(
        [sys.executable, "-c", _COMPILE],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    library = work / f"{name}-library"
    t0 = time.perf_counter()
    total = generate(library, count, size)
    template = work / f"{name}-template"
    subprocess.run(
        [sys.executable, "-m", "photosync", "init", str(template)],
        check=True,
        capture_output=True,
        env=env,
    )
    add = ["service", "add", "lib", "--type", "local", "--path", str(library)]
    photosync(template, *add, env=env)
    photosync(template, "discover", env=env)
    shutil.rmtree(library)  # the blobs are what is copied
    blobs = template / "blobs" / "sha256"
    print(
        f"[{name}] {count} photos, {total / 1e6:.0f} MB, archive ready in "
        f"{time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    server = start_moto(port, env)
    admin = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=KEY_ID,
        aws_secret_access_key=SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )
    times: dict[str, list[float]] = {
        k: [] for k in ("replicate", "rclone_copy", "verify", "rclone_size", "read", "rclone_read")
    }
    cpu: dict[str, list[float]] = {k: [] for k in times}  # the command's own
    server_cpu: dict[str, list[float]] = {k: [] for k in times}  # moto's meanwhile
    try:
        for round_no in range(args.rounds):
            archive = work / f"{name}-round{round_no}"
            clone_archive(template, archive)
            ours, theirs = f"ps-{name}-{round_no}", f"rc-{name}-{round_no}"
            for bucket in (ours, theirs):
                admin.create_bucket(Bucket=bucket)
            photosync(
                archive,
                *("storage", "add", "s3", "--type", "s3", "--bucket", ours, "--endpoint"),
                *(endpoint, "--region", "us-east-1", "--addressing-style", "path"),
                env=env,
            )
            subprocess.run(["sync"], check=True)
            remote = f"bench:{theirs}/sha256"
            steps: list[tuple[str, Callable[[], float]]] = [
                ("replicate", lambda a=archive: photosync(a, "replicate", "--execute", env=env)),
                ("rclone_copy", lambda r=remote: rclone(["copy", str(blobs), r], env)),
                ("verify", lambda a=archive: photosync(a, "verify", env=env)),
                (
                    "rclone_size",
                    lambda r=remote: rclone(["check", "--size-only", str(blobs), r], env),
                ),
                ("read", lambda a=archive: photosync(a, "verify", "--read-data", env=env)),
                (
                    "rclone_read",
                    lambda r=remote: rclone(["check", "--download", str(blobs), r], env),
                ),
            ]
            # interleave: alternate who goes first in each pair, round by round
            for first in range(0, len(steps), 2):
                pair = steps[first : first + 2]
                if round_no % 2:
                    pair = pair[::-1]
                for key, step in pair:
                    before, served = children_cpu(), process_cpu(server.pid)
                    times[key].append(step())
                    cpu[key].append(children_cpu() - before)
                    server_cpu[key].append(process_cpu(server.pid) - served)
            got = count_objects(admin, ours, "sha256/"), count_objects(admin, theirs, "sha256/")
            if got != (count, count):
                raise SystemExit(f"incomplete copies (photosync, rclone): {got}, want {count}")
            line = ", ".join(
                f"{k} {v[-1]:.2f} (cpu {cpu[k][-1]:.1f} + server {server_cpu[k][-1]:.1f})"
                for k, v in times.items()
            )
            print(f"[{name}] round {round_no + 1}: {line}", flush=True)
            for bucket in (ours, theirs):
                empty_bucket(admin, bucket)
            shutil.rmtree(archive)
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        shutil.rmtree(template, ignore_errors=True)
    best = {k: min(v) for k, v in times.items()}
    middle = {k: statistics.median(v) for k, v in times.items()}
    return {
        "profile": name,
        "photos": count,
        "bytes": total,
        "rounds": args.rounds,
        "median_s": middle,
        "min_s": best,
        "all_s": times,
        "median_cpu_s": {k: statistics.median(v) for k, v in cpu.items()},
        "median_server_cpu_s": {k: statistics.median(v) for k, v in server_cpu.items()},
        "replicate_vs_rclone_copy": middle["replicate"] / middle["rclone_copy"],
        "verify_vs_rclone_size_only": middle["verify"] / middle["rclone_size"],
        "read_data_vs_rclone_download": middle["read"] / middle["rclone_read"],
        "min_ratios": {
            "replicate_vs_rclone_copy": best["replicate"] / best["rclone_copy"],
            "verify_vs_rclone_size_only": best["verify"] / best["rclone_size"],
            "read_data_vs_rclone_download": best["read"] / best["rclone_read"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", choices=[*PROFILES, "all"], default="all")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the photo count")
    parser.add_argument("--workdir", type=Path, help="where to build (default: a temp dir)")
    args = parser.parse_args()
    if shutil.which("rclone") is None:
        raise SystemExit("rclone is not installed (apt-get install rclone)")
    met = True
    with tempfile.TemporaryDirectory(prefix="bench-s3-", dir=args.workdir) as tmp:
        for name in PROFILES if args.profile == "all" else [args.profile]:
            result = run_profile(name, args, Path(tmp))
            print(json.dumps(result, indent=2), flush=True)
            for key, target in (
                ("replicate_vs_rclone_copy", 1.0),
                ("verify_vs_rclone_size_only", 2.0),
                ("read_data_vs_rclone_download", 1.1),
            ):
                ratio = float(result[key])  # type: ignore[arg-type]
                ok = ratio <= target
                met &= ok
                print(
                    f"[{name}] {key} (medians): {ratio:.2f} (target <= {target}: {'met' if ok else 'NOT met'})"
                )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
