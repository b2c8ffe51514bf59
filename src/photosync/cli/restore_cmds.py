"""restore: originals back into the local store. export: a browsable copy of the library."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.markup import escape

from photosync.cli._common import (
    RichProgress,
    Settings,
    console,
    err_console,
    handle_errors,
    pass_settings,
    print_json,
    reading,
    writing,
)
from photosync.errors import ExitCode
from photosync.workflow.export import (
    DEFAULT_LAYOUT,
    FORMATS,
    LAYOUT_FIELDS,
    ExportReport,
    export_library,
)
from photosync.workflow.restore import RestoreReport, restore_originals

_SHOWN = 50  # lines per kind; --json has them all

_ONLY_HELP = (
    "Only these photos: a year (2023), a month (2023-05), album:TITLE, undated, "
    "or a photo id (its first 8 characters are enough). Repeat for more."
)


@click.command()
@click.option("--from", "from_location", metavar="LOCATION", help="Fetch only from this location.")
@click.option("--only", multiple=True, metavar="SELECTOR", help=_ONLY_HELP)
@click.option("--dry-run", is_flag=True, help="Say what would come from where; fetch nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def restore(
    settings: Settings,
    from_location: str | None,
    only: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Fetch every original the records hold into the local store (blobs/).

    For a fresh clone of the archive or after blobs/ is lost: every hash of
    every record (merged copies included) that the local store lacks is fetched
    from a location that lists it with the right size, verified by SHA-256,
    max_parallel_downloads at a time. A killed run is finished by running it
    again. Writes only blobs/: no record changes, no commit. Ends with what is
    still missing and why each location does not have it (exit 4).
    """
    progress = RichProgress(not settings.quiet and not as_json)
    context = reading(settings) if dry_run else writing(settings)
    with context as archive:
        report = restore_originals(
            archive, from_location=from_location, only=only, dry_run=dry_run, progress=progress
        )
    if as_json:
        print_json(report.to_json())
    else:
        _show_restore(report)
    if not report.ok:
        sys.exit(ExitCode.PARTIAL)


def _name(report: RestoreReport, digest: str) -> str:
    filename = report.filename_of.get(digest) or "?"
    return f"{filename} (photo {report.photo_of.get(digest, '?')}, sha256:{digest[:12]})"


def _show_restore(report: RestoreReport) -> None:
    for name, why in sorted(report.unlisted.items()):
        err_console.print(f"[yellow]unavailable[/] {escape(name)}: {escape(why)}")
    verb = "would fetch" if report.dry_run else "restored"
    by_source: dict[str, int] = {}
    for source in report.restored.values():
        by_source[source] = by_source.get(source, 0) + 1
    if report.dry_run:
        for digest, source in sorted(report.restored.items())[:_SHOWN]:
            console.print(f"from {escape(source)}: {escape(_name(report, digest))}", soft_wrap=True)
        if len(report.restored) > _SHOWN:
            console.print(f"... and {len(report.restored) - _SHOWN} more (see --json)")
    for digest, why in sorted(report.failed.items())[:_SHOWN]:
        err_console.print(
            f"[red]failed[/] {escape(_name(report, digest))}: {escape(why)}", soft_wrap=True
        )
    for digest, where in sorted(report.missing.items())[:_SHOWN]:
        reasons = "; ".join(f"{name}: {why}" for name, why in sorted(where.items()))
        err_console.print(
            f"[red]missing everywhere[/] {escape(_name(report, digest))}: "
            f"{escape(reasons or 'no other location configured')}",
            soft_wrap=True,
        )
    if len(report.missing) > _SHOWN:
        err_console.print(f"... and {len(report.missing) - _SHOWN} more missing (see --json)")
    sources = ", ".join(f"{n} from {escape(s)}" for s, n in sorted(by_source.items()))
    head = (
        f"restore: {report.originals} original(s): {report.present} already in "
        f"{escape(report.local)}, {verb} {len(report.restored)}"
        + (f" ({sources})" if sources else "")
    )
    if report.ok:
        if not report.restored:
            console.print(f"{head}: nothing to do")
        else:
            console.print(head)
        return
    console.print(
        f"{head}; [red]{len(report.failed)} failed, {len(report.missing)} missing everywhere[/]"
    )
    if report.failed:
        console.print("run `photosync restore` again to retry the failed ones")


@click.command("export")
@click.argument("dest", type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--layout",
    default=DEFAULT_LAYOUT,
    show_default=True,
    help="Where each file goes. Fields: "
    + ", ".join("{" + f + "}" for f in LAYOUT_FIELDS)
    + ". {album} makes one folder per album (a photo in two albums is in both).",
)
@click.option(
    "--metadata",
    type=click.Choice(sorted(FORMATS)),
    default="xmp",
    show_default=True,
    help="xmp: a sidecar beside each file (the original untouched); embed: written into "
    "the copy with exiftool; none.",
)
@click.option(
    "--variants",
    type=click.Choice(["best", "all"]),
    default="best",
    show_default=True,
    help="best: each photo's best copy; all: every copy a photo holds (merged copies too).",
)
@click.option("--update", is_flag=True, help="Only what is new or changed since the last export.")
@click.option("--only", multiple=True, metavar="SELECTOR", help=_ONLY_HELP)
@click.option("--dry-run", is_flag=True, help="Say what would be written; write nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def export_cmd(
    settings: Settings,
    dest: Path,
    layout: str,
    metadata: str,
    variants: str,
    update: bool,
    only: tuple[str, ...],
    dry_run: bool,
    as_json: bool,
) -> None:
    """Copy the library to DEST as browsable folders, with its metadata.

    Every file is the original's bytes, verified by SHA-256 (with --metadata
    embed, a copy with the metadata written in); its modification time is the
    taken date; names are safe on FAT, NTFS and macOS and a name already taken
    gets " (1)": nothing in DEST is ever overwritten or deleted. A manifest in
    DEST/.photosync-export/ remembers what was written: --update writes only
    what is new or changed (and finishes an interrupted export); a file you
    changed or removed is left as it is. Read-only on the archive.
    """
    progress = RichProgress(not settings.quiet and not as_json)
    with reading(settings) as archive:
        report = export_library(
            archive, dest, layout=layout, metadata=metadata, variants=variants,
            update=update, only=only, dry_run=dry_run, progress=progress,
        )  # fmt: skip
    if as_json:
        print_json(report.to_json())
    else:
        _show_export(report)
    if not report.ok:
        sys.exit(ExitCode.PARTIAL)


def _show_export(report: ExportReport) -> None:
    verb = "would write" if report.dry_run else "wrote"
    if report.dry_run:
        for rel in [*report.written, *report.updated][:_SHOWN]:
            console.print(escape(rel), soft_wrap=True)
    for rel, why in sorted(report.failed.items())[:_SHOWN]:
        err_console.print(f"[red]failed[/] {escape(rel)}: {escape(why)}", soft_wrap=True)
    for note in report.notes[:_SHOWN]:
        err_console.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    if report.removed_by_user:
        err_console.print(
            f"[dim]{len(report.removed_by_user)} file(s) removed from DEST since the last "
            "export are not re-created[/]"
        )
    head = f"export to {escape(report.dest)}: {report.items} item(s)"
    if not report.written and not report.updated and not report.failed:
        console.print(f"{head}: nothing new ({report.unchanged} unchanged)")
        return
    size = f"{report.bytes_written / 1e6:.1f} MB"
    line = (
        f"{head}: {verb} {len(report.written)} new, {len(report.updated)} updated, "
        f"{report.unchanged} unchanged" + ("" if report.dry_run else f" ({size})")
    )
    if report.failed:
        line += f"; [red]{len(report.failed)} failed[/] (run with --update to retry)"
    console.print(line)
