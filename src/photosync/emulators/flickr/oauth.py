"""OAuth 1.0a as Flickr checks it (written from RFC 5849, independent of the
client's library): signatures, timestamps, nonces, and the token dance.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from urllib.parse import quote, unquote

from photosync.emulators.flickr.state import EmuToken, FlickrState

TIMESTAMP_WINDOW_S = 300


class OAuthProblem(Exception):
    """An OAuth failure: HTTP 401 text/plain ``oauth_problem=...``."""

    def __init__(self, problem: str) -> None:
        super().__init__(problem)
        self.problem = problem


def _pct(value: str) -> str:
    return quote(value, safe="~-._")


def signature_base(method: str, base_url: str, params: list[tuple[str, str]]) -> str:
    pairs = sorted((_pct(k), _pct(v)) for k, v in params if k != "oauth_signature")
    normalized = "&".join(f"{k}={v}" for k, v in pairs)
    return "&".join((method.upper(), _pct(base_url), _pct(normalized)))


def hmac_sha1(base: str, consumer_secret: str, token_secret: str) -> str:
    key = f"{_pct(consumer_secret)}&{_pct(token_secret)}".encode()
    return base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()


def parse_auth_header(value: str) -> list[tuple[str, str]]:
    if not value.lower().startswith("oauth "):
        return []
    out = []
    for key, raw in re.findall(r'([A-Za-z0-9_]+)="([^"]*)"', value[6:]):
        if key != "realm":
            out.append((unquote(key), unquote(raw)))
    return out


def verify(
    state: FlickrState,
    verb: str,
    url: str,
    signed: list[tuple[str, str]],
    *,
    need_token: str | None,
) -> tuple[dict[str, str], EmuToken | None]:
    """Check an OAuth-signed request like Flickr; returns (oauth params, token)."""
    oauth = {k: v for k, v in signed if k.startswith("oauth_")}
    if not oauth:
        raise OAuthProblem("parameter_absent&oauth_parameters_absent=oauth_consumer_key")
    missing = [
        name
        for name in (
            "oauth_consumer_key",
            "oauth_signature_method",
            "oauth_signature",
            "oauth_timestamp",
            "oauth_nonce",
        )
        if name not in oauth
    ]
    if missing:
        raise OAuthProblem("parameter_absent&oauth_parameters_absent=" + "%26".join(missing))
    consumer_secret = state.consumers.get(oauth["oauth_consumer_key"])
    if consumer_secret is None:
        raise OAuthProblem("consumer_key_unknown")
    if oauth["oauth_signature_method"] != "HMAC-SHA1":
        raise OAuthProblem("signature_method_rejected")
    if oauth.get("oauth_version", "1.0") != "1.0":
        raise OAuthProblem("version_rejected")
    try:
        stamp = int(oauth["oauth_timestamp"])
    except ValueError:
        raise OAuthProblem("timestamp_refused") from None
    if abs(stamp - time.time()) > TIMESTAMP_WINDOW_S:
        raise OAuthProblem("timestamp_refused")
    token: EmuToken | None = None
    token_secret = ""
    token_id = oauth.get("oauth_token")
    if need_token is not None:
        token = state.tokens.get(token_id or "")
        if token is None or token.kind != need_token:
            raise OAuthProblem("token_rejected")
        token_secret = token.secret
    elif token_id:
        raise OAuthProblem("token_rejected")
    expected = hmac_sha1(signature_base(verb, url, signed), consumer_secret, token_secret)
    if not hmac.compare_digest(expected, oauth["oauth_signature"]):
        raise OAuthProblem("signature_invalid")
    nonce_key = (
        oauth["oauth_consumer_key"],
        token_id or "",
        oauth["oauth_timestamp"],
        oauth["oauth_nonce"],
    )
    with state.lock:
        if nonce_key in state._nonces:
            raise OAuthProblem("nonce_used")
        state._nonces.add(nonce_key)
    return oauth, token


def issue_request_token(state: FlickrState, oauth: dict[str, str]) -> dict[str, str]:
    """Step 1: a request token for the callback the consumer signed."""
    callback = oauth.get("oauth_callback")
    if not callback:
        raise OAuthProblem("parameter_absent&oauth_parameters_absent=oauth_callback")
    token = EmuToken(secrets.token_hex(8), secrets.token_hex(8), "request", callback=callback)
    with state.lock:
        state.tokens[token.token] = token
    return {
        "oauth_callback_confirmed": "true",
        "oauth_token": token.token,
        "oauth_token_secret": token.secret,
    }


def approve(state: FlickrState, args: dict[str, str]) -> EmuToken:
    """Step 2: the user approves at once; ValueError (the 400 body) when Flickr would refuse."""
    token = state.tokens.get(args.get("oauth_token", ""))
    perms = args.get("perms", "read")
    if token is None or token.kind != "request":
        raise ValueError("oauth_problem=token_rejected")
    if perms not in ("read", "write", "delete"):
        raise ValueError("invalid perms")
    token.perms = perms
    token.verifier = "-".join(secrets.token_hex(2) for _ in range(3))
    return token


def exchange_access_token(
    state: FlickrState, oauth: dict[str, str], request_token: EmuToken | None
) -> dict[str, str]:
    """Step 3: the verified request token becomes an access token with its perms."""
    assert request_token is not None
    if request_token.verifier is None or oauth.get("oauth_verifier") != request_token.verifier:
        raise OAuthProblem("verifier_invalid")
    access = EmuToken(
        f"{secrets.token_hex(8)}-{secrets.token_hex(4)}",
        secrets.token_hex(8),
        "access",
        perms=request_token.perms,
    )
    with state.lock:
        del state.tokens[request_token.token]
        state.tokens[access.token] = access
    return {
        "fullname": state.fullname,
        "oauth_token": access.token,
        "oauth_token_secret": access.secret,
        "user_nsid": state.nsid,
        "username": state.username,
    }
