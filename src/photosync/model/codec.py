"""The one codec between a record's on-disk JSON and ``PhotoRecord``.

No I/O: ``archive`` reads the bytes, validates them against the schema (the
gate on disk) and writes canonical JSON (``archive.jsonio.canonical_bytes``);
this module only turns the parsed JSON into typed values and back, and brings a
record written by an older photosync up to ``SCHEMA_VERSION`` first.

What goes in comes out: unknown keys, null and empty optional keys, list order
and numbers are kept (``tests/test_model_codec.py`` rewrites a committed archive
written before this module existed, byte for byte).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from photosync.model.record import PhotoRecord

#: the ``schema_version`` this photosync writes
SCHEMA_VERSION = 1

#: ``MIGRATIONS[n]`` turns a version-``n`` record's JSON into version ``n + 1``
#: (pure, on a copy); empty while every record ever written is version 1
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


class RecordVersionError(ValueError):
    """A record this photosync cannot read as it is: written by a newer version, or
    a version no migration leads from."""


def migrate(data: Mapping[str, Any]) -> dict[str, Any]:
    """The record's JSON at ``SCHEMA_VERSION``; the input is never changed.

    A newer record is refused rather than read without the keys it relies on
    (writing it back could lose them).
    """
    version = data.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordVersionError(f"schema_version {version!r} is not a version number")
    if version > SCHEMA_VERSION:
        raise RecordVersionError(
            f"schema_version {version} was written by a newer photosync (this one reads up to "
            f"{SCHEMA_VERSION}); update photosync"
        )
    out = dict(data)
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise RecordVersionError(f"no migration from schema_version {version}")
        out = step(copy.deepcopy(out))
        version += 1
        out["schema_version"] = version
    return out


def record_from_json(data: Mapping[str, Any]) -> PhotoRecord:
    """The typed record (migrated to ``SCHEMA_VERSION``) of a record's parsed JSON."""
    return PhotoRecord.from_json(migrate(data))


def record_to_json(record: PhotoRecord) -> dict[str, Any]:
    """The record's JSON, ready for ``archive.jsonio.canonical_bytes``."""
    return record.to_json()
