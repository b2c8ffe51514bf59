"""The runtime dependencies say what photosync imports: botocore, not boto3; ImageHash
only checks the perceptual hash in the tests."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

_IMPORT_ALL = """
import pkgutil, sys, importlib
import photosync
for info in pkgutil.walk_packages(photosync.__path__, "photosync."):
    if not info.name.endswith("__main__"):
        importlib.import_module(info.name)
print(" ".join(sorted({m.split(".")[0] for m in sys.modules} & {"boto3", "imagehash", "botocore"})))
"""


def _names(requirements: list[str]) -> set[str]:
    return {r.split(">")[0].split("=")[0].split("[")[0].strip().lower() for r in requirements}


def test_runtime_imports_botocore_and_not_boto3_or_imagehash() -> None:
    out = subprocess.run(
        [sys.executable, "-c", _IMPORT_ALL], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["botocore"]


def test_pyproject_lists_what_is_imported_where() -> None:
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    runtime = _names(project["dependencies"])
    test = _names(project["optional-dependencies"]["test"])
    assert "botocore" in runtime and not runtime & {"boto3", "imagehash"}
    assert {"boto3", "imagehash"} <= test


def test_starting_photosync_does_not_load_the_web_server() -> None:
    """Every `photosync` start paid for Flask, werkzeug and jinja2 (~15% of its start-up,
    thousands of starts in the tests); only `photosync web` needs them."""
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, photosync.cli\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules}"
            " & {'flask', 'werkzeug', 'jinja2'})))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == []
