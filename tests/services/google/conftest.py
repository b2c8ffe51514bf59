"""Fixtures for the Google Photos tests: generated Takeouts and the emulator."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from photosync.credentials import CredentialStore
from photosync.emulators.google import GoogleEmulator, approve
from photosync.services.base import ListingReport, RemoteItem
from photosync.services.google.auth import GoogleAuth, GoogleEndpoints
from photosync.services.google.takeout import TakeoutSource
from photosync.services.http import HttpClient, RetryPolicy


def listing(source: TakeoutSource) -> tuple[list[RemoteItem], ListingReport]:
    report = ListingReport()
    items = list(source.list_items(since=None, cursor=None, report=report))
    return items, report


def digest_of(source: TakeoutSource, item: RemoteItem) -> str:
    with source.open_item(item) as stream:
        return hashlib.sha256(stream.read()).hexdigest()


def fast_http(service: str = "google-photos") -> HttpClient:
    """No client-side throttling and millisecond backoff, so tests stay fast."""
    return HttpClient(
        service,
        requests_per_hour=1e9,
        retry=RetryPolicy(max_attempts=8, base_delay_s=0.005, max_delay_s=0.02),
    )


def browser(url: str) -> None:
    """The user's browser, in a thread so that the loopback listener can answer."""
    threading.Thread(target=approve, args=(url,), daemon=True).start()


@pytest.fixture
def emulator() -> Iterator[GoogleEmulator]:
    with GoogleEmulator() as emu:
        yield emu


@pytest.fixture
def store(tmp_path: Path) -> CredentialStore:
    return CredentialStore(tmp_path / "config", backend="file")


@pytest.fixture
def signed_in(emulator: GoogleEmulator, store: CredentialStore) -> GoogleAuth:
    auth = GoogleAuth(
        "gphotos",
        client_id="test-client",
        client_secret="test-secret",
        endpoints=GoogleEndpoints.from_settings({"endpoints": emulator.endpoints()}),
        store=store,
    )
    auth.authorize(browser, timeout=20)
    return auth
