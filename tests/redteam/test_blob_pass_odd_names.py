"""Found by the red-team pass (round 6): names in a local blob location that are not blobs.

- a file under ``sha256/34/`` named ``34`` + 62 characters that are not hex digits (a
  stray file, an editor's backup of the right length) made ``check``, ``verify`` and the
  ``replicate`` preview crash with a traceback (``stat`` of a name that is no digest
  raised ValueError): the listing now yields only 64 lowercase hex digit names filed
  under their own two-digit folder, as an S3 listing always did.
- a blob's name filed under a one-character folder (``sha256/3/34...``) was listed as
  held although ``sha256/34/34...`` (where it is read from) is not there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from photosync.blobstore.local import LocalBlobStore
from tests.helpers import archive_with_nas


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), *args],
        capture_output=True,
        text=True,
    )


def test_a_non_hex_name_in_a_location_is_no_blob(tmp_path: Path) -> None:
    archive = archive_with_nas(tmp_path, 2, replicated=True)
    archive.close()
    folder = tmp_path / "nas" / "sha256" / "34"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ("34" + "g" * 62)).write_bytes(b"not a blob")
    (folder / ("34" + "A" * 62)).write_bytes(b"not a blob either")
    for args in (("check",), ("verify",), ("replicate",), ("replicate", "--execute")):
        out = _run(archive.root, *args)
        assert out.returncode == 0, (args, out.returncode, out.stdout, out.stderr)
        assert "Traceback" not in out.stderr


def test_a_blob_name_in_the_wrong_folder_is_not_listed(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store", "nas")
    digest = "34" + "a" * 62
    for folder in ("3", "35", "sha"):
        (tmp_path / "store" / "sha256" / folder).mkdir(parents=True)
        (tmp_path / "store" / "sha256" / folder / digest).write_bytes(b"x")
    assert list(store.iter_digests()) == []
    assert list(store.iter_stats()) == []
