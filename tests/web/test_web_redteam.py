"""What a hostile page, a curious user or a second program tried against `photosync web`
and found open (each test failed before its fix)."""

from __future__ import annotations

import hashlib
import html
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
import requests
from PIL import Image
from werkzeug.datastructures import MultiDict

from photosync.model import record_relpath
from photosync.web.thumbs import SIZES, Thumbnailer
from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    git_log,
    make_library,
    new_archive,
    read_until,
    records,
    run_cli,
    write_xmp,
)
from tests.web.conftest import csrf_of, ctrl_c_works, logged_in, make_app, stop_server

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
        preexec_fn=ctrl_c_works,
    )
    try:
        assert server.stdout is not None and server.stderr is not None
        printed = read_until(server.stdout.fileno(), b"Ctrl-C").decode()
        url = re.search(r"open: (\S+)", printed).group(1)  # type: ignore[union-attr]
        token = url.split("token=", 1)[1]
        assert requests.get(url, timeout=30).status_code == 200
        logged = read_until(server.stderr.fileno(), b"GET /review").decode()
    finally:
        assert stop_server(server) == 0
    logged = re.sub(r"\x1b\[[0-9;]*m", "", logged)  # werkzeug >= 3.1.9 colours 3xx lines
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


def _card_seen(page: str, conflict_id: str) -> str:
    found = re.search(
        rf'name="conflict_id" value="{re.escape(conflict_id)}">\s*'
        r'<input type="hidden" name="seen" value="([0-9a-f]+)">',
        page,
    )
    assert found, "the card carries the conflict as it was shown"
    return found.group(1)


def test_an_answer_to_a_conflict_changed_since_the_page_showed_it_is_refused(
    tmp_path: Path,
) -> None:
    root = Path(conflicting_library(tmp_path, count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    (record,) = records(root)
    caption = "metadata_mismatch:caption"
    seen = _card_seen(client.get("/review").get_data(as_text=True), caption)
    # meanwhile the caption on "a" is changed, and the CLI discovers and detects it
    write_xmp(tmp_path / "a" / "IMG_0000.jpg.xmp", caption="Never shown on the page")
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    changed = next(c for c in records(root)[0]["conflicts"] if c["id"] == caption)
    assert "Never shown on the page" in json.dumps(changed)
    commits = git_log(root)
    answered = client.post(
        "/review/decide",
        data={
            "csrf": csrf_of(app),
            "photo_id": record["photo_id"],
            "conflict_id": caption,
            "choice": "a",
            "seen": seen,
        },
    )
    assert answered.status_code == 303
    assert "changed since it was shown" in client.get("/review").get_data(as_text=True)
    assert git_log(root) == commits
    (after,) = records(root)
    assert after["metadata"].get("caption") != "Never shown on the page"
    assert next(c for c in after["conflicts"] if c["id"] == caption)["status"] == "open"
    assert_check_clean(root)


def _type_public(root: Path, photo_id: str, conflict: dict[str, Any] | None = None) -> None:
    """A level typed into a record by hand and committed with plain git (never approved);
    with ``conflict``: and the question resolve asks about it (what a ``git pull`` of
    another machine's resolve brings)."""
    (record,) = [r for r in records(root) if r["photo_id"] == photo_id]
    record["visibility"]["canonical"] = "public"
    record["conflicts"] += [conflict] if conflict else []
    (root / record_relpath(record)).write_text(
        json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "by hand"], check=True)


def test_a_replayed_like_this_widening_reaches_only_the_photos_it_confirmed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSYNC_USER", "alice")
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    root = archive.root
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    first, second, later = (r["photo_id"] for r in records(root))
    _type_public(root, first)
    _type_public(root, second)
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    unapproved = "visibility_conflict:unapproved"
    (question,) = [c for c in records(root)[0]["conflicts"] if c["id"] == unapproved]
    app = make_app(root)
    client = logged_in(app)
    seen = _card_seen(client.get("/review").get_data(as_text=True), unapproved)
    asked = client.post(
        "/review/decide",
        data={
            "csrf": csrf_of(app),
            "photo_id": first,
            "conflict_id": unapproved,
            "choice": "canonical",
            "seen": seen,
            "apply_like": "yes",
        },
    ).get_data(as_text=True)
    assert "1 more photo(s) like it" in asked
    confirm_form = MultiDict(
        (html.unescape(name), html.unescape(value))
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)">', asked
        )
    )
    # the confirmation waits in a tab (or is replayed); a git pull brings a third one
    _type_public(root, later, question)
    assert client.post("/review/decide", data=confirm_form).status_code == 303
    assert "appeared or changed since you confirmed" in client.get("/review").get_data(as_text=True)
    status = {
        r["photo_id"]: next(c["status"] for c in r["conflicts"] if c["id"] == unapproved)
        for r in records(root)
    }
    assert status == {first: "resolved", second: "resolved", later: "open"}
    assert_check_clean(root)


def test_a_video_gets_a_real_poster_frame_and_an_unreadable_one_a_placeholder(
    tmp_path: Path, testdata: Path
) -> None:
    mp4 = (testdata / "photos" / "video" / "with-gps.mp4").read_bytes()
    cases = {
        "with-gps.mp4": mp4,  # h264, 1920x1080
        "truncated.mp4": mp4[: len(mp4) // 50],
        "zero.mp4": b"",
    }
    thumbs = Thumbnailer(tmp_path / "cache", tmp_path / "blobs")
    made = {}
    try:
        for name, data in cases.items():
            digest = hashlib.sha256(data).hexdigest()
            original = tmp_path / "blobs" / "sha256" / digest[:2] / digest
            original.parent.mkdir(parents=True, exist_ok=True)
            original.write_bytes(data)
            made[name] = thumbs.get(digest, "s", kind="video", label=name)
    finally:
        thumbs.close()
    assert made["with-gps.mp4"].kind == "poster"
    with Image.open(made["with-gps.mp4"].path) as poster:
        assert poster.size == (240, 135)  # the frame's 16:9, not a 4:3 card
        low, high = poster.convert("L").getextrema()
        assert high - low > 40  # a picture, not a flat card
    assert made["truncated.mp4"].kind == "placeholder"
    assert made["zero.mp4"].kind == "placeholder"


def test_an_eps_original_gets_a_placeholder_and_never_reaches_ghostscript(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a valid EPS: Pillow's EPS plugin would run ghostscript (`gs`) on it to draw it
    from PIL import EpsImagePlugin

    started: list[object] = []

    def ghostscript(*args: object, **kwargs: object) -> None:
        started.append(args)
        raise OSError("ghostscript was started")

    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", ghostscript)
    monkeypatch.setattr(EpsImagePlugin, "gs_windows_binary", None)
    monkeypatch.setattr(EpsImagePlugin, "has_ghostscript", lambda: True)
    data = (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 64 48\n"
        b"newpath 0 0 moveto 64 48 lineto stroke\nshowpage\n%%EOF\n"
    )
    with Image.open(io.BytesIO(data)) as probe:  # Pillow itself would open it
        assert probe.format == "EPS"
    digest = hashlib.sha256(data).hexdigest()
    original = tmp_path / "blobs" / "sha256" / digest[:2] / digest
    original.parent.mkdir(parents=True)
    original.write_bytes(data)
    thumbs = Thumbnailer(tmp_path / "cache", tmp_path / "blobs")
    try:
        made = thumbs.get(digest, "s", kind="image", label="drawing.eps")
    finally:
        thumbs.close()
    assert made.kind == "placeholder"
    assert started == []
    assert original.read_bytes() == data  # the original is kept untouched
