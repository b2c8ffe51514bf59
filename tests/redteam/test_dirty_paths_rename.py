"""Found by the red-team pass: a record the user moved out of photos/ with ``git mv``
(staged, not committed) is a change of the user's. When ``Git.dirty_paths`` first asked
``git status`` of the whole tree, the rename paired photos/X.json with attic/X.json
and the source was dropped: the writing run did not see the user's change. With
``--no-renames`` it is a removal under photos/: left alone and said so (exit 4).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from photosync.workflow.discover import discover
from photosync.workflow.replicate import replicate
from photosync.workflow.resolve import auto_resolve
from tests.helpers import make_library, new_archive, run_cli, write_xmp


def _archive(tmp_path: Path) -> Path:
    make_library(tmp_path / "lib", 3)
    archive = new_archive(tmp_path, lib={"type": "local", "path": str(tmp_path / "lib")})
    archive.lock()
    discover(archive)
    auto_resolve(archive)
    replicate(archive, execute=True)
    archive.close()
    return archive.root


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout


def _check_kinds(root: Path) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "check", "--json"],
        capture_output=True,
        text=True,
    )
    kinds: dict[str, int] = json.loads(out.stdout)["problem_kinds"]
    return kinds


def _move_out(root: Path) -> str:
    rel = sorted(_git(root, "ls-files", "photos/*.json").split())[0]
    (root / "attic").mkdir()
    _git(root, "mv", rel, "attic/")
    return rel


def test_a_writing_run_sees_a_record_git_mv_d_out_of_photos(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    rel = _move_out(root)
    before = _check_kinds(root)
    assert before.get("uncommitted_edit") == 1  # the user's change
    result = run_cli("--archive", str(root), "discover")
    assert result.exit_code == 4, result.output
    assert "left alone" in result.output, result.output
    # a writing run leaves the archive no less consistent than it found it: the index
    # must not claim HEAD while a record of HEAD is gone from the working tree
    assert _check_kinds(root) == {"uncommitted_edit": 1}
    assert rel in _git(root, "status", "--porcelain")


def test_an_update_to_a_record_git_mv_d_out_of_photos_is_no_traceback(tmp_path: Path) -> None:
    root = _archive(tmp_path)
    rel = _move_out(root)
    record = json.loads((root / "attic" / Path(rel).name).read_text())
    source = next(i["id"] for insts in record["instances"].values() for i in insts)
    write_xmp(tmp_path / "lib" / f"{source}.xmp", caption="hello")  # the photo is updated
    result = run_cli("--archive", str(root), "discover")
    # before 7a5bd6d: "... has changes photosync did not make; photosync leaves it alone", exit 4
    # now: FileNotFoundError, shown as "free some space or fix the folder's permissions", exit 3
    assert "free some space" not in result.output, result.output
    assert result.exit_code == 4, result.output
    assert "leaves it alone" in result.output, result.output
