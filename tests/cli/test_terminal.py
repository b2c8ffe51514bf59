"""The interactive prompt on a real (pseudo) terminal, as a person would use it."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path

from photosync.emulators.samples import write_jpeg, write_xmp_sidecar
from tests.helpers import new_archive, records


def _read_until(fd: int, needle: bytes, deadline_s: float = 30.0) -> bytes:
    seen = b""
    end = time.monotonic() + deadline_s
    while needle not in seen and time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    assert needle in seen, seen.decode(errors="replace")
    return seen


def test_interactive_resolve_on_a_pseudo_terminal(tmp_path: Path) -> None:
    write_jpeg(tmp_path / "a" / "IMG_1.jpg", seed=3)
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "IMG_1.jpg").write_bytes((tmp_path / "a" / "IMG_1.jpg").read_bytes())
    write_xmp_sidecar(tmp_path / "a" / "IMG_1.jpg.xmp", caption="Sunset at the beach")
    write_xmp_sidecar(tmp_path / "b" / "IMG_1.xmp", caption="Ocean Beach sunset with friends")
    archive = new_archive(
        tmp_path,
        a={"type": "local", "path": str(tmp_path / "a")},
        b={"type": "local", "path": str(tmp_path / "b")},
    )
    root = archive.root
    pid, fd = pty.fork()
    if pid == 0:  # the child: photosync on a terminal
        os.environ["PHOTOSYNC_USER"] = "terminal-user"
        os.execv(
            sys.executable, [sys.executable, "-m", "photosync", "--archive", str(root), "discover"]
        )
    _read_until(fd, b"discover")
    os.waitpid(pid, 0)
    pid, fd = pty.fork()
    if pid == 0:
        os.environ["PHOTOSYNC_USER"] = "terminal-user"
        os.execv(
            sys.executable,
            [sys.executable, "-m", "photosync", "--archive", str(root), "resolve", "--interactive"],
        )
    screen = _read_until(fd, b"Choice [1-5]")
    assert b"Conflict:" in screen and b"Use a version" in screen and b"Combine" in screen
    os.write(fd, b"4\n")  # Custom
    _read_until(fd, b"Caption")
    os.write(fd, b"Golden hour at Ocean Beach\n")
    _read_until(fd, b"decision(s) recorded")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    (record,) = records(root)
    assert record["metadata"]["caption"] == "Golden hour at Ocean Beach"
    decision = record["conflicts"][0]["resolution"]
    assert decision["choice"] == "custom" and decision["by"] == "terminal-user"
