"""Red-team: the one-time sealing of approvals an older photosync made.

An archive an older photosync wrote (schemas/ know no ``"seal"``, approvals unsealed,
no key) is opened by this version for the first time. A record holding such an
approval that the user has an uncommitted edit in (a caption typed in their editor)
is skipped by the sealing run (``rel not in self.user_changed``), yet the marker
``.photosync/sealing`` is removed: once the user commits their edit, that approval --
made through photosync -- is unsealed for good and counts for nothing (the photo is
pushed back to private, a ``visibility_conflict``). The promise: the upgrade seals the
earlier approvals once and loses none.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import git_out, photosync_run

SRC = Path(__file__).resolve().parents[2] / "src"


def _photosync(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return photosync_run(cwd, *args, config=config)


def _strip(node: object) -> None:
    if isinstance(node, dict):
        props = node.get("properties")
        if isinstance(props, dict):
            props.pop("seal", None)
        node.pop("seal", None) if "level" in node and "by" in node else None
        for value in node.values():
            _strip(value)
    elif isinstance(node, list):
        for value in node:
            _strip(value)


def _old_archive(tmp_path: Path) -> tuple[Path, str]:
    """An archive as an older photosync left it: one approval to public, unsealed."""
    from tests.helpers import make_library

    make_library(tmp_path / "lib", 3)
    cfg_old = tmp_path / "cfg-old"
    root = tmp_path / "arch"
    assert _photosync(tmp_path, cfg_old, "init", str(root)).returncode == 0
    assert (
        _photosync(
            root,
            cfg_old,
            "service",
            "add",
            "lib",
            "--type",
            "local",
            "--path",
            str(tmp_path / "lib"),
        ).returncode
        == 0
    )
    assert _photosync(root, cfg_old, "discover").returncode == 0
    rel = sorted(str(p.relative_to(root)) for p in (root / "photos").rglob("*.json"))[0]
    photo_id = json.loads((root / rel).read_text())["photo_id"]
    done = _photosync(root, cfg_old, "visibility", "set", photo_id, "public", "--yes")
    assert done.returncode == 0, done.stderr
    for path in [
        root / "schemas" / "photo-metadata.schema.json",
        *(root / "photos").rglob("*.json"),
    ]:
        value = json.loads(path.read_text())
        _strip(value)
        path.write_text(json.dumps(value, indent=2, sort_keys=True) + "\n")
    # one commit of those files: an older photosync's archive never held a sealing schema
    git_out(root, "checkout", "-q", "--orphan", "older")
    git_out(root, "add", "-A")
    git_out(root, "commit", "-qm", "written by an older photosync")
    git_out(root, "branch", "-q", "-D", "main")
    git_out(root, "branch", "-q", "-m", "main")
    assert '"seal"' not in (root / rel).read_text()
    return root, rel


def test_upgrade_without_edits_seals_the_earlier_approval(tmp_path: Path) -> None:
    root, rel = _old_archive(tmp_path)
    cfg = tmp_path / "cfg-new"  # no key: the upgraded run creates it
    done = _photosync(root, cfg, "discover")
    assert done.returncode == 0, done.stderr
    approval = json.loads((root / rel).read_text())["visibility"]["approvals"][0]
    assert "seal" in approval
    assert _photosync(root, cfg, "check").returncode == 0
    assert git_out(root, "status", "--porcelain") == ""


def test_upgrade_keeps_approval_of_a_record_being_edited(tmp_path: Path) -> None:
    root, rel = _old_archive(tmp_path)
    cfg = tmp_path / "cfg-new"
    record = json.loads((root / rel).read_text())
    record["metadata"]["caption"] = "my caption"
    (root / rel).write_text(json.dumps(record, indent=4) + "\n")  # uncommitted hand edit

    done = _photosync(root, cfg, "discover")  # the first run of this version
    assert done.returncode in (0, 4), done.stderr
    git_out(root, "commit", "-qam", "my caption")  # the user commits their edit
    _photosync(root, cfg, "discover")  # the next run

    approval = json.loads((root / rel).read_text())["visibility"]["approvals"][0]
    assert "seal" in approval, (
        "an approval made by the older photosync was never sealed (the record was being "
        "edited during the one-time sealing); it now counts for nothing"
    )
