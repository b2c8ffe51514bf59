"""Secrets out of every log line: known secret values and token-shaped text become ``***``.

Two nets, because one is not enough: every secret photosync holds (read from or
written to the credential store) is registered here and replaced wherever it
occurs; and text shaped like a credential (``access_token=...``, ``Bearer ...``,
``"client_secret": "..."``) is masked even when nobody registered it (a token a
service echoes back in an error). ``RedactingFilter`` applies both to each log
record before any handler writes it.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any

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
# an OAuth authorization code in a redirect, a presigned URL's signature
_QUERY = re.compile(r"(?i)([?&](?:code|signature|sig|x-amz-signature|x-amz-credential)=)[^&\s\"']+")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")


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
    text = _QUERY.sub(lambda m: m.group(1) + MASK, text)
    return _BEARER.sub(lambda m: f"{m.group(1)} {MASK}", text)


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
