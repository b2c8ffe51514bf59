"""Fixtures of the web tests: one archive per module where tests only read (and a
config directory of its own, so the archive's approval key stays the same for all
the module's tests), a logged-in test client."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from photosync.web.app import create_app, web_state

TOKEN = "test-token-0123456789"


@pytest.fixture(scope="module")
def module_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A user config dir for the module's archive (its approval key lives there)."""
    home = tmp_path_factory.mktemp("webhome")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PHOTOSYNC_CONFIG_DIR", str(home / "config"))
        patch.setenv("PHOTOSYNC_KEYRING", "file")
        patch.setenv("PHOTOSYNC_USER", "alice")
        for name in ("AUTHOR", "COMMITTER"):
            patch.setenv(f"GIT_{name}_NAME", "photosync tests")
            patch.setenv(f"GIT_{name}_EMAIL", "tests@photosync.invalid")
        yield home


@pytest.fixture
def same_home(module_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test of the module sees the module's config dir (and the same decider)."""
    monkeypatch.setenv("PHOTOSYNC_CONFIG_DIR", str(module_home / "config"))
    monkeypatch.setenv("PHOTOSYNC_USER", "alice")
    return module_home


def logged_in(app: Flask) -> FlaskClient:
    """A client that opened the printed address once (the token is now its cookie)."""
    client = app.test_client()
    first = client.get(f"/?token={TOKEN}")
    assert first.status_code == 303 and "token" not in first.headers["Location"]
    return client


def csrf_of(app: Flask) -> str:
    return web_state(app).csrf


def make_app(root: Path) -> Flask:
    app = create_app(root, token=TOKEN)
    app.config["TESTING"] = True
    return app


def ctrl_c_works() -> None:
    """``preexec_fn`` of a child that a test stops with Ctrl-C: SIGINT as a terminal gives
    it. A test run started in the background (``cmd &`` in a script) has SIGINT ignored,
    and a child inheriting that never sees the KeyboardInterrupt a user's Ctrl-C raises."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def stop_server(server: subprocess.Popen[bytes]) -> int:
    """Ctrl-C to a ``photosync web`` child, and its exit code; if it does not stop, what
    it was doing (signal masks, threads, Python stacks) is in the failure."""
    server.send_signal(signal.SIGINT)
    try:
        return server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        try:
            status = Path(f"/proc/{server.pid}/status").read_text()
        except OSError:
            status = ""
        masks = [line for line in status.splitlines() if line.startswith(("Sig", "Threads"))]
        stacks = (
            subprocess.run(
                ["py-spy", "dump", "--pid", str(server.pid)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            if shutil.which("py-spy")
            else "(py-spy not installed)"
        )
        server.kill()
        server.wait()
        raise AssertionError(
            "photosync web did not stop on Ctrl-C:\n" + "\n".join(masks) + "\n" + stacks
        ) from None
