"""Issue 3 as a user runs it: add an S3 location, replicate, break copies by hand,
``verify`` reports exactly that, ``verify --repair`` brings them back.

The S3 location is a moto server on 127.0.0.1 (fixtures shared with tests/blobstore).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.archive import PREFERENCES_FILE
from photosync.workflow.verify import ArchiveVerifyReport, _select_reads, parse_share
from tests.helpers import assert_check_clean, git_clean, git_log, make_library, records, run_cli

PREFIX = "photos"


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _discovered(tmp_path: Path, count: int) -> str:
    """init, a local library of ``count`` photos as service 'phone', discover."""
    root = str(tmp_path / "archive")
    _ok("init", root)
    make_library(tmp_path / "lib", count)
    _ok(
        "--archive",
        root,
        "service",
        "add",
        "phone",
        "--type",
        "local",
        "--path",
        str(tmp_path / "lib"),
    )
    _ok("--archive", root, "discover")
    return root


def _archive(tmp_path: Path, endpoint: str, bucket: str, count: int = 4) -> str:
    """init, a local library, discover, resolve, an S3 location, replicate --execute."""
    root = _discovered(tmp_path, count)
    _ok("--archive", root, "resolve", "--auto-resolve", "simple")
    _ok(
        "--archive",
        root,
        "storage",
        "add",
        "cloud",
        "--type",
        "s3",
        "--bucket",
        bucket,
        "--prefix",
        PREFIX,
        "--endpoint",
        endpoint,
        "--region",
        "us-east-1",
        "--addressing-style",
        "path",
    )
    _ok("--archive", root, "replicate", "--execute")
    return root


def _digests(root: str) -> list[str]:
    return sorted(r["content_hash"].removeprefix("sha256:") for r in records(Path(root)))


def _local_blob(root: str, digest: str) -> Path:
    return Path(root) / "blobs" / "sha256" / digest[:2] / digest


def _s3_key(digest: str) -> str:
    return f"{PREFIX}/sha256/{digest[:2]}/{digest}"


def _s3_listing(admin: Any, bucket: str) -> dict[str, int]:
    """The originals in the bucket (the archive's own copy is under archive/, beside them)."""
    page = admin.list_objects_v2(Bucket=bucket, Prefix=PREFIX + "/sha256/")
    return {item["Key"].rsplit("/", 1)[1]: item["Size"] for item in page.get("Contents", [])}


def _corrupt_s3(admin: Any, bucket: str, digest: str) -> None:
    """Same size, one byte flipped: only re-reading the bytes can tell."""
    data = bytearray(admin.get_object(Bucket=bucket, Key=_s3_key(digest))["Body"].read())
    data[len(data) // 2] ^= 0xFF
    admin.put_object(Bucket=bucket, Key=_s3_key(digest), Body=bytes(data))


def _delete_local(root: str, digest: str) -> None:
    path = _local_blob(root, digest)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.unlink()


def _verify(root: str, *args: str) -> tuple[int, dict[str, Any]]:
    result = run_cli("--archive", root, "verify", "--json", *args)
    return result.exit_code, json.loads(result.stdout)


def _locations_of(root: str) -> dict[str, list[str]]:
    return {
        r["content_hash"].removeprefix("sha256:"): sorted(
            loc["store"] for loc in r["blob_locations"]
        )
        for r in records(Path(root))
    }


def test_add_s3_replicate_break_verify_repair(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root = _archive(tmp_path, s3_endpoint, s3_bucket)
    digests = _digests(root)
    assert len(digests) == 4

    # replicate put every original in both locations, and the records say so
    listing = _s3_listing(s3_admin, s3_bucket)
    assert sorted(listing) == digests
    for digest in digests:
        assert hashlib.sha256(_local_blob(root, digest).read_bytes()).hexdigest() == digest
        assert listing[digest] == _local_blob(root, digest).stat().st_size
    assert all(v == ["cloud", "local"] for v in _locations_of(root).values())
    for record in records(Path(root)):
        assert record["source_of_truth_path"]
        cloud = next(loc for loc in record["blob_locations"] if loc["store"] == "cloud")
        assert cloud["locator"] == f"s3://{s3_bucket}/{_s3_key(record['content_hash'][7:])}"
    assert "to cloud" in git_log(Path(root))[0] and git_clean(Path(root))
    assert not (Path(root) / ".photosync" / "journal" / "blob-copies.jsonl").exists()
    configured = json.loads(_ok("--archive", root, "storage", "list", "--json").stdout)["locations"]
    assert [loc["name"] for loc in configured] == ["local", "cloud"]
    assert "secret" not in (Path(root) / PREFERENCES_FILE).read_text().lower()

    code, report = _verify(root)
    assert code == 0 and report["ok"] and report["problems"] == 0
    assert (
        report["locations"]["cloud"]["present"] == 4
        and report["locations"]["local"]["present"] == 4
    )
    again = _ok("--archive", root, "replicate", "--execute", "--json")
    assert "cloud:copy_original" not in json.loads(again.stdout)["done"]

    # break one copy in each location by hand
    gone, rotten = digests[0], digests[1]
    _delete_local(root, gone)
    _corrupt_s3(s3_admin, s3_bucket, rotten)

    code, report = _verify(root)  # sizes and presence only: exactly the missing local copy
    assert code == 6 and not report["ok"]
    assert report["locations"]["local"]["missing"] == [gone]
    assert report["locations"]["local"]["corrupt"] == {}
    assert (
        report["locations"]["cloud"]["missing"] == []
        and report["locations"]["cloud"]["corrupt"] == {}
    )
    assert report["invalid_records"] == [] and report["problems"] == 1
    # checking never writes: the records and git are as they were (issue 11, defect 8)
    assert _locations_of(root)[gone] == ["cloud", "local"]
    assert not git_log(Path(root))[0].startswith("verify: ") and git_clean(Path(root))
    human = run_cli("--archive", root, "verify")
    assert (
        human.exit_code == 6
        and f"in local: sha256:{gone}" in human.output
        and "--repair" in human.output
    )

    code, report = _verify(root, "--read-data")  # re-hashing finds the flipped byte too
    assert code == 6
    assert report["locations"]["local"]["missing"] == [gone]
    assert list(report["locations"]["cloud"]["corrupt"]) == [rotten]
    assert (
        report["locations"]["local"]["corrupt"] == {}
        and report["locations"]["cloud"]["missing"] == []
    )
    assert report["read_data"] == {"mode": "all", "blobs": 4} and report["problems"] == 2

    code, report = _verify(root, "--repair")  # the suspect from the last run is re-read and fixed
    assert code == 0, report
    assert report["locations"]["local"]["restored"] == [gone]
    assert report["locations"]["cloud"]["restored"] == [rotten]
    assert hashlib.sha256(_local_blob(root, gone).read_bytes()).hexdigest() == gone
    body = s3_admin.get_object(Bucket=s3_bucket, Key=_s3_key(rotten))["Body"].read()
    assert hashlib.sha256(body).hexdigest() == rotten
    assert all(v == ["cloud", "local"] for v in _locations_of(root).values())

    code, report = _verify(root, "--read-data")
    assert code == 0 and report["ok"] and report["locations"]["cloud"]["read"] == 4
    clean = run_cli("--archive", root, "verify")
    assert clean.exit_code == 0 and "all good" in clean.output
    assert_check_clean(root)


def test_repair_refuses_a_blob_with_no_good_copy(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=3)
    lost, other = _digests(root)[:2]
    _delete_local(root, lost)
    s3_admin.delete_object(Bucket=s3_bucket, Key=_s3_key(lost))
    _delete_local(root, other)  # this one can still be repaired from the bucket

    code, report = _verify(root, "--repair")
    assert code == 6
    assert report["locations"]["local"]["restored"] == [other]
    assert list(report["locations"]["local"]["refused"]) == [lost]
    assert list(report["locations"]["cloud"]["refused"]) == [lost]
    assert "no good copy" in report["locations"]["local"]["refused"][lost]
    assert report["locations"]["local"]["still_missing"] == [lost]
    assert not _local_blob(root, lost).exists() and lost not in _s3_listing(s3_admin, s3_bucket)
    human = run_cli("--archive", root, "verify", "--repair")
    assert human.exit_code == 6
    assert "not repaired" in human.output and "no good copy" in human.output
    assert _locations_of(root)[lost] == []
    # what check says to run: the library still has it, a full scan reads it again
    _ok("--archive", root, "discover", "--full-scan")
    _ok("--archive", root, "replicate", "--execute")
    assert _locations_of(root)[lost] == ["cloud", "local"]
    assert_check_clean(root)


def _rot_local(root: str, digest: str) -> None:
    """Same size, one byte flipped in the local copy (the one verify hashes)."""
    path = _local_blob(root, digest)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


def test_read_data_tells_which_copy_rotted_when_the_hashed_one_did(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    # verify hashes the local copy and compares the bucket's with it: a rotten local
    # copy must not make the good one in the bucket look bad, nor hide a bad one there
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=4)
    local_only, both, cloud_only, fine = _digests(root)
    _rot_local(root, local_only)
    _rot_local(root, both)
    _corrupt_s3(s3_admin, s3_bucket, both)
    _corrupt_s3(s3_admin, s3_bucket, cloud_only)

    code, report = _verify(root, "--read-data")
    assert code == 6
    local, cloud = report["locations"]["local"], report["locations"]["cloud"]
    assert sorted(local["corrupt"]) == sorted([local_only, both])
    assert sorted(cloud["corrupt"]) == sorted([both, cloud_only])
    assert local["read"] == cloud["read"] == 4 and local["present"] == cloud["present"] == 2
    assert fine not in local["corrupt"] and fine not in cloud["corrupt"]

    code, report = _verify(root, "--repair")  # the suspects are re-read, then mended
    assert code == 6, report
    local, cloud = report["locations"]["local"], report["locations"]["cloud"]
    assert local["restored"] == [local_only] and cloud["restored"] == [cloud_only]
    assert list(local["refused"]) == [both] and list(cloud["refused"]) == [both]
    assert hashlib.sha256(_local_blob(root, local_only).read_bytes()).hexdigest() == local_only
    body = s3_admin.get_object(Bucket=s3_bucket, Key=_s3_key(cloud_only))["Body"].read()
    assert hashlib.sha256(body).hexdigest() == cloud_only
    quarantined = list((Path(root) / "blobs" / "quarantine").iterdir())
    assert len(quarantined) == 1  # the rotten local copy, moved aside, never deleted
    code, report = _verify(root, "--read-data")
    assert list(report["locations"]["local"]["corrupt"]) == [both]
    assert list(report["locations"]["cloud"]["corrupt"]) == [both]


def test_invalid_record_files_are_reported_not_fatal(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=3)
    files = sorted((Path(root) / "photos").rglob("*.json"))
    original = files[0].read_text()
    record = json.loads(original)
    record["processing_state"] = "half-done"
    del record["media"]
    files[0].write_text(json.dumps(record))
    garbage = Path(root) / "photos" / "2020" / "01" / "garbage.json"
    garbage.parent.mkdir(parents=True)
    garbage.write_text("{ this is not json")
    subprocess.run(["git", "-C", root, "add", "-A"], check=True, capture_output=True)
    subprocess.run(
        ["git", "-C", root, "commit", "-qm", "hand edit"], check=True, capture_output=True
    )

    result = run_cli("--archive", root, "verify", "--json")
    assert result.exit_code == 6
    report = json.loads(result.stdout)
    by_path = {r["path"]: r["problems"] for r in report["invalid_records"]}
    assert sorted(by_path) == sorted(str(p.relative_to(root)) for p in (files[0], garbage))
    assert any("not valid JSON" in p for p in by_path[str(garbage.relative_to(root))])
    assert any("processing_state" in p for p in by_path[str(files[0].relative_to(root))])
    assert any("media" in p for p in by_path[str(files[0].relative_to(root))])
    assert report["records"] == 2 and report["locations"]["local"]["orphans"] == []
    assert all(found["missing"] == [] for found in report["locations"].values())
    human = run_cli("--archive", root, "verify")
    assert (
        human.exit_code == 6
        and "invalid record" in human.output
        and "Traceback" not in human.output
    )

    # once the files are fixed the index is rebuilt and everything is counted again
    garbage.unlink()
    files[0].write_text(original)
    subprocess.run(["git", "-C", root, "add", "-A"], check=True, capture_output=True)
    subprocess.run(
        ["git", "-C", root, "commit", "-qm", "fixed by hand"], check=True, capture_output=True
    )
    code, report = _verify(root)
    # the hand commits are not in the bucket's copy of the archive yet: verify says so
    assert code == 6 and report["locations"]["cloud"]["archive_copy"]["state"] == "behind"
    _ok("--archive", root, "backup-archive")
    code, report = _verify(root)
    assert code == 0 and report["records"] == 3
    status = json.loads(_ok("--archive", root, "status", "--json").stdout)
    assert status["photos"] == 3
    assert_check_clean(root)


def test_read_data_subset_rotates_through_the_archive(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=5)
    digests = _digests(root)
    for digest in digests:
        _corrupt_s3(s3_admin, s3_bucket, digest)
    code, first = _verify(root, "--read-data-subset", "50%")
    assert code == 6 and first["read_data"] == {"mode": "subset 50%", "blobs": 3}
    assert first["locations"]["local"]["read"] == 3
    seen_first = set(first["locations"]["cloud"]["corrupt"])
    assert len(seen_first) == 3
    code, second = _verify(root, "--read-data-subset", "50%")
    assert second["locations"]["local"]["read"] == 3
    # the second run reads the other share (and re-reads last run's suspects): all covered
    assert set(second["locations"]["cloud"]["corrupt"]) == set(digests)
    bad = run_cli("--archive", root, "verify", "--read-data-subset", "0%")
    assert bad.exit_code == 2
    both = run_cli("--archive", root, "verify", "--read-data", "--read-data-subset", "5%")
    assert both.exit_code == 2
    assert_check_clean(root)


@settings(max_examples=60, deadline=None)
@given(count=st.integers(1, 300), share=st.floats(0.5, 100), start=st.integers(0, 400))
def test_ceil_100_over_p_subset_runs_cover_every_blob(count: int, share: float, start: int) -> None:
    wanted = sorted(hashlib.sha256(str(i).encode()).hexdigest() for i in range(count))
    state: dict[str, Any] = {}
    if start:
        state["read_cursor"] = wanted[start % count]
    covered: set[str] = set()
    for _run in range(math.ceil(100 / share)):
        chosen = _select_reads(wanted, False, share, state, ArchiveVerifyReport())
        assert len(chosen) == len(set(chosen)) == min(count, max(1, math.ceil(count * share / 100)))
        covered |= set(chosen)
    assert covered == set(wanted)


def test_share_parsing() -> None:
    assert (
        parse_share("5%") == 5.0 and parse_share(" 12.5 ") == 12.5 and parse_share("100%") == 100.0
    )
    for bad in ("0%", "-1", "101%", "five", "nan%"):
        try:
            parse_share(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} accepted")


def test_storage_add_checks_its_input(tmp_path: Path, s3_endpoint: str, s3_bucket: str) -> None:
    root = str(tmp_path / "archive")
    _ok("init", root)
    cases = [
        (["nas", "--type", "local"], "--path"),
        (["nas", "--type", "local", "--path", str(tmp_path / "x"), "--bucket", "b"], "--bucket"),
        (["b2", "--type", "b2", "--bucket", s3_bucket], "--endpoint"),
        (["s3", "--type", "s3"], "--bucket"),
        (["bad name", "--type", "local", "--path", str(tmp_path / "x")], "name"),
        (["local", "--type", "local", "--path", str(tmp_path / "x")], "exists already"),
        (
            [
                "nope",
                "--type",
                "s3",
                "--bucket",
                "no-such-bucket",
                "--endpoint",
                s3_endpoint,
                "--addressing-style",
                "path",
            ],
            "does not exist",
        ),
        (
            [
                "keys",
                "--type",
                "s3",
                "--bucket",
                s3_bucket,
                "--endpoint",
                s3_endpoint,
                "--credentials",
                "photosync-test-missing-entry",
            ],
            "credentials",
        ),
    ]
    for args, words in cases:
        result = run_cli("--archive", root, "storage", "add", *args)
        assert result.exit_code == 3, (args, result.output)
        assert words in result.output and "Traceback" not in result.output
    assert git_log(Path(root)) == ["init: new photosync archive"]
    _ok(
        "--archive",
        root,
        "storage",
        "add",
        "nas",
        "--type",
        "local",
        "--path",
        str(tmp_path / "nas"),
    )
    assert (tmp_path / "nas").is_dir()
    assert git_log(Path(root))[0] == "config: add storage location nas"
    table = _ok("--archive", root, "storage", "list").output
    assert "nas" in table and "local" in table
    assert_check_clean(root)


def test_unreachable_location_fails_the_copies_not_the_run(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=2)
    _ok(
        "--archive",
        root,
        "storage",
        "add",
        "later",
        "--type",
        "s3",
        "--bucket",
        "not-created-yet",
        "--endpoint",
        s3_endpoint,
        "--addressing-style",
        "path",
        "--no-check",
    )
    result = run_cli("--archive", root, "replicate", "--execute", "--json")
    assert result.exit_code == 4
    failed = json.loads(result.stdout)["failed"]
    # its originals and its copy of the archive: each failed, retried next run
    assert len(failed) == 3 and all("later" in line for line in failed)
    assert any(line.startswith("archive copy to later") for line in failed)
    assert git_clean(Path(root))
    code, report = _verify(root)
    assert code == 6 and "does not exist" in report["locations"]["later"]["unavailable"]
    assert report["locations"]["cloud"]["ok"] and report["locations"]["local"]["ok"]
    assert_check_clean(root)


def test_replicate_replaces_a_torn_copy_in_s3(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    """A server that kept half an upload (a proxy or gateway that forwarded a cut body):
    the next replicate sees the wrong size in its listing and puts the whole original back."""
    root = _archive(tmp_path, s3_endpoint, s3_bucket, count=3)
    digest = _digests(root)[0]
    key = f"{PREFIX}/sha256/{digest[:2]}/{digest}"
    whole = _local_blob(root, digest).read_bytes()
    s3_admin.put_object(Bucket=s3_bucket, Key=key, Body=whole[: len(whole) // 2])

    out = json.loads(_ok("--archive", root, "replicate", "--execute", "--json").output)

    stored = s3_admin.get_object(Bucket=s3_bucket, Key=key)["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == digest
    assert out["blobs"]["replaced"] == {"cloud": 1}, out["blobs"]
    again = json.loads(_ok("--archive", root, "replicate", "--execute", "--json").output)
    assert again["blobs"]["replaced"] == {}, again["blobs"]
    assert_check_clean(Path(root))


def test_a_record_the_user_changed_does_not_keep_the_others_from_their_locations(
    tmp_path: Path,
) -> None:
    """replicate leaves the user's uncommitted edit alone (exit 4, saying so), yet every
    other record still gets the location its original was copied to: before, the first
    such record in path order stopped the records after it."""
    root = _discovered(tmp_path, 3)
    nas = tmp_path / "nas"
    _ok("--archive", root, "storage", "add", "nas", "--type", "local", "--path", str(nas))
    paths = sorted((Path(root) / "photos").rglob("*.json"))
    edited = paths[0]
    before = edited.read_bytes()
    edited.write_bytes(before + b"\n")  # a change photosync did not make, not committed
    result = run_cli("--archive", root, "replicate", "--execute")
    assert result.exit_code == 4, result.output
    for path in paths[1:]:
        held = json.loads(path.read_text(encoding="utf-8"))
        assert "nas" in {loc["store"] for loc in held["blob_locations"]}, path
    assert edited.read_bytes() == before + b"\n"  # left as the user made it
    edited.write_bytes(before)  # the user takes the edit back
    _ok("--archive", root, "replicate", "--execute")
    assert all("nas" in {loc["store"] for loc in r["blob_locations"]} for r in records(Path(root)))
    assert_check_clean(Path(root))
