"""Services and blob stores declare what they can do, and do what they declare.

The workflow asks a flag (``supports_metadata``, ``lists_sizes``...) instead of
probing a class with ``hasattr``/``isinstance``: a method without its flag would
never be used, a flag without its method would fail in the middle of a run.
"""

from __future__ import annotations

import pytest

from photosync.blobstore.base import BlobStore
from photosync.blobstore.local import LocalBlobStore
from photosync.blobstore.s3 import S3BlobStore
from photosync.services.base import Service, TargetService
from photosync.services.registry import SERVICE_TYPES, service_class

SERVICE_CAPABILITIES = {
    "can_read_visibility": "read_visibility",
    "supports_metadata": "apply_metadata",
    "supports_visibility": "set_visibility",
    "supports_albums": "add_to_album",
}
STORE_CAPABILITIES = {
    "local_files": ("path_for", "folder"),
    "lists_sizes": ("iter_stats",),
    "puts_new": ("put_new_file",),
    "replaces_corrupt": ("replace_corrupt",),
    "quarantines": ("quarantine",),
}


def _implements(cls: type, base: type, method: str) -> bool:
    return hasattr(cls, method) and getattr(cls, method) is not getattr(base, method)


@pytest.mark.parametrize("type_name", sorted(SERVICE_TYPES))
def test_a_service_declares_exactly_what_it_implements(type_name: str) -> None:
    cls = service_class(type_name)
    for flag, method in SERVICE_CAPABILITIES.items():
        base = Service if flag == "can_read_visibility" else TargetService
        assert getattr(cls, flag, False) == _implements(cls, base, method), (type_name, flag)


@pytest.mark.parametrize("type_name", sorted(SERVICE_TYPES))
def test_a_service_takes_batches_of_uploads_exactly_when_it_says_so(type_name: str) -> None:
    """``upload_batch_size`` > 0 is the flag of ``upload_many`` (Google's batchCreate)."""
    cls = service_class(type_name)
    batches = getattr(cls, "upload_batch_size", 0) > 0
    assert batches == _implements(cls, TargetService, "upload_many"), type_name
    if batches:
        assert getattr(cls, "parallel_uploads", False), type_name


@pytest.mark.parametrize("cls", [LocalBlobStore, S3BlobStore], ids=lambda c: c.__name__)
def test_a_blob_store_declares_exactly_what_it_implements(cls: type[BlobStore]) -> None:
    for flag, methods in STORE_CAPABILITIES.items():
        for method in methods:
            implemented = _implements(cls, BlobStore, method)
            assert getattr(cls, flag) == implemented, (cls.__name__, flag, method)


def test_flickr_declares_metadata_visibility_and_albums() -> None:
    flickr = service_class("flickr")
    assert flickr.supports_metadata and flickr.supports_visibility and flickr.can_read_visibility
    assert not service_class("local").supports_metadata
