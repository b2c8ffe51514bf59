"""What a hostile page, a curious user or a second program tried against `photosync web`
and found open (each test failed before its fix)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
import requests
from PIL import Image

from photosync.web.thumbs import SIZES, Thumbnailer
from tests.helpers import assert_check_clean, conflicting_library, read_until, run_cli
from tests.web.conftest import csrf_of, logged_in, make_app

pytestmark = pytest.mark.timeout(240)


@pytest.fixture(scope="module")
def small(module_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A one-photo archive with conflicts waiting, only looked at by the tests using it."""
    root = Path(conflicting_library(tmp_path_factory.mktemp("small"), count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    return root


@pytest.mark.parametrize("where", ["token", "cookie", "csrf", "csrf-header"])
def test_a_token_in_any_script_is_refused_not_a_crash(
    small: Path, same_home: Path, where: str
) -> None:
    app = make_app(small)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    odd = "tökén-\u2603"
    if where == "token":
        assert app.test_client().get(f"/review?token={odd}").status_code == 403
    elif where == "cookie":
        stranger = app.test_client()
        stranger.set_cookie("photosync_token", odd)
        assert stranger.get("/review").status_code == 403
    else:
        client = logged_in(app)
        sent = (
            client.post("/review/detect", data={"csrf": odd})
            if where == "csrf"
            else client.post("/review/detect", headers={"X-CSRF-Token": odd})
        )
        assert sent.status_code == 403
        assert client.post("/review/detect", data={"csrf": csrf_of(app)}).status_code == 303
    assert_check_clean(small)


def test_the_token_is_not_in_the_access_log_of_photosync_web_vv(
    small: Path, same_home: Path
) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "photosync", "--archive", str(small), "-vv", "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ},
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        printed = read_until(server.stdout.fileno(), b"Ctrl-C").decode()
        url = re.search(r"open: (\S+)", printed).group(1)  # type: ignore[union-attr]
        token = url.split("token=", 1)[1]
        assert requests.get(url, timeout=30).status_code == 200
        logged = read_until(server.stderr.fileno(), b"GET /review").decode()
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0
    assert '"GET /?token=' in logged  # the access log is there, the token is not
    assert token not in logged
    assert_check_clean(small)


def _png_header_of(width: int, height: int) -> bytes:
    """A PNG that says it is ``width`` x ``height`` (a few rows of data: decoding it
    whole would still allocate every pixel)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (width * 3 + 1) * 4)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def test_an_image_of_huge_dimensions_is_never_decoded_whole(tmp_path: Path) -> None:
    # 144 megapixels: under Pillow's bomb error, ~430 MB of RGB in each worker
    data = _png_header_of(12_000, 12_000)
    digest = hashlib.sha256(data).hexdigest()
    original = tmp_path / "blobs" / "sha256" / digest[:2] / digest
    original.parent.mkdir(parents=True)
    original.write_bytes(data)
    thumbs = Thumbnailer(tmp_path / "cache", tmp_path / "blobs")
    try:
        made = thumbs.get(digest, "s", kind="image", label="huge.png")
    finally:
        thumbs.close()
    assert made.kind == "placeholder"
    with Image.open(made.path) as card:
        assert max(card.size) <= SIZES["s"]
