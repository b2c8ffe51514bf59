"""Issue 14 part 1, ``photosync restore``, and the drill "the machine is lost".

A real archive is replicated to a real S3 endpoint (moto server); the machine is
then "lost": only a ``git clone`` of the archive and the bucket remain. Restore
runs as a subprocess, then ``verify --read-data`` and ``check`` must be clean
and every original (merged copies included) byte-identical to the photo files.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive
from photosync.blobstore.local import LocalBlobStore
from photosync.errors import BlobError
from photosync.workflow.restore import fetch_into
from tests.chaos.harness import run, run_and_kill
from tests.helpers import assert_check_clean, make_library, records, run_cli
from tests.workflow.test_identity_resolution import _photo, _reencode

PREFIX = "photos"


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _s3(root: Path, name: str, endpoint: str, bucket: str) -> None:
    _ok(
        "--archive", str(root), "storage", "add", name, "--type", "s3", "--bucket", bucket,
        "--prefix", PREFIX, "--endpoint", endpoint, "--region", "us-east-1",
        "--addressing-style", "path",
    )  # fmt: skip


def _replicated(
    tmp_path: Path, endpoint: str, bucket: str, count: int = 6
) -> tuple[Path, dict[str, bytes]]:
    """A library (one photo also as a recompressed copy resolve merges), on S3; the truth."""
    files = make_library(tmp_path / "phone", count)
    original = _photo(tmp_path / "phone", 1)
    files += [original, _reencode(original, tmp_path / "google" / original.name)]
    root = tmp_path / "archive"
    _ok("init", str(root))
    for name in ("phone", "google"):
        _ok("--archive", str(root), "service", "add", name, "--type", "local",
            "--path", str(tmp_path / name))  # fmt: skip
    _ok("--archive", str(root), "discover")
    _ok("--archive", str(root), "resolve", "--auto-resolve", "simple")
    _s3(root, "cloud", endpoint, bucket)
    _ok("--archive", str(root), "replicate", "--execute")
    truth = {hashlib.sha256(p.read_bytes()).hexdigest(): p.read_bytes() for p in files}
    merged = [r for r in records(root) if len(_hashes(r)) > 1]
    assert merged, "the drill needs a record holding a merged copy"
    return root, truth


def _hashes(record: dict[str, Any]) -> set[str]:
    return {record["content_hash"]} | {
        i["content_hash"] for insts in record["instances"].values() for i in insts
    }


def _clone(root: Path, to: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(root), str(to)], check=True)
    return to


def _local_blobs(root: Path) -> dict[str, bytes]:
    folder = root / "blobs" / "sha256"
    if not folder.is_dir():
        return {}
    return {p.name: p.read_bytes() for p in folder.glob("*/*")}


def test_machine_lost_clone_and_restore_from_s3(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    root, truth = _replicated(tmp_path, s3_endpoint, s3_bucket)
    head = run(root, "check", "--json")  # the original machine is consistent
    clone = _clone(root, tmp_path / "new-machine")
    shutil.rmtree(root)  # the machine is lost
    assert not (clone / "blobs").exists()

    planned = json.loads(run(clone, "restore", "--dry-run", "--json").stdout)
    assert {item["digest"] for item in planned["would_restore"]} == set(truth)
    assert {item["source"] for item in planned["would_restore"]} == {"cloud"}
    assert _local_blobs(clone) == {}  # a dry run fetches nothing

    done = json.loads(run(clone, "restore", "--json").stdout)
    assert done["ok"] and done["originals"] == len(truth)
    assert {item["digest"] for item in done["restored"]} == set(truth)
    assert _local_blobs(clone) == truth  # every original, bit-exact, nothing more

    verified = json.loads(run(clone, "verify", "--read-data", "--json").stdout)
    assert verified["blobs"] == len(truth)
    again = run(clone, "restore")
    assert "nothing to do" in again.stdout
    assert run(clone, "status").returncode == 0
    assert json.loads(head.stdout)["ok"]
    assert_check_clean(clone, "--read-data")


def test_restore_only_from_and_what_nothing_has(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root, truth = _replicated(tmp_path, s3_endpoint, s3_bucket, count=4)
    shutil.rmtree(root / "blobs")
    by_year: dict[str, set[str]] = {}
    for record in records(root):
        by_year.setdefault(record["metadata"]["taken_date"][:4], set()).update(
            h.removeprefix("sha256:") for h in _hashes(record)
        )
    year = sorted(by_year)[0]
    only = json.loads(run(root, "restore", "--only", year, "--from", "cloud", "--json").stdout)
    assert {item["digest"] for item in only["restored"]} == by_year[year]
    assert set(_local_blobs(root)) == by_year[year]

    # one original is gone from the bucket too: restore ends saying so, exit 4
    lost = sorted(set(truth) - by_year[year])[0]
    s3_admin.delete_object(Bucket=s3_bucket, Key=f"{PREFIX}/sha256/{lost[:2]}/{lost}")
    partial = run(root, "restore", "--json", expect=4)
    report = json.loads(partial.stdout)
    assert [item["digest"] for item in report["missing"]] == [lost]
    assert report["missing"][0]["locations"] == {"cloud": "absent"}
    assert set(_local_blobs(root)) == set(truth) - {lost}
    shown = run(root, "restore", expect=4)
    assert "missing everywhere" in shown.stderr and lost[:12] in shown.stderr

    unknown = run(root, "restore", "--from", "nowhere", expect=3)
    assert "no storage location named nowhere" in unknown.stderr


def test_a_corrupt_copy_is_refused_and_the_next_location_used(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root, truth = _replicated(tmp_path, s3_endpoint, s3_bucket, count=2)
    second = f"{s3_bucket}-b"
    s3_admin.create_bucket(Bucket=second)
    _s3(root, "cloud2", s3_endpoint, second)
    _ok("--archive", str(root), "replicate", "--execute")
    shutil.rmtree(root / "blobs")
    victim = sorted(truth)[0]
    key = f"{PREFIX}/sha256/{victim[:2]}/{victim}"
    flipped = bytearray(truth[victim])
    flipped[len(flipped) // 2] ^= 0xFF  # same size: the listing cannot tell
    s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=bytes(flipped))
    done = json.loads(run(root, "restore", "--json").stdout)
    assert {i["digest"]: i["source"] for i in done["restored"]}[victim] == "cloud2"
    assert _local_blobs(root) == truth

    shutil.rmtree(root / "blobs")
    s3_admin.put_object(Bucket=second, Key=key, Body=bytes(flipped))
    failed = json.loads(run(root, "restore", "--json", expect=4).stdout)
    assert [item["digest"] for item in failed["failed"]] == [victim]
    assert "corrupt" in failed["failed"][0]["error"]
    assert victim not in _local_blobs(root)  # bad bytes never become a blob
    assert not list((root / "blobs" / "tmp").glob("*"))
    s3_admin.put_object(Bucket=second, Key=key, Body=truth[victim])
    run(root, "restore")
    assert _local_blobs(root) == truth
    # restore never writes to the other locations: the corrupt copy in cloud is verify's
    assert run(root, "verify", "--read-data", expect=6)
    run(root, "verify", "--read-data", "--repair")
    assert_check_clean(root, "--read-data")


def test_kill_during_restore_then_rerun_leaves_nothing_missing_or_doubled(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    root, truth = _replicated(tmp_path, s3_endpoint, s3_bucket, count=40)
    trials = int(os.environ.get("PHOTOSYNC_CHAOS_TRIALS", "3"))
    killed = 0
    for trial in range(trials):
        shutil.rmtree(root / "blobs", ignore_errors=True)
        threshold = 1 + trial * len(truth) // (trials + 1)
        killed += run_and_kill(
            root, ["restore"], lambda t=threshold: len(_local_blobs(root)) >= t
        ).reached
        assert all(  # whatever is there under its name is complete and right
            hashlib.sha256(data).hexdigest() == name for name, data in _local_blobs(root).items()
        )
        run(root, "restore")
        assert _local_blobs(root) == truth
        assert not list((root / "blobs" / "tmp").glob("ingest-*"))  # swept by the re-run
    assert killed, "no trial was killed while restoring: the drill proved nothing"
    assert_check_clean(root, "--read-data")


class _PresignedStream:
    """A store's stream that fails the way a presigned download does: the library's
    message quotes the URL, signature and all."""

    def __enter__(self) -> _PresignedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def read(self, _size: int = -1) -> bytes:
        raise RuntimeError(
            "Connection broken: https://b.example.com/k?X-Amz-Credential=AKIDPRESIGN1"
            "&X-Amz-Signature=SigValue0123456789&X-Amz-Security-Token=SessTok0123"
        )


def test_a_failing_stream_is_reported_without_the_urls_credentials(tmp_path: Path) -> None:
    """restore quoted a store's own exception verbatim, presigned URL included."""

    class Presigned(LocalBlobStore):
        def open(self, digest: str) -> Any:
            return _PresignedStream()

    archive = Archive.init(tmp_path / "a")
    archive.close()
    local = LocalBlobStore(archive.root / "blobs")
    source = Presigned(tmp_path / "elsewhere", name="presigned")
    digest = hashlib.sha256(b"x").hexdigest()
    try:
        fetch_into(local, digest, [source])
    except BlobError as error:
        shown = str(error)
    else:
        raise AssertionError("a failing stream gave no error")
    assert "presigned: RuntimeError" in shown
    for value in ("AKIDPRESIGN1", "SigValue0123456789", "SessTok0123"):
        assert value not in shown
    assert_check_clean(archive.root)
