"""Building stores from ``blob_storage.locations[]`` entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.registry import make_blob_store
from photosync.blobstore.s3 import S3BlobStore
from photosync.credentials import CredentialStore
from photosync.errors import ConfigError


def test_local_path_is_relative_to_the_archive(tmp_path: Path) -> None:
    store = make_blob_store("local", {"name": "local", "type": "local", "path": "blobs"}, tmp_path)
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs" and store.name == "local"


def test_local_absolute_path_is_kept(tmp_path: Path) -> None:
    elsewhere = tmp_path / "disk" / "photos"
    store = make_blob_store("usb", {"type": "local", "path": str(elsewhere)}, tmp_path / "archive")
    assert isinstance(store, LocalBlobStore) and store.root == elsewhere


def test_s3_entry(tmp_path: Path) -> None:
    spec = {
        "name": "b2",
        "type": "s3",
        "bucket": "my-photos",
        "prefix": "archive",
        "endpoint_url": "https://s3.us-west-004.backblazeb2.com",
        "region": "us-west-004",
        "addressing_style": "path",
        "profile": None,
        "multipart_threshold": 16 * 1024 * 1024,
    }
    store = make_blob_store("b2", spec, tmp_path)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "my-photos" and store.prefix == "archive/"
    assert store.multipart_threshold == 16 * 1024 * 1024
    assert store.locator("a" * 64) == f"s3://my-photos/archive/sha256/aa/{'a' * 64}"
    assert store.client.meta.endpoint_url == "https://s3.us-west-004.backblazeb2.com"
    assert store.client.meta.region_name == "us-west-004"


def test_s3_entry_with_stored_credentials(tmp_path: Path) -> None:
    credentials = CredentialStore(tmp_path / "cfg", backend="file")
    credentials.set("b2-keys", {"key_id": "0041234", "application_key": "K004secret"})
    spec = {
        "type": "s3",
        "bucket": "b",
        "credentials": "b2-keys",
        "endpoint_url": "http://127.0.0.1:9",
    }
    store = make_blob_store("b2", spec, tmp_path, credential_store=credentials)
    assert isinstance(store, S3BlobStore)
    frozen = store.client._request_signer._credentials.get_frozen_credentials()
    assert (frozen.access_key, frozen.secret_key) == ("0041234", "K004secret")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "ftp", "path": "x"}, "unknown type"),
        ({"path": "x"}, "unknown type"),
        ({"type": "local"}, "'path' is required"),
        ({"type": "local", "path": 3}, "'path' must be"),
        ({"type": "local", "path": "x", "bucket": "y"}, "unknown field"),
        ({"type": "s3"}, "'bucket' is required"),
        ({"type": "s3", "bucket": ""}, "'bucket' must be"),
        ({"type": "s3", "bucket": "b", "endpoint": "http://x"}, "unknown field"),
        ({"type": "s3", "bucket": "b", "addressing_style": "odd"}, "addressing_style"),
        ({"type": "s3", "bucket": "b", "max_concurrency": 0}, "positive integer"),
        ({"type": "s3", "bucket": "b", "multipart_chunk": True}, "positive integer"),
        ({"type": "s3", "bucket": "b", "multipart_chunk": 1024}, "5 MiB"),
        ({"type": "s3", "bucket": "b", "verify_after_put": "yes"}, "true or false"),
        ({"type": "s3", "bucket": "b", "credentials": "nobody"}, "no stored credentials"),
        ({"type": "s3", "bucket": "b", "profile": "no-such-profile-xyz"}, "profile"),
        ({"name": "other", "type": "local", "path": "x"}, "is called"),
    ],
)
def test_bad_entries_are_config_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spec: dict[str, Any], message: str
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    store = CredentialStore(tmp_path / "cfg", backend="file")
    with pytest.raises(ConfigError, match=message):
        make_blob_store("loc", spec, tmp_path, credential_store=store)


def test_entry_must_be_an_object(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        make_blob_store("loc", ["local"], tmp_path)  # type: ignore[arg-type]
