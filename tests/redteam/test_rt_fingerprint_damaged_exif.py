"""Red-team: a JPEG whose EXIF asks for a rotation and holds one damaged tag (a text
value under a tag id whose type is a number: here Make's entry renumbered to XPosition,
0x011E, a RATIONAL) makes ``fingerprint_file`` raise (``ImageOps.exif_transpose``
re-serialises the EXIF: TypeError from Pillow's TIFF writer) instead of returning a
result without fingerprint. ``photosync resolve --auto-resolve simple`` then dies with a
traceback (exit 1) on every run: one damaged file stops resolve for the whole archive.
"""

from __future__ import annotations

import io
import random
import subprocess
import sys
from pathlib import Path

from PIL import Image, ImageDraw

from photosync.identity.phash import fingerprint_file


def _damaged_rotated_jpeg(path: Path, orientation: int = 6) -> Path:
    rnd = random.Random(7)
    im = Image.new("RGB", (200, 150), (30, 60, 90))
    draw = ImageDraw.Draw(im)
    for _ in range(30):
        x, y = rnd.randrange(200), rnd.randrange(150)
        draw.ellipse(
            [x, y, x + rnd.randrange(60), y + rnd.randrange(50)],
            fill=(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)),
        )
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "Make"
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif, quality=90)
    data = buf.getvalue()
    entry = b"\x01\x0f\x00\x02"  # big-endian ("MM") IFD entry: tag 0x010F (Make), type ASCII
    assert data.count(entry) == 1
    path.write_bytes(data.replace(entry, b"\x01\x1e\x00\x02"))  # now tag 0x011E
    return path


def test_fingerprint_of_damaged_exif_does_not_raise(tmp_path: Path) -> None:
    path = _damaged_rotated_jpeg(tmp_path / "damaged.jpg")
    with Image.open(path) as im:  # Pillow itself opens and decodes it
        assert im.getexif().get(0x0112) == 6
        im.load()
    result = fingerprint_file(path)  # raises TypeError
    assert result.fingerprint is not None or result.reason


def _photosync(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    src = Path(__file__).resolve().parents[2] / "src"
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        cwd=root,
        env={**__import__("os").environ, "PYTHONPATH": str(src)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_resolve_survives_a_damaged_exif(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    _damaged_rotated_jpeg(lib / "damaged.jpg")
    assert _photosync(tmp_path, "init", str(tmp_path / "arch")).returncode == 0
    root = tmp_path / "arch"
    assert (
        _photosync(root, "service", "add", "lib", "--type", "local", "--path", str(lib)).returncode
        == 0
    )
    assert _photosync(root, "discover").returncode == 0
    done = _photosync(root, "resolve", "--auto-resolve", "simple")
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
