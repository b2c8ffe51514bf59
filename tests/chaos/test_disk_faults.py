"""A full disk or a read-only folder mid-run: a clear message, no traceback, and a re-run
(after the fault is gone) that finishes with nothing lost or doubled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.chaos.clirun import photosync
from tests.chaos.diskfaults import EACCES, ENOSPC, DiskFaults
from tests.chaos.harness import Expect, check_invariants, target_digests
from tests.helpers import make_library, new_archive, set_prefs

pytestmark = pytest.mark.timeout(180)

N = 15
MESSAGES = {ENOSPC: "No space left on device", EACCES: "Permission denied"}


def _archive(tmp: Path) -> Path:
    make_library(tmp / "lib", N)
    archive = new_archive(
        tmp,
        lib={"type": "local", "path": str(tmp / "lib")},
        backup={"type": "local", "path": str(tmp / "backup"), "target": True, "source": False},
    )
    set_prefs(archive, commit_every=4, hash_workers=2)
    prefs = archive.preferences()
    prefs["blob_storage"]["locations"].append(
        {"name": "nas", "type": "local", "path": str(tmp / "nas")}
    )
    archive.save_preferences(prefs)
    archive.commit("config: a second blob location")
    archive.close()
    return archive.root


def _faulted(
    root: Path, monkeypatch: pytest.MonkeyPatch, error: int, fail_at: int, *args: str
) -> tuple[DiskFaults, str]:
    faults = DiskFaults(error, fail_at).install(monkeypatch)
    result = photosync(root, *args, expect=(3, 4))
    faults.remove()
    monkeypatch.undo()
    assert faults.raised, f"fault at call {fail_at} never fired ({faults.calls} calls)"
    said = " ".join(result.output.split())
    assert MESSAGES[error] in said, said
    return faults, said


@pytest.mark.parametrize("error", [ENOSPC, EACCES])
@pytest.mark.parametrize("fail_at", [1, 6, 25, 45])
def test_discover_on_a_failing_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, fail_at: int
) -> None:
    root = _archive(tmp_path)
    _faulted(root, monkeypatch, error, fail_at, "discover")
    photosync(root, "discover")
    check_invariants(root, Expect(records=N, present={"lib": N}, stores=["local"]), read_data=False)


@pytest.mark.parametrize("error", [ENOSPC, EACCES])
@pytest.mark.parametrize("fail_at", [1, 8, 30])
def test_replicate_on_a_failing_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, error: int, fail_at: int
) -> None:
    root = _archive(tmp_path)
    photosync(root, "discover")
    photosync(root, "resolve", "--auto-resolve", "simple")
    _faults, said = _faulted(root, monkeypatch, error, fail_at, "replicate", "--execute")
    if error == ENOSPC:  # the full disk is where the copy goes, not where the original is
        assert "cannot read the original" not in said, said
    photosync(root, "replicate", "--execute")
    records = check_invariants(
        root,
        Expect(
            records=N, present={"lib": N, "backup": N}, replicated=True, located_everywhere=True
        ),
    )
    assert target_digests(tmp_path / "backup") == sorted(r["content_hash"][7:] for r in records)
    photosync(root, "verify", "--read-data")


def test_git_failing_on_a_full_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """git itself hits the full disk when a discover commits (any way git writes a commit)."""
    import subprocess

    import photosync.archive.git as git_module

    root = _archive(tmp_path)
    real_run = subprocess.run
    commits = {"n": 0}

    def full_disk_git(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        if args[0] == "git" and {"commit", "commit-tree", "fast-import"} & set(args):
            commits["n"] += 1
            return subprocess.CompletedProcess(
                args, 128, b"", b"fatal: unable to write new index file: No space left on device"
            )
        return real_run(args, **kwargs)  # type: ignore[call-overload,no-any-return]

    real_popen = subprocess.Popen
    full = "fatal: unable to write new index file: No space left on device"

    def full_disk_fed(args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        # fast-import is fed its stream as it is made: git reads it all, then fails
        if args[0] == "git" and "fast-import" in args:
            commits["n"] += 1
            args = ["sh", "-c", f"cat >/dev/null; echo '{full}' >&2; exit 128"]
        return real_popen(args, **kwargs)

    monkeypatch.setattr(git_module.subprocess, "run", full_disk_git)
    monkeypatch.setattr(git_module.subprocess, "Popen", full_disk_fed)
    result = photosync(root, "discover", expect=3)
    monkeypatch.undo()
    assert commits["n"] >= 1  # the fault was met, not bypassed by another way of committing
    assert "No space left on device" in " ".join(result.output.split())
    again = photosync(root, "discover")
    assert "recovered" in again.output  # the records written after the last commit were kept
    check_invariants(root, Expect(records=N, present={"lib": N}, stores=["local"]), read_data=False)
