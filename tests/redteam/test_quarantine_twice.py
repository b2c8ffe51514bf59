"""Found by the red-team pass (round 6): a second quarantine of the same blob by a
process with the same pid replaced the first quarantined file.

``LocalBlobStore.quarantine`` moved a corrupt copy to ``quarantine/<digest>.<pid>``
with a rename, which silently replaces what is there. A run in a container often has
the same small pid every time, so the same blob going bad twice (a failing disk, a torn
copy written again) lost the first bad copy kept aside, though the promise is that
nothing is ever deleted. Each quarantined copy now gets a name of its own.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from photosync.blobstore.local import LocalBlobStore


def test_the_same_blob_quarantined_twice_keeps_both_bad_copies(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "store", "nas")
    data = b"good bytes" * 100
    digest = hashlib.sha256(data).hexdigest()
    path = store.path_for(digest)
    kept = []
    for bad in (b"first bad copy", b"second bad copy"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bad)
        moved = store.quarantine(digest)
        assert moved is not None
        kept.append(moved)
    assert kept[0] != kept[1]
    held = sorted(p.read_bytes() for p in (tmp_path / "store" / "quarantine").iterdir())
    assert held == [b"first bad copy", b"second bad copy"]
    assert all(p.name.startswith(f"{digest}.{os.getpid()}") for p in kept)
