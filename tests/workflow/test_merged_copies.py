"""Hole 1 (lose no data): the copies resolve joins into a record are originals too.

A record that joined quality variants holds several blobs: its own ``content_hash``
and every merged copy's (``record_hashes``). Each is copied to every location,
listed, verified, repaired and counted, exactly like the record's own.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from tests.helpers import assert_check_clean, records, run_cli
from tests.workflow.test_identity_resolution import _photo, _reencode

PREFIX = "photos"


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _s3_listing(admin: Any, bucket: str) -> dict[str, int]:
    page = admin.list_objects_v2(Bucket=bucket, Prefix=PREFIX + "/")
    return {item["Key"].rsplit("/", 1)[1]: item["Size"] for item in page.get("Contents", [])}


def _merged_archive(tmp_path: Path, endpoint: str, bucket: str) -> tuple[Path, dict[str, bytes]]:
    """An original and a recompressed copy, discovered, resolved, replicated to S3."""
    original = _photo(tmp_path / "phone", 1)
    copy = _reencode(original, tmp_path / "google" / original.name)
    root = tmp_path / "archive"
    _ok("init", str(root))
    for name in ("phone", "google"):
        _ok("--archive", str(root), "service", "add", name, "--type", "local",
            "--path", str(tmp_path / name))  # fmt: skip
    _ok("--archive", str(root), "discover")
    _ok("--archive", str(root), "resolve", "--auto-resolve", "simple")
    (record,) = records(root)
    hashes = {record["content_hash"]} | {
        i["content_hash"] for insts in record["instances"].values() for i in insts
    }
    assert len(hashes) == 2  # the record holds both copies' blobs
    _ok(
        "--archive", str(root), "storage", "add", "cloud", "--type", "s3", "--bucket", bucket,
        "--prefix", PREFIX, "--endpoint", endpoint, "--region", "us-east-1",
        "--addressing-style", "path",
    )  # fmt: skip
    _ok("--archive", str(root), "replicate", "--execute")
    truth = {
        hashlib.sha256(path.read_bytes()).hexdigest(): path.read_bytes()
        for path in (original, copy)
    }
    return root, truth


def test_merged_copy_survives_losing_the_local_blobs(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root, truth = _merged_archive(tmp_path, s3_endpoint, s3_bucket)
    listing = _s3_listing(s3_admin, s3_bucket)
    for digest, data in truth.items():  # both copies are in S3, at their size
        assert listing.get(digest) == len(data)
    (record,) = records(root)
    assert [loc["store"] for loc in record["blob_locations"]] == ["cloud", "local"]
    assert_check_clean(root)

    shutil.rmtree(root / "blobs")
    found = run_cli("--archive", str(root), "verify", "--json")
    assert found.exit_code == 6
    report = json.loads(found.stdout)
    assert sorted(report["locations"]["local"]["missing"]) == sorted(truth)
    assert report["blobs"] == 2

    repaired = run_cli("--archive", str(root), "verify", "--repair", "--json")
    assert repaired.exit_code == 0, repaired.output
    assert sorted(json.loads(repaired.stdout)["locations"]["local"]["restored"]) == sorted(truth)
    for digest, data in truth.items():  # bit-exact, both of them
        assert (root / "blobs" / "sha256" / digest[:2] / digest).read_bytes() == data
    assert_check_clean(root, "--read-data")


def test_merged_copy_is_verified_by_read_data_and_counted(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root, truth = _merged_archive(tmp_path, s3_endpoint, s3_bucket)
    (record,) = records(root)
    merged = next(d for d in truth if f"sha256:{d}" != record["content_hash"])
    key = f"{PREFIX}/sha256/{merged[:2]}/{merged}"
    data = bytearray(truth[merged])
    data[len(data) // 2] ^= 0xFF
    s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))
    found = run_cli("--archive", str(root), "verify", "--read-data", "--json")
    assert found.exit_code == 6
    assert list(json.loads(found.stdout)["locations"]["cloud"]["corrupt"]) == [merged]
    _ok("--archive", str(root), "verify", "--repair")
    body = s3_admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert body == truth[merged]
    status = json.loads(_ok("--archive", str(root), "status", "--json").stdout)
    assert status["originals"] == 2
    assert status["originals_bytes"] == sum(len(d) for d in truth.values())
    assert_check_clean(root, "--read-data")


def test_merged_copy_cut_short_in_s3_is_replaced_by_replicate(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    """The record says no size for a merged copy: the blob pass compares the S3 listing's
    size with the archive's own store's, so an object cut short is found and replaced
    (not taken for present, and the record does not name S3 for it meanwhile)."""
    root, truth = _merged_archive(tmp_path, s3_endpoint, s3_bucket)
    (record,) = records(root)
    merged = next(d for d in truth if f"sha256:{d}" != record["content_hash"])
    key = f"{PREFIX}/sha256/{merged[:2]}/{merged}"
    for full, cut in (([], 2), (["--full"], 3)):  # incremental (summary cache), then full
        s3_admin.put_object(
            Bucket=s3_bucket, Key=key, Body=truth[merged][: len(truth[merged]) // cut]
        )
        found = run_cli("--archive", str(root), "verify", "--json")
        assert found.exit_code == 6
        assert list(json.loads(found.stdout)["locations"]["cloud"]["corrupt"]) == [merged]
        _ok("--archive", str(root), "replicate", "--execute", *full)
        assert _s3_listing(s3_admin, s3_bucket)[merged] == len(truth[merged])
        body = s3_admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
        assert body == truth[merged]
        (record,) = records(root)
        assert [loc["store"] for loc in record["blob_locations"]] == ["cloud", "local"]
        _ok("--archive", str(root), "verify")
    assert_check_clean(root, "--read-data")
