"""storage add / list: the blob locations that hold originals.

A location entry says where blobs live, never how to log in: S3 and B2 keys
come from the environment, an AWS profile (``--profile``) or an entry of
photosync's credential store (``--credentials``), so config/ stays shareable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from photosync.cli._common import (
    Settings,
    console,
    handle_errors,
    pass_settings,
    print_json,
    reading,
    writing,
)
from photosync.workflow.config import add_location, location_spec
from photosync.workflow.context import blob_locations


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
    spec = location_spec(
        name,
        kind,
        path=path,
        bucket=bucket,
        prefix=prefix,
        endpoint=endpoint,
        region=region,
        addressing_style=addressing_style,
        profile=profile,
        credentials=credentials_ref,
    )
    with writing(settings) as archive:
        add_location(archive, spec, check=not no_check)
    console.print(f"Added storage location {escape(name)} ({escape(_where(spec))}).")
    console.print("Run `photosync replicate --execute` to copy every original there.")


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
