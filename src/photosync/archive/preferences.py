"""``config/user-preferences.json``: checked once on load, defaults filled in, one place.

Every key the design's example uses either works or is refused with what to use
instead, so that nothing a user writes is silently ignored:

- ``default_visibility``: only ``private`` (privacy fails closed: a wider level is
  an approval per photo, made through ``photosync visibility``).
- ``blob_storage.primary``: the name of the local location discover writes into.
- ``blob_storage.local_path``: that location's folder (alone, it defines it).
- ``blob_storage.s3_bucket`` / ``b2_bucket``: only null; buckets are locations
  (``photosync storage add``).
- ``sync_preferences.download_originals``: only true (originals are kept bit-exact).
- ``sync_preferences.max_parallel_downloads``: items discover fetches at once from
  a network service.
- ``sync_preferences.incremental_sync_days``: an incremental discover becomes a
  full listing when the last full one is older than this (0: never).
- ``prefer``: per field (``taken_date``, ``location``, ``caption``, ``tags``), the
  sources that settle a ``metadata_mismatch``, first wins (none by default).
- ``metadata.reader``: ``auto`` (exiftool, when installed, for what the built-in
  reader misses), ``builtin`` (never exiftool) or ``exiftool`` (required, asked
  about every file).
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from pathlib import PurePath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from photosync.archive.schema import PREFERENCES_SCHEMA, is_valid, validator
from photosync.errors import ConfigError

if TYPE_CHECKING:
    from jsonschema import Draft7Validator

PREFERENCES_FILE = "config/user-preferences.json"

DEFAULT_PREFERENCES: dict[str, Any] = {
    "default_visibility": "private",
    "auto_resolve": [
        "exact_duplicates",
        "quality_variants",
        "missing_metadata",
        # "most_restrictive_visibility" would settle every "shown more widely on a
        # service" conflict by narrowing that service: left to the user to opt in
    ],
    "blob_storage": {
        "primary": "local",
        "local_path": "blobs",
        "s3_bucket": None,
        "b2_bucket": None,
        "locations": [{"name": "local", "type": "local", "path": "blobs"}],
    },
    "sync_preferences": {
        "download_originals": True,
        "max_parallel_downloads": 5,
        "max_parallel_uploads": 4,
        "incremental_sync_days": 30,
        "commit_every": 2000,
        "hash_workers": 8,
        "fingerprint_during_discover": False,
    },
    "metadata": {"reader": "auto"},
    # field -> sources that settle a metadata_mismatch, first wins: none unless asked
    "prefer": {},
}


@dataclass(frozen=True)
class SyncPreferences:
    """``sync_preferences``, typed (the schema already checked types and bounds)."""

    download_originals: bool
    max_parallel_downloads: int
    max_parallel_uploads: int
    incremental_sync_days: int
    commit_every: int
    hash_workers: int
    fingerprint_during_discover: bool


@dataclass(frozen=True)
class Preferences:
    """The user's preferences over ``DEFAULT_PREFERENCES``, checked once and typed:
    every default lives in that one mapping, no caller repeats one."""

    default_visibility: str
    auto_resolve: frozenset[str]
    #: ``blob_storage.primary``: the local location discover writes originals into
    primary_location: str
    #: ``blob_storage.locations``, the primary one among them
    locations: tuple[dict[str, Any], ...]
    sync: SyncPreferences
    #: ``metadata.reader``: auto, builtin or exiftool
    metadata_reader: str
    #: ``prefer``: field -> the sources that settle a mismatch of it, first wins
    prefer: Mapping[str, tuple[str, ...]]

    def preferred_sources(self, field_name: str) -> tuple[str, ...]:
        """The ``prefer`` entries for one field, in the user's order (none: empty)."""
        return self.prefer.get(field_name, ())

    @classmethod
    def from_merged(cls, merged: dict[str, Any]) -> Preferences:
        """From ``load_preferences``' result."""
        sync = merged["sync_preferences"]
        return cls(
            default_visibility=str(merged["default_visibility"]),
            auto_resolve=frozenset(merged.get("auto_resolve") or ()),
            primary_location=str(merged["blob_storage"]["primary"]),
            locations=tuple(deepcopy(merged["blob_storage"].get("locations") or [])),
            sync=SyncPreferences(
                **{name: sync[name] for name in SyncPreferences.__dataclass_fields__}
            ),
            metadata_reader=str(merged["metadata"]["reader"]),
            prefer=MappingProxyType(
                {
                    str(name): tuple(str(source) for source in sources)
                    for name, sources in merged["prefer"].items()
                }
            ),
        )


_FIX = f"Fix {PREFERENCES_FILE} (or restore it with `git checkout {PREFERENCES_FILE}`)."


def load_preferences(raw: Any) -> dict[str, Any]:
    """The user's file, checked, over the defaults. Raises ConfigError (exit 3)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{PREFERENCES_FILE} must hold a JSON object", hint=_FIX)
    problems = _schema_problems(raw)
    if problems:
        raise ConfigError(f"{PREFERENCES_FILE} is not valid: " + "; ".join(problems[:5]), hint=_FIX)
    merged = deepcopy(DEFAULT_PREFERENCES)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **deepcopy(value)}
        else:
            merged[key] = deepcopy(value)
    storage = merged["blob_storage"]
    user_storage = raw.get("blob_storage") or {}
    if "locations" not in user_storage and "local_path" in user_storage:
        # the design's form: local_path alone names the primary store's folder
        storage["locations"] = [
            {"name": storage["primary"], "type": "local", "path": storage["local_path"]}
        ]
    sync = merged["sync_preferences"]
    for key, value in sync.items():
        if isinstance(value, float) and value.is_integer():
            sync[key] = int(value)  # JSON Schema counts 5.0 as an integer; the code wants 5
    _refuse_unsupported(merged, explicit_local_path="local_path" in user_storage)
    return merged


def _schema_problems(raw: dict[str, Any]) -> list[str]:
    """One line per problem, naming the key and what it must be; never echoing a value."""
    if is_valid(PREFERENCES_SCHEMA, raw):  # the fast check: jsonschema only to explain
        return []
    check: Draft7Validator = validator(PREFERENCES_SCHEMA)
    out = []
    for error in sorted(check.iter_errors(raw), key=lambda e: list(e.absolute_path)):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        schema = error.schema if isinstance(error.schema, dict) else {}
        if error.validator == "additionalProperties":
            known = sorted(schema.get("properties", {}))
            extra = (
                sorted(set(error.instance) - set(known)) if isinstance(error.instance, dict) else []
            )
            out.append(
                f"{where}: unknown key(s) {', '.join(map(repr, extra))} (known: {', '.join(known)})"
            )
        elif error.validator == "type":
            wanted = error.validator_value
            kinds = " or ".join(wanted) if isinstance(wanted, list) else str(wanted)
            out.append(f"{where}: must be of type {kinds}")
        elif error.validator == "enum":
            out.append(f"{where}: must be one of {', '.join(map(str, error.validator_value))}")
        elif error.validator in ("minimum", "maximum"):
            word = "at least" if error.validator == "minimum" else "at most"
            out.append(f"{where}: must be {word} {error.validator_value}")
        elif error.validator == "minLength":
            out.append(f"{where}: must not be empty")
        elif error.validator == "required":
            out.append(f"{where}: {error.message}")
        else:
            out.append(f"{where}: not accepted ({error.validator})")
    return out


def _refuse_unsupported(prefs: dict[str, Any], *, explicit_local_path: bool) -> None:
    if prefs["default_visibility"] != "private":
        raise ConfigError(
            f"default_visibility {prefs['default_visibility']!r} is refused: new photos are "
            "always private (privacy fails closed; a wider level needs your approval per photo)",
            hint='Set it to "private" (or remove it); widen photos with `photosync visibility '
            "set PHOTO... LEVEL` or adopt a service's level with `photosync visibility approve "
            "--service NAME`.",
        )
    storage = prefs["blob_storage"]
    for key, kind in (("s3_bucket", "s3"), ("b2_bucket", "b2")):
        if storage.get(key) is not None:
            raise ConfigError(
                f"blob_storage.{key} is not read: a bucket is a storage location",
                hint=f"Run `photosync storage add NAME --type {kind} --bucket BUCKET ...` "
                f"(it goes into blob_storage.locations), then set {key} to null.",
            )
    if prefs["sync_preferences"]["download_originals"] is not True:
        raise ConfigError(
            "sync_preferences.download_originals false is refused: photosync keeps only "
            "originals, bit-exact",
            hint="Set it to true (or remove it). A photo whose original a service will not "
            "hand out is recorded as a problem on that photo.",
        )
    locations = storage.get("locations") or []
    primary = next((loc for loc in locations if loc.get("name") == storage["primary"]), None)
    if primary is None or primary.get("type", "local") != "local":
        local = [str(loc.get("name")) for loc in locations if loc.get("type", "local") == "local"]
        raise ConfigError(
            f"blob_storage.primary {storage['primary']!r} is not a local location in "
            "blob_storage.locations",
            hint="Name the local location discover writes originals into first: "
            + (", ".join(map(repr, local)) or "add one with `photosync storage add`")
            + ".",
        )
    if explicit_local_path and _norm(storage["local_path"]) != _norm(primary.get("path")):
        raise ConfigError(
            f"blob_storage.local_path says {storage['local_path']!r}, but the primary location "
            f"{primary['name']!r} keeps its blobs in {primary.get('path')!r}",
            hint="Change the path in blob_storage.locations (moving the blobs there first) and "
            "remove local_path; to keep copies elsewhere as well, use `photosync storage add`.",
        )


def _norm(path: Any) -> str:
    return str(PurePath(str(path or "blobs")))
