"""Found by the red-team pass of discover's deferred run-start ``git status``
(``lock(defer_status=True)``): the seen-cache is an index lookup, and discover's
listing consulted it before ``settle``. When git's status is slow (a big archive: the
very case the deferral is for) the whole listing of a folder with nothing new runs
before settle: a file whose record the user removed or emptied by hand (uncommitted)
was counted "unchanged" by the stale seen-cache, although settle's index rebuild had
dropped its seen row. Taking the lock the old way, the file is read again, its write is
refused (the record is the user's: left alone) and the run says so and exits 4 with
the cursor kept; with the deferral it said "nothing new" and exited 0 (a service with
a cursor moves it past the file, so the photo is not read again once the user commits).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.chaos.harness import git, run
from tests.helpers import make_library, new_archive, records

pytestmark = pytest.mark.timeout(300)


def _slow_status(bin_dir: Path, seconds: float) -> dict[str, str]:
    """``git`` whose ``status`` takes ``seconds`` longer: a million records' lstat."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    real = "/usr/bin/git" if Path("/usr/bin/git").exists() else "git"
    script = bin_dir / "git"
    script.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do\n'
        f'  if [ "$a" = status ]; then sleep {seconds}; break; fi\n'
        "done\n"
        f'exec {real} "$@"\n'
    )
    script.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}


@pytest.mark.parametrize("edit", ["removed", "emptied"])
def test_a_record_changed_by_hand_is_not_unchanged_while_git_status_is_slow(
    tmp_path: Path, edit: str
) -> None:
    library = tmp_path / "lib"
    make_library(library, 4)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    root = archive.root
    archive.close()
    run(root, "discover")
    victim = sorted((root / "photos").rglob("*.json"))[0]
    if edit == "removed":
        victim.unlink()
    else:
        record = json.loads(victim.read_text())
        del record["instances"]["lib"]
        victim.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")

    result = run(root, "discover", "--json", expect=None, env=_slow_status(tmp_path / "bin", 2))
    (said,) = json.loads(result.stdout)["services"]
    # the file whose record the user changed is not "unchanged": it is not in any record
    assert said["unchanged"] == 3, said
    assert len(said["failed"]) == 1 and victim.name in said["failed"][0], said
    assert result.returncode == 4, result.stderr
    # the user's change is theirs: still uncommitted, nothing else changed
    assert git(root, "status", "--porcelain").stdout.strip().endswith(str(victim.relative_to(root)))
    assert len(records(root)) == (3 if edit == "removed" else 4)


def test_what_the_listing_passes_over_before_settle_is_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The items a stale seen-cache passed over are kept until git's status is in: a
    big folder with nothing new must not keep its whole listing in memory. Past
    ``UNSETTLED_SKIPS`` the listing waits for the status, then goes on settled."""
    import threading
    import time
    from typing import Any

    from photosync.archive.archive import Archive
    from photosync.archive.git import Git
    from photosync.workflow import discover as discover_module
    from tests.helpers import assert_check_clean

    library = tmp_path / "lib"
    make_library(library, 20)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(library)})
    root = archive.root
    archive.close()
    run(root, "discover")
    by_name = {
        r["instances"]["lib"][0]["id"].rsplit("/", 1)[-1]: r["photo_id"] for r in records(root)
    }
    last = sorted(by_name)[-1]  # listed late: after the skips reached the cap
    (victim,) = [p for p in (root / "photos").rglob("*.json") if p.stem == by_name[last]]
    victim.unlink()

    status = Git.dirty_paths

    def slow(self: Git, *args: Any, **kwargs: Any) -> list[str]:
        if threading.current_thread().name.startswith("git-status"):
            time.sleep(1)
        return status(self, *args, **kwargs)

    listed_at_settle: list[int] = []
    settle = discover_module._ServiceRun._settle

    def noting(self: Any) -> list[Any]:
        listed_at_settle.append(self.report.listed)
        return settle(self)

    monkeypatch.setattr(Git, "dirty_paths", slow)
    monkeypatch.setattr(discover_module, "UNSETTLED_SKIPS", 3)
    monkeypatch.setattr(discover_module._ServiceRun, "_settle", noting)
    archive = Archive(root)
    archive.lock(defer_status=True)
    report = discover_module.discover(archive)
    archive.close()
    (said,) = report.services
    assert listed_at_settle[0] <= 4, listed_at_settle  # not the whole listing of 20
    assert said.unchanged == 19 and len(said.failed) == 1 and victim.name in said.failed[0]
    monkeypatch.undo()
    git(root, "checkout", "--", str(victim.relative_to(root)))
    run(root, "discover")
    assert_check_clean(root)
