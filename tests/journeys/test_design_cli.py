"""The design's CLI examples, in the order a first session uses them, on generated photos.

``resolve --interactive`` is driven through a pseudo-terminal, as a person answers it.
"""

from __future__ import annotations

import json
import os
import pty
import shutil
import sys
from pathlib import Path

from photosync.emulators.samples import write_jpeg, write_xmp_sidecar
from tests.helpers import assert_check_clean, git_log, make_library, read_until, records
from tests.journeys.conftest import Shell


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _on_a_terminal(shell: Shell, *args: str) -> tuple[int, int]:
    pid, fd = pty.fork()
    if pid == 0:  # the child: photosync on a terminal
        os.chdir(shell.cwd)
        env = shell.environment()
        os.execve(sys.executable, [sys.executable, "-m", "photosync", *args], env)
    return pid, fd


def _adds_up(summary: dict[str, object]) -> None:
    for s in summary["services"]:  # type: ignore[union-attr]
        counted = s["unchanged"] + s["new"] + s["duplicate"] + s["updated"] + len(s["failed"])
        counted += len(s.get("refused", [])) + s.get("refused_before", 0)
        assert s["listed"] == counted, s


def test_the_design_cli_examples_in_a_first_session(shell: Shell, tmp_path: Path) -> None:
    phone, laptop, nas = tmp_path / "phone", tmp_path / "laptop", tmp_path / "nas"
    make_library(phone, 6)
    make_library(laptop, 2, start_seed=100)
    # one photo on both, each with its own caption: a question for resolve --interactive
    shared = write_jpeg(phone / "IMG_BEACH.jpg", seed=77, size=(96, 64))
    shutil.copy(shared, laptop / "IMG_BEACH.jpg")
    write_xmp_sidecar(phone / "IMG_BEACH.jpg.xmp", caption="Sunset at the beach")
    write_xmp_sidecar(laptop / "IMG_BEACH.xmp", caption="Ocean Beach sunset with friends")

    shell.run(f"photosync init {tmp_path / 'archive'}")
    shell.cwd = root = tmp_path / "archive"
    shell.run(f"photosync service add phone --type local --path {phone}")
    shell.run(f"photosync service add laptop --type local --path {laptop}")
    shell.run(f"photosync service add nas --type local --path {nas} --target --no-source")

    # discover --since last-week: the files were just made, so all of them
    first = json.loads(shell.run("photosync discover --since last-week --json").stdout)
    _adds_up(first)
    assert sum(s["new"] for s in first["services"]) == 9  # 6 + 2 + the shared one once
    assert sum(s["duplicate"] for s in first["services"]) == 1
    state_after_since = (root / "config" / "sync-state.json").read_text()

    # discover --service X --since DATE: only that service is listed
    one = json.loads(
        shell.run("photosync discover --service laptop --since 2024-01-01 --json").stdout
    )
    assert [s["service"] for s in one["services"]] == ["laptop"]
    assert one["services"][0]["new"] == 0 and one["services"][0]["listed"] == 3
    # a run limited by --since is not a full listing: it moves no cursor
    assert (root / "config" / "sync-state.json").read_text() == state_after_since

    # --full-scan re-reads everything and its columns add up
    full = json.loads(shell.run("photosync discover --full-scan --json").stdout)
    _adds_up(full)
    assert sum(s["unchanged"] for s in full["services"]) == 10
    head = git_log(root)

    out = shell.run("photosync resolve --auto-resolve simple").stdout
    assert "1 need a decision" in out

    # resolve --interactive, through a terminal: combine the two captions
    pid, fd = _on_a_terminal(shell, "resolve", "--interactive")
    screen = read_until(fd, b"Choice [1-")
    assert b"Sunset at the beach" in screen and b"Ocean Beach sunset with friends" in screen
    assert b"Combine" in screen
    combine = next(
        line.split(b".")[0].strip()
        for line in screen.splitlines()
        if b"Combine" in line and line.strip()[:1].isdigit()
    )
    os.write(fd, combine + b"\n")
    read_until(fd, b"decision(s) recorded")
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    (beach,) = [r for r in records(root) if r["metadata"]["filename"] == "IMG_BEACH.jpg"]
    assert "Sunset at the beach" in beach["metadata"]["caption"]
    assert "Ocean Beach sunset with friends" in beach["metadata"]["caption"]
    assert beach["conflicts"][0]["resolution"]["by"] == "journey"
    assert "no open conflicts" in shell.run("photosync resolve --list").stdout
    assert git_log(root)[0].startswith("resolve: decisions by journey")
    assert len(git_log(root)) > len(head)

    # replicate --dry-run and replicate with no flag: a plan, nothing changed
    head = git_log(root)
    for preview in ("photosync replicate --dry-run", "photosync replicate"):
        said = shell.run(preview).stdout
        assert "nas" in said and "dry run: nothing was changed" in said, said
        assert git_log(root) == head and _files(nas) == {}

    shell.run("photosync replicate --execute")
    copied = _files(nas)
    assert len(copied) == 9
    assert set(copied.values()) <= set(_files(phone).values()) | set(_files(laptop).values())
    assert all(r["processing_state"] == "replicated" for r in records(root))
    assert "nothing to replicate" in shell.run("photosync replicate --dry-run").stdout

    status = shell.run("photosync status").stdout
    assert "photosync archive" in status and str(root) in status
    shell.run("photosync audit --visibility-check")
    assert_check_clean(root)
