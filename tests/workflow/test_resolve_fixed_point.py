"""A resolve with nothing to do reads no record (issue 17: no-op resolve on a lifetime
library), and only then: whatever a pass depends on that changed since (a committed
hand edit, a preference, an open question, an uncommitted edit, a photo whose original
is not here yet, ``--full``) makes the next one read every record again."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from photosync.archive.archive import Archive
from photosync.workflow.resolve import FIXED_POINT_META
from tests.helpers import (
    assert_check_clean,
    conflicting_library,
    make_library,
    run_cli,
)


def _library_archive(tmp_path: Path, count: int = 4) -> str:
    make_library(tmp_path / "lib", count)
    root = str(tmp_path / "archive")
    assert run_cli("init", root).exit_code == 0
    added = run_cli(
        "--archive",
        root,
        "service",
        "add",
        "lib",
        "--type",
        "local",
        "--path",
        str(tmp_path / "lib"),
    )
    assert added.exit_code == 0, added.output
    assert run_cli("--archive", root, "discover").exit_code == 0
    return root


def _resolve(root: str, *extra: str) -> str:
    result = run_cli("--archive", root, "resolve", "--auto-resolve", "simple", *extra)
    assert result.exit_code == 0, result.output
    return result.output


def _git(root: str, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    return done.stdout


def _head(root: str) -> str:
    return _git(root, "rev-parse", "HEAD").strip()


def _settled_archive(tmp_path: Path) -> str:
    """An archive resolved with nothing left to do: the next resolve reads nothing."""
    root = _library_archive(tmp_path)
    _resolve(root)
    assert "nothing changed" in _resolve(root)
    return root


def _send_back_by_hand(root: str) -> Path:
    """The user sends one photo back to be looked at, in an editor (not committed)."""
    path = sorted(Path(root, "photos").rglob("*.json"))[0]
    data = json.loads(path.read_bytes())
    data["processing_state"] = "discovered"
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def test_a_resolve_with_nothing_to_do_reads_no_record_and_writes_nothing(tmp_path: Path) -> None:
    root = _library_archive(tmp_path)
    first = _resolve(root)
    assert "examined 4, resolved 4" in first
    head = _head(root)
    again = _resolve(root)  # the pass above left nothing to decide: nothing is read again
    assert "nothing changed since the last resolve" in again
    assert "examined" not in again
    assert _head(root) == head
    assert "examined 0" in _resolve(root, "--full")  # and a full pass agrees
    assert _head(root) == head
    assert_check_clean(Path(root))


def test_a_committed_hand_edit_is_resolved_again(tmp_path: Path) -> None:
    root = _settled_archive(tmp_path)
    # the user sends one photo back to be looked at, by hand, and commits it
    path = _send_back_by_hand(root)
    _git(root, "commit", "-qam", "look at this one again")
    after = _resolve(root)
    assert "examined 1, resolved 1" in after
    assert json.loads(path.read_bytes())["processing_state"] == "resolved"
    assert_check_clean(Path(root))


def test_an_uncommitted_edit_or_full_reads_every_record(tmp_path: Path) -> None:
    root = _settled_archive(tmp_path)
    assert "examined 0" in _resolve(root, "--full")
    _send_back_by_hand(root)
    left = run_cli("--archive", root, "resolve", "--auto-resolve", "simple")
    assert left.exit_code == 0, left.output
    assert "nothing changed" not in left.output
    assert "left alone: 1" in left.output
    # and while it stays uncommitted, every run looks again (the user may commit any time)
    assert "nothing changed" not in _resolve(root)
    _git(root, "checkout", "--", ".")
    assert_check_clean(Path(root))


def test_a_changed_preference_is_applied_to_what_waits(tmp_path: Path) -> None:
    """Open questions never make a fixed point: each run applies the rules again, so a
    ``prefer`` set later settles them (here: a caption by the folder a)."""
    root = conflicting_library(tmp_path)
    first = _resolve(root)
    assert "need a decision" in first and "0 need a decision" not in first
    archive = Archive(Path(root))
    assert archive.state.get_meta(FIXED_POINT_META) is None
    archive.close()
    assert "nothing changed" not in _resolve(root)
    prefs_path = Path(root, "config", "user-preferences.json")
    prefs = json.loads(prefs_path.read_text(encoding="utf-8"))
    prefs["prefer"] = {"caption": ["a"], "taken_date": ["a"], "location": ["a"]}
    prefs_path.write_text(json.dumps(prefs, indent=2) + "\n", encoding="utf-8")
    _git(root, "commit", "-qam", "prefer folder a")
    settled = _resolve(root)
    assert "nothing changed" not in settled
    captions = {
        json.loads(p.read_bytes())["metadata"]["caption"]
        for p in Path(root, "photos").rglob("*.json")
    }
    assert captions == {"Beach 0", "Beach 1", "Beach 2"}
    assert_check_clean(Path(root))


def test_a_photo_waiting_for_its_original_keeps_resolve_looking(tmp_path: Path) -> None:
    """A photo with no fingerprint yet whose original is not in the archive's store (a
    clone without the blobs): when the original comes back, resolve must see it."""
    root = _library_archive(tmp_path, 2)
    _resolve(root)
    blobs = sorted(p for p in Path(root, "blobs").rglob("*") if p.is_file())
    assert blobs
    path = sorted(Path(root, "photos").rglob("*.json"))[0]
    data = json.loads(path.read_bytes())
    own = data["content_hash"].split(":", 1)[-1]
    blob = next(p for p in blobs if p.name.startswith(own))
    saved = blob.read_bytes()
    data["media"].pop("fingerprint", None)
    data["media"].pop("fingerprint_note", None)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    _git(root, "commit", "-qam", "forget a fingerprint")
    blob.chmod(0o644)
    blob.unlink()
    _resolve(root)
    assert "nothing changed" not in _resolve(root)  # still waiting: looked at again
    blob.write_bytes(saved)
    _resolve(root)
    assert json.loads(path.read_bytes())["media"].get("fingerprint")
    assert_check_clean(Path(root))


def test_list_and_dry_run_at_the_fixed_point_read_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``resolve --list`` and ``--dry-run`` on a settled archive say so without reading
    every record; an uncommitted edit makes them look again (and they then see it, left
    alone as the real run leaves it)."""
    root = _settled_archive(tmp_path)
    reads = [0]
    real = Archive._load_path

    def counted(archive: Archive, path: Path):  # type: ignore[no-untyped-def]
        reads[0] += 1
        return real(archive, path)

    monkeypatch.setattr(Archive, "_load_path", counted)
    listed = run_cli("--archive", root, "resolve", "--list", "--json")
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output)["pending"] == []
    dry = run_cli("--archive", root, "resolve", "--auto-resolve", "simple", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "nothing changed since the last resolve" in dry.output
    assert reads[0] == 0
    _send_back_by_hand(root)
    looked = run_cli(
        "--archive", root, "resolve", "--auto-resolve", "simple", "--dry-run", "--json"
    )
    assert looked.exit_code == 0, looked.output
    shown = json.loads(looked.output)
    # it sees the edit, and leaves it alone as the real run does (test above)
    assert not shown["unchanged"] and shown["would_resolve"] == 0
    assert shown["left_alone"] == 1
    assert reads[0] >= 4
    _git(root, "checkout", "--", ".")
    assert_check_clean(Path(root))


def test_list_shows_an_upload_refused_for_good_from_the_summary(tmp_path: Path) -> None:
    """The refusals ``resolve --list`` shows come from the summary cache when everything
    is committed: a refusal committed by hand (as replicate would write it) is listed."""
    root = _settled_archive(tmp_path)
    path = sorted(Path(root, "photos").rglob("*.json"))[0]
    data = json.loads(path.read_bytes())
    data["problems"].append(
        {
            "code": "refused_by_service",
            "message": "the service said no: unsupported format",
            "service": "flickr",
        }
    )
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    uncommitted = run_cli("--archive", root, "resolve", "--list", "--json")
    assert uncommitted.exit_code == 0, uncommitted.output
    refused = json.loads(uncommitted.output)["refused"]
    assert [r["photo_id"] for r in refused] == [data["photo_id"]]
    _git(root, "commit", "-qam", "a refusal")
    committed = run_cli("--archive", root, "resolve", "--list", "--json")
    assert json.loads(committed.output)["refused"] == refused
    assert_check_clean(Path(root))
