"""The OAuth 1.0a flow end to end against the emulator."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from photosync.credentials import CredentialStore
from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.errors import AuthError, ConfigError
from photosync.services.flickr.auth import run_oauth_flow
from photosync.services.flickr.service import FlickrService

pytestmark = pytest.mark.timeout(60)


def approve(url: str) -> str:
    """What the user does: open the page, approve, copy the verifier."""
    reply = requests.get(url, timeout=5)
    assert reply.status_code == 200
    return dict(parse_qsl(reply.text))["oauth_verifier"]


@pytest.mark.parametrize("perms", ["read", "write"])
def test_oauth_flow_end_to_end(emulator: FlickrEmulator, state: FlickrState, perms: str) -> None:
    seen_urls: list[str] = []

    def ask(url: str) -> str:
        seen_urls.append(url)
        return approve(url)

    creds = run_oauth_flow(
        state.api_key, state.api_secret, perms, emulator.endpoints(), ask, service_name="my-flickr"
    )
    assert creds["perms"] == perms and creds["user_nsid"] == state.nsid
    assert dict(parse_qsl(urlsplit(seen_urls[0]).query))["perms"] == perms
    assert CredentialStore().get("my-flickr") == creds
    assert state.calls["oauth.request_token"] == 1 and state.calls["oauth.access_token"] == 1
    assert state.calls["flickr.auth.oauth.checkToken"] == 1
    # the stored token works for the service
    service = FlickrService(
        "my-flickr",
        {"type": "flickr", "endpoints": emulator.endpoints(), "target": perms == "write"},
    )
    assert service.check_login()["id"] == state.nsid
    service.close()


def test_delete_is_never_requested(emulator: FlickrEmulator, state: FlickrState) -> None:
    with pytest.raises(ConfigError):
        run_oauth_flow(state.api_key, state.api_secret, "delete", emulator.endpoints(), approve)
    assert state.calls["oauth.request_token"] == 0


def test_a_wrong_verifier_is_refused_without_leaking_secrets(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    def wrong(url: str) -> str:
        approve(url)
        return "0000-0000-0000"

    with pytest.raises(AuthError) as caught:
        run_oauth_flow(
            state.api_key,
            state.api_secret,
            "read",
            emulator.endpoints(),
            wrong,
            service_name="never-stored",
        )
    assert "verifier_invalid" in str(caught.value) and state.api_secret not in str(caught.value)
    assert CredentialStore().get("never-stored") is None


def test_a_wrong_api_secret_fails_at_the_first_step(
    emulator: FlickrEmulator, state: FlickrState
) -> None:
    with pytest.raises(AuthError) as caught:
        run_oauth_flow(state.api_key, "wrong-secret-123", "read", emulator.endpoints(), approve)
    assert "signature_invalid" in str(caught.value) and "wrong-secret-123" not in str(caught.value)


def test_an_empty_verifier_cancels(emulator: FlickrEmulator, state: FlickrState) -> None:
    with pytest.raises(AuthError):
        run_oauth_flow(
            state.api_key, state.api_secret, "read", emulator.endpoints(), lambda url: "  "
        )
