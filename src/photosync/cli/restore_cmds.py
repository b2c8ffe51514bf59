"""restore: originals back into the local store. export: a browsable copy of the library."""

from __future__ import annotations

import sys

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
