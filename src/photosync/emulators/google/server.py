"""The emulator as a server (tests, the demo, a rehearsal) and as a command:
``python -m photosync.emulators.google --port 0``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable
from typing import Any

from photosync.emulators.base import EmulatorServer, FaultPlan
from photosync.emulators.google.handler import GoogleHandler
from photosync.emulators.google.state import GoogleState


class GoogleEmulator:
    """The emulator server plus the endpoint settings a connector needs."""

    def __init__(
        self, state: GoogleState | None = None, *, port: int = 0, faults: FaultPlan | None = None
    ) -> None:
        self.state = state or GoogleState()
        self.server = EmulatorServer(GoogleHandler, self.state, port=port, faults=faults)

    @property
    def url(self) -> str:
        return self.server.url

    def endpoints(self) -> dict[str, str]:
        return {
            "library": f"{self.url}/v1",
            "picker": f"{self.url}/picker/v1",
            "oauth_token": f"{self.url}/token",
            "oauth_auth": f"{self.url}/o/oauth2/auth",
        }

    def start(self) -> GoogleEmulator:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def __enter__(self) -> GoogleEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def approve(auth_url: str, opener: Callable[[str], Any] | None = None) -> None:
    """Play the user's browser: open the authorization URL and follow the redirect."""
    import requests

    (opener or (lambda url: requests.get(url, timeout=10)))(auth_url)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m photosync.emulators.google",
        description="Google Photos/OAuth emulator on 127.0.0.1",
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--client-id", default="test-client")
    parser.add_argument("--client-secret", default="test-secret")
    args = parser.parse_args(argv)
    emulator = GoogleEmulator(
        GoogleState(clients={args.client_id: args.client_secret}), port=args.port
    )
    endpoints = " ".join(f"--endpoint {key}={url}" for key, url in emulator.endpoints().items())
    info = {
        "url": emulator.url,
        "endpoints": emulator.endpoints(),
        "client_id": args.client_id,
        "client_secret": args.client_secret,
    }
    print(json.dumps(info))  # first line: for programs
    print(f"Google Photos emulator at {emulator.url}")
    print(f"client id:     {args.client_id}")
    print(f"client secret: {args.client_secret}")
    print("add it as a service (one line):")
    print(
        f"  photosync service add google-photos --type google-photos --target --no-source {endpoints} --requests-per-hour 100000"
    )
    print("then: photosync auth google-photos (the emulator approves the consent page by itself)")
    print(f"picker sessions can be approved at {emulator.url}/pick/<session-id>", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.server.serve_forever()
    return 0
