"""What resolve's matching holds per photo while it goes over a whole library.

A first resolve keeps, for every photo, a ``Candidate`` (to match it against all the
others) and the fingerprint fields it computed (written later, with the rules'
changes, so each record is written once). At a million photos each byte per photo
is a megabyte: both are kept compact, and the kept fields come back exactly.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from pathlib import Path
from typing import Any

from photosync.emulators.samples import write_jpeg
from photosync.identity import Fingerprint, fingerprint_file
from photosync.workflow.match import MatchReport, _candidate, _kept

N = 2_000
#: bytes held per photo (candidate + kept fingerprint): 2,300 with plain dicts, 967 with
#: slots, 794 without the file name and with shared pixel sizes
PER_PHOTO_BOUND = 900


def _record(i: int, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """A record as read from its file: every string its own object."""
    record = {
        "photo_id": f"{i:08x}-1234-5678-9abc-def012345678",
        "content_hash": "sha256:" + f"{i:064x}",
        "media": {
            "fingerprint_note": None,
            "kind": "photo",
            "format": "jpeg",
            "width": 4000,
            "height": 3000,
            "size": 4_000_000 + i,
            "fingerprint": fingerprint,
        },
        "metadata": {
            "taken_date": f"2021-07-01T10:{i % 60:02d}:00+02:00",
            "taken_date_source": "exif",
            "filename": f"IMG_{i:04d}.JPG",
            "camera_info": {"make": "Canon", "model": "Canon EOS 5D Mark III"},
        },
    }
    return json.loads(json.dumps(record))


def test_what_matching_keeps_per_photo_is_small_and_comes_back_exactly(
    tmp_path: Path,
) -> None:
    found = fingerprint_file(write_jpeg(tmp_path / "a.jpg", seed=3))
    assert found.fingerprint is not None
    fingerprint = found.fingerprint.to_dict()
    report = MatchReport()
    candidates = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(N):
            record = _record(i, fingerprint)
            candidate = _candidate(record)
            candidates.append(candidate)
            report.fingerprints[record["photo_id"]] = _kept(record["media"], candidate)
            del record
        gc.collect()
        per_photo = (tracemalloc.get_traced_memory()[0] - before) / N
    finally:
        tracemalloc.stop()
    assert per_photo < PER_PHOTO_BOUND, per_photo

    again = _record(7, {})
    del again["media"]["fingerprint"]
    assert report.apply(again)
    assert again["media"]["fingerprint"] == fingerprint
    assert again["media"]["fingerprint_note"] is None
    assert isinstance(report.fingerprints[again["photo_id"]], Fingerprint)  # the candidate's
    noted = _record(8, {})
    noted["media"] = {"kind": "photo", "fingerprint": None, "fingerprint_note": "undecodable"}
    report.fingerprints[noted["photo_id"]] = _kept(noted["media"])
    fresh = {"kind": "photo"}
    noted["media"] = fresh
    assert report.apply(noted)
    assert fresh == {"kind": "photo", "fingerprint": None, "fingerprint_note": "undecodable"}
    assert not report.apply(_record(N + 1, fingerprint))  # none kept for it
