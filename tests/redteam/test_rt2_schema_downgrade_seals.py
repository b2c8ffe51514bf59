"""Red-team: a pull can get a typed approval sealed.

Machine A runs this photosync (its archive has a key and sealed-aware schemas/). Another
clone B (no key; could be anyone who can push to the shared remote) commits a record
with a hand-typed approval to ``public`` plus a ``schemas/photo-metadata.schema.json``
with the ``"seal"`` property taken out (what an older photosync wrote). A pulls. A's
next writing run sees a committed schema without ``"seal"``, marks the archive as
"written before sealing" and seals every unsealed approval with A's key -- the typed
one too. README: "an approval typed into a record ... counts for nothing".
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import git_out, photosync_run

SRC = Path(__file__).resolve().parents[2] / "src"


def _photosync(cwd: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return photosync_run(cwd, *args, config=config)


def _drop_seal(schema_path: Path) -> None:
    schema = json.loads(schema_path.read_text())

    def walk(node: object) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                props.pop("seal", None)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    schema_path.write_text(json.dumps(schema, indent=2) + "\n")
    assert '"seal"' not in schema_path.read_text()


def test_pulled_schema_without_seal_does_not_seal_typed_approval(tmp_path: Path) -> None:
    from tests.helpers import make_library

    make_library(tmp_path / "lib", 2)
    cfg_a = tmp_path / "cfg-a"
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
    record["visibility"]["canonical"] = "public"
    record["visibility"]["approvals"].append(
        {"level": "public", "by": "mallory", "at": "2026-01-01T00:00:00Z", "reason": "typed"}
    )
    (b / rel).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    _drop_seal(b / "schemas" / "photo-metadata.schema.json")
    git_out(b, "-c", "user.name=m", "-c", "user.email=m@x", "commit", "-qam", "typed approval")

    git_out(a, "-c", "user.name=a", "-c", "user.email=a@x", "pull", "-q", "--no-rebase", str(b))
    done = _photosync(a, cfg_a, "discover")  # A's next writing run, A holds the key
    assert done.returncode in (0, 4), done.stderr

    approval = json.loads((a / rel).read_text())["visibility"]["approvals"][0]
    assert "seal" not in approval, (
        "a typed approval pulled with a seal-less schema was sealed with A's key: "
        + git_out(a, "log", "--format=%s", "-3")
    )
    audit = _photosync(a, cfg_a, "audit", "--visibility-check")
    assert audit.returncode == 6, audit.stdout
