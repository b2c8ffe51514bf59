"""Red-team: ``resolve --interactive`` with its input closed exits 0.

README, exit codes: 3 is "a question left without an answer (no terminal, input
closed)" (``visibility set`` and ``auth`` do exit 3 then). ``resolve --interactive
</dev/null`` prints "stopped: 0 decision(s) recorded, N question(s) left for later" and
exits 0 ("done"), so a script cannot tell that nothing was answered. Nothing changes
(that part holds).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import make_library, photosync_run

SRC = Path(__file__).resolve().parents[2] / "src"


def _photosync(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return photosync_run(cwd, *args, config=config)


def test_interactive_resolve_with_input_closed_exits_3(tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    (good,) = make_library(lib, 1)
    data = good.read_bytes()
    (lib / "torn.jpg").write_bytes(data[: len(data) - 40])  # no end-of-image marker
    cfg, root = tmp_path / "cfg", tmp_path / "arch"
    assert _photosync(tmp_path, cfg, "init", str(root)).returncode == 0
    assert (
        _photosync(
            root, cfg, "service", "add", "lib", "--type", "local", "--path", str(lib)
        ).returncode
        == 0
    )
    assert _photosync(root, cfg, "discover").returncode in (0, 4)
    _photosync(root, cfg, "resolve", "--auto-resolve", "simple")
    listed = _photosync(root, cfg, "resolve", "--list")
    assert "open" in listed.stdout, listed.stdout
    head = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout

    asked = _photosync(root, cfg, "resolve", "--interactive")

    assert "Traceback" not in asked.stderr
    assert (
        subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True
        ).stdout
        == head
    )
    assert asked.returncode == 3, (asked.returncode, asked.stdout[-300:])
