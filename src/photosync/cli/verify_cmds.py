"""verify: check records and every copy of every original; --repair restores copies.
check: the read-only consistency check of the whole archive."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from photosync.cli._common import (
    RichProgress,
    Settings,
    console,
    err_console,
    handle_errors,
    pass_settings,
    print_json,
)
from photosync.errors import ExitCode
from photosync.workflow.check import CheckReport, check_archive
from photosync.workflow.verify import (
    ArchiveVerifyReport,
    describe,
    open_for_verify,
    parse_share,
    verify_archive,
)

_SHOWN = 50  # lines per kind of finding; --json has them all


def _share(_ctx: click.Context, _param: click.Parameter, value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return parse_share(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None


@click.command()
@click.option("--read-data", is_flag=True, help="Re-read and re-hash every blob in every location.")
@click.option(
    "--read-data-subset",
    "share",
    metavar="N%",
    callback=_share,
    help="Re-read N% of the blobs, continuing where the last run stopped (20% five times = all).",
)
@click.option(
    "--repair", is_flag=True, help="Restore missing or corrupt copies from a good copy elsewhere."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def verify(
    settings: Settings, read_data: bool, share: float | None, repair: bool, as_json: bool
) -> None:
    """Check the whole archive: records, and every original in every storage location.

    Every record file is checked against the schema; every record's original
    must be in every location with the right size (and, with --read-data, the
    right SHA-256). Blobs no record refers to are listed as orphans and kept.
    --repair copies a good copy over a missing or corrupt one; it never
    deletes, and leaves alone a blob with no good copy anywhere; it then
    updates the records' blob_locations and commits. Plain verify writes
    nothing to the records or git. Exit code 6 when problems remain.
    """
    if read_data and share is not None:
        raise click.UsageError("use either --read-data or --read-data-subset, not both")
    archive = settings.archive()
    try:
        notes, index_ok = open_for_verify(archive, repair=repair)
        for note in notes:
            err_console.print(f"[yellow]note:[/] {escape(note)}")
        report = verify_archive(
            archive,
            read_data=read_data,
            read_share=share,
            repair=repair,
            update_records=index_ok,
            progress=RichProgress(not settings.quiet and not as_json),
        )
    finally:
        archive.close()
    if as_json:
        print_json(report.to_json())
    else:
        _show(report)
    if not report.ok:
        sys.exit(ExitCode.CHECK_FAILED)


def _lines(kind: str, items: list[str]) -> None:
    for line in items[:_SHOWN]:
        err_console.print(
            f"{kind} {escape(line)}", soft_wrap=True
        )  # one finding, one line: grep-able
    if len(items) > _SHOWN:
        err_console.print(f"{kind} ... and {len(items) - _SHOWN} more (see --json)")


def _show(report: ArchiveVerifyReport) -> None:
    table = Table(title="verify")
    for column in (
        "location",
        "type",
        "present",
        "missing",
        "corrupt",
        "read",
        "orphans",
        "status",
    ):
        table.add_column(
            column, justify="left" if column in ("location", "type", "status") else "right"
        )
    for name, found in sorted(report.locations.items()):
        if found.unavailable:
            status = "[red]unavailable[/]"
        elif found.ok:
            status = "[green]ok[/]" + (" (repaired)" if found.restored else "")
        else:
            status = "[red]problems[/]"
        table.add_row(
            escape(name),
            found.type,
            str(found.present),
            str(len(found.missing)),
            str(len(found.corrupt)),
            str(found.read),
            str(len(found.orphans)),
            status,
        )
    console.print(table)
    _lines(
        "[red]invalid record[/]",
        [f"{r.path}: {'; '.join(r.problems[:3])}" for r in report.invalid_records],
    )
    for name, found in sorted(report.locations.items()):
        if found.unavailable:
            err_console.print(f"[red]unavailable[/] {escape(name)}: {escape(found.unavailable)}")
        missing, corrupt = found.remaining()  # repaired ones are listed as restored below
        _lines("[red]missing[/]", [f"in {name}: {describe(report, d)}" for d in missing])
        _lines(
            "[red]corrupt[/]",
            [f"in {name}: {describe(report, d)}: {why}" for d, why in sorted(corrupt.items())],
        )
        _lines(
            "[red]unreadable[/]",
            [f"in {name}: {describe(report, d)}: {why}" for d, why in sorted(found.errors.items())],
        )
        _lines("[green]restored[/]", [f"in {name}: {describe(report, d)}" for d in found.restored])
        _lines(
            "[red]not repaired[/]",
            [
                f"in {name}: {describe(report, d)}: {why}"
                for d, why in sorted(found.refused.items())
            ],
        )
        if found.orphans:
            err_console.print(
                f"[yellow]orphans[/] {len(found.orphans)} blob(s) in {escape(name)} that no record refers to "
                "(kept; listed with --json)"
            )
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    read = (
        f", re-read {report.read_blobs} ({report.read_mode})" if report.read_mode != "none" else ""
    )
    head = f"{report.records} record(s), {report.blobs} original(s) in {len(report.locations)} location(s){read}"
    if report.ok:
        console.print(f"verify: {head}: all good")
    else:
        refused = sum(len(f.refused) for f in report.locations.values())
        console.print(f"verify: {head}: [red]{report.problem_count()} problem(s)[/]")
        if refused:
            console.print(
                "some copies could not be repaired: no good copy exists anywhere (see above)"
            )
        elif not report.repair and any(f.missing or f.corrupt for f in report.locations.values()):
            console.print("run `photosync verify --repair` to restore them from good copies")
    if report.commit:
        console.print(f"records updated: {report.records_updated} (commit {report.commit[:10]})")


@click.command()
@click.option(
    "--read-data", is_flag=True, help="Also re-read and re-hash every copy that is checked."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def check(settings: Settings, read_data: bool, as_json: bool) -> None:
    """Check that the archive is consistent; read-only (like `git fsck`).

    Records parse and match the schema, sit where their content says, no photo
    id or content hash twice; every hash of every record is in the primary
    store and in every location the record names (sizes from one listing per
    location; --read-data re-hashes); the local index and seen-cache agree with
    the records; nothing is left uncommitted; git is on a branch with no merge
    or rebase in progress. Each problem says what to run to fix it. Exit code 6
    when problems are found. Never writes and never takes the writer lock.
    """
    archive = settings.archive()
    report = check_archive(
        archive,
        read_data=read_data,
        progress=RichProgress(not settings.quiet and not as_json),
    )
    if as_json:
        print_json(report.to_json())
    else:
        _show_check(report)
    if not report.ok:
        sys.exit(ExitCode.CHECK_FAILED)


def _show_check(report: CheckReport) -> None:
    for problem in report.problems:
        console.print(f"[red]{problem.kind}[/] {escape(problem.detail)}", soft_wrap=True)
        console.print(f"  [dim]fix:[/] {escape(problem.fix)}", soft_wrap=True)
    for note in report.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    counts = report.counts
    head = (
        f"{counts.get('records', 0)} record(s), {counts.get('originals', 0)} original(s), "
        f"{counts.get('blob_copies_present', 0)} cop(ies) listed in "
        f"{counts.get('locations_listed', 0)} location(s)"
    )
    if "blob_copies_read" in counts:
        head += f", {counts['blob_copies_read']} re-read"
    if report.ok:
        console.print(f"check: {head}: all good")
    else:
        console.print(f"check: {head}: [red]{len(report.problems)} problem(s)[/]")
