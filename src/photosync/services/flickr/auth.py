"""The Flickr OAuth 1.0a dance: request token, user approval, access token, checkToken.

photosync asks for ``read`` (source only) or ``write`` (target) and never for
``delete``: it never deletes anything on Flickr, so it should not be able to.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests
from oauthlib.oauth1 import SIGNATURE_HMAC_SHA1, SIGNATURE_TYPE_AUTH_HEADER
from requests_oauthlib import OAuth1

from photosync.credentials import CredentialStore, redact
from photosync.errors import AuthError, ConfigError, ServiceError
from photosync.services.flickr.client import FlickrClient, FlickrEndpoints
from photosync.services.http import HttpClient

ALLOWED_PERMS = ("read", "write")
_PERM_RANK = {"none": 0, "read": 1, "write": 2, "delete": 3}


def run_oauth_flow(
    api_key: str,
    api_secret: str,
    perms: str,
    endpoints: FlickrEndpoints | Mapping[str, str] | None,
    ask_verifier: Callable[[str], str],
    *,
    service_name: str | None = None,
    store: CredentialStore | None = None,
    http: HttpClient | None = None,
) -> dict[str, Any]:
    """Authorise photosync for one Flickr account; returns (and, with ``service_name``, stores)
    the credentials.

    ``ask_verifier`` gets the URL the user must open and returns the code Flickr shows.
    """
    if perms not in ALLOWED_PERMS:
        raise ConfigError(
            f"Flickr permission must be one of {ALLOWED_PERMS}, not {perms!r}",
            hint="photosync never asks for 'delete'",
        )
    if not isinstance(endpoints, FlickrEndpoints):
        endpoints = FlickrEndpoints.from_settings(endpoints)
    http = http or HttpClient("flickr-auth")
    secrets: dict[str, Any] = {"api_secret": api_secret}

    def form(response: requests.Response) -> dict[str, str]:
        if response.status_code == 401:
            problem = dict(parse_qsl(response.text[:2000])).get("oauth_problem", "unknown")
            raise AuthError(
                redact(f"Flickr refused the authorisation step: oauth_problem={problem}", secrets)
            )
        if response.status_code != 200:
            raise ServiceError(f"Flickr authorisation: unexpected HTTP {response.status_code}")
        values = dict(parse_qsl(response.text, keep_blank_values=True))
        if "oauth_token" not in values or "oauth_token_secret" not in values:
            raise ValueError("Flickr's token reply has no token")
        return values

    request_auth = OAuth1(
        api_key,
        client_secret=api_secret,
        callback_uri="oob",
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    request_token = http.call("POST", endpoints.oauth + "request_token", form, auth=request_auth)
    if request_token.get("oauth_callback_confirmed") != "true":
        raise AuthError("Flickr did not confirm the OAuth callback")
    secrets["request_secret"] = request_token["oauth_token_secret"]

    authorize_url = (
        endpoints.oauth
        + "authorize?"
        + urlencode({"oauth_token": request_token["oauth_token"], "perms": perms})
    )
    verifier = (ask_verifier(authorize_url) or "").strip()
    if not verifier:
        raise AuthError("no verifier code was given; Flickr authorisation cancelled")
    secrets["verifier"] = verifier

    access_auth = OAuth1(
        api_key,
        client_secret=api_secret,
        resource_owner_key=request_token["oauth_token"],
        resource_owner_secret=request_token["oauth_token_secret"],
        verifier=verifier,
        signature_method=SIGNATURE_HMAC_SHA1,
        signature_type=SIGNATURE_TYPE_AUTH_HEADER,
    )
    access = http.call("POST", endpoints.oauth + "access_token", form, auth=access_auth)
    secrets.update(token=access["oauth_token"], token_secret=access["oauth_token_secret"])

    client = FlickrClient(
        api_key,
        api_secret,
        access["oauth_token"],
        access["oauth_token_secret"],
        endpoints=endpoints,
        http=http,
    )
    checked = client.call("flickr.auth.oauth.checkToken", oauth_token=access["oauth_token"])
    oauth = checked.get("oauth", {})
    granted = str(oauth.get("perms", {}).get("_content", "none"))
    if _PERM_RANK.get(granted, 0) < _PERM_RANK[perms]:
        raise AuthError(f"Flickr granted {granted!r} but photosync needs {perms!r}")
    if granted == "delete":
        raise AuthError(
            "Flickr granted 'delete'; photosync refuses to keep a token that can delete",
            hint=f"authorise again with perms={perms}",
        )
    user = oauth.get("user", {})
    credentials = {
        "api_key": api_key,
        "api_secret": api_secret,
        "oauth_token": access["oauth_token"],
        "oauth_token_secret": access["oauth_token_secret"],
        "user_nsid": access.get("user_nsid") or user.get("nsid"),
        "username": access.get("username") or user.get("username"),
        "fullname": access.get("fullname") or user.get("fullname"),
        "perms": granted,
    }
    if service_name is not None:
        (store or CredentialStore()).set(service_name, credentials)
    return credentials
