"""Adding a service or a storage location: validated, written and committed here.

The CLI (``service add``, ``storage add``) and any other front end (a web UI, a
script) call these; none writes config itself. Each addition is two steps: the
entry is built and checked before the archive is locked (a credential in an
option is refused before anything could send or store it), then added under the
lock (a duplicate refused, the same construction every run does, a probe of the
location, one commit).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive
from photosync.archive.jsonio import read_json
from photosync.archive.preferences import PREFERENCES_FILE
from photosync.archive.schema import refuse_credential_options
from photosync.blobstore.base import BlobStore
from photosync.blobstore.registry import make_blob_store
from photosync.errors import BlobError, ConfigError, shown_url
from photosync.services.registry import service_class
from photosync.workflow.context import blob_locations

_LOCATION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PROBE = "0" * 64  # a digest no photo has: HEAD on it proves bucket access without reading data


# services ---------------------------------------------------------------------------------
def parse_endpoints(items: Iterable[str]) -> dict[str, str]:
    """``KEY=URL`` options as a mapping (ConfigError for one without ``=URL``)."""
    parsed: dict[str, str] = {}
    for item in items:
        key, sep, url = item.partition("=")
        if not sep or not url:
            raise ConfigError(f"--endpoint {shown_url(item)}: expected KEY=URL")
        parsed[key] = url
    return parsed


def service_entry(
    type_name: str,
    *,
    path: Path | None = None,
    include: Iterable[str] = (),
    exclude: Iterable[str] = (),
    target: bool = False,
    source: bool = True,
    endpoints: Iterable[str] = (),
    requests_per_hour: float | None = None,
) -> dict[str, Any]:
    """The ``config/services.json`` entry of a new service; a credential among the options
    is refused first (only the URL of ``--endpoint KEY=URL`` is judged)."""
    endpoint_items, include, exclude = list(endpoints), list(include), list(exclude)
    refuse_credential_options(
        {
            "--endpoint": [item.partition("=")[2] for item in endpoint_items],
            "--path": str(path) if path else None,
            "--include": include,
            "--exclude": exclude,
        }
    )
    entry: dict[str, Any] = {"type": type_name, "enabled": True, "target": target, "source": source}
    if path is not None:
        entry["path"] = str(path.expanduser().resolve())
    if include:
        entry["include"] = include
    if exclude:
        entry["exclude"] = exclude
    if endpoint_items:
        entry["endpoints"] = parse_endpoints(endpoint_items)
    if requests_per_hour:
        entry["rate_limit"] = {"requests_per_hour": requests_per_hour}
    return entry


#: a service's name, as config/services.json's schema allows it (``propertyNames``)
SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")


def add_service(archive: Archive, name: str, entry: Mapping[str, Any]) -> None:
    """Add service ``name`` to a locked archive and commit; its settings are checked by
    building it the way every run does (a mistake shows now, not at the next run)."""
    if not SERVICE_NAME.fullmatch(name):
        raise ConfigError(
            f"not a valid service name: {name!r}",
            hint="a service name is lower-case letters, digits, '.', '_' and '-', at most "
            "63, starting with a letter or digit (e.g. phone, nas-2019)",
        )
    services = archive.services()
    if name in services:
        raise ConfigError(f"a service named {name!r} exists already")
    service_class(entry["type"])(name, dict(entry))
    services[name] = dict(entry)
    archive.save_services(services)
    if entry.get("path") is not None:
        archive.save_added_here(name)  # this machine's folder (another clone locates its own)
    role = ", target" if entry.get("target") else ""
    archive.commit(f"config: add service {name} ({entry['type']}{role})")


# storage locations --------------------------------------------------------------------------
def location_spec(
    name: str,
    kind: str,
    *,
    path: Path | None = None,
    bucket: str | None = None,
    prefix: str | None = None,
    endpoint: str | None = None,
    region: str | None = None,
    addressing_style: str | None = None,
    profile: str | None = None,
    credentials: str | None = None,
) -> dict[str, Any]:
    """The ``blob_storage.locations[]`` entry of a new location: where blobs live, never
    how to log in (a credential among the options is refused)."""
    if not _LOCATION_NAME.match(name):
        raise ConfigError(
            f"{name!r} is not a usable location name",
            hint="Use letters, digits, '.', '_' or '-' (at most 64).",
        )
    remote = {
        "--bucket": bucket,
        "--prefix": prefix,
        "--endpoint": endpoint,
        "--region": region,
        "--addressing-style": addressing_style,
        "--profile": profile,
        "--credentials": credentials,
    }
    refuse_credential_options({**remote, "--path": str(path) if path else None})
    spec: dict[str, Any] = {"name": name, "type": kind}
    if kind == "local":
        given = [option for option, value in remote.items() if value is not None]
        if given:
            raise ConfigError(f"{', '.join(given)} only apply to s3 and b2 locations")
        if path is None:
            raise ConfigError("a local location needs --path FOLDER")
        spec["path"] = str(path.expanduser().resolve())
        return spec
    if path is not None:
        raise ConfigError("--path only applies to local locations; use --bucket and --prefix")
    if not bucket:
        raise ConfigError(f"a {kind} location needs --bucket NAME")
    if kind == "b2" and not endpoint:
        raise ConfigError(
            "a b2 location needs --endpoint, the S3 endpoint of your bucket's region",
            hint="e.g. --endpoint https://s3.us-west-004.backblazeb2.com (see the bucket's details in B2)",
        )
    fields = {
        "bucket": bucket,
        "prefix": prefix,
        "endpoint_url": endpoint,
        "region": region,
        "addressing_style": addressing_style,
        "profile": profile,
        "credentials": credentials,
    }
    spec.update({key: value for key, value in fields.items() if value is not None})
    return spec


def add_location(archive: Archive, spec: Mapping[str, Any], *, check: bool = True) -> None:
    """Add a storage location to a locked archive and commit; with ``check`` it is
    reached now, so a typo shows here and not at the next replicate."""
    name = str(spec["name"])
    locations = blob_locations(archive)
    if any(loc.get("name") == name for loc in locations):
        raise ConfigError(
            f"a storage location named {name!r} exists already",
            hint="See `photosync storage list`.",
        )
    store = make_blob_store(name, dict(spec), archive.root)  # the same validation every run does
    if check:
        _probe(store, spec)
    _save_locations(archive, [*locations, dict(spec)])
    archive.commit(f"config: add storage location {name}")


def _probe(store: BlobStore, spec: Mapping[str, Any]) -> None:
    name = spec["name"]
    if spec["type"] == "local":
        root = Path(spec["path"])
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigError(
                f"cannot use {root} for location {name!r}: {error.strerror or error}"
            ) from error
        return
    try:
        store.has(_PROBE)
    except BlobError as error:
        raise ConfigError(
            f"cannot use location {name!r}: {error}",
            hint=(error.hint + "; " if error.hint else "")
            + "check bucket, endpoint and keys, or pass --no-check to add it anyway",
        ) from error


def _save_locations(archive: Archive, locations: list[dict[str, Any]]) -> None:
    """Write only ``blob_storage.locations``; the rest of the user's file stays as it is."""
    try:
        raw = read_json(archive.root / PREFERENCES_FILE)
    except FileNotFoundError:
        raw = {}
    except ValueError as error:
        raise ConfigError(f"{PREFERENCES_FILE} is not valid JSON: {error}") from error
    if not isinstance(raw, dict):
        raise ConfigError(f"{PREFERENCES_FILE} must hold a JSON object")
    storage_prefs = raw.get("blob_storage")
    if not isinstance(storage_prefs, dict):
        storage_prefs = dict(archive.preferences()["blob_storage"])
    storage_prefs["locations"] = locations
    raw["blob_storage"] = storage_prefs
    archive.save_preferences(raw)
