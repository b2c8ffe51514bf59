"""Where each run's log lives: ``.photosync/logs/``, one file per run, the newest kept.

A failed run's details (which file, which service, the service's answer, the
retries) must outlive the terminal they were printed on. The files are local
(ignored by git like the rest of ``.photosync/``) and bounded: only the last
``KEEP_RUNS`` are kept. ``last-run.json`` says how the most recent run ended, so
that ``status`` can point at its log when something went wrong.
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from photosync.archive.jsonio import atomic_write

#: how many run logs are kept (the oldest go first)
KEEP_RUNS = 30
LOG_DIR = Path(".photosync") / "logs"
LAST_RUN = "last-run.json"


def logs_dir(root: Path) -> Path:
    return root / LOG_DIR


def new_run_log(root: Path, command: str) -> Path:
    """A fresh log file for one run of ``command``; older logs beyond the bound are removed."""
    folder = logs_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    path = folder / f"{stamp}-{command}-{os.getpid()}.log"
    prune(root, keep=KEEP_RUNS - 1)
    return path


def run_logs(root: Path) -> list[Path]:
    """The kept run logs, oldest first (names start with the UTC time of the run)."""
    folder = logs_dir(root)
    return sorted(folder.glob("*.log")) if folder.is_dir() else []


def prune(root: Path, *, keep: int = KEEP_RUNS) -> list[Path]:
    """Remove all but the newest ``keep`` run logs (local diagnostics, never archive data)."""
    logs = run_logs(root)
    gone = logs[: max(0, len(logs) - keep)]
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def save_last_run(root: Path, summary: dict[str, Any]) -> None:
    data = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    atomic_write(logs_dir(root) / LAST_RUN, data.encode("utf-8"), fsync=False)


def last_run(root: Path) -> dict[str, Any] | None:
    """How the most recent logged run ended, or None (no run yet, or the file is unreadable)."""
    try:
        found = json.loads((logs_dir(root) / LAST_RUN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return found if isinstance(found, dict) else None
