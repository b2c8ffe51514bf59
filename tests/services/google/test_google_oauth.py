"""OAuth 2.0 installed-app flow (PKCE, loopback) and token refresh against the emulator."""

from __future__ import annotations

import base64
import hashlib
import json
import stat
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests

from photosync.credentials import CredentialStore
from photosync.emulators.google import SCOPE_APPENDONLY, GoogleEmulator
from photosync.errors import AuthError, ConfigError
from photosync.services.google.auth import GoogleAuth, GoogleEndpoints
from photosync.services.google.library import GooglePhotosLibrary
from photosync.services.google.picker import GooglePicker

from .conftest import browser, fast_http


def test_pkce_flow_stores_tokens_outside_the_archive(
    signed_in: GoogleAuth, emulator: GoogleEmulator, store: CredentialStore
) -> None:
    saved = store.get("gphotos")
    assert saved is not None
    assert saved["refresh_token"].startswith("1//")
    assert saved["access_token"] in emulator.state.access_tokens
    assert stat.S_IMODE(store.file_path.stat().st_mode) == 0o600
    assert emulator.state.stats["token_grants"] == 1
    # a later run reads the stored tokens and needs no browser
    again = GoogleAuth(
        "gphotos",
        client_id="test-client",
        client_secret="test-secret",
        endpoints=signed_in.endpoints,
        store=store,
    )
    assert again.access_token() == saved["access_token"]


def _code(
    emulator: GoogleEmulator, verifier: str, redirect: str, **extra: str
) -> requests.Response:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode()
    query = {
        "response_type": "code",
        "client_id": "test-client",
        "redirect_uri": redirect,
        "scope": SCOPE_APPENDONLY,
        "state": "s1",
        "code_challenge": challenge.rstrip("="),
        "code_challenge_method": "S256",
        **extra,
    }
    return requests.get(
        f"{emulator.url}/o/oauth2/auth?{urlencode(query)}", allow_redirects=False, timeout=10
    )


def test_token_endpoint_checks_the_pkce_verifier(emulator: GoogleEmulator) -> None:
    verifier = "v" * 64
    redirect = "http://127.0.0.1:9/"
    reply = _code(emulator, verifier, redirect)
    assert reply.status_code == 302
    location = urlsplit(reply.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect
    code = parse_qs(location.query)["code"][0]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": "test-client",
        "client_secret": "test-secret",
        "redirect_uri": redirect,
    }
    wrong = requests.post(
        f"{emulator.url}/token", data={**form, "code_verifier": "w" * 64}, timeout=10
    )
    assert wrong.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    # a refused attempt burns the code, as Google does
    right = requests.post(
        f"{emulator.url}/token", data={**form, "code_verifier": verifier}, timeout=10
    )
    assert right.status_code == 400
    reply = _code(emulator, verifier, redirect)
    form["code"] = parse_qs(urlsplit(reply.headers["Location"]).query)["code"][0]
    bad_secret = requests.post(
        f"{emulator.url}/token",
        data={**form, "code_verifier": verifier, "client_secret": "nope"},
        timeout=10,
    )
    assert bad_secret.status_code == 401
    good = requests.post(
        f"{emulator.url}/token", data={**form, "code_verifier": verifier}, timeout=10
    )
    assert good.status_code == 200, good.text
    assert set(good.json()) >= {"access_token", "refresh_token", "expires_in", "token_type"}
    reused = requests.post(
        f"{emulator.url}/token", data={**form, "code_verifier": verifier}, timeout=10
    )
    assert reused.status_code == 400


def test_authorize_endpoint_rejects_bad_requests(emulator: GoogleEmulator) -> None:
    assert _code(emulator, "v" * 64, "https://evil.example/cb").status_code == 400
    no_pkce = _code(emulator, "v" * 64, "http://127.0.0.1:9/", code_challenge_method="plain")
    assert "error=invalid_request" in no_pkce.headers["Location"]
    removed = _code(
        emulator,
        "v" * 64,
        "http://127.0.0.1:9/",
        scope="https://www.googleapis.com/auth/photoslibrary.readonly",
    )
    assert "error=invalid_scope" in removed.headers["Location"]


def test_state_mismatch_is_refused(emulator: GoogleEmulator, store: CredentialStore) -> None:
    auth = GoogleAuth(
        "g",
        client_id="test-client",
        client_secret="test-secret",
        endpoints=GoogleEndpoints.from_settings({"endpoints": emulator.endpoints()}),
        store=store,
    )

    def forged(url: str) -> None:
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        query["state"] = "forged"
        browser(f"{parts.scheme}://{parts.netloc}{parts.path}?{urlencode(query)}")

    with pytest.raises(AuthError, match="state mismatch"):
        auth.authorize(forged, timeout=20)
    assert store.get("g") is None


def test_expired_token_is_refreshed_and_the_call_retried(
    signed_in: GoogleAuth, emulator: GoogleEmulator, tmp_path: Path
) -> None:
    library = GooglePhotosLibrary(
        "gphotos",
        {"endpoints": emulator.endpoints()},
        auth=signed_in,
        http=fast_http(),
        journal_dir=tmp_path,
    )
    assert list(library.app_items()) == []
    old = signed_in.access_token()
    emulator.state.expire_access_tokens()  # the server says expired; the client still trusts it
    assert list(library.app_items()) == []
    assert emulator.state.stats["expired_token_rejections"] == 1
    assert emulator.state.stats["refresh_grants"] == 1
    assert signed_in.access_token() != old


def test_revoked_refresh_token_gives_a_clear_error(
    signed_in: GoogleAuth, emulator: GoogleEmulator
) -> None:
    emulator.state.refresh_tokens.clear()
    emulator.state.expire_access_tokens()
    with pytest.raises(AuthError, match="refused to refresh") as caught:
        signed_in.refresh()
    assert caught.value.hint and "photosync auth" in caught.value.hint


def test_endpoints_must_be_https_or_loopback() -> None:
    with pytest.raises(ConfigError):
        GoogleEndpoints.from_settings({"endpoints": {"library": "http://example.com/v1"}})
    with pytest.raises(ConfigError):
        GoogleEndpoints.from_settings({"endpoints": {"typo": "https://x"}})
    assert GoogleEndpoints.from_settings({}).library.startswith("https://photoslibrary.")


def test_api_refuses_missing_and_wrongly_scoped_tokens(
    emulator: GoogleEmulator, store: CredentialStore
) -> None:
    assert requests.get(f"{emulator.url}/v1/mediaItems", timeout=10).status_code == 401
    picker_only = GoogleAuth(
        "p",
        client_id="test-client",
        client_secret="test-secret",
        endpoints=GoogleEndpoints.from_settings({"endpoints": emulator.endpoints()}),
        store=store,
        scopes=("https://www.googleapis.com/auth/photospicker.mediaitems.readonly",),
    )
    picker_only.authorize(browser, timeout=20)
    reply = requests.get(
        f"{emulator.url}/v1/mediaItems",
        headers={"Authorization": f"Bearer {picker_only.access_token()}"},
        timeout=10,
    )
    assert reply.status_code == 403
    assert json.loads(reply.text)["error"]["status"] == "PERMISSION_DENIED"


def test_services_without_a_client_say_what_to_do(store: CredentialStore) -> None:
    with pytest.raises(ConfigError, match="no Google OAuth client") as caught:
        GooglePicker("gp", {}, store=store)
    assert caught.value.hint and "photosync auth gp" in caught.value.hint
