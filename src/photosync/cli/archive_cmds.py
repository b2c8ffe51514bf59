"""init, status, audit."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from photosync.archive.archive import Archive
from photosync.cli._common import (
    Settings,
    console,
    handle_errors,
    pass_settings,
    print_json,
    reading,
)
from photosync.errors import ExitCode
from photosync.workflow.status import (
    ArchiveStatus,
    Refusal,
    estimated_dates,
    status,
    visibility_audit,
)


@click.command()
@click.argument("path", type=click.Path(path_type=Path))
@handle_errors
def init(path: Path) -> None:
    """Create a new archive (a git repository) at PATH."""
    archive = Archive.init(path)
    console.print(f"Created photosync archive in {escape(str(archive.root))}")
    console.print("Next: photosync service add NAME --type local --path DIR")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option(
    "--estimated-dates",
    is_flag=True,
    help="List the photos dated by a file time or an upload time instead.",
)
@pass_settings
@handle_errors
def status_cmd(settings: Settings, as_json: bool, estimated_dates: bool) -> None:
    """Counts by phase, per service, dates, open and skipped conflicts and problems."""
    if estimated_dates:
        _list_estimated_dates(settings, as_json)
        return
    with reading(settings) as archive:
        result = status(archive)
    if as_json:
        print_json(result.to_json())
        return
    # the path on a line of its own: a table title would wrap it mid-word
    console.print("[bold]photosync archive[/]")
    console.print(escape(result.root), soft_wrap=True)
    table = Table(show_header=False)
    table.add_row("photos", str(result.photos))
    table.add_row("size", f"{result.bytes_total / 1e6:.1f} MB")
    table.add_row(
        "originals kept",
        f"{result.originals} ({result.originals_bytes / 1e6:.1f} MB, merged copies included)",
    )
    for state in ("discovered", "resolved", "replicated"):
        table.add_row(f"  {state}", str(result.by_state.get(state, 0)))
    table.add_row("dates", _dates_line(result))
    table.add_row("albums", str(len(result.albums)))
    table.add_row("with problems", str(result.with_problems))
    if result.refused:
        table.add_row("refused for good", str(len(result.refused)))
    table.add_row("open conflicts", str(sum(result.open_conflicts.values())))
    for kind, count in sorted(result.open_conflicts.items()):
        table.add_row(f"  {kind}", str(count))
    table.add_row("skipped conflicts", str(sum(result.skipped_conflicts.values())))
    for kind, count in sorted(result.skipped_conflicts.items()):
        table.add_row(f"  {kind}", str(count))
    console.print(table)
    if result.originals_not_here:
        console.print(
            f"originals not here yet: {result.originals_not_here} (another machine discovered "
            "them; not lost). Fix: `photosync restore` (or `photosync sync`) once a location "
            "this machine reaches holds them: on that machine `photosync storage add` a shared "
            "location and `photosync replicate --execute`",
            soft_wrap=True,
        )
    if result.dates["estimated"]:
        console.print(
            "estimated dates are a file's or an upload's time, not when the photo was taken: "
            "`photosync status --estimated-dates` lists them"
        )
    print_refusals(result.refused)
    if not result.services:
        console.print("no services yet: photosync service add NAME --type local --path DIR")
        _print_last_run(result.last_run)
        return
    services = Table(title="services")
    for column in ("name", "type", "role", "instances", "last discover"):
        services.add_column(column)
    for name, settings_ in sorted(result.services.items()):
        role = "/".join(
            r
            for r, on in (
                ("source", settings_.get("source", True)),
                ("target", settings_.get("target")),
            )
            if on
        )
        last = result.sync_state.get(name, {}).get("last_discover") or "never"
        services.add_row(
            name, settings_["type"], role, str(result.instances_by_service.get(name, 0)), last
        )
    console.print(services)
    print_left_out(result.left_out)
    _print_last_run(result.last_run)


def print_left_out(left_out: dict[str, dict[str, Any]], limit: int = 10) -> None:
    """Files a folder holds that are not archived: counted and named, never silent."""
    for name, seen in sorted(left_out.items()):
        files = seen.get("left_out", [])
        if files:
            console.print(
                f"[yellow]{len(files)} file(s) in {escape(name)} not archived[/] "
                "(not photos or videos; an `include` pattern archives them):"
            )
            for line in files[:limit]:
                console.print(f"  {escape(line)}", soft_wrap=True)
            if len(files) > limit:
                console.print(f"  ... and {len(files) - limit} more (status --json lists them all)")
        if seen.get("excluded"):
            console.print(f"{seen['excluded']} file(s) in {escape(name)} kept out by `exclude`")


def _print_last_run(last: dict[str, Any] | None) -> None:
    """Point at the log of the last run when it had failures: the details live there."""
    if not last or not last.get("problems"):
        return
    console.print(
        f"[yellow]last run[/] (photosync {escape(str(last.get('command')))}, "
        f"{escape(str(last.get('finished')))}) logged {last['problems']} problem(s)"
        + (f", first: {escape(str(last['first_problem']))}" if last.get("first_problem") else ""),
        soft_wrap=True,
    )
    if last.get("log"):
        console.print(f"details: {escape(str(last['log']))}", soft_wrap=True)


def print_refusals(refused: list[Refusal], limit: int = 10) -> None:
    """What a service refused for good, with what to do; not retried until --retry-failed."""
    if not refused:
        return
    console.print(
        f"{len(refused)} item(s) refused for good by a service (not retried until "
        "`discover --retry-failed` / `replicate --execute --retry-failed`):"
    )
    for entry in refused[:limit]:
        console.print(
            f"  {escape(entry.name)} ({entry.phase}, {escape(entry.service)}): {escape(entry.reason)}",
            soft_wrap=True,
        )
    if len(refused) > limit:
        console.print(f"  ... and {len(refused) - limit} more (status --json lists them all)")


_ESTIMATE_NAMES = {"file:": "file time", "service:": "upload time", "upload": "upload time"}


def _estimate_name(source: str) -> str:
    return next((n for p, n in _ESTIMATE_NAMES.items() if source.startswith(p)), source)


def _dates_line(result: ArchiveStatus) -> str:
    """e.g. "80 from the photo, 9 estimated (file time 7, upload time 2), 2 none"."""
    by_name: Counter[str] = Counter()
    for source, count in result.estimated_by_source.items():
        by_name[_estimate_name(source)] += count
    line = f"{result.dates['taken']} from the photo, {result.dates['estimated']} estimated"
    if by_name:
        line += " (" + ", ".join(f"{c} {n}" for n, c in sorted(by_name.items())) + ")"
    return line + f", {result.dates['none']} none"


def _list_estimated_dates(settings: Settings, as_json: bool) -> None:
    with reading(settings) as archive:
        found = estimated_dates(archive)
    if as_json:
        print_json({"estimated_dates": [e.to_json() for e in found]})
        return
    if not found:
        console.print("no estimated dates: every dated photo says when it was taken")
        return
    table = Table(title=f"{len(found)} photos with an estimated date")
    for column in ("photo", "file", "date", "what it is"):
        table.add_column(column)
    for entry in found:
        table.add_row(
            entry.photo_id[:8],
            escape(entry.filename or ""),
            entry.taken_date,
            f"{_estimate_name(entry.taken_date_source)} ({entry.taken_date_source})",
        )
    console.print(table)


@click.command()
@click.option(
    "--visibility-check",
    is_flag=True,
    help="List every photo whose visibility on a service differs from its canonical level.",
)
@click.option(
    "--live",
    is_flag=True,
    help="Ask the services what they show now (Flickr: one call per photo) instead of the archive.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_settings
@handle_errors
def audit(settings: Settings, visibility_check: bool, live: bool, as_json: bool) -> None:
    """Check for privacy discrepancies (exit 6 when a photo is shown wider than approved)."""
    if live:
        visibility_check = True
    if not visibility_check:
        raise click.UsageError("say what to audit: --visibility-check")
    with reading(settings) as archive:
        findings = visibility_audit(archive, live=live)
    wider = [f for f in findings if f.wider]
    if as_json:
        print_json(
            {"discrepancies": [f.to_json() for f in findings], "wider_than_canonical": len(wider)}
        )
    elif not findings:
        console.print(
            "no visibility discrepancies: every service shows each photo at its canonical level"
        )
    else:
        table = Table(
            title=f"visibility discrepancies: {len(findings)} ({len(wider)} wider than canonical)"
        )
        for column in ("photo", "file", "service", "on service", "canonical"):
            table.add_column(column)
        for finding in findings:
            style = "bold red" if finding.wider else None
            table.add_row(
                finding.photo_id[:8],
                escape(finding.filename or ""),
                finding.service,
                finding.current,
                finding.canonical,
                style=style,
            )
        console.print(table)
    if wider:
        raise SystemExit(ExitCode.CHECK_FAILED)
