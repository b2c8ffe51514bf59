"""Found by the red-team pass, discover's batched blobs: a publish whose first sync
failed (a write-back error) left the batch's temp files in blobs/tmp/, neither named nor
removed. They go now: a run stopping with an error discards its unnamed blobs.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from photosync.durable import FilesystemSync
from tests.helpers import assert_check_clean, make_library, new_archive, run_cli, set_prefs

N = 6


def test_a_failed_publish_leaves_no_temp_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_library(tmp_path / "lib", N)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    set_prefs(archive, commit_every=100, hash_workers=2)
    archive.close()
    root = archive.root

    def write_back_failed(self: FilesystemSync) -> bool:
        raise OSError(errno.EIO, "cannot make files durable: Input/output error")

    monkeypatch.setattr(FilesystemSync, "sync", write_back_failed)
    result = run_cli("--archive", str(root), "discover")
    monkeypatch.undo()
    assert result.exit_code in (3, 4), result.output
    assert "Input/output error" in result.output
    assert list((root / "photos").rglob("*.json")) == []
    # what happens: every blob of the batch is still a temp file in blobs/tmp/
    left = sorted(p.name for p in (root / "blobs" / "tmp").glob("ingest-*"))
    assert left == [], left
    # and a later run ends clean
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    assert_check_clean(root)
