"""The ``photosync`` command. Thin: parse, call the workflow, show the result.

Exit codes: 0 ok; 1 internal error (a bug); 2 usage error; 3 user error (no
archive, bad config or value); 4 finished with some items failed (re-run to
retry them); 5 another run holds the archive; 6 a check (verify, audit) found
problems; 7 a service failed or refused; 130 interrupted (re-run to finish).
"""

from __future__ import annotations

import importlib
from pathlib import Path

import click

from photosync import __version__
from photosync.cli._common import Settings, err_console
from photosync.cli.logsetup import configure_console

#: command -> where it is defined; a run imports only its own command's module
#: (and what that needs), so ``status`` does not import replicate's HTTP stack
_COMMANDS = {
    "init": "archive_cmds:init",
    "service": "service_cmds:service",
    "storage": "storage_cmds:storage",
    "auth": "auth_cmds:auth",
    "discover": "phase_cmds:discover",
    "resolve": "phase_cmds:resolve",
    "replicate": "phase_cmds:replicate",
    "status": "archive_cmds:status_cmd",
    "audit": "archive_cmds:audit",
    "verify": "verify_cmds:verify",
    "check": "verify_cmds:check",
    "restore": "restore_cmds:restore",
    "export": "restore_cmds:export_cmd",
    "backup-archive": "backup_cmds:backup_archive_cmd",
    "recover": "backup_cmds:recover",
    "sync": "sync_cmds:sync_cmd",
    "merge-driver": "sync_cmds:merge_driver",
    "visibility": "visibility_cmds:visibility",
    "web": "web_cmds:web",
    "google": "google_cmds:google",
    "demo": "demo:demo",
}


class _LazyGroup(click.Group):
    """Commands imported when named (``--help`` imports them all to list them)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = _COMMANDS.get(cmd_name)
        if where is None:
            return None
        module, attr = where.split(":")
        command = getattr(importlib.import_module(f"photosync.cli.{module}"), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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


def main() -> None:
    cli(prog_name="photosync")
