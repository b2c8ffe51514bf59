"""Fixtures for the Flickr tests: a seeded emulator on 127.0.0.1 and services pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from photosync.emulators.flickr import FlickrEmulator, FlickrState
from photosync.services.flickr.service import FlickrService
from tests.helpers import FakeClock as _SharedClock


class FakeClock(_SharedClock):
    """The shared fake clock, starting at 1000 s."""

    def __init__(self) -> None:
        super().__init__(start=1000.0)


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def state() -> FlickrState:
    return FlickrState()


@pytest.fixture
def emulator(state: FlickrState) -> Iterator[FlickrEmulator]:
    with FlickrEmulator(state) as running:
        yield running


ServiceFactory = Callable[..., FlickrService]


@pytest.fixture
def make_service(
    emulator: FlickrEmulator, state: FlickrState, fake_clock: FakeClock
) -> Iterator[ServiceFactory]:
    """Build a FlickrService with a fresh write token on the emulator and a fake clock."""
    made: list[FlickrService] = []

    def factory(*, perms: str = "write", target: bool = True, **settings: Any) -> FlickrService:
        token, secret = state.issue_access_token(perms)
        credentials = {
            "api_key": state.api_key,
            "api_secret": state.api_secret,
            "oauth_token": token,
            "oauth_token_secret": secret,
            "perms": perms,
        }
        config = {
            "type": "flickr",
            "target": target,
            "endpoints": emulator.endpoints(),
            "rate_limit": {"requests_per_hour": 36_000_000},
            "ticket_poll_s": 0.5,
            **settings,
        }
        service = FlickrService("flickr", config, credentials=credentials, clock=fake_clock)
        made.append(service)
        return service

    yield factory
    for service in made:
        service.close()
