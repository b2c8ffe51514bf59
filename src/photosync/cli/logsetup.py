"""Logging is configured here, never in the core: the core only calls ``logging.getLogger``.

Two destinations. The terminal gets log lines only when asked (``-v`` info,
``-vv`` debug); the CLI's own summaries stay the normal output. Every run that
changes an archive also writes everything, debug included, to its own file under
``.photosync/logs/`` (see ``archive.runlog``). Both go through ``RedactingFilter``:
no secret reaches a terminal or a file through a log line.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.logging import RichHandler

from photosync.archive import runlog
from photosync.errors import PhotosyncError
from photosync.redaction import RedactingFilter

ROOT_LOGGER = "photosync"
FILE_FORMAT = "%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s [%(threadName)s] %(message)s"

log = logging.getLogger("photosync.cli")
_console_handler: logging.Handler | None = None


def configure_console(verbosity: int, console: Console) -> None:
    """``-v``: info on stderr; ``-vv``: debug. Replaces an earlier setting (the demo nests runs)."""
    global _console_handler
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(logging.DEBUG)
    if _console_handler is not None:
        logger.removeHandler(_console_handler)
        _console_handler = None
    if verbosity <= 0:
        return
    handler = RichHandler(
        console=console,
        show_time=False,
        show_path=False,
        markup=False,
        rich_tracebacks=False,
    )
    handler.setLevel(logging.INFO if verbosity == 1 else logging.DEBUG)
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    _console_handler = handler


class _ProblemCounter(logging.Handler):
    """Counts the warnings and errors of a run: a run with any had failures."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()


class _RunLogFile(logging.FileHandler):
    """The run's log file; a line that cannot be written (the disk filled up) is dropped
    quietly: the run reports the full disk itself, once, not a traceback per line."""

    def handleError(self, record: logging.LogRecord) -> None:
        return


@contextmanager
def run_log(root: Path, command: str) -> Iterator[Path | None]:
    """Everything logged while the block runs goes to a new file in ``.photosync/logs/``."""
    try:
        path = runlog.new_run_log(root, command.replace(" ", "-"))
        file_handler: logging.Handler = _RunLogFile(path, encoding="utf-8", delay=False)
        os.chmod(path, 0o600)  # file names, service answers: the owner's business only
    except OSError:  # a full or read-only disk: the run itself says so; no log is no reason to stop
        path, file_handler = None, logging.NullHandler()
    formatter = logging.Formatter(FILE_FORMAT, datefmt="%Y-%m-%dT%H:%M:%S")
    formatter.converter = time.gmtime
    file_handler.setFormatter(formatter)
    file_handler.setLevel(logging.DEBUG)
    redacting = RedactingFilter()
    file_handler.addFilter(redacting)
    counter = _ProblemCounter()
    counter.addFilter(redacting)
    logger = logging.getLogger(ROOT_LOGGER)
    logger.setLevel(logging.DEBUG)
    logger.addHandler(file_handler)
    logger.addHandler(counter)
    started = datetime.now(UTC)
    outcome = "finished"
    log.info("photosync %s in %s", command, root)
    try:
        yield path
    except PhotosyncError as error:
        outcome = "error"
        log.error("stopped: %s%s", error, f" (hint: {error.hint})" if error.hint else "")
        raise
    except KeyboardInterrupt:
        outcome = "interrupted"
        log.warning("interrupted; committed work is kept")
        raise
    except BaseException:
        outcome = "internal error"
        log.exception("internal error (a bug)")
        raise
    finally:
        log.info("%s, %d problem(s) logged", outcome, counter.count)
        logger.removeHandler(file_handler)
        logger.removeHandler(counter)
        file_handler.close()
        summary = {
            "command": command,
            "log": str(path.relative_to(root)) if path is not None else None,
            "started": started.isoformat(timespec="seconds"),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "outcome": outcome,
            "problems": counter.count,
            "first_problem": counter.first,
        }
        with contextlib.suppress(OSError):  # never hide the run's own error behind this one
            runlog.save_last_run(root, summary)
