"""Every endpoint of `photosync web` through Flask's test client: the token, CSRF,
no path traversal, decisions written exactly as `photosync resolve --interactive`
writes them, browsing and the status page."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from photosync.archive.archive import Archive
from photosync.archive.lock import ArchiveLock
from photosync.cli import cli
from photosync.emulators.samples import write_jpeg
from photosync.model import Visibility, approved_level, record_relpath
from photosync.web.app import web_state
from photosync.workflow.browse import find_record
from photosync.workflow.resolve import choices, seen_as
from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    git_clean,
    git_log,
    make_library,
    new_archive,
    read_until,
    records,
    run_cli,
)
from tests.web.conftest import TOKEN, csrf_of, ctrl_c_works, logged_in, make_app, stop_server
from tests.web.webarchive import crop

pytestmark = pytest.mark.timeout(240)

_STAMP = re.compile(r'"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"')


@pytest.fixture(scope="module")
def shown(module_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An archive only looked at (never changed) by the tests that use it."""
    where = tmp_path_factory.mktemp("shown")
    root = Path(conflicting_library(where))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    return root


def _first(root: Path) -> dict[str, Any]:
    return records(root)[0]


def _commits(root: Path) -> int:
    return len(git_log(root))


def _decide(
    client: Any, app: Any, photo_id: str, conflict_id: str, choice: str, **more: str
) -> Any:
    """The answer a card's form sends (``seen``: the conflict as it is now)."""
    return client.post(
        "/review/decide",
        data={
            "csrf": csrf_of(app),
            "photo_id": photo_id,
            "conflict_id": conflict_id,
            "choice": choice,
            "seen": _seen(web_state(app).root, photo_id, conflict_id),
            **more,
        },
    )


def _seen(root: Path, photo_id: str, conflict_id: str) -> str:
    for record in records(root):
        for conflict in record["conflicts"] if record["photo_id"] == photo_id else []:
            if conflict["id"] == conflict_id:
                return seen_as(conflict)
    return ""


def _flashes(client: Any) -> str:
    return client.get("/review").get_data(as_text=True)


# the guard -----------------------------------------------------------------------------------------
def test_every_request_without_the_token_is_refused(shown: Path, same_home: Path) -> None:
    app = make_app(shown)
    photo = _first(shown)["photo_id"]
    urls = [
        "/",
        "/review",
        "/timeline",
        "/map",
        "/albums",
        "/search?q=IMG",
        "/status",
        f"/photo/{photo}",
        f"/thumb/{photo}/s",
        "/static/photosync.js",
        "/static/leaflet/leaflet.js",
    ]
    stranger = app.test_client()
    for url in urls:
        assert stranger.get(url).status_code == 403, url
    assert stranger.get("/review?token=not-the-token").status_code == 403
    assert stranger.post("/review/decide", data={"photo_id": photo}).status_code == 403
    assert stranger.post("/status/check").status_code == 403
    # the printed address: the token moves into a cookie, then every page opens
    client = logged_in(app)
    for url in urls[1:]:
        assert client.get(url).status_code == 200, url
    cookie = client.get_cookie("photosync_token")
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    page = client.get("/review")
    assert page.headers["Referrer-Policy"] == "no-referrer"  # the token never leaves for tiles
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    # a page asked for under another host name (DNS rebinding) is refused even with the cookie
    assert client.get("/review", headers={"Host": "photos.example.com"}).status_code == 403


def test_changes_need_a_post_with_the_csrf_token(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path, count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    record = _first(root)
    conflict = record["conflicts"][0]["id"]
    before = (records(root), _commits(root))
    form = {"photo_id": record["photo_id"], "conflict_id": conflict, "choice": "a"}
    assert client.get("/review/decide", query_string=form).status_code == 405
    assert client.post("/review/decide", data=form).status_code == 403
    assert client.post("/review/decide", data={**form, "csrf": "forged"}).status_code == 403
    assert client.post("/review/detect").status_code == 403
    assert client.post("/status/check", data={"csrf": "forged"}).status_code == 403
    assert (records(root), _commits(root)) == before
    assert_check_clean(root)


def test_no_url_reaches_a_file_the_archive_does_not_name(shown: Path, same_home: Path) -> None:
    app = make_app(shown)
    client = logged_in(app)
    one, other = records(shown)[:2]
    photo = one["photo_id"]
    foreign = other["content_hash"].split(":")[1]  # another photo's original
    attempts = [
        "/photo/..%2F..%2Fconfig%2Fservices.json",
        "/photo/../../../../etc/passwd",
        f"/photo/{uuid.uuid4()}",
        f"/photo/{photo.upper()}",
        f"/thumb/{photo}/s/{foreign}",
        f"/thumb/{photo}/s/{'0' * 64}",
        f"/thumb/{photo}/s/..%2F..%2F..%2Fconfig",
        f"/thumb/{photo}/huge",
        f"/thumb/{photo}/..%2F..%2Fetc",
        "/thumb/..%2F..%2F.git%2Fconfig/s",
        "/timeline/..%2F..%2Fconfig/01",
        "/timeline/1999/01",
        "/albums?title=..%2F..%2Fconfig",
        "/static/..%2Fapp.py",
        "/static/../app.py",
    ]
    for url in attempts:
        response = client.get(url)
        assert response.status_code == 404, url
        body = response.get_data()
        assert b"def create_app" not in body and b"[core]" not in body and b"root:" not in body
    # what the archive names is served
    assert client.get(f"/thumb/{photo}/s/{photo_digest(one)}").status_code == 200


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(min_size=1, max_size=60))
def test_any_text_in_a_photo_address_names_no_file(shown: Path, same_home: Path, text: str) -> None:
    """Whatever a URL holds where a photo id goes, only a record's own id finds anything."""
    known = {r["photo_id"] for r in records(shown)}
    rel = find_record(shown, text)
    assert (rel is not None) == (text in known)
    if rel is not None:
        assert rel == f"photos/{rel.split('/')[1]}/{rel.split('/')[2]}/{text}.json"
    client = logged_in(make_app(shown))
    quoted = quote(text, safe="")
    for url in (f"/photo/{quoted}", f"/thumb/{quoted}/s"):
        # a doubled slash is merged by a redirect within the app; where it lands is a 404
        answer = client.get(url, follow_redirects=True)
        assert answer.status_code == (200 if text in known else 404), url


def photo_digest(record: dict[str, Any]) -> str:
    return str(record["content_hash"]).split(":")[1]


# decisions -------------------------------------------------------------------------------------------
def _normalized(root: Path) -> list[str]:
    """Each record as text with its time stamps and seals blanked (two runs differ only there)."""
    out = []
    for record in records(root):
        text = json.dumps(record, indent=2, sort_keys=True)
        out.append(re.sub(r'"seal": "[^"]*"', '"seal": "S"', _STAMP.sub('"T"', text)))
    return out


def _last_commit(root: Path) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(root), "show", "--name-only", "--format=%an%n%s%n%b", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_a_decision_made_on_the_page_is_the_one_the_cli_makes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSYNC_USER", "alice")
    cli_root = Path(conflicting_library(tmp_path / "cli", count=2))
    web_root = Path(conflicting_library(tmp_path / "web", count=2))
    assert _normalized(cli_root) == _normalized(web_root)  # twins
    listed = json.loads(run_cli("--archive", str(web_root), "resolve", "--list", "--json").output)[
        "pending"
    ]
    first = listed[0]
    key = choices(first)[0].key  # answer "1" at the prompt
    asked = run_cli("--archive", str(cli_root), "resolve", "--interactive", input="1\nq\n")
    assert asked.exit_code == 0, asked.output
    app = make_app(web_root)
    client = logged_in(app)
    assert client.post("/review/detect", data={"csrf": csrf_of(app)}).status_code == 303
    answered = _decide(client, app, first["photo_id"], first["id"], key)
    assert answered.status_code == 303
    assert "1 decision(s) recorded" in _flashes(client)
    assert _normalized(web_root) == _normalized(cli_root)
    assert git_log(web_root) == git_log(cli_root)
    assert git_log(web_root)[0] == "resolve: decisions by alice (interactive)"
    assert _last_commit(web_root) == _last_commit(cli_root)
    (decided,) = [
        c
        for r in records(web_root)
        if r["photo_id"] == first["photo_id"]
        for c in r["conflicts"]
        if c["id"] == first["id"]
    ]
    assert decided["status"] == "resolved" and decided["resolution"]["by"] == "alice"
    assert git_clean(web_root)
    assert_check_clean(web_root)


def _typed_public(tmp_path: Path) -> tuple[Path, str]:
    """An archive with one photo whose level was typed as public by hand (never approved)."""
    make_library(tmp_path / "lib", 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    root = archive.root
    assert run_cli("--archive", str(root), "discover").exit_code == 0
    record = records(root)[0]
    record["visibility"]["canonical"] = "public"
    (root / record_relpath(record)).write_text(
        json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "by hand"], check=True)
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    return root, record["photo_id"]


def test_widening_is_written_only_after_an_explicit_confirmation_and_is_sealed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PHOTOSYNC_USER", "alice")
    root, photo = _typed_public(tmp_path)
    conflict = "visibility_conflict:unapproved"
    app = make_app(root)
    client = logged_in(app)
    before = (records(root), _commits(root))
    asked = _decide(client, app, photo, conflict, "canonical")
    assert asked.status_code == 200 and "widen" in asked.get_data(as_text=True)
    assert (records(root), _commits(root)) == before  # a question, nothing written
    # a confirmation some other way than "yes" is no confirmation
    _decide(client, app, photo, conflict, "canonical", confirm_widening="1")
    assert (records(root), _commits(root)) == before
    done = _decide(client, app, photo, conflict, "canonical", confirm_widening="yes")
    assert done.status_code == 303
    archive = Archive(root)
    try:
        archive.ensure_index()
        record = archive.load_record(photo)
        assert approved_level(record, archive.seals.verify) is Visibility.PUBLIC
    finally:
        archive.close()
    (approval,) = record["visibility"]["approvals"]
    assert approval["by"] == "alice" and approval["seal"]
    assert git_log(root)[0] == "resolve: decisions by alice (interactive)"
    assert_check_clean(root)


def test_a_conflict_decided_meanwhile_is_not_decided_again(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path, count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    record = _first(root)
    conflict = next(c for c in record["conflicts"] if c["id"] == "metadata_mismatch:caption")
    assert _decide(client, app, record["photo_id"], conflict["id"], "a").status_code == 303
    commits, decided = _commits(root), records(root)
    # the same page, still open in another tab, answers "b"
    assert _decide(client, app, record["photo_id"], conflict["id"], "b").status_code == 303
    assert "decided or gone since it was shown" in _flashes(client)
    assert (_commits(root), records(root)) == (commits, decided)
    # a photo joined into another one meanwhile (or never there)
    assert _decide(client, app, str(uuid.uuid4()), conflict["id"], "a").status_code == 303
    assert "decided or gone since it was shown" in _flashes(client)
    # an answer the conflict does not offer is refused too
    other = next(c for c in record["conflicts"] if c["id"] == "metadata_mismatch:location")
    _decide(client, app, record["photo_id"], other["id"], "nonsense")
    assert "is not an answer to it" in _flashes(client)
    assert _commits(root) == commits
    # skipped: still waiting, under "skipped", not under "open"
    _decide(client, app, record["photo_id"], other["id"], "skip")
    field = f'name="conflict_id" value="{other["id"]}"'
    skipped = client.get("/review?show=skipped").get_data(as_text=True)
    assert field in skipped and "skipped earlier" in skipped
    assert field not in client.get("/review?show=open").get_data(as_text=True)
    assert field in client.get("/review").get_data(as_text=True)
    assert_check_clean(root)


def test_the_lock_is_taken_only_while_a_decision_is_written(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path, count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    record = _first(root)
    commits = _commits(root)
    with ArchiveLock(root / ".photosync" / "lock"):  # another photosync run is working
        assert client.get("/review").status_code == 200  # reading goes on
        answered = _decide(client, app, record["photo_id"], "metadata_mismatch:caption", "a")
        assert answered.status_code == 303
        assert "another photosync run holds this archive" in _flashes(client)
    assert _commits(root) == commits
    # the page is open, and the CLI writes beside it
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    assert (
        _decide(client, app, record["photo_id"], "metadata_mismatch:caption", "a").status_code
        == 303
    )
    assert _commits(root) == commits + 1
    assert_check_clean(root)


def test_apply_to_all_conflicts_like_this(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path, count=3))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    first = _first(root)
    commits = _commits(root)
    _decide(client, app, first["photo_id"], "metadata_mismatch:caption", "a", apply_like="yes")
    assert "3 decision(s) recorded" in _flashes(client)
    assert sorted(r["metadata"]["caption"] for r in records(root)) == [
        "Beach 0",
        "Beach 1",
        "Beach 2",
    ]
    assert _commits(root) == commits + 1  # one commit for the lot
    # "taken before" a year: the photos dated 2021 are not before 2020, only the one answered
    _decide(
        client,
        app,
        first["photo_id"],
        "metadata_mismatch:location",
        "b",
        apply_like="yes",
        taken_before="2020",
    )
    assert _statuses(root, "metadata_mismatch:location") == {
        r["photo_id"]: "resolved" if r["photo_id"] == first["photo_id"] else "open"
        for r in records(root)
    }
    _decide(
        client,
        app,
        first["photo_id"],
        "metadata_mismatch:taken_date",
        "a",
        apply_like="yes",
        taken_before="2022",
    )
    assert set(_statuses(root, "metadata_mismatch:taken_date").values()) == {"resolved"}
    commits = _commits(root)
    _decide(
        client,
        app,
        first["photo_id"],
        "metadata_mismatch:location",
        "a",
        apply_like="yes",
        taken_before="20x",
    )
    assert "is a year" in _flashes(client)
    assert _commits(root) == commits
    assert_check_clean(root)


def _statuses(root: Path, conflict_id: str) -> dict[str, str]:
    return {
        r["photo_id"]: c["status"]
        for r in records(root)
        for c in r["conflicts"]
        if c["id"] == conflict_id
    }


# browsing ---------------------------------------------------------------------------------------------
def test_timeline_photo_map_search_albums_and_thumbnails(shown: Path, same_home: Path) -> None:
    app = make_app(shown)
    client = logged_in(app)
    timeline = client.get("/timeline").get_data(as_text=True)
    thumbs = re.findall(r'src="(/thumb/[^"]+)"', timeline)
    assert thumbs
    for url in thumbs:
        image = client.get(url)
        assert image.status_code == 200 and image.mimetype == "image/jpeg"
        assert image.headers["X-Thumb-Kind"] == "image"
    cached = list((shown / ".photosync" / "thumbs").rglob("*.jpg"))
    assert len(cached) == len(set(thumbs))
    assert git_clean(shown)  # the cache is never in git
    record = _first(shown)
    page = client.get(f"/photo/{record['photo_id']}").get_data(as_text=True)
    for expected in ("Instances", "Visibility", "History", "this machine (blobs/)"):
        assert expected in page
    for subject in git_log_of(shown, record_relpath(record)):
        assert subject in page
    assert sorted(record["instances"]) == ["a", "b"] and ">a<" in page and ">b<" in page
    map_page = client.get("/map").get_data(as_text=True)
    places = json.loads(re.search(r'id="places">(.*?)</script>', map_page, re.S).group(1))  # type: ignore[union-attr]
    assert len(places) == len([r for r in records(shown) if r["metadata"].get("location")])
    assert (
        "leaflet/leaflet.js" in map_page
        and client.get("/static/leaflet/leaflet.js").status_code == 200
    )
    found = client.get("/search?q=IMG_0001").get_data(as_text=True)
    assert "IMG_0001.jpg" in found and "IMG_0000.jpg" not in found
    assert "Nothing matches" in client.get("/search?q=no-such-photo").get_data(as_text=True)
    assert client.get("/albums").status_code == 200


def git_log_of(root: Path, rel: str) -> list[str]:
    done = subprocess.run(
        ["git", "-C", str(root), "log", "--format=%s", "--", rel],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_status_page_shows_status_audit_and_a_check(shown: Path, same_home: Path) -> None:
    app = make_app(shown)
    client = logged_in(app)
    page = client.get("/status").get_data(as_text=True)
    assert f"<dt>photos</dt><dd>{len(records(shown))}</dd>" in page
    assert "Not run in this session" in page and "No verify has run here yet" in page
    assert client.post("/status/check", data={"csrf": csrf_of(app)}).status_code == 303
    assert "clean" in client.get("/status").get_data(as_text=True)
    assert_check_clean(shown)


# the command ------------------------------------------------------------------------------------------
def test_photosync_web_serves_this_machine_only_with_the_printed_token(
    shown: Path, same_home: Path
) -> None:
    server = subprocess.Popen(
        [sys.executable, "-m", "photosync", "--archive", str(shown), "web"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ},
        preexec_fn=ctrl_c_works,
    )
    try:
        assert server.stdout is not None
        printed = read_until(server.stdout.fileno(), b"Ctrl-C").decode()
        url = re.search(r"open: (\S+)", printed).group(1)  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:") and "token=" in url
        assert TOKEN not in url
        base = url.split("/?")[0]
        assert requests.get(f"{base}/review", timeout=30).status_code == 403
        session = requests.Session()
        opened = session.get(url, timeout=30)
        assert opened.status_code == 200 and "Review" in opened.text
        assert "token=" not in opened.url  # moved into the cookie
    finally:
        assert stop_server(server) == 0
    assert_check_clean(shown)


def test_a_custom_value_and_joining_an_edit_pair(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path / "meta", count=1))
    assert run_cli("--archive", str(root), "resolve", "--auto-resolve", "simple").exit_code == 0
    app = make_app(root)
    client = logged_in(app)
    photo = _first(root)["photo_id"]
    commits = _commits(root)
    _decide(client, app, photo, "metadata_mismatch:location", "custom", value="not a place")
    assert "not written" in _flashes(client) and _commits(root) == commits
    _decide(client, app, photo, "metadata_mismatch:caption", "custom", value="  In my words ")
    caption = _conflict_of(root, photo, "metadata_mismatch:caption")
    assert caption["resolution"]["choice"] == "custom"
    assert _first(root)["metadata"]["caption"] == caption["resolution"]["value"] == "In my words"
    assert_check_clean(root)

    # an edited copy beside its original: joined from the page, both copies kept
    taken = datetime(2022, 5, 1, 9, 0, 7)
    original = write_jpeg(
        tmp_path / "phone" / "IMG_0001.jpg", seed=501, size=(800, 600), taken=taken
    )
    (tmp_path / "laptop").mkdir()
    crop(original, tmp_path / "laptop" / "IMG_0001-edited.jpg")
    archive = new_archive(
        tmp_path / "pair",
        phone={"type": "local", "path": str(tmp_path / "phone")},
        laptop={"type": "local", "path": str(tmp_path / "laptop")},
    )
    archive.close()
    pair_root = archive.root
    assert run_cli("--archive", str(pair_root), "discover").exit_code == 0
    assert (
        run_cli("--archive", str(pair_root), "resolve", "--auto-resolve", "simple").exit_code == 0
    )
    both = records(pair_root)
    assert len(both) == 2
    app = make_app(pair_root)
    client = logged_in(app)
    review = client.get("/review").get_data(as_text=True)
    assert review.count("bytes · jpeg · on ") == 4  # both copies, on both cards
    edited = next(r for r in both if "laptop" in r["instances"])
    conflict = next(c["id"] for c in edited["conflicts"] if c["type"] == "edit_variant")
    assert _decide(client, app, edited["photo_id"], conflict, "merge").status_code == 303
    (joined,) = records(pair_root)
    assert sorted(joined["instances"]) == ["laptop", "phone"]
    assert joined["media"]["width"] == 800  # the original is the record, the edit a copy
    store = pair_root / "blobs" / "sha256"
    for record in both:
        digest = photo_digest(record)
        assert (store / digest[:2] / digest).is_file()  # no original lost
    assert "No conflict waits" in client.get("/review").get_data(as_text=True)
    assert_check_clean(pair_root)


def _conflict_of(root: Path, photo_id: str, conflict_id: str) -> dict[str, Any]:
    (record,) = [r for r in records(root) if r["photo_id"] == photo_id]
    return next(c for c in record["conflicts"] if c["id"] == conflict_id)


def test_a_port_already_taken_is_a_user_error(shown: Path, same_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["--archive", str(shown), "web", "--port", str(port)])
    assert result.exit_code == 3, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output and "--port" in result.output
    assert_check_clean(shown)
