"""Found by the red-team pass (round 6): a copy of the wrong size in a local folder
location is never replaced by ``replicate``, and its preview says otherwise.

A local folder is listed by names only (no ``stat`` per blob: the no-op pass over a
million blobs is kept cheap), so ``copy_sorted_blobs`` takes a truncated copy in a
second local location (``nas``) for present. ``replicate`` (the preview, which lists
with sizes) says it would copy it; ``replicate --execute`` (even ``--full``) says
"nothing to replicate: every photo is where it should be", copies nothing, and the
record keeps naming ``nas``. ``check`` does report it (``blob_wrong_size``) and
``verify --read-data --repair`` mends it, so nothing is lost; but the preview and the
real run disagree, and ``replicate_blobs``'s promise ("every original in it checked for
presence and size, and anything lost copied again") holds only for S3.

Chosen: the everyday pass keeps listing local folders by name (a ``stat`` per blob
would cost the no-op its main saving; ``check`` and ``verify --repair`` find and mend
such a copy); ``replicate --execute --full`` ``stat``s every blob and replaces it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tests.helpers import archive_with_nas, assert_check_clean, run_cli


def test_a_truncated_copy_in_a_local_location_is_replaced_by_a_full_replicate(
    tmp_path: Path,
) -> None:
    archive = archive_with_nas(tmp_path, 3, replicated=True)
    archive.close()
    root = str(archive.root)
    blob = next(p for p in (tmp_path / "nas" / "sha256").rglob("*") if p.is_file())
    os.chmod(blob, 0o644)
    os.truncate(blob, 10)
    preview = run_cli("--archive", root, "replicate", "--json")
    assert preview.exit_code == 0, preview.output
    assert "copy_original" in preview.output  # the preview sees it
    quick = run_cli("--archive", root, "replicate", "--execute", "--json")
    assert quick.exit_code == 0, quick.output  # names only: left to check and verify
    assert blob.stat().st_size == 10
    done = run_cli("--archive", root, "replicate", "--execute", "--full", "--json")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["blobs"]["replaced"] == {"nas": 1}, done.output
    assert blob.stat().st_size > 10
    assert_check_clean(archive.root)
