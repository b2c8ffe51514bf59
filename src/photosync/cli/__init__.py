"""The ``photosync`` command. Thin: parse, call the workflow, show the result.

Exit codes: 0 ok; 1 internal error (a bug); 2 usage error; 3 user error (no
archive, bad config or value); 4 finished with some items failed (re-run to
retry them); 5 another run holds the archive; 6 a check (verify, audit) found
problems; 7 a service failed or refused; 130 interrupted (re-run to finish).
"""

from __future__ import annotations

from pathlib import Path

import click

from photosync import __version__
from photosync.cli._common import Settings, err_console
from photosync.cli.archive_cmds import audit, init, status_cmd
from photosync.cli.auth_cmds import auth
from photosync.cli.backup_cmds import backup_archive_cmd, recover
from photosync.cli.demo import demo
from photosync.cli.google_cmds import google
from photosync.cli.logsetup import configure_console
from photosync.cli.phase_cmds import discover, replicate, resolve
from photosync.cli.restore_cmds import export_cmd, restore
from photosync.cli.service_cmds import service
from photosync.cli.storage_cmds import storage
from photosync.cli.sync_cmds import merge_driver, sync_cmd
from photosync.cli.verify_cmds import check, verify
from photosync.cli.visibility_cmds import visibility
from photosync.cli.web_cmds import web


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="photosync")
@click.option(
    "--archive",
    type=click.Path(path_type=Path),
    envvar="PHOTOSYNC_ARCHIVE",
    help="The archive to use (default: the current folder or a parent; or $PHOTOSYNC_ARCHIVE).",
)
@click.option("-q", "--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="Log lines on the terminal: -v what happens, -vv every request and retry.",
)
@click.pass_context
def cli(ctx: click.Context, archive: Path | None, quiet: bool, verbose: int) -> None:
    """photosync keeps your photos alive across services and storage.

    \b
    Exit codes: 0 ok, 1 internal error, 2 usage, 3 user error, 4 some items
    failed, 5 archive locked, 6 check found problems, 7 service error,
    130 interrupted.

    \b
    Every run that changes the archive is logged in full (debug included,
    secrets masked) to .photosync/logs/; the last 30 runs are kept.
    """
    configure_console(verbose, err_console)
    ctx.obj = Settings(archive, quiet, verbose)


for command in (
    init,
    service,
    storage,
    auth,
    discover,
    resolve,
    replicate,
    status_cmd,
    audit,
    verify,
    check,
    restore,
    export_cmd,
    backup_archive_cmd,
    recover,
    sync_cmd,
    merge_driver,
    visibility,
    web,
    google,
    demo,
):
    cli.add_command(command)


def main() -> None:
    cli(prog_name="photosync")
