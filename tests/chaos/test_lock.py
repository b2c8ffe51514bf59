"""One writer at a time: a second run is refused clearly; a killed holder's lock is taken over."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.errors import ArchiveLocked
from tests.chaos.harness import Expect, check_invariants, record_file_count, run, wait_for
from tests.helpers import assert_check_clean, make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(180)

HOLDER = """
import sys
from pathlib import Path
from photosync.archive.archive import Archive
archive = Archive(Path(sys.argv[1]))
archive.lock()
print("holding", flush=True)
sys.stdin.read()
"""


def _archive(tmp: Path, count: int) -> Path:
    make_library(tmp / "lib", count)
    archive = new_archive(
        tmp,
        lib={"type": "local", "path": str(tmp / "lib")},
        backup={"type": "local", "path": str(tmp / "backup"), "target": True, "source": False},
    )
    set_prefs(archive, commit_every=5, hash_workers=1)
    archive.close()
    return archive.root


def test_every_writing_command_is_refused_while_another_run_holds_the_archive(
    tmp_path: Path,
) -> None:
    root = _archive(tmp_path, 12)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "holding"
        for command in (
            ["discover"],
            ["resolve", "--auto-resolve", "simple"],
            ["replicate", "--execute"],
            ["verify", "--repair"],  # plain verify is a reader
        ):
            result = run(root, *command, expect=5)
            said = " ".join(result.stderr.split())
            assert f"another photosync run holds this archive (pid {holder.pid} on" in said, said
            assert "a killed run releases the lock by itself" in said
        assert record_file_count(root) == 0  # nothing was done behind the holder's back
        # the holder is killed: its lock is released by the kernel, its pid is left in the file
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
    result = run(root, "discover")
    said = " ".join(result.stderr.split())
    assert f"the last run (pid {holder.pid} on" in said and "was killed" in said
    check_invariants(root, Expect(records=12, present={"lib": 12}))


def test_a_second_real_run_is_refused_and_the_first_finishes(tmp_path: Path) -> None:
    root = _archive(tmp_path, 60)
    first = subprocess.Popen(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", "discover"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lock_file = root / ".photosync" / "lock"
    # the first run holds the lock once its pid is in the lock file
    assert wait_for(
        lambda: (
            (lock_file.exists() and f"pid {first.pid}" in lock_file.read_text())
            or first.poll() is not None
        )
    )
    second = run(root, "discover", expect=(5, 0))
    _out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    if (
        second.returncode == 0
    ):  # the first one finished before the second started: nothing to refuse
        pytest.skip("the first run finished before the second could meet it")
    assert f"pid {first.pid}" in second.stderr
    check_invariants(root, Expect(records=60, present={"lib": 60}))


def test_in_one_process_a_second_writer_is_refused_too(tmp_path: Path) -> None:
    root = _archive(tmp_path, 1)
    first, second = Archive(root), Archive(root)
    first.lock()
    try:
        with pytest.raises(ArchiveLocked):
            second.lock()
    finally:
        first.close()
        second.close()
    second = Archive(root)
    assert second.lock() == []  # released cleanly: nothing to take over, nothing recovered
    second.close()
    assert_check_clean(root)
