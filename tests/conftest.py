"""Fixtures shared by every test module, including a real S3 endpoint (moto server mode)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from hypothesis import HealthCheck, settings

REPO_ROOT = Path(__file__).resolve().parent.parent


# CI runs the same examples every time (a red CI is then a real, repeatable failure);
# locally each run explores anew. Neither gives a deadline nor fails "too slow": the suite
# runs in parallel workers (pytest-xdist) on loaded machines, which are slow, not wrong.
# No example database: parallel workers would share one inside the repository.
settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "dev", deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


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


@pytest.fixture(scope="session", autouse=True)
def _isolated_worker_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Each test process (each xdist worker) gets its own HOME and XDG folders.

    Parallel workers must not share a keyring, a credential file, a git config or a cache;
    nothing a test does may land in the real user's home.
    """
    home = tmp_path_factory.mktemp("worker-home")
    patch = pytest.MonkeyPatch()
    patch.setenv("HOME", str(home))
    for name, sub in (
        ("XDG_CONFIG_HOME", ".config"),
        ("XDG_CACHE_HOME", ".cache"),
        ("XDG_DATA_HOME", ".local/share"),
        ("XDG_STATE_HOME", ".local/state"),
    ):
        (home / sub).mkdir(parents=True)
        patch.setenv(name, str(home / sub))
    patch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    # An empty HOME has no git identity: module-scoped fixtures that commit by hand run
    # before the per-test one below, so the identity is set for the whole worker too.
    for who in ("AUTHOR", "COMMITTER"):
        patch.setenv(f"GIT_{who}_NAME", "photosync tests")
        patch.setenv(f"GIT_{who}_EMAIL", "tests@photosync.invalid")
    # Tests start `python -m photosync` thousands of times: with PYTHONDONTWRITEBYTECODE
    # each start compiled the whole package again (~40% of its CPU). Byte code goes to
    # this worker's temporary folder instead, never into the repository.
    patch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    patch.setenv("PYTHONPYCACHEPREFIX", str(home / ".pycache"))
    try:
        yield
    finally:
        patch.undo()


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keep credentials and caches of tests out of the real user's config directory."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PHOTOSYNC_CONFIG_DIR", str(home / "config"))
    monkeypatch.setenv("PHOTOSYNC_KEYRING", "file")
    monkeypatch.delenv("PHOTOSYNC_ARCHIVE", raising=False)
    monkeypatch.setenv("GIT_AUTHOR_NAME", "photosync tests")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "tests@photosync.invalid")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "photosync tests")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "tests@photosync.invalid")


# -- a real S3 endpoint: moto in server mode on 127.0.0.1, one per session -------------

DUMMY_KEY_ID = "testing-key-id"
DUMMY_SECRET = "testing-secret-key"


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto server started for this test session, with dummy keys in the environment."""
    from moto.server import ThreadedMotoServer

    patch = pytest.MonkeyPatch()
    home = tmp_path_factory.mktemp("aws")
    patch.setenv("AWS_ACCESS_KEY_ID", DUMMY_KEY_ID)
    patch.setenv("AWS_SECRET_ACCESS_KEY", DUMMY_SECRET)
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    # never read the developer's AWS files or ask an instance metadata service
    patch.setenv("AWS_CONFIG_FILE", str(home / "config"))
    patch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(home / "credentials"))
    patch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        patch.delenv(name, raising=False)
    patch.setenv("NO_PROXY", "127.0.0.1")
    patch.setenv("no_proxy", "127.0.0.1")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        patch.undo()


@pytest.fixture(scope="session")
def s3_admin(s3_endpoint: str) -> Any:
    """A plain boto3 client for setting up and tampering with buckets behind the store's back."""
    return boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=DUMMY_KEY_ID,
        aws_secret_access_key=DUMMY_SECRET,
        config=Config(s3={"addressing_style": "path"}),
    )


@pytest.fixture
def s3_bucket(s3_admin: Any) -> str:
    """A fresh, empty bucket for one test."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3_admin.create_bucket(Bucket=name)
    return name
