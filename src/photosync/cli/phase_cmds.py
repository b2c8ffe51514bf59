"""discover, resolve, replicate: the three phases."""

from __future__ import annotations

import sys
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from photosync.cli._common import (
    RichProgress,
    Settings,
    console,
    err_console,
    handle_errors,
    parse_since,
    pass_settings,
    print_json,
    user_name,
    writing,
)
from photosync.errors import ExitCode
from photosync.workflow.discover import discover as run_discover
from photosync.workflow.replicate import replicate as run_replicate
from photosync.workflow.resolve import auto_resolve, combine, decide, pending


@click.command()
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--since", help="Only items changed since DATE (YYYY-MM-DD, last-week, last-month).")
@click.option("--full-scan", is_flag=True, help="Ignore the seen-cache and cursors: look at everything again.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@pass_settings
@handle_errors
def discover(settings: Settings, services: tuple[str, ...], since: str | None, full_scan: bool, as_json: bool) -> None:
    """Phase 1: find new and changed photos, store originals, record them."""
    since_at = parse_since(since)
    with writing(settings) as archive:
        report = run_discover(
            archive,
            services=list(services) or None,
            since=since_at,
            full_scan=full_scan,
            progress=RichProgress(not settings.quiet and not as_json),
        )
    if as_json:
        print_json({"services": [s.__dict__ for s in report.services], "commits": report.commits})
    else:
        table = Table(title="discover")
        for column in ("service", "listed", "unchanged", "new", "updated", "failed"):
            table.add_column(column, justify="right" if column != "service" else "left")
        for s in report.services:
            table.add_row(s.service, str(s.listed), str(s.unchanged), str(s.new), str(s.updated), str(len(s.failed)))
        console.print(table)
        for s in report.services:
            for line in s.failed[:20]:
                err_console.print(f"[red]failed[/] {escape(line)}")
            for line in s.warnings[:20]:
                err_console.print(f"[yellow]warning[/] {escape(line)}")
    if report.failed or any(s.warnings for s in report.services):
        sys.exit(ExitCode.PARTIAL)


@click.command()
@click.option("--interactive", "mode", flag_value="interactive", help="Decide open conflicts one by one.")
@click.option("--auto-resolve", "auto", type=click.Choice(["simple"]), help="Apply the automatic rules.")
@click.option("--list", "mode", flag_value="list", help="List open conflicts.")
@click.option("--json", "as_json", is_flag=True, help="With --list: machine-readable.")
@pass_settings
@handle_errors
def resolve(settings: Settings, mode: str | None, auto: str | None, as_json: bool) -> None:
    """Phase 2: settle conflicts by rule, or ask you.

    Every mode first detects conflicts and applies the automatic rules named in
    config/user-preferences.json (auto_resolve); --auto-resolve stops there.
    """
    with writing(settings) as archive:
        # conflicts are detected (and the configured rules applied) before listing or asking
        report = auto_resolve(archive, progress=RichProgress(not settings.quiet and not as_json))
        if auto or mode is None:
                console.print(
                    f"examined {report.examined}, resolved {report.now_resolved} "
                    f"({report.auto_resolved} by automatic rules), {report.needs_decision} need a decision"
                )
        if mode == "list":
            items = [
                {"photo_id": r["photo_id"], "filename": r["metadata"].get("filename"), **c}
                for r, c in pending(archive)
            ]
            if as_json:
                print_json({"pending": items})
            else:
                table = Table(title=f"{len(items)} open conflicts")
                for column in ("photo", "file", "type", "description"):
                    table.add_column(column)
                for item in items:
                    table.add_row(item["photo_id"][:8], escape(item["filename"] or ""), item["type"], escape(item["description"]))
                console.print(table)
        elif mode == "interactive":
            _interactive(archive)


def _format(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "(none)"
    if isinstance(value, dict) and "lat" in value:
        return f"{value['lat']:.5f}, {value['lng']:.5f}"
    return str(value)


def _interactive(archive: Any) -> None:
    decided = 0
    try:
        decided = _ask_each(archive)
    finally:
        archive.commit(f"resolve: decisions by {user_name()} (interactive)")


def _ask_each(archive: Any) -> int:
    decided = 0
    for record, conflict in list(pending(archive)):
        record = archive.load_record(record["photo_id"])  # fresh: earlier decisions may have changed it
        name = record["metadata"].get("filename") or record["photo_id"]
        console.print(f"\n[bold]Conflict:[/] Photo {escape(name)} — {escape(conflict['description'])}")
        options = conflict.get("options", [])
        for option in options:
            console.print(f"  {escape(option['source'])}: {escape(_format(option['value']))}")
        choices: list[tuple[str, str, Any]] = [(o["source"], f"Use {o['source']} version", o["value"]) for o in options]
        combined = combine(conflict["field"], [o["value"] for o in options]) if conflict.get("field") in ("caption", "tags") else None
        if combined is not None:
            choices.append(("combine", f"Combine: {_format(combined)}", combined))
        if conflict.get("field") in ("caption", "tags"):
            choices.append(("custom", "Custom value", None))
        choices.append(("skip", "Skip (resolve later)", None))
        console.print("\nOptions:")
        for number, (_key, label, _value) in enumerate(choices, 1):
            console.print(f"  {number}. {escape(label)}")
        try:
            picked = click.prompt(f"Choice [1-{len(choices)}]", type=click.IntRange(1, len(choices)))
            key, _label, value = choices[picked - 1]
            if key == "custom":
                text = click.prompt("Value" + (" (comma-separated tags)" if conflict["field"] == "tags" else ""))
                value = [t.strip() for t in text.split(",") if t.strip()] if conflict["field"] == "tags" else text
        except click.Abort:
            console.print(f"\nno more answers: {decided} decision(s) recorded, the rest stay open")
            return decided
        decide(record, conflict["id"], choice=key, value=value, by=user_name())
        archive.write_record(record)
        decided += 1
    console.print(f"{decided} decision(s) recorded.")
    return decided


@click.command()
@click.option("--dry-run", "execute", flag_value=False, default=True, help="Show the plan only (default).")
@click.option("--execute", "execute", flag_value=True, help="Carry the plan out.")
@click.option("--service", "services", multiple=True, help="Only this target (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@pass_settings
@handle_errors
def replicate(settings: Settings, execute: bool, services: tuple[str, ...], as_json: bool) -> None:
    """Phase 3: copy resolved photos to target services and blob stores."""
    with writing(settings) as archive:
        report = run_replicate(
            archive, services=list(services) or None, execute=execute,
            progress=RichProgress(not settings.quiet and not as_json),
        )
    counts = report.counts()
    if as_json:
        print_json({"execute": execute, "plan": counts, "done": dict(report.done), "failed": report.failed,
                    "skipped_unresolved": report.skipped_unresolved, "commits": report.commits})
    else:
        table = Table(title="replicate plan" if not execute else "replicate")
        for column in ("target", "action", "photos"):
            table.add_column(column)
        for target, actions in sorted(counts.items()):
            for action, count in sorted(actions.items()):
                table.add_row(target, action, str(count))
        console.print(table)
        if report.skipped_unresolved:
            console.print(f"{report.skipped_unresolved} photo(s) wait for `photosync resolve` first")
        if not execute and report.planned:
            console.print("dry run: nothing was changed; run with --execute to carry it out")
        for line in report.failed[:20]:
            err_console.print(f"[red]failed[/] {escape(line)}")
    if report.failed:
        sys.exit(ExitCode.PARTIAL)
