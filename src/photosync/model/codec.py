"""The one codec between a record's on-disk JSON and the typed ``Record``.

No I/O: ``archive`` reads the bytes, validates them against the schema (the
gate on disk) and writes canonical JSON (``archive.jsonio.canonical_bytes``);
this module brings a record written by an older photosync up to
``SCHEMA_VERSION`` and names the validated JSON as a ``Record``. The record is a
``TypedDict`` (see ``model.record``), so a current record is not copied or rebuilt.

What goes in comes out: unknown keys, null and empty optional keys, list order
and numbers are kept (``tests/test_model_codec.py`` rewrites a committed archive
written before the typed model existed, byte for byte).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, cast

from photosync.model.record import Record

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


def record_from_json(data: dict[str, Any]) -> Record:
    """The typed record (migrated to ``SCHEMA_VERSION``) of a record's parsed,
    JSON: the same object when it is already current.

    A ``schema_version`` that is not a number (a hand edit) is left for the schema,
    the gate on disk, to report with the rest of what is wrong; a newer version, or
    one no migration leads from, raises ``RecordVersionError``.
    """
    version = data.get("schema_version")
    if version == SCHEMA_VERSION or not isinstance(version, int) or isinstance(version, bool):
        return cast(Record, data)
    return cast(Record, migrate(data))


def record_to_json(record: Record) -> dict[str, Any]:
    """The record's JSON, ready for ``archive.jsonio.canonical_bytes`` (the record itself)."""
    return cast(dict[str, Any], record)
