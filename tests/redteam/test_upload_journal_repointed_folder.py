"""Found by the red-team pass (the same hole today's change closed for the blob-copy
journal, still open for replicate's upload journal): a folder target service's upload
journal is keyed by the service's name only. A replicate that stopped after a photo
was copied into the target folder and journalled "done", and before its record was
written, leaves that entry behind. When the service is then pointed at another folder
(``photosync service locate``: a new backup disk), the re-run takes the journal's word
and records the photo as present in the service, with an instance id that names a
file the new folder does not have: the archive claims a backup copy that is not there,
and no later run copies it (the record says it is done).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.workflow.discover import discover
from photosync.workflow.resolve import auto_resolve
from tests.chaos.harness import run
from tests.helpers import make_library, new_archive

pytestmark = pytest.mark.timeout(300)


def test_upload_journal_of_a_repointed_folder_target_claims_no_copy(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 4)
    old_disk, new_disk = tmp_path / "old-disk", tmp_path / "new-disk"
    archive = new_archive(
        tmp_path,
        lib={"type": "local", "path": str(tmp_path / "lib")},
        backup={"type": "local", "path": str(old_disk), "target": True, "source": False},
    )
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    root = archive.root
    archive.close()
    # a replicate stopped (kill -9) at its first record write: the copies are in the old
    # folder and journalled "done", no record says so yet
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from photosync.archive.archive import Archive\n"
        "from photosync.workflow.replicate import replicate\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "archive = Archive(Path(sys.argv[1]))\n"
        "archive.lock()\n"
        "archive.write_record = die\n"
        "replicate(archive, execute=True)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(root)], check=False)
    assert done.returncode == -9, done
    landed = [p for p in old_disk.rglob("*") if p.is_file()]
    assert landed, "the stopped run copied nothing into the old folder"

    # the backup disk is replaced: the service now points at an empty folder
    new_disk.mkdir()
    run(root, "service", "locate", "backup", str(new_disk))
    run(root, "replicate", "--execute", expect=None)

    reopened = Archive(root)
    claimed = []
    for record in reopened.iter_records():
        for copy in record["instances"].get("backup", []):
            if copy.get("status", "present") == "present":
                claimed.append(copy["id"])
    reopened.close()
    assert claimed, "replicate recorded no copy in backup at all"
    missing = [rel for rel in claimed if not (new_disk / rel).is_file()]
    assert not missing, f"records claim copies in backup that the folder does not hold: {missing}"
