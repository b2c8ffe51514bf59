"""The README's "Using it" flow, exactly as written, on a fresh archive of real photos."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.helpers import assert_check_clean, git_clean, git_log, records
from tests.journeys.conftest import Shell, readme_block_with


def _files(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_using_it_as_the_readme_says_first_time(
    shell: Shell, real_photos: Path, tmp_path: Path
) -> None:
    nas = tmp_path / "nas"
    block = readme_block_with("photosync init")
    assert block[0] == "photosync init ~/photo-archive && cd ~/photo-archive"
    script = [
        line.replace("/media/phone-dump", str(real_photos)).replace("/mnt/nas/photos", str(nas))
        for line in block
    ]
    archive = shell.home / "photo-archive"
    # up to the replicate preview, as written
    dry_run_at = next(
        i
        for i, line in enumerate(script)
        if line.startswith("photosync replicate") and "--execute" not in line
    )
    shell.run_script(script[:dry_run_at])
    assert shell.cwd == archive
    # every file of the phone dump is a copy of some record (joined variants keep theirs)
    media = {
        str(p.relative_to(real_photos))
        for p in real_photos.rglob("*")
        if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".heic", ".mp4", ".mov")
    }
    recorded = records(archive)
    copies = {i["id"] for r in recorded for i in r["instances"].get("phone", [])}
    assert copies == media
    assert all(r["visibility"]["canonical"] == "private" for r in recorded)

    # the dry run changes nothing: not the archive's history, not the target folder
    head = git_log(archive)
    before = _files(nas)
    shell.run_script([script[dry_run_at]])
    assert "dry run: nothing was changed" in shell.transcript[-1]
    assert git_log(archive) == head and _files(nas) == before and git_clean(archive)

    shell.run_script(script[dry_run_at + 1 :])
    # every resolved photo is in the backup folder, bit-exact
    copied = _files(nas)
    replicated = [r for r in records(archive) if r["processing_state"] == "replicated"]
    assert replicated and len(copied) >= len(replicated)
    source_bytes = set(_files(real_photos).values())
    assert set(copied.values()) <= source_bytes
    log = git_log(archive)
    assert log[-1].startswith("init") and any(m.startswith("replicate: ") for m in log)
    assert any(m.startswith("discover: ") for m in log)
    status = json.loads(shell.run("photosync status --json").stdout)
    assert status["photos"] == len(records(archive))
    assert status["last_run"]["problems"] == 0
    assert (
        subprocess.run(
            ["git", "-C", str(archive), "status", "--porcelain"], capture_output=True, text=True
        ).stdout
        == ""
    )
    assert_check_clean(archive)
