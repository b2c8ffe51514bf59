"""A thin Flickr REST client: OAuth 1.0a (HMAC-SHA1) signing on the shared HTTP layer.

Flickr answers HTTP 200 with ``{"stat":"fail","code":N}`` for API errors and
HTTP 401 ``oauth_problem=...`` for OAuth failures; both become typed errors
here. Transient codes (105, 106, 201), 429/5xx and unparseable bodies are
retried by ``HttpClient``; permanent ones raise at once.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from typing import IO, Any, BinaryIO
from urllib.parse import parse_qsl, urlencode
from xml.etree.ElementTree import Element

import defusedxml.ElementTree as SafeET
import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER, Client
from requests.auth import AuthBase
from requests_oauthlib import OAuth1

from photosync.credentials import redact
from photosync.errors import AuthError, ConfigError, ItemUnavailable, ServiceError, shown_url
from photosync.redaction import register_secrets
from photosync.services.http import HttpClient, TransientResponse

DEFAULT_ENDPOINTS = {
    "rest": "https://api.flickr.com/services/rest/",
    "upload": "https://up.flickr.com/services/upload/",
    "replace": "https://up.flickr.com/services/replace/",
    "oauth": "https://www.flickr.com/services/oauth/",
}
TRANSIENT_CODES = frozenset({105, 106, 201})
AUTH_CODES = frozenset({96, 97, 98, 99, 100})
DOWNLOAD_CHUNK = 1024 * 1024
SPOOL_MAX = 32 * 1024 * 1024
UPLOAD_TIMEOUT: tuple[float, float] = (10.0, 600.0)


@dataclass(frozen=True)
class FlickrEndpoints:
    rest: str = DEFAULT_ENDPOINTS["rest"]
    upload: str = DEFAULT_ENDPOINTS["upload"]
    replace: str = DEFAULT_ENDPOINTS["replace"]
    oauth: str = DEFAULT_ENDPOINTS["oauth"]

    @classmethod
    def from_settings(cls, value: Mapping[str, Any] | None) -> FlickrEndpoints:
        value = dict(value or {})
        unknown = set(value) - set(DEFAULT_ENDPOINTS)
        if unknown:
            raise ConfigError(
                "unknown Flickr endpoint(s): "
                + ", ".join(shown_url(key) for key in sorted(unknown))
                + f" (known: {', '.join(DEFAULT_ENDPOINTS)})"
            )
        merged = {**DEFAULT_ENDPOINTS, **value}
        for key, url in merged.items():
            if not isinstance(url, str) or not url.startswith(
                ("https://", "http://127.0.0.1", "http://localhost")
            ):
                raise ConfigError(
                    f"Flickr endpoint {key!r} must be an https:// URL (or a local emulator), "
                    f"got {shown_url(url)}"
                )
        oauth = merged["oauth"] if merged["oauth"].endswith("/") else merged["oauth"] + "/"
        return cls(merged["rest"], merged["upload"], merged["replace"], oauth)


class FlickrApiError(ServiceError):
    """Flickr's error envelope with a code that retrying will not fix."""

    def __init__(self, method: str, code: int, message: str) -> None:
        super().__init__(f"Flickr {method} failed: {message} (code {code})")
        self.method = method
        self.code = code
        self.flickr_message = message


class FlickrClient:
    """Signed calls for one API key and (optionally) one user token."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        token: str | None = None,
        token_secret: str | None = None,
        *,
        endpoints: FlickrEndpoints | None = None,
        http: HttpClient | None = None,
    ) -> None:
        if not api_key or not api_secret:
            raise ConfigError("a Flickr API key and secret are needed")
        self.api_key = api_key
        self.endpoints = endpoints or FlickrEndpoints()
        self.http = http or HttpClient("flickr")
        self._secret_values = {
            "api_secret": api_secret,
            "token": token,
            "token_secret": token_secret,
        }
        register_secrets(self._secret_values.values())
        oauth: dict[str, Any] = {
            "client_secret": api_secret,
            "resource_owner_key": token,
            "resource_owner_secret": token_secret,
            "signature_method": SIGNATURE_HMAC_SHA1,
            "signature_type": SIGNATURE_TYPE_AUTH_HEADER,
        }
        self._auth = OAuth1(api_key, **oauth)  # REST calls, through requests
        self._signer = Client(api_key, **oauth)  # uploads: signs the multipart form fields

    def redact(self, text: str) -> str:
        return redact(text, self._secret_values)

    # -- REST ---------------------------------------------------------------

    def call(self, method: str, *, write: bool = False, **params: Any) -> dict[str, Any]:
        """One REST method; returns the parsed JSON (``stat`` is ok) or raises a typed error."""
        args = {key: _arg(value) for key, value in params.items() if value is not None}
        args.update({"method": method, "format": "json", "nojsoncallback": "1"})

        def handle(response: requests.Response) -> dict[str, Any]:
            return self._parse_rest(method, response)

        if write:
            return self.http.call("POST", self.endpoints.rest, handle, data=args, auth=self._auth)
        return self.http.call("GET", self.endpoints.rest, handle, params=args, auth=self._auth)

    def _parse_rest(self, method: str, response: requests.Response) -> dict[str, Any]:
        if response.status_code == 401:
            raise self.oauth_error(response)
        if response.status_code != 200:
            raise ServiceError(f"Flickr {method}: unexpected HTTP {response.status_code}")
        data = json.loads(response.content)  # ValueError on a cut or garbled body -> retried
        if not isinstance(data, dict) or data.get("stat") not in ("ok", "fail"):
            raise ValueError("not a Flickr response envelope")
        if data["stat"] == "ok":
            return data
        code = _int(data.get("code"))
        message = self.redact(str(data.get("message", "")))
        if code in TRANSIENT_CODES:
            raise TransientResponse(f"{method}: {message} (code {code})")
        if code in AUTH_CODES:
            raise AuthError(
                f"Flickr {method} refused the credentials: {message} (code {code})",
                hint="run the Flickr authorisation again",
            )
        raise FlickrApiError(method, code, message)

    def oauth_error(self, response: requests.Response) -> AuthError:
        problem = dict(parse_qsl(response.text[:2000])).get("oauth_problem", "unknown")
        return AuthError(
            self.redact(f"Flickr rejected the OAuth request: oauth_problem={problem}"),
            hint="check the API key/secret and re-run the Flickr authorisation",
        )

    # -- upload -------------------------------------------------------------

    def upload(
        self,
        fields: Mapping[str, str],
        photo: tuple[str, IO[bytes], str],
        *,
        replace: bool = False,
    ) -> Element:
        """POST the multipart upload (one attempt: the caller decides about retries).

        Every field except ``photo`` is part of the OAuth signature, as Flickr requires.
        """
        url = self.endpoints.replace if replace else self.endpoints.upload
        auth = _FormFieldsAuth(self._signer, dict(fields))

        def handle(response: requests.Response) -> Element:
            if response.status_code == 401:
                raise self.oauth_error(response)
            if response.status_code != 200:
                raise ServiceError(f"Flickr upload: unexpected HTTP {response.status_code}")
            root = SafeET.fromstring(response.content)
            if root.tag != "rsp":
                raise ValueError("not a Flickr upload reply")
            if root.get("stat") != "ok":
                err = root.find("err")
                code = _int(err.get("code") if err is not None else None)
                message = self.redact(err.get("msg", "") if err is not None else "")
                if code in TRANSIENT_CODES:
                    raise TransientResponse(f"upload: {message} (code {code})")
                if code in AUTH_CODES:
                    raise AuthError(
                        f"Flickr upload refused the credentials: {message} (code {code})"
                    )
                raise FlickrApiError("upload", code, message)
            return root

        return self.http.call(
            "POST",
            url,
            handle,
            retry=False,
            data=dict(fields),
            files={"photo": photo},
            auth=auth,
            timeout=UPLOAD_TIMEOUT,
        )

    # -- downloads ------------------------------------------------------------

    def fetch(self, url: str) -> BinaryIO:
        """The bytes at a static/original URL, whole and checked, as a temporary file.

        Downloading into a spooled file inside the retried call means a body cut
        short is simply fetched again instead of reaching the blob store.
        """

        def handle(response: requests.Response) -> BinaryIO:
            if response.status_code in (403, 404, 410):
                raise ItemUnavailable(
                    f"Flickr has no downloadable original at {_path(url)} "
                    f"(HTTP {response.status_code})"
                )
            if response.status_code != 200:
                raise ServiceError(f"Flickr download: unexpected HTTP {response.status_code}")
            expected = response.headers.get("Content-Length")
            encoded = response.headers.get("Content-Encoding", "identity") != "identity"
            spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MAX)  # noqa: SIM115 - returned
            try:
                received = 0
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    spool.write(chunk)
                    received += len(chunk)
                if expected is not None and not encoded and received != int(expected):
                    raise TransientResponse(f"download cut short ({received} of {expected} bytes)")
            except BaseException:
                spool.close()
                raise
            spool.seek(0)
            return spool  # type: ignore[return-value]

        return self.http.call(
            "GET", url, handle, rate_limited=False, stream=True, allow_redirects=True
        )


class _FormFieldsAuth(AuthBase):
    """Signs a multipart POST as if its non-file fields were a form body (Flickr's upload rule).

    Applied anew for every attempt, so each attempt gets a fresh nonce and timestamp.
    """

    def __init__(self, signer: Client, fields: dict[str, str]) -> None:
        self.signer = signer
        self.fields = fields

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        _, headers, _ = self.signer.sign(
            str(request.url),
            http_method="POST",
            body=urlencode(self.fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        request.headers["Authorization"] = headers["Authorization"]
        return request


def _arg(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _path(url: str) -> str:
    return url.split("?", 1)[0]


def copy_stream(source: IO[bytes], target: IO[bytes]) -> int:
    """Copy and count bytes (used when a non-seekable upload stream must be spooled)."""
    start = target.tell()
    shutil.copyfileobj(source, target, DOWNLOAD_CHUNK)
    return target.tell() - start
