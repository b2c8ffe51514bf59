"""Secrets never reach the archive, its history, its caches or the output; TLS stays on.

The whole flow runs with Flickr, Google Photos and S3 credentials configured
(each secret a distinctive random string), then the working tree, every object
in git (``git log -p --all`` and every blob), ``.photosync/`` and everything
photosync printed are searched for each secret.
"""

from __future__ import annotations

import secrets
import ssl
import stat
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import requests

from photosync.credentials import CredentialStore, config_dir, redact
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.emulators.google import GoogleEmulator, GoogleState, approve
from photosync.errors import ConfigError, PhotosyncError, ServiceError
from photosync.services.flickr.auth import run_oauth_flow
from photosync.services.http import HttpClient
from tests.chaos.clirun import photosync
from tests.chaos.harness import Expect, check_invariants
from tests.helpers import make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(240)


def _everything_git_holds(root: Path) -> bytes:
    log = subprocess.run(
        ["git", "-C", str(root), "log", "-p", "--all", "--format=%H %an %ae %s%n%b"],
        capture_output=True,
        check=True,
    ).stdout
    objects = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch-all-objects", "--batch"],
        capture_output=True,
        check=True,
    ).stdout
    return log + objects


def _working_tree(root: Path) -> Iterator[tuple[Path, bytes]]:
    for path in root.rglob("*"):
        if (
            path.is_file()
            and ".git" not in path.relative_to(root).parts[:1]
            and "blobs" not in path.relative_to(root).parts[:1]
        ):
            yield path, path.read_bytes()


def test_the_whole_flow_leaves_no_secret_behind(
    tmp_path: Path,
    s3_endpoint: str,
    s3_admin: Any,
    fresh_bucket: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flickr_state = FlickrState(
        api_key="chaoskey" + secrets.token_hex(8), api_secret="chaossecret" + secrets.token_hex(12)
    )
    flickr_state.seed(6, video_every=0)
    google_secret = "chaosgoogle" + secrets.token_hex(12)
    google_state = GoogleState(clients={"chaos-client.apps": google_secret})
    s3_keys = {
        "aws_access_key_id": "AKIACHAOS" + secrets.token_hex(6).upper(),
        "aws_secret_access_key": "chaoss3" + secrets.token_hex(16),
    }
    outputs: list[str] = []
    make_library(tmp_path / "lib", 8)
    with FlickrEmulator(flickr_state) as flickr, GoogleEmulator(google_state) as google:
        archive = new_archive(
            tmp_path,
            lib={"type": "local", "path": str(tmp_path / "lib")},
            flickr={
                "type": "flickr",
                "target": True,
                "endpoints": flickr.endpoints(),
                "rate_limit": {"requests_per_hour": 36_000_000},
                "ticket_poll_s": 0.05,
            },
            gphotos={
                "type": "google-photos",
                "target": True,
                "source": False,
                "endpoints": google.endpoints(),
            },
        )
        set_prefs(archive, commit_every=5)
        prefs = archive.preferences()
        prefs["blob_storage"]["locations"].append(
            {
                "name": "s3",
                "type": "s3",
                "bucket": fresh_bucket,
                "endpoint_url": s3_endpoint,
                "region": "us-east-1",
                "addressing_style": "path",
                "credentials": "s3keys",
            }
        )
        archive.save_preferences(prefs)
        archive.commit("config: flickr, google photos and s3")
        archive.close()
        root = archive.root
        # credentials as a user would set them up: the OAuth dances, and keys in the store
        run_oauth_flow(
            flickr_state.api_key,
            flickr_state.api_secret,
            "write",
            flickr.endpoints(),
            lambda url: dict(parse_qsl(requests.get(url, timeout=5).text))["oauth_verifier"],
            service_name="flickr",
        )
        monkeypatch.setattr(
            "click.launch",
            lambda url: threading.Thread(target=approve, args=(url,), daemon=True).start(),
        )
        outputs.append(
            photosync(
                root,
                "auth",
                "google-photos",
                "--service",
                "gphotos",
                "--client-id",
                "chaos-client.apps",
                "--client-secret",
                google_secret,
                "--timeout",
                "20",
            ).output
        )
        CredentialStore().set("s3keys", s3_keys)
        for command in (
            ["discover"],
            ["resolve", "--auto-resolve", "simple"],
            ["replicate", "--execute"],
            ["status"],
            ["verify", "--read-data"],
            ["resolve", "--list", "--json"],
            ["storage", "list"],
            ["service", "list"],
        ):
            outputs.append(photosync(root, *command).output)
        # a failing run must not leak them either: a wrong S3 secret
        CredentialStore().set(
            "s3keys", {**s3_keys, "aws_secret_access_key": s3_keys["aws_secret_access_key"] + "x"}
        )
        outputs.append(photosync(root, "verify", expect=None).output)
        CredentialStore().set("s3keys", s3_keys)
    stored = CredentialStore().get("flickr") or {}
    google_stored = CredentialStore().get("gphotos") or {}
    secret_values = {
        "flickr api secret": flickr_state.api_secret,
        "flickr oauth token": stored.get("oauth_token"),
        "flickr oauth token secret": stored.get("oauth_token_secret"),
        "google client secret": google_secret,
        "google refresh token": google_stored.get("refresh_token"),
        "google access token": google_stored.get("access_token") or google_stored.get("token"),
        "s3 secret key": s3_keys["aws_secret_access_key"],
    }
    found = {name: value for name, value in secret_values.items() if value}
    assert {"flickr oauth token secret", "google refresh token", "s3 secret key"} <= set(found), (
        sorted(google_stored)
    )
    history = _everything_git_holds(root)
    tree = list(_working_tree(root))
    assert any(p.parts[-2] == ".photosync" or ".photosync" in p.parts for p, _ in tree)
    printed = "\n".join(outputs)
    for name, value in found.items():
        needle = value.encode()
        assert needle not in history, f"{name} is in the git history"
        leaked = [str(p.relative_to(root)) for p, data in tree if needle in data]
        assert not leaked, f"{name} is in {leaked}"
        assert value not in printed, f"{name} was printed"
    # the store itself: a 0600 file in a 0700 folder, outside the archive
    store_file = config_dir() / "credentials.json"
    assert stat.S_IMODE(store_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(store_file.parent.stat().st_mode) == 0o700
    assert not store_file.resolve().is_relative_to(root.resolve())
    check_invariants(root, Expect(records=14, present={"flickr": 14, "lib": 8}), read_data=False)


# -- TLS cannot be switched off silently -----------------------------------------------------


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1 whose certificate nobody trusts."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    made = subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        capture_output=True,
        check=False,
    )
    if made.returncode != 0:
        pytest.skip(f"openssl could not make a certificate: {made.stderr[-200:]!r}")

    class Hello(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}/", cert
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    "environment",
    [
        {},
        {"CURL_CA_BUNDLE": ""},
        {"REQUESTS_CA_BUNDLE": ""},
        {"PYTHONHTTPSVERIFY": "0"},
        {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": ""},
    ],
    ids=["plain", "curl-empty", "requests-empty", "pythonhttpsverify", "both-empty"],
)
def test_an_untrusted_certificate_is_refused_whatever_the_environment(
    self_signed: tuple[str, Path], environment: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _cert = self_signed
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    client = HttpClient("tls-test")
    with pytest.raises(ServiceError, match="TLS verification failed"):
        client.call("GET", url, lambda response: response.text, retry=False)
    with pytest.raises(ValueError, match="TLS verification"):
        client.call("GET", url, lambda response: response.text, verify=False)
    client.close()


def test_trusting_a_certificate_takes_an_explicit_ca_file(
    self_signed: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    url, cert = self_signed
    monkeypatch.setenv("PHOTOSYNC_CA_BUNDLE", str(cert))
    assert (
        HttpClient("tls-test").call("GET", url, lambda response: response.text, retry=False) == "ok"
    )
    monkeypatch.setenv("PHOTOSYNC_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError):
        HttpClient("tls-test")


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "flickr", "endpoints": {"rest": "http://api.example.com/services/rest/"}},
        {"type": "google-photos", "endpoints": {"library": "http://photoslibrary.example.com/v1"}},
    ],
    ids=["flickr", "google-photos"],
)
def test_plain_http_endpoints_are_refused_for_services(
    tmp_path: Path, spec: dict[str, Any]
) -> None:
    from photosync.services.registry import make_service

    with pytest.raises(ConfigError, match="https"):
        make_service("svc", spec).close()


def test_plain_http_s3_endpoint_needs_an_explicit_opt_in(tmp_path: Path) -> None:
    from photosync.blobstore.registry import make_blob_store

    spec = {
        "name": "nas",
        "type": "s3",
        "bucket": "photos",
        "endpoint_url": "http://minio.lan:9000",
        "region": "us-east-1",
    }
    with pytest.raises(PhotosyncError, match="https"):
        make_blob_store("nas", spec, tmp_path)
    make_blob_store("nas", {**spec, "allow_insecure_http": True}, tmp_path)
    make_blob_store("nas", {**spec, "endpoint_url": "https://minio.lan:9000"}, tmp_path)


def test_a_tls_failure_never_shows_the_requests_query(self_signed: tuple[str, Path]) -> None:
    """requests quotes the URL, query and all, in its SSLError; the message showed it raw."""
    url, _cert = self_signed
    client = HttpClient("tls-test")
    with pytest.raises(ServiceError, match="TLS verification failed") as caught:
        client.call(
            "GET",
            url + "services/rest/?method=x&api_key=Key0123abcXYZ&oauth_token=Tok987zyxABC",
            lambda response: response.text,
            retry=False,
        )
    client.close()
    shown = f"{caught.value} {caught.value.hint or ''}"
    assert "Key0123abcXYZ" not in shown
    assert "Tok987zyxABC" not in shown


@pytest.mark.parametrize(
    "text",
    [
        "Invalid signature for GET /services/rest/?method=x&api_key=Key0123abcXYZ",
        "redirect to https://h/cb#access_token=Tok987zyxABC&state=1",
        "Authorization: Bearer Tok987zyxABC",
    ],
)
def test_a_services_message_is_masked_even_with_no_secret_registered(text: str) -> None:
    """Flickr's and Google's sign-in errors masked only the secrets the caller held:
    a token the service echoed in a URL came out as it was."""
    shown = redact(text, {"unrelated": "nothing-here"})
    assert "Key0123abcXYZ" not in shown
    assert "Tok987zyxABC" not in shown
