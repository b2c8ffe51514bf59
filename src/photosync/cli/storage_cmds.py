"""storage add / list: the blob locations that hold originals.

A location entry says where blobs live, never how to log in: S3 and B2 keys
come from the environment, an AWS profile (``--profile``) or an entry of
photosync's credential store (``--credentials``), so config/ stays shareable.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from photosync.archive.archive import PREFERENCES_FILE, Archive
from photosync.archive.jsonio import read_json
from photosync.archive.schema import refuse_credential_options
from photosync.blobstore.registry import make_blob_store
from photosync.cli._common import (
    Settings,
    console,
    handle_errors,
    pass_settings,
    print_json,
    reading,
    writing,
)
from photosync.errors import BlobError, ConfigError
from photosync.workflow.context import blob_locations

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_PROBE = "0" * 64  # a digest no photo has: HEAD on it proves bucket access without reading data


@click.group()
def storage() -> None:
    """Configure where originals are kept (local folders, S3 or B2 buckets)."""


@storage.command("add")
@click.argument("name")
@click.option(
    "--type",
    "kind",
    required=True,
    type=click.Choice(["local", "s3", "b2"]),
    help="Kind of location.",
)
@click.option("--path", type=click.Path(path_type=Path), help="Folder (type local).")
@click.option("--bucket", help="Bucket name (s3, b2).")
@click.option("--prefix", help="Key prefix inside the bucket, e.g. photos/ (s3, b2).")
@click.option(
    "--endpoint",
    help="S3 API endpoint URL (required for b2, e.g. https://s3.us-west-004.backblazeb2.com).",
)
@click.option("--region", help="Region (s3, b2).")
@click.option(
    "--addressing-style",
    type=click.Choice(["auto", "path", "virtual"]),
    help="Bucket in the path or in the host name.",
)
@click.option("--profile", help="AWS profile with the keys (from ~/.aws/).")
@click.option(
    "--credentials",
    "credentials_ref",
    metavar="ENTRY",
    help="Entry in photosync's credential store holding the keys.",
)
@click.option("--no-check", is_flag=True, help="Do not contact the location now.")
@pass_settings
@handle_errors
def add(
    settings: Settings,
    name: str,
    kind: str,
    path: Path | None,
    bucket: str | None,
    prefix: str | None,
    endpoint: str | None,
    region: str | None,
    addressing_style: str | None,
    profile: str | None,
    credentials_ref: str | None,
    no_check: bool,
) -> None:
    """Add blob location NAME; replicate --execute then copies every original there.

    \b
    Examples:
      photosync storage add nas --type local --path /mnt/nas/photo-blobs
      photosync storage add aws --type s3 --bucket my-photos --prefix archive/ --region eu-west-1
      photosync storage add b2 --type b2 --bucket my-photos \\
          --endpoint https://s3.us-west-004.backblazeb2.com --region us-west-004

    Keys come from the environment (AWS_ACCESS_KEY_ID, ...), --profile or
    --credentials; they are never written into the archive.
    """
    if not _NAME.match(name):
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
        "--credentials": credentials_ref,
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
    else:
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
            "credentials": credentials_ref,
        }
        spec.update({key: value for key, value in fields.items() if value is not None})
    with writing(settings) as archive:
        locations = blob_locations(archive)
        if any(loc.get("name") == name for loc in locations):
            raise ConfigError(
                f"a storage location named {name!r} exists already",
                hint="See `photosync storage list`.",
            )
        store = make_blob_store(name, spec, archive.root)  # the same validation every run does
        if not no_check:
            _probe(name, kind, store, spec)
        _save_locations(archive, [*locations, spec])
        archive.commit(f"config: add storage location {name}")
    console.print(f"Added storage location {escape(name)} ({escape(_where(spec))}).")
    console.print("Run `photosync replicate --execute` to copy every original there.")


def _probe(name: str, kind: str, store: Any, spec: dict[str, Any]) -> None:
    """Reach the location now, so a typo shows up here and not at the next replicate."""
    if kind == "local":
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


def _where(spec: dict[str, Any]) -> str:
    if spec.get("type", "local") == "local":
        return str(spec.get("path") or "blobs")
    prefix = str(spec.get("prefix") or "").strip("/")
    text = f"s3://{spec.get('bucket')}/{prefix + '/' if prefix else ''}"
    if spec.get("endpoint_url"):
        text += f" at {spec['endpoint_url']}"
    return text


def _keys(spec: dict[str, Any]) -> str:
    if spec.get("type", "local") == "local":
        return "-"
    if spec.get("credentials"):
        return f"credential store entry {spec['credentials']}"
    if spec.get("profile"):
        return f"AWS profile {spec['profile']}"
    return "environment / AWS default chain"


@storage.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_settings
@handle_errors
def list_(settings: Settings, as_json: bool) -> None:
    """List the blob locations originals are kept in."""
    with reading(settings) as archive:
        locations = blob_locations(archive)
    if as_json:
        print_json({"locations": locations})
        return
    table = Table(title="storage locations")
    for column in ("name", "type", "where", "keys from"):
        table.add_column(column)
    for spec in locations:
        table.add_row(
            escape(str(spec.get("name"))),
            str(spec.get("type", "local")),
            escape(_where(spec)),
            escape(_keys(spec)),
        )
    console.print(table)
