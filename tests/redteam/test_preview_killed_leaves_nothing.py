"""Found by the red-team pass (round 6): a preview killed (kill -9) left its scratch behind.

``resolve --list`` / ``resolve --dry-run`` keep what they would write in a throw-away
SQLite file, and ``replicate`` without ``--execute`` sorts the originals wanted in one:
both lived in a ``photosync-preview-*`` / ``photosync-plan-*`` folder of the system's
temporary folder, removed only by a run that ends. A preview of a first resolve over a
big library, interrupted hard, left a file as big as every record in the temporary
folder, for good. Now the scratch is SQLite's own private temporary database (a file
SQLite removes from its folder as soon as it is opened): nothing is left to clean.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.helpers import archive_with_nas, git_clean, git_log


def _killed_preview(root: Path, tmp: Path, patch: str, call: str) -> None:
    """Run ``call`` on the archive at ``root`` with TMPDIR=``tmp``; ``patch`` makes the
    process kill itself (SIGKILL) once it has written some of its scratch."""
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from photosync.archive.archive import Archive\n"
        "def die(*a, **k):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        + patch
        + "\narchive = Archive(Path(sys.argv[1]))\n"
        + call
        + "\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(root)],
        env={**os.environ, "TMPDIR": str(tmp), "SQLITE_TMPDIR": str(tmp)},
        check=False,
    )
    assert done.returncode == -9, done


def test_a_killed_resolve_preview_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    archive = archive_with_nas(tmp_path / "a", 3)
    archive.close()
    # discovered, not resolved: the preview writes every record aside
    root = tmp_path / "a" / "archive"
    for path in (root / "photos").rglob("*.json"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('"resolved"', '"discovered"'), encoding="utf-8")
    subprocess.run(["git", "-C", str(root), "commit", "-qam", "back to discovered"], check=True)
    before = git_log(root)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _killed_preview(
        root,
        tmp,
        "import photosync.archive.preview as p\n"
        "put = p._Spill.put\n"
        "def put_then_die(self, record):\n"
        "    put(self, record)\n"
        "    die()\n"
        "p._Spill.put = put_then_die\n",
        "from photosync.workflow.resolve import preview\npreview(archive)",
    )
    assert sorted(os.listdir(tmp)) == []
    assert git_log(root) == before and git_clean(root)


def test_a_killed_replicate_preview_leaves_nothing_in_the_temp_folder(tmp_path: Path) -> None:
    archive = archive_with_nas(tmp_path / "a", 3)
    archive.close()
    root = tmp_path / "a" / "archive"
    (root / "photos" / "extra.txt").write_text("uncommitted: the records are read\n")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _killed_preview(
        root,
        tmp,
        "import photosync.workflow.blobreplicate as b\n"
        "plan_one = b._plan_one\n"
        "def plan_then_die(*args, **kwargs):\n"
        "    plan_one(*args, **kwargs)\n"
        "    die()\n"
        "b._plan_one = plan_then_die\n",
        "from photosync.workflow.blobreplicate import plan_blobs\nplan_blobs(archive)",
    )
    assert sorted(os.listdir(tmp)) == []
