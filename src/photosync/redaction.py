"""Secrets out of every log line: known secret values and token-shaped text become ``***``.

Two nets, because one is not enough: every secret photosync holds (read from or
written to the credential store) is registered here and replaced wherever it
occurs; and text shaped like a credential (``access_token=...``, ``Bearer ...``,
``"client_secret": "..."``) is masked even when nobody registered it (a token a
service echoes back in an error). A URL parameter whose NAME says credential
(``?password=``, ``&X-Amz-Signature=``, ``#access_token=``) is one whatever its
value looks like: ``credential_params`` finds them, ``redact_text`` masks them and
the config scan (``archive/secretscan``) refuses them, one rule for both.
``RedactingFilter`` applies all of it to each log record before any handler
writes it; ``shown_error`` is the one way a library's error text (botocore,
requests, oauthlib, google-auth) reaches a message.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

MASK = "***"

# shorter values are too likely to be ordinary words ("abc" in a file name)
_MIN_SECRET_LEN = 6
_secrets: set[str] = set()
_lock = threading.Lock()

_SECRET_NAMES = (
    r"oauth_[a-z_]*token[a-z_]*|oauth_signature|oauth_verifier|oauth_token_secret"
    r"|access_token|refresh_token|id_token|client_secret|api_secret|api_key|apikey"
    r"|aws_secret_access_key|aws_session_token|token_secret|password|secret|token"
)
# key=value in query strings and form bodies, "key": "value" in JSON, key: value in text
_KEY_VALUE = re.compile(rf"(?i)(\b(?:{_SECRET_NAMES})\b[\"']?\s*[=:]\s*[\"']?)([^\s&\"',;}}\]]+)")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
# ``user:password@`` (or a bare token as the user) in a URL
_USERINFO = re.compile(r"(?<=://)[^/@\s]*@")

#: a parameter name that says what its value is: a credential, whatever the value's shape
#: (matched in the name lower-cased with everything but letters and digits removed)
_CREDENTIAL_NAME_PARTS = (
    "pass",  # password, passwd, passphrase
    "pwd",
    "secret",
    "token",  # access_token, oauth_token, X-Amz-Security-Token
    "key",  # api_key, apikey, AWSAccessKeyId
    "sig",  # sig, signature, oauth_signature, X-Amz-Signature, X-Goog-Signature
    "auth",  # auth, authorization
    "session",
    "cred",  # X-Amz-Credential, credentials
    "jwt",
    "bearer",
    "cookie",
    "private",
)
_CREDENTIAL_NAMES = frozenset({"pw", "code", "sid", "pin", "otp", "ticket", "verifier"})
#: ``name=value`` in a URL's query or fragment (or a form body, or a whole value): an
#: OAuth code in a redirect, a presigned URL's signature, ``?password=`` alike
_PARAM = re.compile(
    r"(?P<lead>(?:^|[?&#;])(?P<name>[^=&#;?/\s\"'`<>]+)=)(?P<value>[^&#;?\s\"'`<>]*)"
)


def is_credential_name(name: str) -> bool:
    """Does a parameter called ``name`` carry a credential (``password``, ``X-Amz-Signature``)?"""
    bare = re.sub(r"[^a-z0-9]", "", unquote(name).lower())
    return bare in _CREDENTIAL_NAMES or any(part in bare for part in _CREDENTIAL_NAME_PARTS)


def credential_params(text: str) -> list[str]:
    """Names of the URL parameters in ``text`` that hold a value under a credential's name."""
    return [
        match["name"]
        for match in _PARAM.finditer(text)
        if match["value"] and is_credential_name(match["name"])
    ]


def _mask_param(match: re.Match[str]) -> str:
    if match["value"] and is_credential_name(match["name"]):
        return match["lead"] + MASK
    return match[0]


def register_secret(value: Any) -> None:
    """Remember a secret value so that it never appears in a log line."""
    if isinstance(value, str) and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def register_secrets(values: Iterable[Any]) -> None:
    for value in values:
        register_secret(value)


def redact_text(text: str) -> str:
    """``text`` with every registered secret and every token-shaped value masked."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    text = _KEY_VALUE.sub(lambda m: m.group(1) + MASK, text)
    text = _PARAM.sub(_mask_param, text)
    text = _USERINFO.sub(MASK + "@", text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


def shown_error(error: BaseException | str, secrets: dict[str, Any] | None = None) -> str:
    """A library's error text as a message may carry it: ``redact_text`` plus the
    secrets of the caller (``secrets``' values). botocore and requests put the URL
    they were given, query and all, into their messages."""
    text = str(error)
    for value in sorted(
        (v for v in (secrets or {}).values() if isinstance(v, str) and len(v) >= 4),
        key=len,
        reverse=True,
    ):
        text = text.replace(value, MASK)
    return redact_text(text)


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's message and traceback before a handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line (or leak its args)
            message = f"{record.msg!r} (unformattable arguments)"
        record.msg = redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        record.exc_info = None  # the redacted text is what gets written
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True
