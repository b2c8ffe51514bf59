"""Secrets (API keys, OAuth tokens) kept outside the archive.

The system keyring is used when one works; otherwise a JSON file with mode 0600
in the user's config directory. Nothing here is ever written under the archive,
and ``redact`` keeps secrets out of logs and error messages.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import platformdirs

from photosync import durable
from photosync.errors import ConfigError
from photosync.redaction import register_secrets, shown_error

KEYRING_SERVICE = "photosync"
SECRET_FIELD_HINTS = ("secret", "token", "key", "password", "verifier", "code")


def config_dir() -> Path:
    override = os.environ.get("PHOTOSYNC_CONFIG_DIR")
    return Path(override) if override else Path(platformdirs.user_config_dir("photosync"))


class CredentialStore:
    """Per-service secrets, as a dict, in the keyring or a 0600 file."""

    def __init__(self, directory: Path | None = None, *, backend: str | None = None) -> None:
        self.directory = directory or config_dir()
        self.backend = backend or os.environ.get("PHOTOSYNC_KEYRING", "auto")

    @property
    def file_path(self) -> Path:
        return self.directory / "credentials.json"

    def get(self, service: str) -> dict[str, Any] | None:
        if self._use_keyring():
            import keyring

            raw = keyring.get_password(KEYRING_SERVICE, service)
            if raw is not None:
                return _registered(dict(json.loads(raw)))
        found = self._read_file().get(service)
        return None if found is None else _registered(found)

    def set(self, service: str, secrets: dict[str, Any]) -> str:
        """Store secrets; returns where they went ("keyring" or the file path)."""
        _registered(secrets)
        if self._use_keyring():
            import keyring

            keyring.set_password(KEYRING_SERVICE, service, json.dumps(secrets, sort_keys=True))
            return "system keyring"
        data = self._read_file()
        data[service] = secrets
        self._write_file(data)
        return str(self.file_path)

    def _use_keyring(self) -> bool:
        if self.backend == "file":
            return False
        try:
            import keyring
            from keyring.backends import fail

            backend = keyring.get_keyring()
            return not isinstance(backend, fail.Keyring) and backend.priority > 0
        except Exception:  # a broken keyring falls back to the file
            return False

    def _read_file(self) -> dict[str, dict[str, Any]]:
        try:
            data = json.loads(self.file_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (ValueError, UnicodeDecodeError) as error:
            # its content is never shown: it holds secrets
            raise ConfigError(
                f"the credentials file {self.file_path} cannot be read "
                f"({type(error).__name__} at {getattr(error, 'pos', '?')})",
                hint="Restore it from your backup, or move it aside and sign in again "
                "(`photosync auth ...`, `photosync visibility key import`).",
            ) from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"the credentials file {self.file_path} is not a JSON object",
                hint="Restore it from your backup, or move it aside and sign in again.",
            )
        return dict(data)

    def _write_file(self, data: dict[str, dict[str, Any]]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        text = json.dumps(data, sort_keys=True, indent=2)
        durable.atomic_write(self.file_path, text.encode("utf-8"), mode=0o600, sync_dir=True)


def _registered(secrets: dict[str, Any]) -> dict[str, Any]:
    """Every secret photosync holds is kept out of its log lines (see ``redaction``)."""
    register_secrets(
        value
        for name, value in secrets.items()
        if any(hint in name.lower() for hint in SECRET_FIELD_HINTS)
    )
    return secrets


def redact(text: str, secrets: dict[str, Any] | None) -> str:
    """``text`` with every value of ``secrets`` and everything shaped like a credential
    (``?api_key=...``, ``Bearer ...``) masked: ``redaction.shown_error``, the one rule."""
    return shown_error(text, secrets)
