"""SIGKILL the first ``replicate --execute`` to a new local-folder location at every step of
a batch of copies (bytes written, bytes synced, names half given, names synced, records
written), re-run it, and the archive ends as if never killed: every original in the
folder under its name with the right bytes, nothing half-written left, ``check`` clean.

The copies to a local folder are made durable a batch at a time (one filesystem sync),
so the points that matter are between the sync and the naming and between the naming
and the records: each is reached exactly, by patching the step in the killed process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.blobstore.base import hash_file
from photosync.workflow.config import add_location
from tests.chaos.harness import Expect, check_invariants, run
from tests.helpers import make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(600)

N = 30
#: blobs per publish in the killed run: several batches in one run
PUBLISH = 8

KILLER = """
import os, signal, sys
from pathlib import Path
import photosync.archive.archive as archive_module
import photosync.blobstore.blobsync as blobsync
import photosync.blobstore.local as local
from photosync.cli import cli

root, point, nth = sys.argv[1], sys.argv[2], int(sys.argv[3])
blobsync.PUBLISH_BLOBS = int(sys.argv[4])
calls = {"n": 0}

def count():
    calls["n"] += 1
    return calls["n"]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "copied":  # the nth copy a complete temp file, nothing synced for it
    real_add = local.BlobBatch.add
    def add(self, *args):
        added = real_add(self, *args)
        if count() == nth:
            die()
        return added
    local.BlobBatch.add = add
elif point in ("bytes-synced", "names-synced"):  # right after the nth publish's sync
    real_sync = local.FilesystemSync.sync
    which = 1 if point == "bytes-synced" else 2
    def sync(self):
        done = real_sync(self)
        if count() == 2 * (nth - 1) + which:
            die()
        return done
    local.FilesystemSync.sync = sync
elif point == "naming":  # the nth blob just named, the others of its batch not yet
    real_file_tmp = local.LocalBlobStore.file_tmp
    def file_tmp(self, *args, **kwargs):
        named = real_file_tmp(self, *args, **kwargs)
        if count() == nth:
            die()
        return named
    local.LocalBlobStore.file_tmp = file_tmp
elif point == "recorded":  # the nth record's blob_locations written, not committed
    real_write = archive_module.Archive.write_record
    def write_record(self, *args, **kwargs):
        written = real_write(self, *args, **kwargs)
        if count() == nth:
            die()
        return written
    archive_module.Archive.write_record = write_record
cli.main(["--archive", root, "-q", "replicate", "--execute"], standalone_mode=False)
print("finished without being killed", file=sys.stderr)
"""


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("batches-template")
    make_library(where / "lib", N)
    archive = new_archive(where, lib={"type": "local", "path": str(where / "lib")})
    set_prefs(archive, commit_every=10, hash_workers=2, max_parallel_uploads=2)
    root = archive.root
    archive.close()
    run(root, "discover")
    run(root, "resolve", "--auto-resolve", "simple")
    return root


def _with_nas(template: Path, tmp: Path) -> tuple[Path, Path]:
    root = tmp / "archive"
    shutil.copytree(template, root, symlinks=True)
    nas = tmp / "nas"
    archive = Archive(root)
    try:
        archive.lock()
        add_location(archive, {"name": "nas", "type": "local", "path": str(nas)})
        archive.commit("config: a new local folder")
    finally:
        archive.close()
    return root, nas


@pytest.mark.parametrize(
    ("point", "nth"),
    [
        ("copied", 1),
        ("copied", 13),
        ("bytes-synced", 1),
        ("bytes-synced", 2),
        ("naming", 1),
        ("naming", 11),
        ("names-synced", 1),
        ("names-synced", 2),
        ("recorded", 3),
        ("recorded", 12),
    ],
)
def test_first_replicate_to_a_local_folder_killed_in_a_batch(
    tmp_path: Path, template: Path, point: str, nth: int
) -> None:
    root, nas = _with_nas(template, tmp_path)
    killed = subprocess.run(
        [sys.executable, "-c", KILLER, str(root), point, str(nth), str(PUBLISH)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert killed.returncode == -9, (point, nth, killed.stderr)
    # what the kill left: every name in the folder holds the bytes it names, and no
    # record (written, not committed) names the folder for a blob it does not hold
    for blob in (nas / "sha256").rglob("*"):
        if blob.is_file():
            assert hash_file(blob)[0] == blob.name, f"{blob} is not whole"
    for path in (root / "photos").rglob("*.json"):
        record = json.loads(path.read_text(encoding="utf-8"))
        if any(loc["store"] == "nas" for loc in record.get("blob_locations") or []):
            digest = record["content_hash"].removeprefix("sha256:")
            assert (nas / "sha256" / digest[:2] / digest).is_file(), path
    run(root, "replicate", "--execute")
    records = check_invariants(root, Expect(records=N, located_everywhere=True))
    blobs = sorted(p.name for p in (nas / "sha256").rglob("*") if p.is_file())
    assert blobs == sorted(r["content_hash"].removeprefix("sha256:") for r in records)
    assert not list((nas / "tmp").iterdir())  # the killed run's temp files were swept
    own_tmp = root / "blobs" / "tmp"
    assert not (own_tmp.exists() and list(own_tmp.iterdir()))
