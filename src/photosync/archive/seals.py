"""Seals on visibility approvals: photosync's own approvals, told apart from typed ones.

Privacy may only be widened by an approval made through photosync. An approval is
plain JSON in git, so anyone with an editor can append one; photosync therefore
seals each approval it makes with an HMAC-SHA256 over (photo id, level, service,
by, at, reason) under a per-archive key that never enters git: it lives in the
credential store (keyring or the 0600 file) under a name derived from the
archive's identity (its root commit, the same in every clone). An approval whose
seal does not verify for this photo and this level is ignored for widening.
"""

from __future__ import annotations

import hmac
import json
import secrets
from collections.abc import Mapping
from hashlib import sha256
from typing import Any

from photosync.archive.git import Git
from photosync.credentials import CredentialStore
from photosync.errors import PhotosyncError

SEAL_PREFIX = "hmac-sha256:"
KEY_FIELD = "approval_seal_key"


def archive_identity(git: Git) -> str | None:
    """The root commit of the archive's history: shared by every clone of it."""
    out = git.run("rev-list", "--max-parents=0", "HEAD", check=False).split()
    return min(out) if out else None


def credential_name(identity: str) -> str:
    return f"archive-approvals-{identity}"


def _canonical(photo_id: str, approval: Mapping[str, Any]) -> bytes:
    fields = [
        photo_id,
        approval.get("level"),
        approval.get("service"),
        approval.get("by"),
        approval.get("at"),
        approval.get("reason"),
    ]
    return json.dumps(fields, ensure_ascii=True, separators=(",", ":"), default=str).encode()


class ApprovalSeals:
    """Seals and verifies approvals with one archive's key (none: nothing verifies)."""

    def __init__(self, key: bytes | None) -> None:
        self._key = key

    @property
    def has_key(self) -> bool:
        return self._key is not None

    def key_id(self) -> str | None:
        """Which key this is, never the key: which approvals count depends on it, so a
        cache of what the rules concluded is keyed on it (``resolve``'s fixed point)."""
        if self._key is None:
            return None
        return hmac.new(self._key, b"photosync key id", sha256).hexdigest()[:16]

    def seal(self, photo_id: str, approval: Mapping[str, Any]) -> str:
        if self._key is None:
            raise PhotosyncError("this archive has no approval key yet; run a writing command")
        digest = hmac.new(self._key, _canonical(photo_id, approval), sha256).hexdigest()
        return SEAL_PREFIX + digest

    def verify(self, photo_id: str, approval: Mapping[str, Any]) -> bool:
        """True only for an approval this archive's key sealed for this photo and level."""
        seal = approval.get("seal")
        if self._key is None or not isinstance(seal, str):
            return False
        # as bytes: compare_digest refuses non-ASCII text, and a typed seal may be anything
        expected = self.seal(photo_id, approval).encode()
        return hmac.compare_digest(seal.encode("utf-8", "replace"), expected)

    def key_hex(self) -> str | None:
        """The key itself, for ``visibility key export --reveal`` only."""
        return None if self._key is None else self._key.hex()

    def fingerprint(self) -> str | None:
        """Names the key without revealing it (to tell two clones' keys apart)."""
        if self._key is None:
            return None
        return hmac.new(self._key, b"photosync approval key", sha256).hexdigest()[:16]


def load_key(
    git: Git, store: CredentialStore | None = None, *, identity: str | None = None
) -> bytes | None:
    """This archive's approval key (``identity``: its root commit, when the caller has it)."""
    identity = identity or archive_identity(git)
    if identity is None:
        return None
    found = (store or CredentialStore()).get(credential_name(identity))
    if not found or not isinstance(found.get(KEY_FIELD), str):
        return None
    try:
        return bytes.fromhex(found[KEY_FIELD])
    except ValueError:
        return None  # unreadable: nothing verifies (fail closed)


def save_key(git: Git, key: bytes, store: CredentialStore | None = None) -> str:
    identity = archive_identity(git)
    if identity is None:
        raise PhotosyncError(
            "the archive has no commit yet",
            hint="On a branch made with `git checkout --orphan`? Switch back to the "
            "archive's branch (`git switch main`), then run photosync again.",
        )
    return (store or CredentialStore()).set(credential_name(identity), {KEY_FIELD: key.hex()})


def parse_key(text: str) -> bytes:
    """A key as ``visibility key export --reveal`` wrote it (64 hex digits)."""
    cleaned = text.strip().lower()
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise PhotosyncError(
            "that is not an approval key (64 hex digits expected)",
            hint="Copy the line `photosync visibility key export --reveal` printed on the other machine.",
        )
    return key


def new_key() -> bytes:
    return secrets.token_bytes(32)
