"""What every service emulator shares: a threaded HTTP server on 127.0.0.1 and faults.

Emulators are real HTTP servers speaking a service's documented protocol; the
tests, the demo and a user's rehearsal run all use them. Faults are drawn from a
seeded random generator so that a failing test can be replayed.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FaultPlan:
    """Which share of requests fail, and how. Rates are probabilities in [0, 1]."""

    rate_429: float = 0.0
    retry_after_s: int = 1
    rate_5xx: float = 0.0
    rate_truncate: float = 0.0
    #: seconds to stall before answering, on a share ``rate_slow`` of requests
    rate_slow: float = 0.0
    slow_s: float = 0.0
    #: service-specific faults (e.g. Flickr code 201), by name
    custom: dict[str, float] = field(default_factory=dict)
    seed: int = 0
    #: request paths (prefixes) never faulted, e.g. the OAuth endpoints in a test
    exempt_prefixes: tuple[str, ...] = ()
    #: when set, only request paths starting with one of these are faulted
    only_prefixes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._lock = threading.Lock()

    def draw(self, path: str) -> str | None:
        """The fault to inject for one request, or None."""
        if any(path.startswith(prefix) for prefix in self.exempt_prefixes):
            return None
        if self.only_prefixes and not any(path.startswith(prefix) for prefix in self.only_prefixes):
            return None
        with self._lock:
            roll = self._random.random()
        for name, rate in (
            ("429", self.rate_429),
            ("5xx", self.rate_5xx),
            ("truncate", self.rate_truncate),
            ("slow", self.rate_slow),
            *self.custom.items(),
        ):
            if roll < rate:
                return name
            roll -= rate
        return None


class EmulatorServer:
    """Runs a request handler class on 127.0.0.1 in a background thread.

    ``state`` is whatever the emulator keeps (photos, tokens); the handler reads
    it as ``self.server.state``.
    """

    def __init__(
        self,
        handler: type[BaseHTTPRequestHandler],
        state: Any,
        *,
        port: int = 0,
        faults: FaultPlan | None = None,
    ) -> None:
        # small replies must not wait for Nagle's algorithm (40 ms a response otherwise)
        handler.disable_nagle_algorithm = True
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self._httpd.daemon_threads = True
        self._httpd.state = state  # type: ignore[attr-defined]
        self._httpd.faults = faults or FaultPlan()  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def faults(self) -> FaultPlan:
        return self._httpd.faults  # type: ignore[attr-defined]

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._httpd.faults = plan  # type: ignore[attr-defined]

    def start(self) -> EmulatorServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
