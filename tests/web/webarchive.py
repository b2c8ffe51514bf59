"""An archive made from the shared photos for the web tests: an edit-variant pair, a
caption two folders disagree on, a level typed into a record (wider than approved),
HEIC, PNG, WebP, a rotated JPEG and a video."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from photosync.model import record_relpath
from tests.helpers import records, run_cli, write_xmp

#: the shared photos used (folder under testdata/photos, file)
PHONE = (
    "gps/DSCN0010.jpg",
    "orientation/landscape_6.jpg",
    "png_webp/hopper.png",
    "png_webp/HTC Desire.webp",
    "heic/IMG_2927.HEIC",
    "video/with-gps.mp4",
    "camera/Canon_40D.jpg",
)
EDITED = "DSCN0010-edited.jpg"  # a crop of gps/DSCN0010.jpg: an edit variant
CAPTIONED = "landscape_6.jpg"  # in both folders, captions differ: a metadata conflict
WIDENED = "Canon_40D.jpg"  # its canonical level typed as public by hand: unapproved


def crop(src: Path, dst: Path) -> None:
    """What an editor's "straighten and trim" leaves: a centred crop, saved again."""
    with Image.open(src) as image:
        exif = image.info.get("exif", b"")
        out = image.convert("RGB")
        w, h = out.size
        margin = int(w * 0.1)
        out = out.crop((margin, 0, w - margin, h))
        buffer = io.BytesIO()
        out.save(buffer, "JPEG", quality=90, **({"exif": exif} if exif else {}))
    dst.write_bytes(buffer.getvalue())


def build(testdata: Path, where: Path) -> Path:
    """The archive (committed, resolve run once), ready for review."""
    phone, laptop = where / "phone", where / "laptop"
    phone.mkdir(parents=True)
    laptop.mkdir()
    for rel in PHONE:
        shutil.copy2(testdata / "photos" / rel, phone / Path(rel).name)
    crop(phone / "DSCN0010.jpg", laptop / EDITED)
    shutil.copy2(phone / CAPTIONED, laptop / CAPTIONED)
    write_xmp(phone / f"{CAPTIONED}.xmp", caption="Harbour at dawn")
    write_xmp(laptop / f"{CAPTIONED}.xmp", caption="Harbor, early morning")
    root = where / "archive"
    assert run_cli("init", str(root)).exit_code == 0
    for name, folder in (("phone", phone), ("laptop", laptop)):
        added = run_cli(
            "--archive", str(root), "service", "add", name, "--type", "local", "--path", str(folder)
        )
        assert added.exit_code == 0, added.output
    assert run_cli("--archive", str(root), "discover").exit_code in (0, 4)
    # a level typed into a record by hand and committed with plain git: never approved
    (record,) = [r for r in records(root) if r["metadata"].get("filename") == WIDENED]
    record["visibility"]["canonical"] = "public"
    path = root / record_relpath(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "by hand: public"], check=True)
    resolved = run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple")
    assert resolved.exit_code == 0, resolved.output
    return root


def conflict_of(root: Path, filename: str, kind: str) -> tuple[str, str]:
    """(photo_id, conflict_id) of the waiting conflict of that kind on that file."""
    for record in records(root):
        if record["metadata"].get("filename") != filename:
            continue
        for conflict in record["conflicts"]:
            if conflict["type"] == kind and conflict["status"] in ("open", "skipped"):
                return record["photo_id"], conflict["id"]
    raise AssertionError(f"no waiting {kind} on {filename}")
