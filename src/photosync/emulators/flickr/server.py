"""The emulator as a server (tests, the demo, a rehearsal) and as a command:
``python -m photosync.emulators.flickr --port 8765 --seed-photos 200``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading

from photosync.emulators.base import EmulatorServer, FaultPlan
from photosync.emulators.flickr.handler import FlickrHandler
from photosync.emulators.flickr.state import DEFAULT_API_KEY, DEFAULT_API_SECRET, FlickrState


class FlickrEmulator(EmulatorServer):
    """``EmulatorServer`` running ``FlickrHandler`` over a ``FlickrState``."""

    def __init__(
        self, state: FlickrState | None = None, *, port: int = 0, faults: FaultPlan | None = None
    ) -> None:
        self.state = state or FlickrState()
        super().__init__(FlickrHandler, self.state, port=port, faults=faults)

    def start(self) -> FlickrEmulator:
        """Like the base, with a short poll interval so that ``stop`` returns quickly in tests."""
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __enter__(self) -> FlickrEmulator:
        return self.start()

    def endpoints(self) -> dict[str, str]:
        """The ``endpoints`` block of a services.json entry that points at this emulator."""
        return {
            "rest": f"{self.url}/services/rest/",
            "upload": f"{self.url}/services/upload/",
            "replace": f"{self.url}/services/replace/",
            "oauth": f"{self.url}/services/oauth/",
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m photosync.emulators.flickr",
        description="Run a Flickr emulator on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--seed-photos", type=int, default=200)
    parser.add_argument("--free", action="store_true", help="emulate a free account (no originals)")
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--api-secret", default=DEFAULT_API_SECRET)
    parser.add_argument(
        "--search-lag",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="search shows a new upload only this long after it (give the service "
        "the same search_lag_s)",
    )
    parser.add_argument(
        "--privacy-ignored",
        action="store_true",
        help="setPerms and an upload's privacy flags reply ok but change nothing",
    )
    args = parser.parse_args(argv)
    state = FlickrState(api_key=args.api_key, api_secret=args.api_secret, pro=not args.free)
    state.search_lag_s = args.search_lag
    state.privacy_ignored = args.privacy_ignored
    state.seed(args.seed_photos)
    emulator = FlickrEmulator(state, port=args.port)
    print(
        f"Flickr emulator at {emulator.url} ({len(state.photos)} photos, "
        f"{'free' if args.free else 'pro'} account)"
    )
    print(f"API key:    {state.api_key}")
    print(f"API secret: {state.api_secret}")
    endpoints = " ".join(f"--endpoint {key}={url}" for key, url in emulator.endpoints().items())
    print("services.json endpoints: " + json.dumps(emulator.endpoints()))
    print("add it as a service (one line):")
    print(
        f"  photosync service add flickr --type flickr --target {endpoints} --requests-per-hour 100000"
    )
    print("then: photosync auth flickr (with the key and secret above)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        emulator.serve_forever()
    return 0
