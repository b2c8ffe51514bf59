"""A failed run leaves something to look at: a per-run log, secrets masked, pointed to by status."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive import runlog
from photosync.credentials import CredentialStore, config_dir
from photosync.redaction import MASK, redact_text, register_secret
from tests.helpers import assert_check_clean, git_log, make_library, new_archive, run_cli


class _EchoingOutage(BaseHTTPRequestHandler):
    """A service that is down and, like a careless proxy, echoes the credentials it was sent."""

    def do_GET(self) -> None:
        token = getattr(self.server, "token", "")
        body = (
            "Service Unavailable. Debug: you sent Authorization: "
            f"{self.headers.get('Authorization')} query {self.path}; session {token} is parked"
        ).encode()
        self.send_response(503)
        self.send_header("Retry-After", "0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def outage() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingOutage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server  # type: ignore[misc]
    finally:
        server.shutdown()
        server.server_close()


def _photosync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "photosync", *args],
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )


def test_a_failed_run_is_logged_with_its_details_and_no_token_reaches_the_log(
    tmp_path: Path, outage: tuple[str, ThreadingHTTPServer]
) -> None:
    url, server = outage
    creds = {
        "api_key": "logkey" + secrets.token_hex(8),
        "api_secret": "logsecret" + secrets.token_hex(10),
        "oauth_token": "logtoken" + secrets.token_hex(10),
        "oauth_token_secret": "logtokensecret" + secrets.token_hex(10),
        "perms": "read",
    }
    server.token = creds["oauth_token"]  # type: ignore[attr-defined]
    CredentialStore(config_dir()).set("flickr", creds)
    archive = new_archive(
        tmp_path,
        flickr={
            "type": "flickr",
            "endpoints": {"rest": f"{url}/services/rest/", "oauth": f"{url}/services/oauth/"},
            "rate_limit": {"requests_per_hour": 36_000_000},
        },
    )
    root = archive.root
    archive.close()

    run = _photosync("--archive", str(root), "discover")
    assert run.returncode in (4, 7), run.stdout + run.stderr

    logs = runlog.run_logs(root)
    assert len(logs) == 1 and logs[0].name.endswith(f"-discover-{logs[0].name.split('-')[-1]}")
    text = logs[0].read_text(encoding="utf-8")
    # which service, the service's answer, the retries, the outcome
    assert "flickr" in text and "HTTP 503" in text and "Service Unavailable" in text
    assert "retrying in" in text and "gave up after 6 attempt(s)" in text
    assert "listing stopped" in text
    everything = text + (logs[0].parent / runlog.LAST_RUN).read_text() + run.stdout + run.stderr
    for value in creds.values():
        if value != "read":
            assert value not in everything
    assert MASK in text  # the echoed credentials were there, masked
    assert oct(logs[0].stat().st_mode & 0o777) == "0o600"

    status = _photosync("--archive", str(root), "status")
    assert status.returncode == 0, status.stderr
    assert f"details: {logs[0].relative_to(root)}" in status.stdout
    assert "problem(s)" in status.stdout
    as_json = json.loads(_photosync("--archive", str(root), "status", "--json").stdout)
    assert as_json["last_run"]["log"] == str(logs[0].relative_to(root))
    assert as_json["last_run"]["problems"] >= 1
    assert not any(value in status.stdout for value in creds.values() if value != "read")
    assert_check_clean(root)


def test_verbose_shows_log_lines_quiet_by_default_and_a_clean_run_points_nowhere(
    tmp_path: Path,
) -> None:
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    root = archive.root
    archive.close()
    plain = _photosync("--archive", str(root), "discover")
    assert plain.returncode == 0 and "INFO" not in plain.stderr
    verbose = _photosync("--archive", str(root), "-v", "discover", "--full-scan")
    assert verbose.returncode == 0
    assert "discover lib: listing (full scan)" in verbose.stderr
    assert "DEBUG" not in verbose.stderr
    status = _photosync("--archive", str(root), "status")
    assert "details:" not in status.stdout and "problem(s)" not in status.stdout
    assert len(runlog.run_logs(root)) == 2
    assert_check_clean(root)


def test_only_the_newest_run_logs_are_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_library(tmp_path / "lib", 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    root = archive.root
    archive.close()
    monkeypatch.setattr(runlog, "KEEP_RUNS", 3)
    for _ in range(5):
        assert run_cli("--archive", str(root), "discover").exit_code == 0
    kept = runlog.run_logs(root)
    assert len(kept) == 3
    assert all("-discover-" in path.name for path in kept)
    last = runlog.last_run(root)
    assert last is not None and last["log"] == str(kept[-1].relative_to(root))
    assert_check_clean(root)


_TOKEN = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~",
    min_size=8,
    max_size=40,
)
_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
_SHAPES = [
    "access_token={t}",
    "https://x.example/cb?state=1&code={t}&scope=a",
    '{{"client_secret": "{t}"}}',
    "Authorization: Bearer {t}",
    'OAuth oauth_consumer_key="k", oauth_token="{t}", oauth_signature="s"',
    "refresh_token: {t}",
    "api_key={t}&method=flickr.test",
]


@settings(max_examples=200, deadline=None)
@given(token=_TOKEN, before=_TEXT, after=_TEXT, shape=st.sampled_from(_SHAPES))
def test_token_shaped_values_are_masked_in_any_surrounding_text(
    token: str, before: str, after: str, shape: str
) -> None:
    line = f"{before} {shape.format(t=token)} {after}"
    masked = redact_text(line)
    if token not in before and token not in after:
        assert token not in masked


@settings(max_examples=200, deadline=None)
@given(secret=_TOKEN.filter(lambda s: len(s) >= 10), before=_TEXT, after=_TEXT)
def test_a_registered_secret_is_masked_wherever_it_occurs(
    secret: str, before: str, after: str
) -> None:
    register_secret(secret)
    assert secret not in redact_text(f"{before}{secret}{after}")


def test_a_log_that_cannot_be_written_does_not_stop_the_run(tmp_path: Path) -> None:
    make_library(tmp_path / "lib", 2)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    root = archive.root
    archive.close()
    (root / ".photosync").mkdir(exist_ok=True)
    (root / ".photosync" / "logs").write_text("in the way\n")  # no folder can be made there
    run = _photosync("--archive", str(root), "discover")
    assert run.returncode == 0, run.stderr
    assert "2 new" in git_log(root)[0]
    (root / ".photosync" / "logs").unlink()
    assert_check_clean(root)
