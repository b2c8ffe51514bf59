"""Authorized calls to Google's REST APIs over the shared resilient HTTP layer.

``HttpClient`` (services/http.py) owns rate limiting, backoff, Retry-After and
the circuit breaker; this module adds the bearer token, one refresh-and-retry
when a token is refused with 401, and Google's error format.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests

from photosync.errors import AuthError, ItemUnavailable, ServiceError
from photosync.redaction import shown_error
from photosync.services.google.auth import GoogleAuth
from photosync.services.http import HttpClient, RetryPolicy, TransientResponse

T = TypeVar("T")

DEFAULT_REQUESTS_PER_HOUR = 7200.0


class TokenRejected(AuthError):
    """The server answered 401 to this access token."""

    def __init__(self, token: str) -> None:
        super().__init__("Google refused the access token (401)")
        self.token = token


def google_error(response: requests.Response) -> str:
    """Google's ``{"error": {"message", "status"}}`` as one line (never the request's secrets)."""
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        message = f"{error.get('status', '')}: {error.get('message', '')}"
        return f"HTTP {response.status_code} {shown_error(message)}"
    if isinstance(error, str):
        return f"HTTP {response.status_code} {shown_error(error)}"
    return f"HTTP {response.status_code}"


def make_http(service: str, settings: dict[str, Any]) -> HttpClient:
    """An HttpClient with the rate from settings (``requests_per_hour``)."""
    limits = settings.get("rate_limit") or {}
    rate = float(
        limits.get("requests_per_hour")
        or 60 * float(limits.get("requests_per_minute") or 0)
        or settings.get("requests_per_hour", DEFAULT_REQUESTS_PER_HOUR)
    )
    return HttpClient(service, requests_per_hour=rate)


def fast_retry_policy() -> RetryPolicy:
    """For tests and emulator rehearsals: same attempts, tiny delays."""
    return RetryPolicy(base_delay_s=0.01, max_delay_s=0.05)


class GoogleApi:
    """One account's authorized HTTP calls."""

    def __init__(self, auth: GoogleAuth, http: HttpClient) -> None:
        self.auth = auth
        self.http = http
        self.rng = random.Random()

    def call(
        self,
        method: str,
        url: str,
        handler: Callable[[requests.Response], T],
        *,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> T:
        """``handler`` sees 2xx replies; 401 refreshes the token once and retries."""
        token = self.auth.access_token()
        for attempt in range(2):
            merged = {**(headers or {}), "Authorization": f"Bearer {token}"}
            try:
                return self.http.call(
                    method, url, _checked(handler, token), headers=merged, **kwargs
                )
            except TokenRejected as exc:
                if attempt:
                    raise AuthError(
                        f"{self.auth.credential_key}: Google keeps refusing fresh tokens",
                        hint=f"run `photosync auth {self.auth.credential_key}` again",
                    ) from None
                token = self.auth.refresh(rejected=exc.token)
        raise AssertionError("unreachable")

    def json(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        return self.call(method, url, _json_body, **kwargs)

    def pages(
        self, method: str, url: str, key: str, *, page_size: int, body: dict[str, Any] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every element of ``key`` across pages (GET with params, POST with a JSON body)."""
        token: str | None = None
        while True:
            if method == "GET":
                params: dict[str, Any] = {"pageSize": page_size}
                if token:
                    params["pageToken"] = token
                page = self.json("GET", url, params=params)
            else:
                payload = {**(body or {}), "pageSize": page_size}
                if token:
                    payload["pageToken"] = token
                page = self.json("POST", url, json=payload)
            yield from page.get(key) or []
            token = page.get("nextPageToken")
            if not token:
                return


def _checked(
    handler: Callable[[requests.Response], T], token: str
) -> Callable[[requests.Response], T]:
    def check(response: requests.Response) -> T:
        status = response.status_code
        if status == 401:
            raise TokenRejected(token)
        if status == 409:
            raise TransientResponse(google_error(response))
        if status in (403, 404, 410):
            raise ItemUnavailable(google_error(response))
        if status >= 400:
            raise ServiceError(google_error(response))
        return handler(response)

    return check


def _json_body(response: requests.Response) -> dict[str, Any]:
    data = response.json()
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data
