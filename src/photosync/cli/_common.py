"""What every command shares: the console, the archive option, progress bars."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from photosync.archive.archive import Archive
from photosync.cli.logsetup import run_log
from photosync.errors import ExitCode, InternalError, PhotosyncError
from photosync.redaction import redact_text
from photosync.workflow.resolve import decider

log = logging.getLogger("photosync.cli")
console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


class Settings:
    """Global options, passed to every command through click's context."""

    def __init__(self, archive: Path | None, quiet: bool, verbose: int = 0) -> None:
        self.archive_path = archive
        self.quiet = quiet
        self.verbose = verbose

    def archive(self) -> Archive:
        return Archive.find(self.archive_path)


pass_settings = click.make_pass_decorator(Settings)


def user_name() -> str:
    """Who made a decision, for the record (``photosync web`` asks the same function)."""
    return decider()


@contextmanager
def writing(settings: Settings, *, defer_status: bool = False) -> Iterator[Archive]:
    """The archive, locked and recovered, for a command that changes it.

    The run is logged to its own file under ``.photosync/logs/`` from the moment
    it holds the lock (a run refused by the lock touches nothing, not even logs).
    ``defer_status``: see ``Archive.lock``; what it finds late is shown at the end.
    """
    archive = settings.archive()
    try:
        notes = archive.lock(defer_status=defer_status)
        with run_log(archive.root, _command_name()):
            _show_recovered(notes)
            _warn_damaged(archive)
            yield archive
            archive.settle()
            _show_recovered(archive.late_notes)
            if archive.late_notes:
                _warn_damaged(archive)
    finally:
        archive.close()


def _show_recovered(notes: list[str]) -> None:
    for note in notes:
        log.info("recovered: %s", note)
        err_console.print(f"[yellow]recovered:[/] {escape(note)}")


def _command_name() -> str:
    """``discover``, ``storage add``: the command being run, for the log's name."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return "run"
    return " ".join(ctx.command_path.split()[1:]) or "run"


@contextmanager
def reading(settings: Settings) -> Iterator[Archive]:
    archive = settings.archive()
    try:
        archive.ensure_index()
        _warn_damaged(archive)
        yield archive
    finally:
        archive.close()


def _warn_damaged(archive: Archive) -> None:
    for line in archive.damaged_records[:20]:
        err_console.print(f"[yellow]damaged record, skipped:[/] {escape(line)}")
    if archive.damaged_records:
        err_console.print(
            "[dim]hint:[/] `photosync verify` lists them all; restore with git or fix by hand"
        )


class RichProgress:
    """Progress sink for the workflow: a rich bar on a terminal, nothing otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and err_console.is_terminal
        self._progress: Progress | None = None
        self._task: Any = None

    def start(self, label: str, total: int | None = None) -> None:
        if not self.enabled:
            return
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
        )
        self._progress.start()
        self._task = self._progress.add_task(label, total=total)

    def advance(self, count: int = 1) -> None:
        if self._progress is not None:
            self._progress.advance(self._task, count)

    def note(self, message: str) -> None:
        err_console.print(message)

    def finish(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


def print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str))


def parse_since(value: str | None) -> datetime | None:
    """``YYYY-MM-DD``, an ISO timestamp, ``last-week`` or ``last-month``."""
    if value is None:
        return None
    now = datetime.now(UTC)
    named = {
        "last-week": timedelta(days=7),
        "last-month": timedelta(days=30),
        "yesterday": timedelta(days=1),
    }
    if value in named:
        return now - named[value]
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date; use YYYY-MM-DD, an ISO time, last-week or last-month",
            param_hint="--since",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def handle_errors(func: F) -> F:
    """Turn user-facing errors into a message and a documented exit code, no traceback."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except PhotosyncError as error:
            # the last net: a message that quoted a library's text verbatim is masked here too
            err_console.print(f"[bold red]error:[/] {escape(redact_text(str(error)))}")
            if error.hint:
                err_console.print(f"[dim]hint:[/] {escape(redact_text(error.hint))}")
            sys.exit(error.exit_code)
        except InternalError as error:
            err_console.print(f"[bold red]internal error:[/] {escape(redact_text(str(error)))}")
            err_console.print(
                "[dim]hint:[/] this is a bug in photosync, not something you did: please report it"
                " with the command you ran; committed work is kept"
            )
            sys.exit(ExitCode.INTERNAL)
        except click.Abort:
            # a question met closed input (a script, no terminal) or Ctrl-C: not a bug
            err_console.print(
                "[bold red]error:[/] no answer to the question (input closed or interrupted): "
                "nothing it asked about was changed"
            )
            err_console.print(
                "[dim]hint:[/] run it in a terminal to answer, or pass --yes where the command offers it"
            )
            sys.exit(ExitCode.USER_ERROR)
        except KeyboardInterrupt:
            err_console.print(
                "[yellow]interrupted[/]: committed work is kept; run the same command again to finish"
            )
            sys.exit(ExitCode.INTERRUPTED)
        except (
            OSError,
            sqlite3.OperationalError,
        ) as error:  # the disk: full, read-only, no permission
            reason = (error.strerror if isinstance(error, OSError) else None) or str(error)
            filename = getattr(error, "filename", None)
            where = f" ({filename})" if filename else ""
            err_console.print(f"[bold red]error:[/] {escape(redact_text(reason + where))}")
            err_console.print(
                "[dim]hint:[/] free some space or fix the folder's permissions, then run the same command again; committed work is kept"
            )
            sys.exit(ExitCode.USER_ERROR)

    return wrapper  # type: ignore[return-value]
