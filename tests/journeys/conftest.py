"""Journeys: what a person does, run as they run it (``python -m photosync`` in a shell)."""

from __future__ import annotations

import os
import pty
import re
import select
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO_ROOT, shared_dir

README = REPO_ROOT / "README.md"


@dataclass
class Shell:
    """A user's terminal: a home, a current folder, every command and its output kept."""

    home: Path
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    transcript: list[str] = field(default_factory=list)

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "HOME": str(self.home),
            "COLUMNS": "100",
            "PHOTOSYNC_USER": "journey",
            **self.env,
        }

    def run(self, line: str, *, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess[str]:
        """One command line, ``photosync`` meaning this checkout's ``python -m photosync``."""
        args = shlex.split(line)
        if args and args[0] == "photosync":
            args = [sys.executable, "-m", "photosync", *args[1:]]
        # a question at a terminal gets an answer: "q" (stop here, keep the rest for
        # later); with no answer at all an interactive command exits 3
        feed: dict[str, Any] = (
            {"input": "q\n"} if "--interactive" in args else {"stdin": subprocess.DEVNULL}
        )
        out = subprocess.run(
            args,
            cwd=self.cwd,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=300,
            **feed,
        )
        self.transcript.append(f"$ {line}\n{out.stdout}{out.stderr}[exit {out.returncode}]")
        assert out.returncode in ok, "\n".join(self.transcript[-3:])
        return out

    def run_script(self, lines: list[str], codes: dict[str, tuple[int, ...]] | None = None) -> None:
        """Lines as a user types them: ``a && cd b`` runs a, then changes folder."""
        for line in lines:
            for part in line.split("&&"):
                part = part.strip()
                if part.startswith("cd "):
                    self.cwd = Path(
                        os.path.expanduser(part[3:].strip().replace("~", str(self.home)))
                    )
                    continue
                words = shlex.split(part)
                key = " ".join(w for w in words[1:3] if not w.startswith("-"))
                self.run(part, ok=(codes or {}).get(key, (0,)))


def readme_blocks() -> list[list[str]]:
    """Every ```bash block of the README, as command lines (comments and continuations joined)."""
    text = README.read_text(encoding="utf-8")
    blocks = []
    for body in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        lines: list[str] = []
        pending = ""
        for raw in body.splitlines():
            line = pending + raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
            if line.endswith("\\"):
                pending = line[:-1] + " "
                continue
            pending = ""
            if line.strip():
                lines.append(line.strip())
        blocks.append(lines)
    return blocks


def readme_block_with(command: str) -> list[str]:
    """The first README block with a line starting with ``command``."""
    return next(b for b in readme_blocks() if any(line.startswith(command) for line in b))


@pytest.fixture
def shell(tmp_path: Path) -> Shell:
    home = tmp_path / "home"
    home.mkdir()
    return Shell(home=home, cwd=home)


@pytest.fixture
def real_photos(tmp_path: Path) -> Path:
    """A phone dump of real photos (camera, GPS, XMP sidecars) from ../shared/testdata."""
    root = shared_dir()
    if root is None:
        pytest.skip("../shared/testdata is absent: the journeys on real photos need it")
    dump = tmp_path / "phone-dump"
    photos = root / "testdata" / "photos"
    for folder in ("camera", "gps", "xmp", "orientation"):
        shutil.copytree(photos / folder, dump / folder)
    return dump


class Emulator:
    """``python -m photosync.emulators.X`` as a user starts it, with what it printed."""

    def __init__(self, module: str, *args: str, until: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"photosync.emulators.{module}", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        assert self.process.stdout is not None
        self.lines: list[str] = []
        while not any(line.startswith(until) for line in self.lines):
            line = self.process.stdout.readline()
            assert line, f"{module} emulator stopped: {self.lines}"
            self.lines.append(line.rstrip("\n"))

    def line_after(self, label: str) -> str:
        return next(line for line in self.lines if line.startswith(label))[len(label) :].strip()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def interact(
    shell: Shell,
    line: str,
    on_url: Callable[[str], str | None],
    *,
    ok: tuple[int, ...] = (0,),
    deadline_s: float = 120.0,
) -> str:
    """Run a command on a pseudo-terminal; at each URL it prints, ``on_url`` plays the person
    (opens the page) and may type an answer."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: photosync on a terminal
        os.chdir(shell.cwd)
        os.execve(
            sys.executable,
            [sys.executable, "-m", "photosync", *shlex.split(line)[1:]],
            shell.environment(),
        )
    seen = b""
    done_lines = 0
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        lines = seen.split(b"\n")[:-1]
        for raw in lines[done_lines:]:
            text = raw.decode(errors="replace").strip()
            if text.startswith(("http://", "https://")):
                answer = on_url(text)
                if answer is not None:
                    os.write(fd, answer.encode() + b"\n")
        done_lines = len(lines)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    code = os.waitstatus_to_exitcode(status)
    text = seen.decode(errors="replace").replace("\r\n", "\n")
    shell.transcript.append(f"$ {line}\n{text}[exit {code}]")
    assert code in ok, text
    return text
