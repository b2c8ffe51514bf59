"""One durable-write module: every file photosync must not lose is fsynced, folder too.

fsync is watched through ``os.fsync`` (which file or folder each call made
durable, read from /proc): a power cut cannot be simulated in a test, but a
write that never asks the kernel for durability can be seen.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync import durable
from photosync.blobstore.blobsync import JsonlJournal
from photosync.credentials import CredentialStore
from photosync.services.google.library import IntentJournal


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Path]]:
    """Paths (files and folders) each ``os.fsync`` call made durable."""
    seen: list[Path] = []
    real = os.fsync

    def spy(fd: int) -> None:
        seen.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    yield seen


def _file_then_folder(seen: list[Path], target: Path) -> None:
    """The new bytes (under their temp name or the final one) and then the folder."""
    folder = target.parent.resolve()
    files = [i for i, p in enumerate(seen) if p.parent == folder and target.name in p.name]
    folders = [i for i, p in enumerate(seen) if p == folder]
    assert files and folders and max(files) < max(folders), seen


def test_the_google_upload_intent_journal_is_on_disk_before_it_returns(
    tmp_path: Path, synced: list[Path]
) -> None:
    """It never fsynced: an upload token lost to a power cut uploads the photo twice."""
    journal = IntentJournal(tmp_path / "google" / "intents.json")
    journal.remember("sha256:" + "ab" * 32, "token-1")
    _file_then_folder(synced, journal.path)
    assert journal.path.stat().st_mode & 0o777 == 0o600
    assert IntentJournal(journal.path).token_for("sha256:" + "ab" * 32) == "token-1"


def test_the_credential_file_and_its_folder_are_synced(tmp_path: Path, synced: list[Path]) -> None:
    store = CredentialStore(tmp_path / "conf", backend="file")
    store.set("flickr", {"oauth_token": "t"})
    _file_then_folder(synced, store.file_path)
    assert store.file_path.stat().st_mode & 0o777 == 0o600


def test_the_blob_copy_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "copies.jsonl"
    first = JsonlJournal(path)
    first.record("s3", "a" * 64)
    first.flush()
    with open(path, "ab") as handle:
        handle.write(b'{"location": "s3", "dig')  # a crash in the middle of a line
    second = JsonlJournal(path)
    assert second.is_done("s3", "a" * 64) and not second.is_done("s3", "b" * 64)
    second.record("s3", "b" * 64)
    second.flush()
    third = JsonlJournal(path)
    assert third.is_done("s3", "a" * 64) and third.is_done("s3", "b" * 64)


def test_a_failed_atomic_write_leaves_the_old_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "record.json"
    durable.atomic_write(target, b"old\n")

    def full_disk(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(OSError):
        durable.atomic_write(target, b"new\n")
    monkeypatch.undo()
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
