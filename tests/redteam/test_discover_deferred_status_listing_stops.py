"""Found by the red-team pass of discover's deferred run-start ``git status``
(``lock(defer_status=True)``): while git's status runs, discover holds the files it has
hashed and stored (up to a batch) in ``_settled``. A listing that stopped then (a
service outage: ``ServiceError``) raised straight out of ``_settled``: the held files
were never recorded and their stored blobs were thrown away with the batch, although
discover's rule is "the service failed: keep what was done". Taken the old way the
same run records them; with a slow status (a big archive) a service that keeps failing
part-way through its first batch never got anything archived.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.archive.git import Git
from photosync.errors import ServiceError
from photosync.services.registry import make_service
from photosync.workflow.discover import discover
from tests.helpers import assert_check_clean, make_library, new_archive, records

pytestmark = pytest.mark.timeout(300)


def test_files_stored_before_a_listing_stops_are_recorded_while_git_status_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status = Git.dirty_paths

    def slow(self: Git, *args: Any, **kwargs: Any) -> list[str]:
        if threading.current_thread().name.startswith("git-status"):
            time.sleep(2)  # git's lstat of a million records
        return status(self, *args, **kwargs)

    library = tmp_path / "lib"
    make_library(library, 80)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    archive.lock()
    archive.close()
    service = make_service("lib", {"type": "local", "path": str(library), "enabled": True})
    listing = service.list_items  # type: ignore[attr-defined]

    def stops(*args: Any, **kwargs: Any) -> Iterator[Any]:
        for count, item in enumerate(listing(*args, **kwargs)):
            if count == 70:
                raise ServiceError("the service went away")
            yield item

    service.list_items = stops  # type: ignore[attr-defined]
    monkeypatch.setattr(Git, "dirty_paths", slow)
    archive = Archive(archive.root)
    archive.lock(defer_status=True)
    assert archive.settling
    report = discover(archive, sources={"lib": service})
    archive.close()
    (said,) = report.services
    assert "listing stopped" in said.failed[0]
    assert said.new > 0, said  # taken the old way: 39 of the 70 listed
    assert len(records(archive.root)) == said.new
    monkeypatch.undo()
    assert_check_clean(archive.root)
