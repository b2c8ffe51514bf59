"""Approvals photosync made are sealed; typed, copied or foreign ones do not widen anything.

The archive's key lives in the credential store (PHOTOSYNC_CONFIG_DIR here), never in
git; a second machine is a second config directory.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.model import Visibility, approved_level, record_relpath
from tests.helpers import assert_check_clean, git_log, make_library, new_archive, records, run_cli

pytestmark = pytest.mark.timeout(180)

OLD_APPROVAL = {
    "level": "public",
    "previous": "private",
    "by": "alice",
    "at": "2024-03-01T10:00:00Z",
    "reason": "photosync visibility set",
}


def _archive(tmp_path: Path, count: int = 2) -> tuple[str, list[str]]:
    make_library(tmp_path / "lib", count)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.close()
    root = str(archive.root)
    assert run_cli("--archive", root, "discover").exit_code == 0
    return root, sorted(r["photo_id"] for r in records(archive.root))


def _hand_commit(root: str, photo_id: str, level: str, *approvals: dict[str, object]) -> None:
    """What a text editor and plain git (or a photosync before sealing) leave in a record."""
    (record,) = [r for r in records(Path(root)) if r["photo_id"] == photo_id]
    record["visibility"]["canonical"] = level
    record["visibility"]["approvals"].extend(approvals)
    path = Path(root) / record_relpath(record)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    subprocess.run(["git", "-C", root, "commit", "-qam", "by hand"], check=True)


def _as_written_before_sealing(root: str) -> None:
    """An archive a photosync before sealing wrote: its schemas/ know no ``seal`` field,
    and never did (one commit of the same files, no history of a sealing schema)."""
    path = Path(root) / "schemas" / "photo-metadata.schema.json"
    text = path.read_text(encoding="utf-8")
    assert '"seal"' in text
    path.write_text(text.replace('"seal"', '"not_yet"'), encoding="utf-8")
    for args in (
        ["checkout", "-q", "--orphan", "older"],
        ["add", "-A"],
        ["commit", "-qm", "an older photosync"],
        ["branch", "-q", "-D", "main"],
        ["branch", "-q", "-m", "main"],
    ):
        subprocess.run(["git", "-C", root, *args], check=True)


def _level(root: str, photo_id: str) -> Visibility:
    archive = Archive(Path(root))
    try:
        archive.ensure_index()
        return approved_level(archive.load_record(photo_id), archive.seals.verify)
    finally:
        archive.close()


def _unapproved(root: str, photo_id: str) -> list[dict[str, object]]:
    (record,) = [r for r in records(Path(root)) if r["photo_id"] == photo_id]
    return [c for c in record["conflicts"] if c["id"] == "visibility_conflict:unapproved"]


def _new_machine(monkeypatch: pytest.MonkeyPatch, where: Path) -> None:
    monkeypatch.setenv("PHOTOSYNC_CONFIG_DIR", str(where))


def test_approvals_made_before_sealing_are_sealed_once_then_typed_ones_count_for_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_machine(monkeypatch, tmp_path / "old-photosync")  # no key was ever made
    root, (kept, typed) = _archive(tmp_path)
    _as_written_before_sealing(root)
    _new_machine(monkeypatch, tmp_path / "upgraded")  # the first run of this version here
    _hand_commit(root, kept, "public", OLD_APPROVAL)
    assert run_cli("--archive", root, "resolve", "--auto-resolve", "simple").exit_code == 0
    assert "visibility: approvals made before sealing were sealed" in git_log(Path(root))
    assert _level(root, kept) is Visibility.PUBLIC and not _unapproved(root, kept)
    # from now on an approval typed into a record (the red-team repro) is ignored
    _hand_commit(root, typed, "public", {**OLD_APPROVAL, "by": "me"})
    assert run_cli("--archive", root, "resolve", "--auto-resolve", "simple").exit_code == 0
    assert _level(root, typed) is Visibility.PRIVATE
    sealed = git_log(Path(root)).count("visibility: approvals made before sealing were sealed")
    assert sealed == 1
    audit = run_cli("--archive", root, "audit", "--visibility-check", "--json")
    assert audit.exit_code == 6
    found = json.loads(audit.output)["discrepancies"]
    assert [(f["photo_id"], f["kind"], f["canonical"]) for f in found] == [
        (typed, "unapproved", "private")
    ]
    assert_check_clean(Path(root))


def test_sealing_killed_midway_is_finished_by_the_next_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _new_machine(monkeypatch, tmp_path / "old-photosync")
    root, photos = _archive(tmp_path, 3)
    _as_written_before_sealing(root)
    _new_machine(monkeypatch, tmp_path / "upgraded")
    for photo_id in photos:
        _hand_commit(root, photo_id, "public", OLD_APPROVAL)
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from photosync.archive.archive import Archive\n"
        "write = Archive.write_record\n"
        "count = [0]\n"
        "def dying(self, record, **kw):\n"
        "    count[0] += 1\n"
        "    if count[0] == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return write(self, record, **kw)\n"
        "Archive.write_record = dying\n"
        "Archive(Path(sys.argv[1])).lock()\n"
    )
    done = subprocess.run([sys.executable, "-c", script, root], check=False)
    assert done.returncode == -9
    assert run_cli("--archive", root, "resolve", "--auto-resolve", "simple").exit_code == 0
    assert [_level(root, photo_id) for photo_id in photos] == [Visibility.PUBLIC] * 3
    assert not (Path(root) / ".photosync" / "sealing").exists()
    assert_check_clean(Path(root))


def test_a_clone_without_the_key_keeps_photos_private_until_the_key_is_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, (approved, other) = _archive(tmp_path)
    done = run_cli("--archive", root, "visibility", "set", approved, "public", "--yes")
    assert done.exit_code == 0, done.output
    assert _level(root, approved) is Visibility.PUBLIC
    refused = run_cli("--archive", root, "visibility", "key", "export")
    assert refused.exit_code == 2 and "--reveal" in refused.output
    key = run_cli("--archive", root, "visibility", "key", "export", "--reveal").output.strip()
    assert len(key) == 64 and key not in refused.output
    # a second machine: a clone, and a credential store without this archive's key
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", root, str(clone)], check=True)
    shutil.copytree(Path(root) / "blobs", clone / "blobs")  # the originals travel apart from git
    _new_machine(monkeypatch, tmp_path / "second-machine")
    assert run_cli("--archive", str(clone), "resolve", "--auto-resolve", "simple").exit_code == 0
    assert _level(str(clone), approved) is Visibility.PRIVATE  # fails closed
    assert _unapproved(str(clone), approved)
    assert "visibility: approvals made before sealing were sealed" not in git_log(clone)
    shown = run_cli("--archive", str(clone), "visibility", "key", "show").output
    assert "approval key" in shown and key not in shown
    bad = run_cli("--archive", str(clone), "visibility", "key", "import", input="not a key\n")
    assert bad.exit_code == 3
    imported = run_cli("--archive", str(clone), "visibility", "key", "import", input=key + "\n")
    assert imported.exit_code == 0, imported.output
    assert _level(str(clone), approved) is Visibility.PUBLIC
    assert _level(str(clone), other) is Visibility.PRIVATE
    assert run_cli("--archive", str(clone), "resolve", "--auto-resolve", "simple").exit_code == 0
    assert not _unapproved(str(clone), approved)
    assert_check_clean(clone)
    assert_check_clean(Path(root))


def test_the_interactive_prompt_seals_the_approval_it_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, (edited, _other) = _archive(tmp_path)
    _hand_commit(root, edited, "friends")
    monkeypatch.setenv("PHOTOSYNC_USER", "prompt-user")
    done = run_cli("--archive", root, "resolve", "--interactive", input="2\ny\n")
    assert done.exit_code == 0, done.output
    assert "Approve friends (makes it visible more widely)" in done.output
    assert "This widens who can see it" in done.output  # asked again before widening
    (record,) = [r for r in records(Path(root)) if r["photo_id"] == edited]
    approval = record["visibility"]["approvals"][-1]
    assert approval["by"] == "prompt-user" and approval["seal"].startswith("hmac-sha256:")
    assert _level(root, edited) is Visibility.FRIENDS
    assert_check_clean(Path(root))
