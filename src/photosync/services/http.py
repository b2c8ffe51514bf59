"""The resilient HTTP layer every web connector (Flickr, Google Photos) shares.

One ``HttpClient`` per configured service. It owns what must be shared by all
calls of that service: the client-side rate limiter (a token bucket), the
circuit breaker and the retry policy. Every request gets a timeout and TLS
verification; there is deliberately no way to turn verification off (a CA file
may be added with ``PHOTOSYNC_CA_BUNDLE``).

Usage::

    http = HttpClient("flickr", requests_per_hour=3600)
    data = http.call("GET", url, handler=parse_json, params={...}, auth=oauth)

``handler`` receives every response that is not 429/5xx and turns it into a
value. It raises ``TransientResponse`` when the body says "try later" (Flickr
codes 105/106/201), a ``PhotosyncError`` for a permanent failure, and any
``ValueError`` (bad JSON/XML) counts as an unparseable, hence transient, body.
Transient failures are retried with exponential backoff and full jitter (or
exactly ``Retry-After`` when the server sends one); when retries run out, or
the breaker is open, ``ServiceError(transient=True)`` is raised so the run can
go on without this service.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit
from xml.etree.ElementTree import ParseError

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from photosync.errors import ConfigError, PhotosyncError, ServiceError
from photosync.redaction import shown_error

log = logging.getLogger(__name__)

T = TypeVar("T")

CA_BUNDLE_ENV = "PHOTOSYNC_CA_BUNDLE"
DEFAULT_TIMEOUT: tuple[float, float] = (10.0, 60.0)


class Clock(Protocol):
    """Time source; tests inject a fake one so that backoff never really sleeps."""

    def monotonic(self) -> float: ...

    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class TransientResponse(Exception):
    """Raised by a handler: the service answered, but asks to be tried again later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class _Transient(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one call before giving up on it."""

    max_attempts: int = 6
    base_delay_s: float = 1.0
    max_delay_s: float = 60.0
    #: a Retry-After longer than this fails the call (as transient) instead of waiting
    max_retry_after_s: float = 900.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: uniform in [0, min(max, base * 2**(attempt-1))]."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2 ** max(0, attempt - 1)))
        return rng.uniform(0.0, ceiling)


class TokenBucket:
    """Client-side rate limiter; ``acquire`` blocks (via the clock) until a token is free.

    Flickr disables keys that overrun 3600 queries/hour, so the limiter is
    conservative: a small burst, then a steady rate.
    """

    def __init__(
        self, requests_per_hour: float, *, burst: int = 10, clock: Clock | None = None
    ) -> None:
        if requests_per_hour <= 0:
            raise ConfigError(f"rate limit must be positive, got {requests_per_hour!r}")
        self.rate_per_s = requests_per_hour / 3600.0
        self.capacity = float(max(1, burst))
        self.clock = clock or SystemClock()
        self._tokens = self.capacity
        self._stamp = self.clock.monotonic()
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _refill(self) -> None:
        now = self.clock.monotonic()
        elapsed = max(0.0, now - self._stamp)
        self._stamp = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)

    def try_acquire(self) -> float:
        """Take a token if one is free (returns 0.0), else the seconds to wait."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0 - 1e-9:  # float dust must not leave a caller spinning
                self._tokens = max(0.0, self._tokens - 1.0)
                return 0.0
            return max((1.0 - self._tokens) / self.rate_per_s, 1e-3)

    def acquire(self) -> None:
        while (wait := self.try_acquire()) > 0:
            self.waited_s += wait
            self.clock.sleep(wait)


_SHARED_BUCKETS: dict[str, TokenBucket] = {}
_SHARED_LOCK = threading.Lock()


def shared_bucket(key: str, requests_per_hour: float, *, burst: int = 10) -> TokenBucket:
    """One bucket per key (e.g. per API key) in this process: limits are per key, not per object."""
    with _SHARED_LOCK:
        bucket = _SHARED_BUCKETS.get(key)
        if bucket is None or bucket.rate_per_s != requests_per_hour / 3600.0:
            bucket = TokenBucket(requests_per_hour, burst=burst)
            _SHARED_BUCKETS[key] = bucket
        return bucket


class CircuitBreaker:
    """Opens after ``threshold`` consecutive transient failures and stays open for the run.

    A service that keeps failing is skipped for the rest of the run instead of
    burning hours of backoff; the next run tries it again.
    """

    def __init__(self, service: str, threshold: int = 8) -> None:
        self.service = service
        self.threshold = max(1, threshold)
        self._consecutive = 0
        self._open = False
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return self._open

    @property
    def consecutive_failures(self) -> int:
        return self._consecutive

    def record_success(self) -> None:
        with self._lock:
            if not self._open:
                self._consecutive = 0

    def record_failure(self) -> None:
        with self._lock:
            self._consecutive += 1
            if self._consecutive >= self.threshold:
                self._open = True

    def check(self) -> None:
        if self._open:
            raise ServiceError(
                f"{self.service}: giving up for this run after {self._consecutive} "
                "consecutive transient failures",
                transient=True,
                hint="the service seems down; the next run will try again",
            )


def ca_bundle() -> str | bool:
    """``verify=`` for requests: True, or a CA file from PHOTOSYNC_CA_BUNDLE. Never False."""
    value = os.environ.get(CA_BUNDLE_ENV, "").strip()
    if not value:
        return True
    if not Path(value).is_file():
        raise ConfigError(f"{CA_BUNDLE_ENV}={value!r} is not a readable CA file")
    return value


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        return max(0.0, float(int(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


_TRANSIENT_EXCEPTIONS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)


class HttpClient:
    """A ``requests.Session`` with rate limiting, retries, backoff and a circuit breaker."""

    def __init__(
        self,
        service: str,
        *,
        requests_per_hour: float = 3600.0,
        limiter: TokenBucket | None = None,
        breaker: CircuitBreaker | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        session: requests.Session | None = None,
        user_agent: str = "photosync/0.1",
    ) -> None:
        self.service = service
        self.clock: Clock = clock or SystemClock()
        self.limiter = limiter or TokenBucket(requests_per_hour, clock=self.clock)
        self.breaker = breaker or CircuitBreaker(service)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.rng = rng or random.Random()
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self._verify = ca_bundle()
        self.session.verify = self._verify
        #: attempts made and transient failures seen, for reports and tests
        self.attempts = 0
        self.transient_failures = 0

    def close(self) -> None:
        self.session.close()

    def call(
        self,
        method: str,
        url: str,
        handler: Callable[[requests.Response], T],
        *,
        rate_limited: bool = True,
        retry: bool = True,
        **kwargs: Any,
    ) -> T:
        """One logical call: attempts until ``handler`` returns, a permanent error, or give-up."""
        if "verify" in kwargs:
            raise ValueError("TLS verification cannot be changed per request")
        if kwargs.get("timeout", self.timeout) is None:
            raise ValueError("every request needs a timeout")
        kwargs.setdefault("timeout", self.timeout)
        attempts = self.retry.max_attempts if retry else 1

        def attempt() -> T:
            return self._attempt(method, url, handler, rate_limited, kwargs)

        retrying = Retrying(
            stop=stop_after_attempt(attempts),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep_checked,
            reraise=True,
        )
        try:
            return retrying(attempt)
        except _Transient as exc:
            log.warning("%s: %s; gave up after %d attempt(s)", self.service, exc, attempts)
            raise ServiceError(
                f"{self.service}: {exc} (gave up after {attempts} attempt(s))", transient=True
            ) from None

    # -- internals -------------------------------------------------------

    def _sleep_checked(self, seconds: float) -> None:
        self.clock.sleep(seconds)
        self.breaker.check()

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.retry_after is not None:
            wait = exc.retry_after
        else:
            wait = self.retry.backoff(state.attempt_number, self.rng)
        log.info(
            "%s: attempt %d failed (%s); retrying in %.1f s",
            self.service,
            state.attempt_number,
            exc,
            wait,
        )
        return wait

    def _attempt(
        self,
        method: str,
        url: str,
        handler: Callable[[requests.Response], T],
        rate_limited: bool,
        kwargs: dict[str, Any],
    ) -> T:
        self.breaker.check()
        if rate_limited:
            self.limiter.acquire()
        self.attempts += 1
        where = _describe(method, url)
        try:
            response = self.session.request(method, url, verify=self._verify, **kwargs)
        except requests.exceptions.SSLError as exc:
            self.breaker.record_success()  # reachable but untrusted: retrying will not help
            raise ServiceError(
                f"{self.service}: TLS verification failed for {where}: {shown_error(exc)}"
            ) from None
        except _TRANSIENT_EXCEPTIONS as exc:
            raise self._fail(f"{where}: {type(exc).__name__}") from None
        with response:
            status = response.status_code
            if status == 429 or status >= 500:
                log.debug(
                    "%s: %s answered HTTP %d: %s", self.service, where, status, _excerpt(response)
                )
                retry_after = parse_retry_after(
                    response.headers.get("Retry-After"), self.clock.time()
                )
                if retry_after is not None and retry_after > self.retry.max_retry_after_s:
                    self.breaker.record_failure()
                    self.transient_failures += 1
                    raise ServiceError(
                        f"{self.service}: {where} asks to wait {retry_after:.0f} s; stopping for now",
                        transient=True,
                    )
                raise self._fail(f"{where}: HTTP {status}", retry_after)
            try:
                value = handler(response)
            except TransientResponse as exc:
                raise self._fail(f"{where}: {exc}", exc.retry_after) from None
            except _TRANSIENT_EXCEPTIONS as exc:
                raise self._fail(f"{where}: body cut short ({type(exc).__name__})") from None
            except PhotosyncError as exc:
                self.breaker.record_success()
                log.debug("%s: %s refused (%s): %s", self.service, where, exc, _excerpt(response))
                raise
            except (ValueError, ParseError) as exc:
                raise self._fail(f"{where}: unparseable body ({type(exc).__name__})") from None
        self.breaker.record_success()
        return value

    def _fail(self, message: str, retry_after: float | None = None) -> _Transient:
        self.transient_failures += 1
        self.breaker.record_failure()
        log.debug("%s transient failure: %s", self.service, message)
        return _Transient(message, retry_after)


def _excerpt(response: requests.Response, limit: int = 300) -> str:
    """The start of a service's answer, for the log (secrets are masked by the log filter)."""
    try:
        text = response.text
    except Exception:  # a body cut short: the status says enough
        return "(body unreadable)"
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "") if text else "(empty body)"


def _describe(method: str, url: str) -> str:
    """Method and path only: query strings may carry tokens."""
    parts = urlsplit(url)
    return f"{method} {parts.scheme}://{parts.netloc}{parts.path}"
