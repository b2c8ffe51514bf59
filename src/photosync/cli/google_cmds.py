"""google pick: bring in photos picked by hand through Google's Picker."""

from __future__ import annotations

import tempfile
from pathlib import Path

import click
from rich.markup import escape

from photosync.cli._common import (
    RichProgress,
    Settings,
    console,
    handle_errors,
    pass_settings,
    writing,
)
from photosync.errors import ConfigError


@click.group()
def google() -> None:
    """Google Photos helpers beyond discover/replicate."""


_service_option = click.option(
    "--service",
    "name",
    default="google-photos",
    show_default=True,
    help="The Google Photos service.",
)


@google.command("pick")
@_service_option
@click.option(
    "--timeout", default=600.0, show_default=True, help="Seconds to wait for you to pick."
)
@pass_settings
@handle_errors
def pick(settings: Settings, name: str, timeout: float) -> None:
    """Open a Picker session, wait for your pick, download and record the items.

    Picked copies are derivatives (location stripped, maybe re-encoded): they are
    recorded as such and never override Takeout or file metadata.
    """
    from photosync.services.google.picker import GooglePicker, PickedSource
    from photosync.workflow.discover import discover

    with writing(settings) as archive:
        services = archive.services()
        if name not in services:
            raise ConfigError(
                f"no service named {name!r}",
                hint=f"photosync service add {name} --type google-photos",
            )
        picker = GooglePicker(name, services[name])

        def on_link(url: str) -> None:
            console.print("Open this link, pick photos, then press Done:")
            click.echo(url)  # whole, on a line of its own: a wrapped URL cannot be pasted
            click.launch(url)

        with tempfile.TemporaryDirectory(prefix="picked-", dir=archive.root / ".photosync") as tmp:
            items = picker.pick(on_link, timeout=timeout, dest_dir=Path(tmp))
            report = discover(
                archive,
                sources={name: PickedSource(name, items)},
                progress=RichProgress(not settings.quiet),
            )
    known = report.updated + report.duplicate
    console.print(f"{len(items)} picked, {report.new} new, {known} already known")


@google.command("uploaded")
@_service_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_settings
@handle_errors
def uploaded(settings: Settings, name: str, as_json: bool) -> None:
    """List what photosync uploaded to Google Photos (the only items the API still shows it)."""
    from photosync.cli._common import print_json, reading
    from photosync.services.google.library import GooglePhotosLibrary

    with reading(settings) as archive:
        services = archive.services()
    if name not in services:
        raise ConfigError(f"no service named {name!r}")
    library = GooglePhotosLibrary(name, services[name])
    try:
        items = [
            {"id": i.get("id"), "filename": i.get("filename"), "mimeType": i.get("mimeType")}
            for i in library.app_items()
        ]
    finally:
        library.close()
    if as_json:
        print_json({"items": items})
        return
    for item in items:
        console.print(f"{escape(str(item['id']))}  {escape(str(item['filename']))}")
    console.print(f"{len(items)} item(s) uploaded by photosync")
