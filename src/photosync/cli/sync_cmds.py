"""sync, merge-driver: one archive on several machines."""

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
    writing,
)
from photosync.errors import ExitCode, PhotosyncError
from photosync.workflow.sync import merge_file, sync


@click.command("sync")
@click.argument("remote", required=False)
@click.option("--no-push", is_flag=True, help="Merge the other machines' work here; push nothing.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@pass_settings
@handle_errors
def sync_cmd(settings: Settings, remote: str | None, no_push: bool, as_json: bool) -> None:
    """Merge this archive with REMOTE (default: the branch's remote, else origin).

    Fetch, merge records and config by photosync's rule (nothing either machine
    knows is lost), one record per photo, originals this machine lacks fetched
    from any location that has them, check, push. Refuses with uncommitted
    changes of yours or mid-merge; a merge it cannot do safely changes nothing.
    Exit 6 when check finds problems afterwards, 7 when the remote cannot be fetched
    from or pushed to.
    """
    with writing(settings) as archive:
        report = sync(
            archive,
            remote,
            push=not no_push,
            progress=RichProgress(not settings.quiet and not as_json),
        )
    if as_json:
        print_json(report.to_json())
    else:
        where = f"{report.remote}/{report.branch}"
        if report.already_up_to_date:
            console.print(f"already has everything from {escape(where)}")
        elif report.merged:
            console.print(f"merged {escape(where)} by photosync's rule")
        for note in report.notes:
            console.print(f"  {escape(note)}")
        if report.originals_fetched:
            console.print(f"originals fetched from other locations: {report.originals_fetched}")
        if report.originals_missing:
            console.print(
                f"originals not here yet (on another machine only): {report.originals_missing}"
            )
        for problem in report.check_problems:
            console.print(f"[red]check:[/] {escape(problem)}", soft_wrap=True)
        if report.pushed:
            console.print(f"pushed to {escape(where)}")
    if report.check_problems:
        sys.exit(ExitCode.CHECK_FAILED)


@click.command("merge-driver", hidden=True)
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("ours", type=click.Path(path_type=Path))
@click.argument("theirs", type=click.Path(path_type=Path))
@click.argument("relpath")
def merge_driver(base: Path, ours: Path, theirs: Path, relpath: str) -> None:
    """What git runs for photos/**/*.json and config/*.json (see .gitattributes).

    Exit 0: OURS holds the merge; 1: not mergeable safely (OURS untouched, so
    git reports the file as conflicted without markers in it).
    """
    try:
        merge_file(base, ours, theirs, relpath, root=Path.cwd())  # git runs it at the top
    except (PhotosyncError, OSError, ValueError) as error:
        err_console.print(f"[bold red]photosync merge:[/] {escape(str(error))}")
        sys.exit(1)
