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


@google.command("pick")
@click.option("--service", "name", default="google-photos", show_default=True, help="The Google Photos service.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds to wait for you to pick.")
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
            raise ConfigError(f"no service named {name!r}", hint=f"photosync service add {name} --type google-photos")
        picker = GooglePicker(name, services[name])

        def on_link(url: str) -> None:
            console.print(f"Open this link, pick photos, then press Done:\n  {escape(url)}")
            click.launch(url)

        with tempfile.TemporaryDirectory(prefix="picked-", dir=archive.root / ".photosync") as tmp:
            items = picker.pick(on_link, timeout=timeout, dest_dir=Path(tmp))
            report = discover(archive, sources={name: PickedSource(name, items)}, progress=RichProgress(not settings.quiet))
    console.print(f"{len(items)} picked, {report.new} new, {report.updated} already known")
