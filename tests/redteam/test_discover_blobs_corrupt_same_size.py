"""Found by the red-team pass, discover's batched blobs: a blob under its name with the
right size and other bytes (bit rot, or the zero-filled file a power cut leaves on a
delayed-allocation filesystem) was trusted: discover read the good bytes from the user's
folder and threw them away. Now a stored copy of the right size is hashed before good
bytes in hand are dropped (``LocalBlobStore.holds``); a rotten one is quarantined and
replaced.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

from tests.helpers import make_library, new_archive, run_cli


def _verify_read_data(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "verify", "--read-data"],
        capture_output=True,
        text=True,
    )


def test_good_bytes_replace_a_same_size_corrupt_blob(tmp_path: Path) -> None:
    photos = make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    root = archive.root
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    good = photos[0].read_bytes()
    digest = hashlib.sha256(good).hexdigest()
    blob = root / "blobs" / "sha256" / digest[:2] / digest
    blob.chmod(0o644)
    blob.write_bytes(b"\0" * len(good))  # the right size, the bytes gone
    blob.chmod(0o444)
    assert _verify_read_data(root).returncode == 6  # verify sees it

    # the same photo, good, under a new name (and the old one read again)
    shutil.copy(photos[0], tmp_path / "lib" / "copy of IMG.jpg")
    assert run_cli("--archive", str(root), "discover", "--full-scan").exit_code == 0

    # what happens: the blob is still all zeros; the good bytes discover read were dropped
    assert hashlib.sha256(blob.read_bytes()).hexdigest() == digest
    assert _verify_read_data(root).returncode == 0
