"""Found by the red-team pass: a location lost an original and no good copy is left to
copy back from (the primary's copy is corrupt: same size, other bytes). The copy fails
(exit 4, right); the run must not also say "every photo is where it should be".

Still open (not tested here): the record keeps naming the location that lacks it
(replicate only adds locations; ``verify --repair`` takes a lost one out, and
``check`` reports it as ``blob_missing`` meanwhile)."""

from __future__ import annotations

import os
from pathlib import Path

from photosync.blobstore.local import LocalBlobStore
from tests.helpers import archive_with_nas, run_cli


def _setup(tmp_path: Path) -> tuple[Path, Path, str]:
    archive = archive_with_nas(tmp_path, 2, replicated=True)
    record = next(iter(archive.iter_records()))
    rel = archive.state.path_for_photo(record["photo_id"])
    archive.close()
    assert rel is not None
    digest = record["content_hash"].split(":", 1)[1]
    local = LocalBlobStore(archive.root / "blobs").path_for(digest)
    size = local.stat().st_size
    local.chmod(0o644)
    local.write_bytes(os.urandom(size))  # the primary's copy rots (same size)
    lost = LocalBlobStore(tmp_path / "nas").path_for(digest)
    lost.chmod(0o644)
    lost.unlink()  # and the location loses its copy
    return archive.root, archive.root / rel, digest


def test_a_failed_copy_is_not_announced_as_every_photo_in_place(tmp_path: Path) -> None:
    root, _record_path, _digest = _setup(tmp_path)
    result = run_cli("--archive", str(root), "replicate", "--execute")
    assert result.exit_code == 4
    assert "every photo is where it should be" not in result.output, result.output
