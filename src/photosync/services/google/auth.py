"""OAuth 2.0 for Google's installed-app flow: PKCE, loopback redirect, refresh tokens.

google-auth-oauthlib builds the authorization URL (with an S256 code challenge)
and exchanges the code; google-auth refreshes. The redirect lands on a one-shot
HTTP listener on 127.0.0.1 that this module runs itself, so the caller decides
how the link reaches the user (``on_link``) and tests can play the browser.
Tokens live in the ``CredentialStore`` (keyring or a 0600 file), never in the
archive. Endpoints are configurable so the whole flow runs against the emulator.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from photosync.credentials import CredentialStore
from photosync.errors import AuthError, ConfigError, shown_url
from photosync.redaction import shown_error

SCOPE_APPENDONLY = "https://www.googleapis.com/auth/photoslibrary.appendonly"
SCOPE_READ_APPCREATED = "https://www.googleapis.com/auth/photoslibrary.readonly.appcreateddata"
SCOPE_EDIT_APPCREATED = "https://www.googleapis.com/auth/photoslibrary.edit.appcreateddata"
SCOPE_PICKER = "https://www.googleapis.com/auth/photospicker.mediaitems.readonly"
LIBRARY_SCOPES = (SCOPE_APPENDONLY, SCOPE_READ_APPCREATED, SCOPE_EDIT_APPCREATED)
PICKER_SCOPES = (SCOPE_PICKER,)
ALL_SCOPES = LIBRARY_SCOPES + PICKER_SCOPES

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
#: refresh a little before the server would refuse the token
EXPIRY_MARGIN = timedelta(seconds=60)


@dataclass(frozen=True)
class GoogleEndpoints:
    """Where the APIs live; Google's real URLs unless settings say otherwise."""

    library: str = "https://photoslibrary.googleapis.com/v1"
    picker: str = "https://photospicker.googleapis.com/v1"
    oauth_token: str = "https://oauth2.googleapis.com/token"
    oauth_auth: str = "https://accounts.google.com/o/oauth2/auth"

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> GoogleEndpoints:
        raw = settings.get("endpoints") or {}
        if not isinstance(raw, dict):
            raise ConfigError('"endpoints" must be an object')
        unknown = set(raw) - {"library", "picker", "oauth_token", "oauth_auth"}
        if unknown:
            raise ConfigError(f"unknown Google endpoint(s): {', '.join(sorted(unknown))}")
        endpoints = cls(**{key: str(value).rstrip("/") for key, value in raw.items()})
        for name in ("library", "picker", "oauth_token", "oauth_auth"):
            check_endpoint(name, getattr(endpoints, name))
        return endpoints


def check_endpoint(name: str, url: str) -> None:
    """HTTPS everywhere; plain HTTP only to this machine (the emulators)."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS:
        return
    raise ConfigError(
        f"Google endpoint {name}={shown_url(url)} must be https (or http on 127.0.0.1)"
    )


def is_loopback(url: str) -> bool:
    return urlsplit(url).hostname in LOOPBACK_HOSTS


@contextlib.contextmanager
def _allow_http_if_loopback(url: str) -> Iterator[None]:
    """oauthlib refuses http://; the emulator on 127.0.0.1 is the one exception."""
    if not is_loopback(url) or os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"):
        yield
        return
    os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"
    try:
        yield
    finally:
        os.environ.pop("OAUTHLIB_INSECURE_TRANSPORT", None)


class _RedirectCatcher(BaseHTTPRequestHandler):
    """Receives the one redirect from the authorization server."""

    def do_GET(self) -> None:
        query = parse_qs(urlsplit(self.path).query)
        self.server.results.put({k: v[-1] for k, v in query.items()})  # type: ignore[attr-defined]
        body = b"photosync: authorization received; you can close this window."
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GoogleAuth:
    """One Google account's tokens for one photosync service."""

    def __init__(
        self,
        credential_key: str,
        *,
        client_id: str,
        client_secret: str,
        endpoints: GoogleEndpoints | None = None,
        scopes: tuple[str, ...] = ALL_SCOPES,
        store: CredentialStore | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.credential_key = credential_key
        self.client_id = client_id
        self.client_secret = client_secret
        self.endpoints = endpoints or GoogleEndpoints()
        self.scopes = tuple(scopes)
        self.store = store or CredentialStore()
        self.session = session or requests.Session()
        self._lock = threading.Lock()
        saved = self.store.get(credential_key) or {}
        self._saved: dict[str, Any] = dict(saved)

    @classmethod
    def for_service(
        cls,
        name: str,
        settings: dict[str, Any],
        *,
        scopes: tuple[str, ...] = ALL_SCOPES,
        store: CredentialStore | None = None,
    ) -> GoogleAuth:
        """Client id from settings or the store; the client secret only from the store."""
        store = store or CredentialStore()
        saved = store.get(name) or {}
        client_id = saved.get("client_id") or settings.get("client_id")
        client_secret = saved.get("client_secret")
        if not client_id or not client_secret:
            raise ConfigError(
                f"service {name!r}: no Google OAuth client configured",
                hint="create an OAuth 'Desktop app' client in Google Cloud and run "
                f"`photosync auth {name}` with its id and secret",
            )
        return cls(
            name,
            client_id=str(client_id),
            client_secret=str(client_secret),
            endpoints=GoogleEndpoints.from_settings(settings),
            scopes=scopes,
            store=store,
        )

    # -- the browser step ------------------------------------------------------

    def authorize(self, on_link: Callable[[str], None], *, timeout: float = 300.0) -> None:
        """Run the PKCE authorization-code flow; ``on_link`` shows the URL to the user."""
        from google_auth_oauthlib.flow import InstalledAppFlow

        listener = HTTPServer(("127.0.0.1", 0), _RedirectCatcher)
        listener.results = queue.Queue()  # type: ignore[attr-defined]
        listener.timeout = 0.5
        redirect_uri = f"http://127.0.0.1:{listener.server_port}/"
        flow = InstalledAppFlow.from_client_config(
            {
                "installed": {
                    "client_id": self.client_id,
                    "client_secret": self.client_secret,
                    "auth_uri": self.endpoints.oauth_auth,
                    "token_uri": self.endpoints.oauth_token,
                    "redirect_uris": [redirect_uri],
                }
            },
            scopes=list(self.scopes),
            autogenerate_code_verifier=True,
        )
        flow.redirect_uri = redirect_uri
        with _allow_http_if_loopback(self.endpoints.oauth_auth):
            auth_url, expected_state = flow.authorization_url(
                prompt="consent", access_type="offline"
            )
        stop = threading.Event()

        def serve() -> None:
            while not stop.is_set() and listener.results.empty():  # type: ignore[attr-defined]
                listener.handle_request()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        try:
            on_link(auth_url)
            try:
                answer: dict[str, str] = listener.results.get(timeout=timeout)  # type: ignore[attr-defined]
            except queue.Empty:
                raise AuthError(
                    f"no answer from the Google sign-in page within {timeout:.0f} s",
                    hint="open the link, approve access, and try again",
                ) from None
        finally:
            stop.set()
            thread.join(timeout=5)
            listener.server_close()
        if answer.get("state") != expected_state:
            raise AuthError("the sign-in answer does not belong to this request (state mismatch)")
        if "error" in answer:
            raise AuthError(f"Google sign-in refused: {answer['error']}")
        code = answer.get("code")
        if not code:
            raise AuthError("the sign-in answer carries no authorization code")
        try:
            with _allow_http_if_loopback(self.endpoints.oauth_token):
                flow.fetch_token(code=code)
        except Exception as exc:  # oauthlib raises many kinds; all mean "no token"
            raise AuthError(
                f"exchanging the authorization code failed: {shown_error(exc, {'c': code})}"
            ) from None
        creds = flow.credentials
        if not creds.refresh_token:
            raise AuthError("Google returned no refresh token; revoke access and authorize again")
        self._remember(creds.token, creds.expiry, creds.refresh_token)

    # -- tokens -----------------------------------------------------------------

    @property
    def has_refresh_token(self) -> bool:
        return bool(self._saved.get("refresh_token"))

    def access_token(self) -> str:
        """A token that is valid now, refreshed through google-auth when needed."""
        with self._lock:
            token = self._saved.get("access_token")
            expiry = _parse_time(self._saved.get("expiry"))
            if token and expiry is not None and expiry - EXPIRY_MARGIN > datetime.now(UTC):
                return str(token)
        return self.refresh()

    def refresh(self, *, rejected: str | None = None) -> str:
        """Get a new access token (``rejected``: the one the server just refused)."""
        import google.auth.exceptions
        import google.auth.transport.requests
        import google.oauth2.credentials

        with self._lock:
            current = self._saved.get("access_token")
            if rejected is not None and current and current != rejected:
                return str(current)  # another thread already refreshed
            refresh_token = self._saved.get("refresh_token")
            if not refresh_token:
                raise AuthError(
                    f"{self.credential_key}: not signed in to Google Photos",
                    hint=f"run `photosync auth {self.credential_key}`",
                )
            creds = google.oauth2.credentials.Credentials(
                token=None,
                refresh_token=refresh_token,
                token_uri=self.endpoints.oauth_token,
                client_id=self.client_id,
                client_secret=self.client_secret,
                scopes=list(self.scopes),
            )
            try:
                creds.refresh(google.auth.transport.requests.Request(session=self.session))
            except google.auth.exceptions.RefreshError as exc:
                raise AuthError(
                    f"{self.credential_key}: Google refused to refresh the sign-in "
                    f"({shown_error(exc, self._saved)})",
                    hint=f"run `photosync auth {self.credential_key}` again",
                ) from None
            except google.auth.exceptions.TransportError as exc:
                raise AuthError(
                    f"{self.credential_key}: cannot reach Google's token endpoint: "
                    f"{type(exc).__name__}",
                ) from None
            self._remember_locked(creds.token, creds.expiry, creds.refresh_token or refresh_token)
            return str(creds.token)

    def _remember(self, token: str | None, expiry: datetime | None, refresh_token: str) -> None:
        with self._lock:
            self._remember_locked(token, expiry, refresh_token)

    def _remember_locked(
        self, token: str | None, expiry: datetime | None, refresh_token: str
    ) -> None:
        if expiry is not None and expiry.tzinfo is None:
            expiry = expiry.replace(tzinfo=UTC)  # google-auth keeps naive UTC
        self._saved.update(
            {
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "refresh_token": refresh_token,
                "access_token": token,
                "expiry": expiry.isoformat() if expiry else None,
                "scopes": list(self.scopes),
            }
        )
        self.store.set(self.credential_key, dict(self._saved))


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
