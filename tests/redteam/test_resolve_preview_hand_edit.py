"""Found by the red-team pass (round 6): the resolve preview did not leave alone a record
the user changed by hand and has not committed, as the real run does.

``resolve --auto-resolve simple --dry-run`` (and ``resolve --list``) run as readers:
no writer lock, so ``Archive.user_changed`` was empty and the preview examined and
settled the user's uncommitted record, while the real run leaves it alone (and says
so). The preview's counts were then not the real run's ("examined 3, would resolve 3"
against "examined 2, resolved 2, left alone: 1"). The preview now asks git which files
the user changed (as the lock's recovery would class them) before it runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.helpers import conflicting_library, run_cli


def test_the_dry_run_leaves_alone_what_the_real_run_leaves_alone(tmp_path: Path) -> None:
    root = Path(conflicting_library(tmp_path, 3))
    record = sorted((root / "photos").rglob("*.json"))[0]
    text = record.read_text(encoding="utf-8")
    record.write_text(text.replace('"processing_state": "discovered"', '"processing_state": "discovered" '), encoding="utf-8")  # fmt: skip
    edited = record.read_text(encoding="utf-8")
    twin = tmp_path / "twin"
    shutil.copytree(root, twin, symlinks=True)

    preview = run_cli(
        "--archive", str(root), "resolve", "--auto-resolve", "simple", "--dry-run", "--json"
    )
    assert preview.exit_code == 0, preview.output
    shown = json.loads(preview.output)
    real = run_cli("--archive", str(twin), "resolve", "--auto-resolve", "simple")
    assert real.exit_code == 0, real.output
    assert "left alone: 1" in real.output
    assert shown["left_alone"] == 1
    assert f"examined {shown['examined']}," in real.output, (shown, real.output)
    assert f"resolved {shown['would_resolve']} " in real.output, (shown, real.output)
    assert record.read_text(encoding="utf-8") == edited != text  # the preview wrote nothing
