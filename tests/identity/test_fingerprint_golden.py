"""Stored fingerprints stay valid: the shared photos fingerprint bit for bit as they did.

Records keep ``media.fingerprint`` from the run that computed it; a change of the
decode or of the hash would leave old and new fingerprints side by side, and the
matcher would compare unlike things. ``fingerprints_golden.json`` holds, per shared
photo, the pHash, the displayed size and a digest of the 8x8 thumbnail (None: no
fingerprint, for a reason), as computed when the file was made.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from photosync.identity import fingerprint_file

pytestmark = pytest.mark.shared

GOLDEN = Path(__file__).with_name("fingerprints_golden.json")


def test_shared_photos_fingerprint_unchanged(testdata: Path) -> None:
    golden: dict[str, str | None] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    found: dict[str, str | None] = {}
    for rel in golden:
        fingerprint = fingerprint_file(testdata / rel).fingerprint
        found[rel] = (
            None
            if fingerprint is None
            else f"{fingerprint.phash_hex} {fingerprint.width}x{fingerprint.height} "
            f"{hashlib.sha256(fingerprint.thumb).hexdigest()[:16]}"
        )
    assert found == golden
