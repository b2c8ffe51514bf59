"""Deterministic replays of the bugs the chaos runs found, one test each."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.blobstore.s3 import MiB, S3BlobStore
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.model import Visibility
from photosync.services.registry import make_service
from photosync.workflow.context import primary_store
from photosync.workflow.discover import discover
from photosync.workflow.replicate import OPERATION, replicate
from photosync.workflow.resolve import auto_resolve
from tests.chaos.harness import Expect, check_invariants, run
from tests.chaos.test_crash import flickr_settings, store_flickr_token
from tests.helpers import assert_check_clean, make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(180)


def test_upload_journaled_by_a_killed_run_survives_checkpoints_of_the_rerun(tmp_path: Path) -> None:
    """A run killed between "upload done" in the journal and the record write: the re-run's
    first checkpoint used to clear every "done" entry, so the photo was uploaded again."""
    make_library(tmp_path / "lib", 12)
    state = FlickrState()
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state)
        archive = new_archive(
            tmp_path,
            lib={"type": "local", "path": str(tmp_path / "lib")},
            flickr=flickr_settings(emulator, target=True, source=False),
        )
        set_prefs(archive, commit_every=2)
        archive.lock()
        discover(archive)
        auto_resolve(archive)
        # what the killed run left: the last photo uploaded and journaled, its record untouched
        last = list(archive.iter_records())[-1]
        service = make_service("flickr", archive.services()["flickr"])
        with primary_store(archive).open(last["content_hash"]) as blob:
            landed = service.upload(last, blob, visibility=Visibility.PRIVATE)
        service.close()
        archive.state.journal_set(
            OPERATION,
            last["photo_id"],
            "flickr",
            "done",
            json.dumps({"instance_id": landed.instance_id, "url": landed.url}),
        )
        report = replicate(archive, execute=True)
        archive.close()
        assert not report.failed, report.failed
        uploads = [e for e in state.requests_log if e["kind"] == "upload"]
        assert len(uploads) == 12 and len(state.photos) == 12, "a photo was uploaded twice"
        check_invariants(
            archive.root,
            Expect(records=12, present={"flickr": 12}, replicated=True),
            read_data=False,
        )


def test_git_lock_left_by_a_killed_git_is_recovered(tmp_path: Path) -> None:
    """SIGKILL of the process group can kill git itself: its index.lock blocked every later run."""
    make_library(tmp_path / "lib", 5)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    (archive.root / ".git" / "index.lock").write_bytes(b"")
    old = os.path.getmtime(archive.root / ".git" / "index.lock") - 60
    os.utime(archive.root / ".git" / "index.lock", (old, old))
    result = run(archive.root, "discover")
    assert "stale git lock" in result.stderr
    assert (archive.root / ".photosync" / "quarantine" / "git__index.lock").exists()
    check_invariants(archive.root, Expect(records=5))


def test_a_live_git_lock_is_waited_for_not_stolen(tmp_path: Path) -> None:
    """A fresh lock (a git still running) is left to its owner while it goes on working."""
    archive = new_archive(tmp_path)
    archive.close()
    lock = archive.root / ".git" / "index.lock"
    lock.write_bytes(b"")
    # a git that is still at work: it touches its lock for longer than the grace, then
    # finishes and removes it; it says when it is at work (a loaded machine may take
    # longer than the grace only to start a Python)
    helper = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os,sys,time\np=sys.argv[1]\nos.utime(p)\nprint('at work',flush=True)\n"
            "for _ in range(15):\n time.sleep(0.1)\n os.utime(p)\nos.unlink(p)",
            str(lock),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert helper.stdout is not None and helper.stdout.readline() == "at work\n"
        notes = Archive(archive.root).git.clear_stale_locks(
            archive.root / ".photosync" / "q", grace_s=1.0
        )
    finally:
        helper.wait(timeout=30)
        helper.stdout.close()
    assert notes == [] and not (archive.root / ".photosync" / "q").exists()
    assert_check_clean(archive.root)  # the lock went with its git


def test_stale_archive_lock_of_a_killed_run_is_reported_and_taken_over(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    proc = subprocess.Popen(["sleep", "30"])
    (archive.root / ".photosync").mkdir(exist_ok=True)
    (archive.root / ".photosync" / "lock").write_text(f"pid {proc.pid} on somehost")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = run(archive.root, "discover")
    assert f"pid {proc.pid} on somehost" in result.stderr and "was killed" in result.stderr
    assert (archive.root / ".photosync" / "lock").read_text() == ""  # a clean exit leaves it empty
    check_invariants(archive.root, Expect(records=3))


# -- concurrent multipart writers of one blob (the flaky conformance test) ---------------------


def test_multipart_writer_whose_upload_another_writer_completed_succeeds(
    s3_endpoint: str,
    s3_admin: Any,
    fresh_bucket: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Writer B joins writer A's unfinished multipart upload; A completes it while B still sends
    parts. On AWS B's UploadPart gets NoSuchUpload (moto: a 500 from a KeyError); either way the
    object is complete and right, and B must say so instead of failing."""
    data = os.urandom(6 * MiB)
    digest = hashlib.sha256(data).hexdigest()
    path = tmp_path / "blob"
    path.write_bytes(data)

    def store() -> S3BlobStore:
        return S3BlobStore(
            "s3",
            fresh_bucket,
            endpoint_url=s3_endpoint,
            region="us-east-1",
            addressing_style="path",
            multipart_threshold=1,
            multipart_chunk=5 * MiB,
            max_attempts=1,
            max_concurrency=1,
        )

    writer_a, writer_b = store(), store()
    key = writer_a.key_for(digest)
    # writer A: started, first part sent
    started = s3_admin.create_multipart_upload(
        Bucket=fresh_bucket, Key=key, Metadata={"sha256": digest}, ChecksumAlgorithm="SHA256"
    )
    upload_id = started["UploadId"]
    first = s3_admin.upload_part(
        Bucket=fresh_bucket,
        Key=key,
        UploadId=upload_id,
        PartNumber=1,
        Body=data[: 5 * MiB],
        ChecksumAlgorithm="SHA256",
    )
    real_upload_part = writer_b.multipart.upload_part

    def a_finishes_first(
        key_: str, upload: str, number: int, chunk: bytes, raw: bytes
    ) -> dict[str, Any]:
        second = s3_admin.upload_part(
            Bucket=fresh_bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=2,
            Body=data[5 * MiB :],
            ChecksumAlgorithm="SHA256",
        )
        s3_admin.complete_multipart_upload(
            Bucket=fresh_bucket,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={
                "Parts": [
                    {
                        "PartNumber": 1,
                        "ETag": first["ETag"],
                        "ChecksumSHA256": first["ChecksumSHA256"],
                    },
                    {
                        "PartNumber": 2,
                        "ETag": second["ETag"],
                        "ChecksumSHA256": second["ChecksumSHA256"],
                    },
                ]
            },
        )
        return real_upload_part(key_, upload, number, chunk, raw)

    monkeypatch.setattr(writer_b.multipart, "upload_part", a_finishes_first)
    assert writer_b.put_file(path, digest) is True
    assert writer_b.verify(digest)
    assert list(writer_b.iter_digests()) == [digest]
    assert not s3_admin.list_multipart_uploads(Bucket=fresh_bucket).get("Uploads")


# -- malformed answers (found by test_hostile.py's mangling emulator) ------------------------


def test_an_integer_past_64_bits_is_a_record_error_not_a_crash() -> None:
    from photosync.archive.jsonio import canonical_bytes
    from photosync.errors import RecordInvalid

    with pytest.raises(RecordInvalid, match="cannot be stored as JSON"):
        canonical_bytes({"datetakengranularity": int(1e308)})


@pytest.fixture
def flickr_service(tmp_path: Path) -> Any:
    state = FlickrState()
    state.seed(3, video_every=3)  # the third one is a video
    with FlickrEmulator(state) as emulator:
        store_flickr_token(state, perms="read")
        service = make_service("flickr", flickr_settings(emulator))
        yield service, state
        service.close()


def test_a_listed_photo_without_a_numeric_id_is_not_an_instance(flickr_service: Any) -> None:
    service, _state = flickr_service
    seen: set[str] = set()
    for bad in (True, None, "../x", 1.5, [], "123abc"):
        assert service._item({"id": bad, "media": "photo"}, seen) is None
    assert (
        service._item(
            {"id": "50000000001", "media": "photo", "url_o": "http://127.0.0.1/x.jpg"}, seen
        )
        is not None
    )


def test_a_video_whose_sizes_lack_the_video_original_is_not_stored_as_its_poster(
    flickr_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosync.errors import ItemUnavailable
    from photosync.services.base import ListingReport

    service, _state = flickr_service
    items = list(service.list_items(since=None, cursor=None, report=ListingReport()))
    (video,) = [i for i in items if i.media_type == "video"]
    real_call = service.client.call

    def no_video_original(method: str, **args: Any) -> Any:
        answer = real_call(method, **args)
        if method == "flickr.photos.getSizes":
            answer["sizes"]["size"] = [
                s for s in answer["sizes"]["size"] if s.get("label") != "Video Original"
            ]
        return answer

    monkeypatch.setattr(service.client, "call", no_video_original)
    with pytest.raises(ItemUnavailable, match="no video original"), service.open_item(video):
        pass


def test_sizes_of_the_wrong_shape_are_a_service_error(
    flickr_service: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from photosync.errors import ServiceError
    from photosync.services.base import ListingReport

    service, _state = flickr_service
    items = list(service.list_items(since=None, cursor=None, report=ListingReport()))
    monkeypatch.setattr(
        service.client,
        "call",
        lambda method, **args: {"sizes": [1, 2]} if method == "flickr.photos.getSizes" else {},
    )
    video = next(i for i in items if i.media_type == "video")
    with pytest.raises(ServiceError, match="cannot read"), service.open_item(video):
        pass
