"""The emulator and the Takeout generator run as programs for the demo."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import requests

from photosync.emulators.takeout import main as takeout_main
from photosync.services.google.takeout import TakeoutSource

from .conftest import listing


def test_google_emulator_runs_as_a_module() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "photosync.emulators.google", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        info = json.loads(process.stdout.readline())
        assert info["url"].startswith("http://127.0.0.1:")
        assert set(info["endpoints"]) == {"library", "picker", "oauth_token", "oauth_auth"}
        reply = requests.get(f"{info['endpoints']['library']}/mediaItems", timeout=10)
        assert reply.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_takeout_generator_runs_as_a_program(tmp_path: Path) -> None:
    assert takeout_main([str(tmp_path), "--fmt", "tgz", "--locale", "it", "--parts", "2"]) == 0
    truth = json.loads((tmp_path / "takeout-manifest.json").read_text(encoding="utf-8"))
    parts = [Path(p) for p in truth["parts"]]
    assert len(parts) == 2 and all(p.name.endswith(".tgz") for p in parts)
    items, _ = listing(TakeoutSource.from_paths(parts))
    assert len(items) == len(truth["items"])
