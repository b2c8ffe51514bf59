"""Build ``tests/data/archive-v1``: records written by photosync BEFORE the typed model.

Run once (it was, from main at fdd06f7, before ``photosync.model`` became a
package); the committed output is the fixture ``tests/test_model_codec.py``
reads and rewrites byte for byte. Kept so the fixture's origin is reviewable,
not to be re-run by the tests (a re-run by newer code would prove nothing).

    PYTHONPATH=src python tests/data/make_archive_v1.py ../shared/testdata OUT

It runs ``photosync demo --keep`` (local folders, the Flickr and Google
emulators, a Takeout, approvals, replicate, blob locations), adds a folder of
real shared photos (an XMP sidecar, GPS, a near-duplicate, a video), resolves,
decides a few conflicts, and merges two different decisions of one conflict
(``decisions``) as ``photosync sync`` would.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

REAL = [
    "photos/camera/Canon_40D.jpg",
    "photos/camera/Canon_40D.jpg.xmp",
    "photos/gps/DSCN0010.jpg",
    "photos/derived/DSCN0010__q60_50pct_exif.jpg",
    "photos/camera/Apple iPhone 4.jpg",
    "photos/derived/Apple_iPhone_4__q60_50pct_noexif_rotated.jpg",
    "photos/xmp/BlueSquare.jpg",
]


def main(testdata: Path, out: Path) -> None:
    base = out.parent / (out.name + "-build")
    shutil.rmtree(base, ignore_errors=True)
    # the fixture's tokens and seal key stay in its own folder, never the user's
    os.environ["PHOTOSYNC_CONFIG_DIR"] = str(base / "user-config")
    os.environ["PHOTOSYNC_KEYRING"] = "file"
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "src")}
    subprocess.run(
        [sys.executable, "-m", "photosync", "demo", "--keep", str(base)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    real = base / "real"
    for name in REAL:
        target = real / Path(name).name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(testdata / name, target)
    archive_root = base / "archive"
    a = [sys.executable, "-m", "photosync", "--archive", str(archive_root)]
    subprocess.run(
        [*a, "service", "add", "real", "--type", "local", "--path", str(real)],
        check=True,
        env=env,
        stdout=subprocess.DEVNULL,
    )
    subprocess.run([*a, "discover", "--service", "real"], env=env, stdout=subprocess.DEVNULL)
    subprocess.run([*a, "resolve", "--auto-resolve", "simple"], env=env, stdout=subprocess.DEVNULL)

    from photosync.archive.archive import Archive
    from photosync.merge import merge_records
    from photosync.workflow.resolve import decide_in_archive, pending

    archive = Archive(archive_root)
    archive.lock()
    open_ = list(pending(archive, ("open",)))
    decided = 0
    for record, conflict in open_:
        if conflict["type"] == "metadata_mismatch" and conflict.get("options") and decided < 2:
            decide_in_archive(
                archive,
                record["photo_id"],
                conflict["id"],
                choice=conflict["options"][0]["source"],
                by="fixture",
            )
            decided += 1
        elif conflict["type"] == "processing_failed" and decided < 4:
            decide_in_archive(
                archive, record["photo_id"], conflict["id"], choice="skip", by="fixture"
            )
            decided += 1
    archive.commit("fixture: decisions")
    # two clones decided one question differently: merge keeps both (``decisions``)
    for record in archive.iter_records():
        options = [c for c in record["conflicts"] if c["status"] == "resolved" and c.get("options")]
        if options and len(options[0]["options"]) > 1:
            conflict = options[0]
            theirs = copy.deepcopy(record)
            other = next(c for c in theirs["conflicts"] if c["id"] == conflict["id"])
            other["resolution"] = {
                **other["resolution"],
                "choice": other["options"][1]["source"],
                "value": other["options"][1]["value"],
                "by": "other-clone",
            }
            base_record = copy.deepcopy(record)
            base_conflict = next(c for c in base_record["conflicts"] if c["id"] == conflict["id"])
            base_conflict["status"] = "open"
            base_conflict["resolution"] = None
            archive.write_record(merge_records(record, theirs, base_record))
            break
    archive.commit("fixture: a conflict two clones decided differently")
    archive.close()

    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(archive_root / "photos", out / "photos")
    shutil.rmtree(base)


if __name__ == "__main__":
    main(Path(sys.argv[1]).resolve(), Path(sys.argv[2]).resolve())
