"""discover, resolve, replicate: the three phases."""

from __future__ import annotations

import sys
from pathlib import Path
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
    reading,
    user_name,
    writing,
)
from photosync.cli.archive_cmds import print_refusals
from photosync.errors import ExitCode
from photosync.model import Conflict, Record, display_name, parse_custom
from photosync.workflow.context import primary_store
from photosync.workflow.discover import discover as run_discover
from photosync.workflow.match import describe_copy
from photosync.workflow.replicate import replicate as run_replicate
from photosync.workflow.resolve import (
    CUSTOM_HINTS,
    Choice,
    Questions,
    ResolveReport,
    auto_resolve,
    choices,
    commit_decisions,
    decide_in_archive,
    format_value,
    pending,
    widens,
)
from photosync.workflow.resolve import preview as preview_resolve
from photosync.workflow.status import Refusal, refusals


@click.command()
@click.option("--service", "services", multiple=True, help="Only this service (repeatable).")
@click.option("--since", help="Only items changed since DATE (YYYY-MM-DD, last-week, last-month).")
@click.option(
    "--full-scan", is_flag=True, help="Ignore the seen-cache and cursors: look at everything again."
)
@click.option(
    "--takeout",
    "takeout",
    multiple=True,
    type=click.Path(exists=True, path_type=Path),
    help="Google Takeout .zip/.tgz part or unpacked folder; give all parts: "
    "--takeout a.zip b.zip (or --takeout a.zip --takeout b.zip).",
)
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Ask again for items a service refused for good in an earlier run.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@click.argument(
    "more_parts", nargs=-1, metavar="[PART]...", type=click.Path(exists=True, path_type=Path)
)
@pass_settings
@handle_errors
def discover(
    settings: Settings,
    services: tuple[str, ...],
    since: str | None,
    full_scan: bool,
    takeout: tuple[Path, ...],
    retry_failed: bool,
    as_json: bool,
    more_parts: tuple[Path, ...],
) -> None:
    """Phase 1: find new and changed photos, store originals, record them.

    With --takeout, the Takeout parts are the source for --service (default
    google-photos): every part is indexed before matching, nothing is unpacked.
    Google Photos can only be read from a Takeout:
    `photosync discover --service google-photos --takeout takeout-001.zip takeout-002.zip`.

    An item a service refuses for good (Flickr keeping originals from a free
    account) is reported once, with what to do, and not asked for again until
    --retry-failed; `photosync status` lists these.
    """
    if more_parts and not takeout:
        raise click.UsageError(
            "extra arguments are Takeout parts: give them after --takeout "
            "(photosync discover --service google-photos --takeout a.zip b.zip)"
        )
    takeout = (*takeout, *more_parts)
    since_at = parse_since(since)
    # git's look at every record file runs while the new files are hashed and stored
    with writing(settings, defer_status=True) as archive:
        report = run_discover(
            archive,
            services=list(services) or None,
            since=since_at,
            full_scan=full_scan,
            sources=_takeout_source(list(services), list(takeout)) if takeout else None,
            retry_failed=retry_failed,
            progress=RichProgress(not settings.quiet and not as_json),
        )
    if as_json:
        print_json(
            {
                "services": [s.__dict__ for s in report.services],
                "commits": report.commits,
                "notes": report.notes,
                "not_here": report.not_here,
            }
        )
    elif not report.services and not report.not_here:
        console.print(
            "nothing to discover: no source service is configured"
            + (" by that name" if services else "")
            + "; add one with `photosync service add NAME --type local --path DIR`"
        )
    elif report.services:
        # every listed item lands in exactly one of the other columns
        table = Table(title="discover")
        columns = ["service", "listed", "unchanged", "new", "duplicate", "updated", "failed"]
        refusals = report.refused or report.refused_before
        if refusals:
            columns.append("refused")
        for column in columns:
            table.add_column(column, justify="right" if column != "service" else "left")
        for s in report.services:
            row = [
                s.service,
                str(s.listed),
                str(s.unchanged),
                str(s.new),
                str(s.duplicate),
                str(s.updated),
                str(len(s.failed)),
            ]
            if refusals:
                row.append(str(len(s.refused) + s.refused_before))
            table.add_row(*row)
        console.print(table)
        if not (report.new or report.updated or report.duplicate or report.failed or refusals):
            console.print("nothing new: the archive is up to date with these services")
        for s in report.services:
            _print_some("[red]failed[/] (retried next run)", s.failed)
            _print_some("[red]refused for good[/]", s.refused)
            _print_some("[yellow]warning[/]", s.warnings)
            if s.left_out:
                err_console.print(
                    f"{s.service}: {len(s.left_out)} file(s) not archived (not photos or "
                    "videos; `photosync status` lists them):"
                )
                _print_some(" ", s.left_out)
            if s.excluded:
                err_console.print(f"{s.service}: {s.excluded} file(s) kept out by `exclude`")
        if report.refused_before:
            console.print(
                f"{report.refused_before} item(s) refused for good in an earlier run were not "
                "asked for again: `photosync status` lists them, `--retry-failed` asks again"
            )
    if not as_json:
        for note in report.notes:  # a Google Photos service: read from a Takeout
            console.print(f"[dim]note:[/] {escape(note)}", soft_wrap=True)
        _print_not_here(report.not_here)
    if (
        report.failed
        or report.refused
        or report.not_here
        or any(s.warnings for s in report.services)
    ):
        sys.exit(ExitCode.PARTIAL)


def _print_not_here(not_here: dict[str, str]) -> None:
    """A folder service not on this machine: skipped, said (never a silent skip)."""
    for _name, why in sorted(not_here.items()):
        err_console.print(f"[yellow]skipped[/] {escape(why)}", soft_wrap=True)


def _print_some(label: str, lines: list[str], limit: int = 20) -> None:
    for line in lines[:limit]:
        err_console.print(f"{label} {escape(line)}")
    if len(lines) > limit:
        err_console.print(f"{label} ... and {len(lines) - limit} more (--json lists them all)")


def _takeout_source(services: list[str], parts: list[Path]) -> dict[str, Any]:
    from photosync.services.google.takeout import TakeoutSource

    if len(services) > 1:
        raise click.UsageError(
            "--takeout goes with one --service (the Google Photos service it came from)"
        )
    name = services[0] if services else "google-photos"
    return {name: TakeoutSource.from_paths(parts, name=name)}


@click.command()
@click.option(
    "--interactive",
    "mode",
    flag_value="interactive",
    help="Decide conflicts one by one: the open ones, then those skipped earlier.",
)
@click.option("--skipped", is_flag=True, help="With --interactive: only the skipped conflicts.")
@click.option(
    "--auto-resolve", "auto", type=click.Choice(["simple"]), help="Apply the automatic rules."
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="With --auto-resolve: show what the rules would merge and decide; write nothing.",
)
@click.option("--list", "mode", flag_value="list", help="List open and skipped conflicts.")
@click.option("--json", "as_json", is_flag=True, help="With --list or --dry-run: machine-readable.")
@click.option(
    "--full",
    is_flag=True,
    help="Read every photo again even when nothing changed since a resolve that left "
    "nothing to do.",
)
@pass_settings
@handle_errors
def resolve(
    settings: Settings,
    mode: str | None,
    auto: str | None,
    skipped: bool,
    dry_run: bool,
    as_json: bool,
    full: bool,
) -> None:
    """Phase 2: settle conflicts by rule, or ask you.

    --auto-resolve and --interactive first detect conflicts and apply the
    automatic rules named in config/user-preferences.json (auto_resolve), and
    commit. --list and --dry-run show what that would give and write nothing.
    """
    if skipped and mode != "interactive":
        raise click.UsageError("--skipped goes with --interactive")
    if dry_run and mode is not None:
        raise click.UsageError("--dry-run previews the automatic rules: use it with --auto-resolve")
    progress = RichProgress(not settings.quiet and not as_json)
    if mode == "list" or dry_run:
        with reading(settings) as archive:
            report, questions = preview_resolve(archive, progress=progress)
            refused = refusals(archive) if not dry_run else []
        if dry_run:
            _show_preview(report, as_json)
        else:
            _list_questions(questions, as_json, refused)
        return
    with writing(settings) as archive:
        report = auto_resolve(archive, progress=progress, full=full)
        if report.unchanged:
            console.print(_RESOLVE_UNCHANGED, soft_wrap=True)
            return
        if auto or mode is None:
            console.print(
                f"examined {report.examined}, resolved {report.now_resolved} "
                f"({report.auto_resolved} by automatic rules), {report.needs_decision} need a decision"
                + (f" ({report.skipped} skipped earlier)" if report.skipped else "")
            )
            console.print(report.rate_line())
        if report.left_alone:
            err_console.print(
                f"[yellow]left alone:[/] {report.left_alone} record(s) you changed by hand "
                "and have not committed"
            )
        if mode == "interactive":
            _interactive(archive, skipped_only=skipped)


def _list_questions(questions: Questions, as_json: bool, refused: list[Refusal]) -> None:
    """Open and skipped conflicts (the first ``KEPT``, all counted), then what a
    service refused for good."""
    items: list[dict[str, Any]] = [
        {
            "photo_id": r["photo_id"],
            "filename": display_name(r),
            **c,
        }
        for r, c in questions.kept
    ]
    if as_json:
        print_json(
            {
                "pending": items,
                "pending_total": questions.total,
                "refused": [r.to_json() for r in refused],
            }
        )
        return
    print_refusals(refused)
    if not items:
        console.print("no open conflicts: nothing waits for a decision")
        return
    skipped = questions.skipped
    table = Table(title=f"{questions.total - skipped} open conflicts, {skipped} skipped")
    for column in ("photo", "file", "type", "status", "description"):
        table.add_column(column)
    for item in items:
        table.add_row(
            item["photo_id"][:8],
            escape(item["filename"] or ""),
            item["type"],
            item["status"],
            escape(item["description"]),
        )
    console.print(table)
    if questions.total > len(items):
        console.print(f"  ... and {questions.total - len(items)} more")
    if skipped:
        console.print("skipped ones are asked again: photosync resolve --interactive --skipped")


_RESOLVE_UNCHANGED = (
    "nothing changed since the last resolve, which left nothing to decide "
    "(resolve --full reads every photo again)"
)


def _show_preview(report: ResolveReport, as_json: bool) -> None:
    if as_json:
        print_json(
            {
                "dry_run": True,
                "unchanged": report.unchanged,
                "examined": report.examined,
                "would_resolve": report.now_resolved,
                "quality_variants_joined": report.merged_variants,
                "decisions": [
                    {"photo_id": photo_id, "filename": name, "decision": what}
                    for photo_id, name, what in report.decisions
                ],
                "decisions_total": report.decisions_total,
                "need_a_decision": report.needs_decision,
                "left_alone": report.left_alone,
                "automatic": {
                    "settled": report.conflicts_auto,
                    "total": report.conflicts_auto + report.conflicts_open,
                    "rate": report.automatic_rate,
                },
            }
        )
        return
    if report.unchanged:
        console.print(_RESOLVE_UNCHANGED, soft_wrap=True)
        return
    for photo_id, name, what in report.decisions:
        console.print(f"  {photo_id[:8]} {escape(name)}: {escape(what)}", soft_wrap=True)
    if report.decisions_total > len(report.decisions):
        console.print(f"  ... and {report.decisions_total - len(report.decisions)} more")
    console.print(
        f"would examine {report.examined}, resolve {report.now_resolved}, "
        f"join {report.merged_variants} quality variant(s); "
        f"{report.needs_decision} would need a decision",
        soft_wrap=True,
    )
    console.print(report.rate_line())
    if report.left_alone:
        err_console.print(
            f"[yellow]left alone:[/] {report.left_alone} record(s) you changed by hand "
            "and have not committed"
        )
    console.print(
        "dry run: nothing was changed; run `photosync resolve --auto-resolve simple` to apply",
        soft_wrap=True,
    )


def _interactive(archive: Any, *, skipped_only: bool) -> None:
    try:
        _ask_each(archive, skipped_only=skipped_only)
    finally:
        commit_decisions(archive, user_name())


_HELP = """\
  a number  choose that option (the decision is written at once)
  v         open both versions in the image viewer (edited copies)
  q         stop here: the decisions so far are kept, the rest stay open
  ?         this help
  Skip keeps the question for later: `photosync resolve --interactive --skipped`"""


def _show_variants(archive: Any, record: Record, conflict: Conflict) -> list[str]:
    """Both versions side by side; returns the blob paths for the viewer."""
    store = primary_store(archive)
    other_id = conflict["id"].split(":", 1)[1]
    rows = [describe_copy(record, store)]
    if archive.record_path(other_id) is not None:
        rows.append(describe_copy(archive.load_record(other_id), store))
    for label, row in zip(("this ", "other"), rows, strict=False):
        console.print(
            f"  {label}: {escape(row['filename'] or '')}  dimensions {row['dimensions']}, "
            f"{row['bytes']:,} bytes, on {', '.join(row['services'])}"
        )
        console.print(
            f"         {escape(row['blob'] or '(not in the local store)')}", soft_wrap=True
        )
    return [row["blob"] for row in rows if row["blob"]]


class _Quit(Exception):
    """The person pressed q: stop asking, keep what was decided."""


def _ask_custom(field_name: str) -> Any:
    while True:
        text = click.prompt(CUSTOM_HINTS[field_name])
        try:
            return parse_custom(field_name, text)
        except ValueError as error:
            console.print(f"[yellow]{escape(str(error))}[/]; try again")


def _answer(answers: list[Choice], viewable: list[str]) -> int:
    """The chosen option's index; raises _Quit on q."""
    hint = f"Choice [1-{len(answers)}] (? help, q quit" + (", v viewer)" if viewable else ")")
    while True:
        answer = click.prompt(hint).strip().lower()
        if answer == "q":
            raise _Quit
        if answer == "?":
            console.print(_HELP)
            continue
        if answer == "v" and viewable:
            for path in viewable:
                click.launch(path)
            continue
        if answer.isdigit() and 1 <= int(answer) <= len(answers):
            return int(answer) - 1
        console.print(f"please answer a number from 1 to {len(answers)}, ? for help, q to stop")


def _ask_each(archive: Any, *, skipped_only: bool = False) -> int:
    questions = [] if skipped_only else list(pending(archive, ("open",)))
    questions += list(pending(archive, ("skipped",)))
    decided = 0
    for number, (listed, conflict) in enumerate(questions, 1):
        if archive.record_path(listed["photo_id"]) is None:
            continue  # joined into another record by an earlier answer
        # fresh: earlier answers may have changed it
        record = archive.load_record(listed["photo_id"])
        current = next((c for c in record["conflicts"] if c["id"] == conflict["id"]), None)
        if current is None or current["status"] != conflict["status"]:
            continue
        again = " (skipped earlier)" if conflict["status"] == "skipped" else ""
        console.print(
            f"\n[bold][{number} of {len(questions)}] Conflict:[/] Photo "
            f"{escape(display_name(record))} — {escape(conflict['description'])}{again}",
            soft_wrap=True,
        )
        viewable: list[str] = []
        if conflict["type"] == "edit_variant":
            viewable = _show_variants(archive, record, conflict)
        elif conflict["type"] != "processing_failed":
            for option in conflict.get("options", []):
                console.print(
                    f"  {escape(option['source'])}: {escape(format_value(option['value']))}"
                )
        answers = choices(conflict)
        console.print("\nOptions:")
        for index, answer in enumerate(answers, 1):
            console.print(f"  {index}. {escape(answer.label)}")
        try:
            chosen = answers[_answer(answers, viewable)]
            key, value = chosen.key, chosen.value
            if key == "custom":
                value = _ask_custom(conflict.get("field") or "")
            widening = widens(conflict, key)
            if widening and not click.confirm(
                f"Make this photo {value}? This widens who can see it", default=False
            ):
                continue
        except (click.Abort, _Quit) as stop:
            left = len(questions) - number + 1
            console.print(
                f"\nstopped: {decided} decision(s) recorded, {left} question(s) left for later"
            )
            if isinstance(stop, click.Abort):
                raise  # no answer (input closed): exit 3, the decisions so far committed
            return decided
        decide_in_archive(
            archive, record["photo_id"], conflict["id"], choice=key, value=value, by=user_name()
        )
        decided += 1
    console.print(f"{decided} decision(s) recorded.")
    return decided


@click.command()
@click.option(
    "--execute/--dry-run",
    "execute",
    default=False,
    help="Carry the plan out (--execute), or only show it (--dry-run, the default).",
)
@click.option("--service", "services", multiple=True, help="Only this target (repeatable).")
@click.option("--verbose", is_flag=True, help="List the plan photo by photo.")
@click.option(
    "--retry-failed",
    is_flag=True,
    help="Try again the uploads a service refused for good in an earlier run.",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable, photo by photo.")
@click.option(
    "--full",
    is_flag=True,
    help="Plan every photo again, and look at every photo's blob locations, even when "
    "nothing changed since a replicate that left nothing to do; check the size of every "
    "copy in a local folder too (a truncated one is replaced).",
)
@pass_settings
@handle_errors
def replicate(
    settings: Settings,
    execute: bool,
    services: tuple[str, ...],
    verbose: bool,
    retry_failed: bool,
    as_json: bool,
    full: bool,
) -> None:
    """Phase 3: copy resolved photos to target services and storage locations.

    Without --execute this is a preview: the uploads, visibility and album
    changes and the copies of originals it would make; nothing is changed.
    An upload a service refuses for good (a file type it does not take) becomes
    a problem on the photo and is not tried again until --retry-failed.
    """
    # the plan is a reader's: what a killed run left stays for the next writing run
    with (writing if execute else reading)(settings) as archive:
        report = run_replicate(
            archive,
            services=list(services) or None,
            execute=execute,
            retry_failed=retry_failed,
            progress=RichProgress(not settings.quiet and not as_json),
            full=full,
        )
    counts = report.counts()
    if as_json:
        print_json(
            {
                "execute": execute,
                "plan": counts,
                "actions": [action.__dict__ for action in report.planned],
                "actions_total": report.planned_total,
                "done": dict(report.done),
                "failed": report.failed,
                "refused": report.refused,
                "refused_before": report.refused_before,
                "pending_uploads": report.pending_uploads,
                "skipped_unresolved": report.skipped_unresolved,
                "waiting": [w.__dict__ for w in report.waiting],
                "commits": report.commits,
                "not_here": report.not_here,
                "unchanged": report.unchanged,
                "archive_copy": report.archive_copy.to_json() if report.archive_copy else None,
                "blobs": report.blobs.to_json() if report.blobs else None,
            }
        )
    else:
        rows = [
            (target, action, count)
            for target, actions in sorted(counts.items())
            for action, count in sorted(actions.items())
            if count
        ]
        if rows:
            table = Table(title="replicate plan" if not execute else "replicate")
            for column in ("target", "action", "photos"):
                table.add_column(column)
            for target, action, count in rows:
                table.add_row(target, action, str(count))
            console.print(table)
        else:
            console.print(
                "nothing to replicate"
                + (
                    ""
                    if report.skipped_unresolved or report.failed or report.not_here
                    else ": every photo is where it should be"
                )
            )
        if verbose:
            for planned in report.planned:
                console.print(
                    f"  {planned.action} {escape(planned.target)}: {planned.photo_id[:8]} "
                    f"{escape(planned.filename or '')}",
                    soft_wrap=True,
                )
            if report.planned_total > len(report.planned):
                console.print(f"  ... and {report.planned_total - len(report.planned)} more")
        if report.skipped_unresolved:
            console.print(
                f"{report.skipped_unresolved} photo(s) wait for `photosync resolve` first:"
            )
            shown = report.waiting if verbose else report.waiting[:20]
            for item in shown:
                console.print(
                    f"  {item.photo_id[:8]} {escape(item.filename or '')}: "
                    + escape("; ".join(item.reasons)),
                    soft_wrap=True,
                )
            more = report.skipped_unresolved - len(shown)
            if more:
                console.print(
                    f"  ... and {more} more"
                    + (" (--verbose)" if len(shown) < len(report.waiting) else "")
                )
        if not execute and report.planned:
            console.print("dry run: nothing was changed; run with --execute to carry it out")
        _print_some("[red]failed[/] (retried next run)", report.failed)
        _print_some("[red]refused for good[/]", report.refused)
        if report.refused_before:
            console.print(
                f"{report.refused_before} upload(s) refused for good in an earlier run were not "
                "tried again: `photosync status` lists them, `--retry-failed` tries again"
            )
        _print_some("[yellow]waiting for the service's search[/]", report.pending_uploads)
        _print_not_here(report.not_here)
    if report.failed or report.refused or report.pending_uploads or report.not_here:
        sys.exit(ExitCode.PARTIAL)
