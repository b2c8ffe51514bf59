"""The shared resilient HTTP layer: rate limiting, backoff, Retry-After, breaker, TLS."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from collections.abc import Iterator
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.emulators.base import EmulatorServer
from photosync.errors import ConfigError, ServiceError
from photosync.services.http import (
    CircuitBreaker,
    HttpClient,
    RetryPolicy,
    TokenBucket,
    TransientResponse,
    parse_retry_after,
)
from tests.helpers import FakeClock


class Script:
    """Responses the scripted server gives, in order; the last one repeats."""

    def __init__(self, *steps: dict[str, Any]) -> None:
        self.steps = list(steps)
        self.served = 0
        self.lock = threading.Lock()

    def next(self) -> dict[str, Any]:
        with self.lock:
            step = self.steps[min(self.served, len(self.steps) - 1)]
            self.served += 1
            return step


class ScriptedHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        try:
            self._reply()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (timeout test)

    def _reply(self) -> None:
        step: dict[str, Any] = self.server.state.next()  # type: ignore[attr-defined]
        body: bytes = step.get("body", b'{"ok": true}')
        if step.get("stall"):
            time.sleep(step["stall"])
        self.send_response(step.get("status", 200))
        for key, value in step.get("headers", {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        if step.get("truncate"):
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body[: len(body) // 2] if step.get("truncate") else body)
        if step.get("truncate"):
            self.close_connection = True


class FastServer(EmulatorServer):
    def start(self) -> FastServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self


@pytest.fixture
def serve() -> Iterator[Any]:
    servers: list[EmulatorServer] = []

    def start(*steps: dict[str, Any]) -> tuple[str, Script]:
        script = Script(*steps)
        server = FastServer(ScriptedHandler, script).start()
        servers.append(server)
        return server.url + "/x", script

    yield start
    for server in servers:
        server.stop()


def parse_json(response: requests.Response) -> Any:
    if response.status_code != 200:
        raise ServiceError(f"HTTP {response.status_code}")
    return json.loads(response.content)


def client(clock: FakeClock, **kwargs: Any) -> HttpClient:
    kwargs.setdefault("requests_per_hour", 3_600_000)
    kwargs.setdefault("rng", random.Random(1))
    return HttpClient("test", clock=clock, **kwargs)


# -- token bucket -------------------------------------------------------------


def test_bucket_spaces_requests_at_the_configured_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(3600, burst=5, clock=clock)  # 1 per second
    for _ in range(25):
        bucket.acquire()
    # 5 from the burst, then 20 more at 1/s
    assert clock.now == pytest.approx(20.0, abs=1e-6)
    assert all(s > 0 for s in clock.slept)


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(min_value=1, max_value=100_000),
    burst=st.integers(min_value=1, max_value=50),
    count=st.integers(min_value=1, max_value=200),
)
def test_bucket_never_exceeds_burst_plus_rate(rate: float, burst: int, count: int) -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate, burst=burst, clock=clock)
    for _ in range(count):
        bucket.acquire()
    allowed = burst + clock.now * rate / 3600.0
    assert count <= allowed + 1e-6


def test_bucket_rejects_a_nonsense_rate() -> None:
    with pytest.raises(ConfigError):
        TokenBucket(0)


# -- backoff and Retry-After ---------------------------------------------------------


@settings(max_examples=100)
@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers(0, 2**32))
def test_full_jitter_stays_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=30)
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0 <= delay <= min(30, 0.5 * 2 ** (attempt - 1))


def test_retry_after_seconds_and_http_date() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after("7", now) == 7
    assert parse_retry_after(formatdate(now + 42, usegmt=True), now) == pytest.approx(42, abs=1)
    assert parse_retry_after(formatdate(now - 100, usegmt=True), now) == 0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


# -- retries over real HTTP -------------------------------------------------------------


def test_5xx_then_success_is_retried_with_backoff(serve: Any) -> None:
    url, script = serve({"status": 503}, {"status": 502}, {"status": 200})
    clock = FakeClock()
    http = client(clock)
    assert http.call("GET", url, parse_json) == {"ok": True}
    assert script.served == 3
    assert len(clock.slept) == 2
    assert http.breaker.consecutive_failures == 0


def test_429_retry_after_seconds_is_honoured_exactly(serve: Any) -> None:
    url, script = serve({"status": 429, "headers": {"Retry-After": "7"}}, {"status": 200})
    clock = FakeClock()
    client(clock).call("GET", url, parse_json)
    assert clock.slept == [7.0]
    assert script.served == 2


def test_429_retry_after_http_date_is_honoured(serve: Any) -> None:
    clock = FakeClock()
    when = formatdate(clock.time() + 30, usegmt=True)
    url, _ = serve({"status": 429, "headers": {"Retry-After": when}}, {"status": 200})
    client(clock).call("GET", url, parse_json)
    assert clock.slept[0] == pytest.approx(30, abs=1)


def test_a_real_short_retry_after_works_with_the_system_clock(serve: Any) -> None:
    url, script = serve({"status": 429, "headers": {"Retry-After": "0"}}, {"status": 200})
    http = HttpClient("test", requests_per_hour=3_600_000)
    assert http.call("GET", url, parse_json) == {"ok": True}
    assert script.served == 2


def test_an_absurd_retry_after_fails_the_call_instead_of_waiting(serve: Any) -> None:
    url, script = serve({"status": 429, "headers": {"Retry-After": "86400"}})
    clock = FakeClock()
    with pytest.raises(ServiceError) as caught:
        client(clock).call("GET", url, parse_json)
    assert caught.value.transient
    assert clock.slept == [] and script.served == 1


def test_truncated_and_unparseable_bodies_are_retried(serve: Any) -> None:
    url, script = serve(
        {"truncate": True, "body": b'{"ok": true, "padding": "xxxxxxxxxxxxxxxxxxxx"}'},
        {"body": b"<html>gateway</html>"},
        {"body": b'{"ok": true}'},
    )
    assert client(FakeClock()).call("GET", url, parse_json) == {"ok": True}
    assert script.served == 3


def test_handler_can_classify_a_body_as_transient(serve: Any) -> None:
    url, script = serve({"body": b'{"code": 201}'}, {"body": b'{"code": 0}'})

    def handler(response: requests.Response) -> int:
        code = int(json.loads(response.content)["code"])
        if code == 201:
            raise TransientResponse("service not currently available")
        return code

    assert client(FakeClock()).call("GET", url, handler) == 0
    assert script.served == 2


def test_permanent_errors_are_not_retried(serve: Any) -> None:
    url, script = serve({"status": 404})
    with pytest.raises(ServiceError) as caught:
        client(FakeClock()).call("GET", url, parse_json)
    assert not caught.value.transient
    assert script.served == 1


def test_timeouts_are_retried(serve: Any) -> None:
    url, script = serve({"stall": 0.5}, {"status": 200})
    http = client(FakeClock(), timeout=(1.0, 0.1))
    assert http.call("GET", url, parse_json) == {"ok": True}
    assert script.served == 2


def test_connection_refused_gives_up_as_transient() -> None:
    clock = FakeClock()
    http = client(clock, retry=RetryPolicy(max_attempts=3))
    # bound but never listening: refuses, and no other test or worker can take the port
    with socket.socket() as sock, pytest.raises(ServiceError) as caught:
        sock.bind(("127.0.0.1", 0))
        http.call("GET", f"http://127.0.0.1:{sock.getsockname()[1]}/x", parse_json)
    assert caught.value.transient
    assert http.attempts == 3 and len(clock.slept) == 2


# -- circuit breaker ---------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_and_success_resets() -> None:
    breaker = CircuitBreaker("svc", threshold=3)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    breaker.record_failure()
    assert not breaker.is_open
    breaker.record_failure()
    assert breaker.is_open
    with pytest.raises(ServiceError) as caught:
        breaker.check()
    assert caught.value.transient


def test_open_breaker_stops_calling_the_service(serve: Any) -> None:
    url, script = serve({"status": 503})
    http = client(FakeClock(), retry=RetryPolicy(max_attempts=3), breaker=CircuitBreaker("test", 5))
    with pytest.raises(ServiceError):
        http.call("GET", url, parse_json)
    with pytest.raises(ServiceError) as caught:
        http.call("GET", url, parse_json)
    assert "giving up for this run" in str(caught.value)
    assert script.served == 5  # 3 + 2, then the breaker opened mid-way
    with pytest.raises(ServiceError):
        http.call("GET", url, parse_json)
    assert script.served == 5


# -- TLS and timeouts are not optional -----------------------------------------------------


def test_verification_cannot_be_turned_off(serve: Any) -> None:
    url, _ = serve({"status": 200})
    http = client(FakeClock())
    assert http.session.verify is True
    with pytest.raises(ValueError):
        http.call("GET", url, parse_json, verify=False)
    with pytest.raises(ValueError):
        http.call("GET", url, parse_json, timeout=None)


def test_ca_bundle_env_must_name_a_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("PHOTOSYNC_CA_BUNDLE", str(tmp_path / "missing.pem"))
    with pytest.raises(ConfigError):
        HttpClient("test")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("PHOTOSYNC_CA_BUNDLE", str(bundle))
    assert HttpClient("test").session.verify == str(bundle)
