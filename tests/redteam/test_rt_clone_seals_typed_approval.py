"""Red-team: privacy fails open on a second machine.

An archive made by this version on machine A (its key created there, no approval made
yet) is cloned to machine B, which has no key. A commit whose record carries a
hand-typed approval to ``public`` (``"by": "mallory"``, no seal) is made in B (it could
equally come in by a pull). B's first writing run (``discover``) creates a key and, as
no approval in the archive is sealed, seals every unsealed approval -- the typed one
too -- in a commit "visibility: approvals made before sealing were sealed". From then
on ``check`` and ``audit`` find nothing wrong and the photo counts as approved public,
though no approval was ever made through photosync (README: "an approval typed into a
record ... is a visibility_conflict ... until you approve it through photosync"; "A
second machine needs the key, or its photos wait at private").
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import git_out, photosync_run

SRC = Path(__file__).resolve().parents[2] / "src"


def _photosync(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return photosync_run(cwd, *args, config=config)


def test_clone_without_key_does_not_seal_a_typed_approval(tmp_path: Path) -> None:
    from tests.helpers import make_library

    make_library(tmp_path / "lib", 2)
    cfg_a, cfg_b = tmp_path / "cfg-a", tmp_path / "cfg-b"
    a, b = tmp_path / "A", tmp_path / "B"
    assert _photosync(tmp_path, cfg_a, "init", str(a)).returncode == 0
    assert (
        _photosync(
            a, cfg_a, "service", "add", "lib", "--type", "local", "--path", str(tmp_path / "lib")
        ).returncode
        == 0
    )
    assert _photosync(a, cfg_a, "discover").returncode == 0
    assert _photosync(a, cfg_a, "visibility", "key", "show").returncode == 0  # A has a key

    subprocess.run(["git", "clone", "-q", str(a), str(b)], check=True)
    rel = sorted(p.relative_to(b) for p in (b / "photos").rglob("*.json"))[0]
    record = json.loads((b / rel).read_text())
    assert record["visibility"]["approvals"] == []
    record["visibility"]["canonical"] = "public"
    record["visibility"]["approvals"].append(
        {"level": "public", "by": "mallory", "at": "2026-01-01T00:00:00Z", "reason": "typed"}
    )
    (b / rel).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git_out(b, "commit", "-qam", "hand: typed approval")

    done = _photosync(b, cfg_b, "discover")  # B's first writing run, B has no key
    assert done.returncode in (0, 4), done.stderr

    approval = json.loads((b / rel).read_text())["visibility"]["approvals"][0]
    assert "seal" not in approval, (
        "the hand-typed approval was sealed on a machine without the key: "
        + git_out(b, "log", "--format=%s", "-1")
    )
