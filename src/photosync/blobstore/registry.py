"""Build blob stores from ``blob_storage.locations[]`` in user-preferences.json.

A location entry only names where blobs live; secrets never appear in it. An S3
entry may name a ``credentials`` entry of the ``CredentialStore``; otherwise
botocore finds keys in the environment, an AWS profile or its default chain.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from photosync.archive.schema import PREFERENCES_SCHEMA, schema_text
from photosync.blobstore.base import BlobStore
from photosync.credentials import CredentialStore
from photosync.errors import BlobError, ConfigError

if TYPE_CHECKING:
    from photosync.blobstore.s3 import AddressingStyle


def _allowed_keys(definition: str) -> set[str]:
    """The keys a location may have: the one allowlist, in the preferences schema."""
    schema = json.loads(schema_text(PREFERENCES_SCHEMA))
    return set(schema["definitions"][definition]["properties"])


_LOCAL_KEYS = _allowed_keys("location-local")
_S3_KEYS = _allowed_keys("location-s3")


def _text(name: str, spec: Mapping[str, Any], field: str, *, required: bool = False) -> str | None:
    value = spec.get(field)
    if value is None:
        if required:
            raise ConfigError(f"blob location {name!r}: '{field}' is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ConfigError(f"blob location {name!r}: '{field}' must be a non-empty string")
    return value


def _integer(name: str, spec: Mapping[str, Any], field: str) -> int | None:
    value = spec.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"blob location {name!r}: '{field}' must be a positive integer")
    return value


def _flag(name: str, spec: Mapping[str, Any], field: str) -> bool | None:
    value = spec.get(field)
    if value is None or isinstance(value, bool):
        return value
    raise ConfigError(f"blob location {name!r}: '{field}' must be true or false")


def make_blob_store(
    name: str,
    spec: Mapping[str, Any],
    archive_root: Path,
    *,
    credential_store: CredentialStore | None = None,
) -> BlobStore:
    """One configured location; a relative local path is relative to the archive root."""
    if not isinstance(spec, Mapping):
        raise ConfigError(f"blob location {name!r} must be a JSON object")
    if spec.get("name", name) != name:
        raise ConfigError(f"blob location {name!r} is called {spec.get('name')!r} in its entry")
    kind = spec.get("type")
    if kind == "local":
        _reject_unknown(name, spec, _LOCAL_KEYS)
        raw = _text(name, spec, "path", required=True)
        assert raw is not None
        path = Path(raw).expanduser()
        from photosync.blobstore.local import LocalBlobStore

        return LocalBlobStore(path if path.is_absolute() else archive_root / path, name=name)
    if kind in ("s3", "b2"):
        _reject_unknown(name, spec, _S3_KEYS)
        from photosync.blobstore.s3 import S3BlobStore

        style = spec.get("addressing_style") or "auto"
        if style not in ("auto", "path", "virtual"):
            raise ConfigError(
                f"blob location {name!r}: addressing_style must be auto, path or virtual"
            )
        secrets: dict[str, Any] | None = None
        ref = _text(name, spec, "credentials")
        if ref is not None:
            secrets = (credential_store or CredentialStore()).get(ref)
            if not secrets:
                raise ConfigError(
                    f"blob location {name!r}: no stored credentials named {ref!r}",
                    hint="store them with photosync's credential command or remove 'credentials'",
                )
        options: dict[str, Any] = {}
        for field in ("multipart_threshold", "multipart_chunk", "max_concurrency"):
            number = _integer(name, spec, field)
            if number is not None:
                options[field] = number
        for field in ("verify_after_put", "server_checksums", "allow_insecure_http"):
            flag = _flag(name, spec, field)
            if flag is not None:
                options[field] = flag
        bucket = _text(name, spec, "bucket", required=True)
        assert bucket is not None
        try:
            return S3BlobStore(
                name,
                bucket,
                _text(name, spec, "prefix") or "",
                endpoint_url=_text(name, spec, "endpoint_url"),
                region=_text(name, spec, "region"),
                addressing_style=cast("AddressingStyle", style),
                profile=_text(name, spec, "profile"),
                credentials=secrets,
                **options,
            )
        except BlobError as error:
            raise ConfigError(str(error), hint=error.hint) from error
    raise ConfigError(f"blob location {name!r}: unknown type {kind!r}", hint="use 'local' or 's3'")


def _reject_unknown(name: str, spec: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise ConfigError(
            f"blob location {name!r}: unknown field(s) {', '.join(unknown)}",
            hint=f"allowed: {', '.join(sorted(allowed))}",
        )
