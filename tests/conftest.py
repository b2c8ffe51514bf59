"""Fixtures shared by every test module."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path | None:
    """``../shared`` beside the repository (or $PHOTOSYNC_SHARED), when present."""
    candidate = Path(os.environ.get("PHOTOSYNC_SHARED", REPO_ROOT.parent / "shared"))
    return candidate if (candidate / "testdata" / "MANIFEST.tsv").is_file() else None


@pytest.fixture(scope="session")
def testdata() -> Path:
    """The real photos in ../shared/testdata; skips when that folder is absent."""
    root = shared_dir()
    if root is None:
        pytest.skip("../shared/testdata is absent: real-photo tests need it beside the repository")
    return root / "testdata"


@pytest.fixture(autouse=True)
def _isolated_user_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep credentials and caches of tests out of the real user's config directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PHOTOSYNC_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("PHOTOSYNC_KEYRING", "file")
    monkeypatch.delenv("PHOTOSYNC_ARCHIVE", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "photosync tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@photosync.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "photosync tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@photosync.invalid")
