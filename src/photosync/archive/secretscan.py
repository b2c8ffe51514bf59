"""What looks like a credential: checked in config before it is written or committed.

The schemas already accept only known keys (an allowlist); this scan is the second
line, for values: a known key holding a token, a URL carrying ``user:pass@``, a
private key, a URL parameter named like a credential (``?password=hunter2``: the
name says what the value is, whatever its shape; the same rule masks log lines,
``redaction.credential_params``). Findings name where (a JSON path), never what: a message that echoed
the value would leak it into terminals, logs and CI output.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import Any

from photosync.redaction import credential_params

_SPECIFIC = [
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),  # AWS access key ids
    re.compile(r"\bya29\.[0-9A-Za-z_\-]{10,}"),  # Google access token
    re.compile(r"\b1//0[0-9A-Za-z_\-]{10,}"),  # Google refresh token
    re.compile(r"\bGOCSPX-[0-9A-Za-z_\-]{10,}"),  # Google OAuth client secret
    re.compile(r"\bAIza[0-9A-Za-z_\-]{30,}"),  # Google API key
    re.compile(r"\b\d{17}-[0-9a-f]{16}\b"),  # Flickr OAuth token
    re.compile(r"\b(?:ghp|gho|ghu|ghs|ghr|github_pat)_[0-9A-Za-z_]{20,}"),
    re.compile(r"\bxox[abprs]-[0-9A-Za-z\-]{10,}"),
    re.compile(r"\beyJ[0-9A-Za-z_\-]{8,}\.eyJ[0-9A-Za-z_\-]{8,}\."),  # a JWT
    re.compile(r"\b[a-z][a-z0-9+.\-]*://[^/\s:@]*:[^/\s@]+@"),  # user:password@ in a URL
]
#: one run of token characters, no separators a path, a sentence or a URL would have
_TOKEN = re.compile(r"^[A-Za-z0-9_\-+=.~]+$")
#: dates and ids (20240315T101500Z, a Flickr photo id) are not random
_DIGIT_RUN = re.compile(r"\d{8,}")
_EXTENSION = re.compile(r"\.[A-Za-z][A-Za-z0-9]{1,4}$")
_PIECE = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z][a-z]{2,}|[0-9]{2,}")


def _entropy(text: str) -> float:
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _reads_as_words(word: str) -> bool:
    """CamelCase words and numbers (FamilyArchive2019Backup) rather than noise: in
    random text, capitalised or lower-case words of three letters or more and
    numbers cover far less than 80 % of the characters."""
    covered = sum(len(piece) for piece in _PIECE.findall(word))
    return covered >= 0.8 * len(word)


def looks_like_credential(text: str) -> bool:
    """A known token shape, a value under a credential's name in a URL's query or
    fragment (``?api_key=...``, ``#access_token=...``), or a long random-looking run
    of token characters.

    Random means: 32+ hex digits, or 20+ characters mixing upper and lower case
    with a high entropy that do not read as words and numbers (names, buckets,
    paths and dates never look random); a run of eight digits (a date, a timestamp,
    an id) and a file name's extension do not count.
    """
    if any(pattern.search(text) for pattern in _SPECIFIC) or credential_params(text):
        return True
    for word in re.split(r"[\s/\\:,;@?&#\"'()<>\[\]{}]+", text):
        word = _EXTENSION.sub("", word)  # a file name's stem is judged, not its type
        if len(word) < 20 or not _TOKEN.match(word):
            continue
        if len(word) >= 32 and re.fullmatch(r"[0-9a-fA-F]+", word):
            return True
        if _DIGIT_RUN.search(word) or _reads_as_words(word):
            continue
        mixed = any(c.isupper() for c in word) and any(c.islower() for c in word)
        if mixed and _entropy(word) >= 3.5:
            return True
    return False


def credential_paths(value: Any, where: str = "") -> list[str]:
    """JSON paths of every key or string in ``value`` that looks like a credential."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if looks_like_credential(str(key)):
                found.append(f"{where or '(top level)'}: a key")
                continue
            found.extend(credential_paths(item, f"{where}/{key}" if where else str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(credential_paths(item, f"{where}/{index}" if where else str(index)))
    elif isinstance(value, str) and looks_like_credential(value):
        found.append(where or "(top level)")
    return found


def safe_key(key: object) -> str:
    """A key as it may be shown: itself, unless it looks like a credential."""
    text = str(key)
    return "(a key that looks like a credential)" if looks_like_credential(text) else repr(text)
