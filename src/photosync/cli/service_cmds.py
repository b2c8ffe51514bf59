"""service add / list."""

from __future__ import annotations

from pathlib import Path

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
from photosync.services.registry import SERVICE_TYPES
from photosync.workflow.config import add_service, service_entry
from photosync.workflow.context import (
    disable_service,
    enable_service,
    locate_service,
    service_folders,
)


@click.group()
def service() -> None:
    """Configure the services photosync reads from and writes to."""


@service.command("add")
@click.argument("name")
@click.option(
    "--type",
    "type_name",
    required=True,
    type=click.Choice(sorted(SERVICE_TYPES)),
    help="Kind of service.",
)
@click.option("--path", type=click.Path(path_type=Path), help="Folder (type local).")
@click.option(
    "--include",
    "include",
    multiple=True,
    metavar="GLOB",
    help="Type local: also archive files matching GLOB that are no photo or video (repeatable).",
)
@click.option(
    "--exclude",
    "exclude",
    multiple=True,
    metavar="GLOB",
    help="Type local: never archive files matching GLOB, e.g. 'Screenshots/*' (repeatable).",
)
@click.option("--target", is_flag=True, help="replicate pushes photos to this service.")
@click.option("--no-source", is_flag=True, help="Never read photos from it (a pure backup target).")
@click.option(
    "--endpoint",
    "endpoints",
    multiple=True,
    metavar="KEY=URL",
    help="Override a service endpoint (e.g. an emulator).",
)
@click.option(
    "--requests-per-hour",
    type=click.FloatRange(min=0, min_open=True),
    help="Client-side rate limit for this service.",
)
@pass_settings
@handle_errors
def add(
    settings: Settings,
    name: str,
    type_name: str,
    path: Path | None,
    include: tuple[str, ...],
    exclude: tuple[str, ...],
    target: bool,
    no_source: bool,
    endpoints: tuple[str, ...],
    requests_per_hour: float | None,
) -> None:
    """Add service NAME."""
    entry = service_entry(
        type_name,
        path=path,
        include=include,
        exclude=exclude,
        target=target,
        source=not no_source,
        endpoints=endpoints,
        requests_per_hour=requests_per_hour,
    )
    with writing(settings) as archive:
        add_service(archive, name, entry)
    console.print(f"Added service {escape(name)}.")


@service.command("locate")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@pass_settings
@handle_errors
def locate(settings: Settings, name: str, path: Path) -> None:
    """Say where service NAME's folder is on this machine (another clone of the archive
    keeps its own; nothing is committed)."""
    with writing(settings) as archive:
        where = locate_service(archive, name, path)
    console.print(f"{escape(name)} reads {escape(where)} on this machine.")


@service.command("disable")
@click.argument("name")
@pass_settings
@handle_errors
def disable(settings: Settings, name: str) -> None:
    """Retire service NAME (it shut down): no run reads or writes it any more; its photos'
    records keep what it had (nothing is deleted)."""
    with writing(settings) as archive:
        changed = disable_service(archive, name)
    console.print(f"{escape(name)} {'is now' if changed else 'was already'} disabled.")


@service.command("enable")
@click.argument("name")
@pass_settings
@handle_errors
def enable(settings: Settings, name: str) -> None:
    """Bring back service NAME after `service disable`: runs read and write it again."""
    with writing(settings) as archive:
        changed = enable_service(archive, name)
    console.print(f"{escape(name)} {'is now' if changed else 'was already'} enabled.")


@service.command("list")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_settings
@handle_errors
def list_(settings: Settings, as_json: bool) -> None:
    """List configured services; a folder service's folder as it is on this machine."""
    with reading(settings) as archive:
        services = archive.services()
        here = service_folders(archive)
    if as_json:
        print_json(
            {
                name: {**entry, "on_this_machine": here[name]} if name in here else entry
                for name, entry in services.items()
            }
        )
        return
    if not services:
        console.print("no services yet: photosync service add NAME --type local --path DIR")
        return
    table = Table(title="services")
    for column in ("name", "type", "enabled", "source", "target", "location"):
        table.add_column(column)
    for name, entry in sorted(services.items()):
        if name in here:
            where = here[name] or f"not on this machine ({entry['path']})"
        else:
            where = str(entry.get("endpoints", {}).get("rest", ""))
        table.add_row(
            name,
            entry["type"],
            "yes" if entry.get("enabled", True) else "no (retired)",
            "yes" if entry.get("source", True) else "no",
            "yes" if entry.get("target") else "no",
            escape(where),
        )
    console.print(table)
    missing = sorted(name for name, path in here.items() if path is None)
    for name in missing:
        console.print(
            f"{escape(name)}: say where its folder is on this machine: "
            f"photosync service locate {escape(name)} PATH",
            soft_wrap=True,
        )
