"""Faults where the outside world answers: the Flickr emulator and the S3 blob store.

Errors, throttling, slow and truncated answers, a total outage, a revoked
token; failed, partial and bit-flipped uploads to S3; bit rot at rest found by
``verify --read-data`` and mended by ``--repair``. Every run ends with a clear
message and an exit code, and a re-run without the fault finishes with every
invariant of the crash harness.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from photosync.emulators.base import FaultPlan
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.services.http import RetryPolicy
from tests.chaos.clirun import photosync
from tests.chaos.harness import Expect, check_invariants
from tests.chaos.s3proxy import S3Proxy
from tests.chaos.test_crash import flickr_settings, store_flickr_token
from tests.helpers import make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(autouse=True)
def _short_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Same retries, millisecond waits: the faults are real, the waiting is not the point."""
    import botocore.retries.standard

    monkeypatch.setattr(RetryPolicy, "backoff", lambda self, attempt, rng: 0.005)
    monkeypatch.setattr(
        botocore.retries.standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.005
    )


def _said(result: Any) -> str:
    return " ".join(result.output.split())


# -- Flickr ----------------------------------------------------------------------------------


def _flickr_archive(tmp: Path, emulator: FlickrEmulator, *, target: bool = False) -> Path:
    services: dict[str, dict[str, Any]] = {}
    if target:
        make_library(tmp / "lib", 16)
        services["lib"] = {"type": "local", "path": str(tmp / "lib")}
        services["flickr"] = flickr_settings(emulator, target=True, source=False)
    else:
        services["flickr"] = flickr_settings(emulator)
    archive = new_archive(tmp, **services)
    set_prefs(archive, commit_every=5, hash_workers=2)
    archive.close()
    return archive.root


MIXED: dict[str, Callable[[], FaultPlan]] = {
    "errors": lambda: FaultPlan(rate_5xx=0.25, seed=1),
    "throttling": lambda: FaultPlan(rate_429=0.25, retry_after_s=0, seed=2),
    "truncated": lambda: FaultPlan(rate_truncate=0.2, seed=3),
    "slow": lambda: FaultPlan(rate_slow=0.3, slow_s=0.15, seed=4),
    "flickr code 201": lambda: FaultPlan(custom={"201": 0.25}, seed=5),
    "all at once": lambda: FaultPlan(
        rate_5xx=0.08,
        rate_429=0.08,
        retry_after_s=0,
        rate_truncate=0.08,
        rate_slow=0.05,
        slow_s=0.1,
        custom={"201": 0.05},
        seed=6,
    ),
}


@pytest.mark.parametrize("kind", sorted(MIXED))
def test_discover_from_a_flaky_flickr(tmp_path: Path, kind: str) -> None:
    state = FlickrState()
    state.seed(30, video_every=0)
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state, perms="read")
        root = _flickr_archive(tmp_path, emulator)
        emulator.faults = MIXED[kind]()
        first = photosync(root, "discover", expect=(0, 4, 7))
        if first.exit_code:
            assert "failed" in _said(first) or "error" in _said(first), _said(first)
        emulator.faults = FaultPlan()
        photosync(root, "discover")  # exit 4 promises: "a re-run retries them"
    records = check_invariants(root, Expect(records=30, present={"flickr": 30}), read_data=False)
    truth = {p.id: hashlib.sha256(p.content()).hexdigest() for p in state.photos.values()}
    assert sorted(r["content_hash"][7:] for r in records) == sorted(truth.values())


@pytest.mark.parametrize("kind", ["errors", "truncated", "all at once"])
def test_replicate_to_a_flaky_flickr_never_uploads_twice(tmp_path: Path, kind: str) -> None:
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state)
        root = _flickr_archive(tmp_path, emulator, target=True)
        photosync(root, "discover")
        photosync(root, "resolve", "--auto-resolve", "simple")
        emulator.faults = MIXED[kind]()
        photosync(root, "replicate", "--execute", expect=(0, 4, 7))
        emulator.faults = FaultPlan()
        photosync(root, "replicate", "--execute")
        records = check_invariants(
            root, Expect(records=16, present={"flickr": 16}, replicated=True), read_data=False
        )
        landed = [e for e in state.requests_log if e["kind"] == "upload"]
        assert len(landed) == 16 and len(state.photos) == 16, f"{len(landed)} uploads for 16 photos"
        assert sorted(
            hashlib.sha256(p.content()).hexdigest() for p in state.photos.values()
        ) == sorted(r["content_hash"][7:] for r in records)


def test_flickr_down_for_the_whole_run(tmp_path: Path) -> None:
    state = FlickrState()
    state.seed(12, video_every=0)
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state, perms="read")
        root = _flickr_archive(tmp_path, emulator)
        emulator.faults = FaultPlan(rate_5xx=1.0)
        down = photosync(root, "discover", expect=(4, 7))
        assert "flickr" in _said(down) and "HTTP 503" in _said(down) and "gave up" in _said(down)
        assert "Traceback" not in down.output
        emulator.faults = FaultPlan()
        photosync(root, "discover")
    check_invariants(root, Expect(records=12, present={"flickr": 12}), read_data=False)


def test_a_revoked_flickr_token(tmp_path: Path) -> None:
    state = FlickrState()
    state.seed(6, video_every=0)
    with FlickrEmulator(state) as emulator:
        credentials = store_flickr_token(state, perms="read")
        root = _flickr_archive(tmp_path, emulator)
        revoked = state.tokens.pop(credentials["oauth_token"])
        result = photosync(root, "discover", expect=(4, 7))
        said = _said(result)
        assert "flickr" in said.lower() and "oauth_problem" in said
        assert (
            credentials["oauth_token_secret"] not in result.output
            and credentials["api_secret"] not in result.output
        )
        state.tokens[revoked.token] = revoked
        photosync(root, "discover")
    check_invariants(root, Expect(records=6, present={"flickr": 6}), read_data=False)


# -- S3 --------------------------------------------------------------------------------------


def _s3_archive(tmp: Path, endpoint: str, bucket: str, **location: Any) -> Path:
    make_library(tmp / "lib", 20)
    archive = new_archive(tmp, lib={"type": "local", "path": str(tmp / "lib")})
    set_prefs(archive, commit_every=5, hash_workers=2, max_parallel_uploads=2)
    prefs = archive.preferences()
    prefs["blob_storage"]["locations"].append(
        {
            "name": "s3",
            "type": "s3",
            "bucket": bucket,
            "endpoint_url": endpoint,
            "region": "us-east-1",
            "addressing_style": "path",
            **location,
        }
    )
    archive.save_preferences(prefs)
    archive.commit("config: s3 location")
    archive.close()
    photosync(archive.root, "discover")
    photosync(archive.root, "resolve", "--auto-resolve", "simple")
    return archive.root


def _every(n: int, methods: tuple[str, ...] = ("PUT", "POST")) -> Any:
    seen = {"n": 0}

    def decide(method: str, _path: str, _query: dict[str, list[str]]) -> str | None:
        if method not in methods:
            return None
        seen["n"] += 1
        return "hit" if seen["n"] % n == 0 else None

    return decide


def _corrupt_objects(s3_admin: Any, bucket: str) -> list[str]:
    """Digests whose object's bytes do not hash to its key (read behind photosync's back)."""
    import botocore.exceptions

    bad = []
    for item in s3_admin.list_objects_v2(Bucket=bucket).get("Contents", []):
        if "sha256/" not in item["Key"]:
            continue  # the archive's own copy (archive/): not an original
        digest = item["Key"].rsplit("/", 1)[-1]
        try:
            body = s3_admin.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
        except botocore.exceptions.FlexibleChecksumError:  # the stored checksum disowns the bytes
            bad.append(digest)
            continue
        if hashlib.sha256(body).hexdigest() != digest:
            bad.append(digest)
    return sorted(bad)


@pytest.mark.parametrize("fault", ["503", "reset", "flip"])
@pytest.mark.parametrize("multipart", [False, True], ids=["single", "multipart"])
def test_replicate_to_a_failing_s3(
    tmp_path: Path, s3_endpoint: str, s3_admin: Any, fresh_bucket: str, fault: str, multipart: bool
) -> None:
    """Failed uploads (503), partial ones (connection dropped mid-body) and bodies corrupted in
    transit. AWS refuses a body whose x-amz-checksum-sha256 does not match; moto stores it, so
    a flipped upload can land here, and ``verify --read-data`` must find it and ``--repair``
    must mend it."""
    every = _every(2)
    with S3Proxy(s3_endpoint, lambda m, p, q: fault if every(m, p, q) else None) as proxy:
        extra = {"multipart_threshold": 1} if multipart else {}
        root = _s3_archive(tmp_path, proxy.url, fresh_bucket, **extra)
        first = photosync(root, "replicate", "--execute", expect=(0, 4))
        assert proxy.faults[fault], "the fault never fired"
        if first.exit_code == 4:
            assert "original not copied" in _said(first)
        corrupt = _corrupt_objects(s3_admin, fresh_bucket)
        if fault != "flip":
            assert corrupt == []  # a failed or cut upload never becomes an object
        proxy.decide = lambda m, p, q: None
        photosync(root, "replicate", "--execute")
        if corrupt:
            found = photosync(root, "verify", "--read-data", expect=6)
            assert all(digest in _said(found) for digest in corrupt), _said(found)
            photosync(root, "verify", "--read-data", "--repair", expect=(0, 6))
        assert _corrupt_objects(s3_admin, fresh_bucket) == []
        check_invariants(root, Expect(records=20, located_everywhere=True))


def test_bit_rot_at_rest_is_found_by_verify_and_repaired(
    tmp_path: Path, s3_endpoint: str, s3_admin: Any, fresh_bucket: str
) -> None:
    root = _s3_archive(tmp_path, s3_endpoint, fresh_bucket)
    photosync(root, "replicate", "--execute")
    records = sorted(
        check_invariants(root, Expect(records=20, located_everywhere=True), read_data=False),
        key=lambda r: r["content_hash"],
    )
    local_victim, s3_victim = records[0]["content_hash"][7:], records[1]["content_hash"][7:]
    blob = root / "blobs" / "sha256" / local_victim[:2] / local_victim
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    blob.write_bytes(bytes(data))
    blob.chmod(0o444)
    key = f"sha256/{s3_victim[:2]}/{s3_victim}"
    body = bytearray(s3_admin.get_object(Bucket=fresh_bucket, Key=key)["Body"].read())
    body[-1] ^= 0x80
    s3_admin.put_object(
        Bucket=fresh_bucket, Key=key, Body=bytes(body), Metadata={"sha256": s3_victim}
    )
    # presence and size look fine; only reading the bytes finds them
    found = photosync(root, "verify", "--read-data", expect=6)
    said = _said(found)
    assert local_victim in said and s3_victim in said
    photosync(root, "verify", "--read-data", "--repair", expect=(0, 6))
    photosync(root, "verify", "--read-data")
    check_invariants(root, Expect(records=20, located_everywhere=True))
    # the rotten copy was moved aside, never deleted
    assert list((root / "blobs" / "quarantine").glob(f"{local_victim}*"))
