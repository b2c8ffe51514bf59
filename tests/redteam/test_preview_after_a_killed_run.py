"""Found by the red-team pass (round 6): a preview run after a killed run made a commit
(fixed: the replicate plan and plain verify are readers).

``replicate`` without ``--execute`` and ``verify`` without ``--repair`` are previews
(README: they "never write a record or make a commit"), but both take the writer lock,
and taking it recovers like any writer: what a killed run left uncommitted was
committed ("recover: changes left by an interrupted run"), so HEAD moved under a
preview. ``status``, ``check`` and ``resolve --list`` leave it for the next writing run.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import archive_with_nas, killed_after


def _head(root: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


def _status(root: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(root), "status", "--porcelain"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    "preview",
    [
        pytest.param(("status",), id="status"),
        pytest.param(("resolve", "--list"), id="resolve-list"),
        pytest.param(
            ("replicate",),
            id="replicate-dry-run",
        ),
        pytest.param(
            ("verify",),
            id="verify",
        ),
    ],
)
def test_a_preview_after_a_killed_run_moves_nothing(tmp_path: Path, preview: tuple[str]) -> None:
    archive = archive_with_nas(tmp_path, 2, replicated=True)
    archive.close()
    root = archive.root
    killed_after(
        root,
        "record = next(archive.iter_records())\n"
        "record['metadata']['caption'] = 'written by a run killed before its commit'\n"
        "archive.write_record(record)",
    )
    head, left = _head(root), _status(root)
    assert left  # the killed run's write, uncommitted
    subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", *preview],
        capture_output=True,
        text=True,
        check=False,
    )
    assert _head(root) == head
    assert _status(root) == left
