"""Recovery commits a killed run's leftovers only as that run left them.

Each path in ``.photosync/pending-paths`` carries the state the run gave it (the git
blob id of the bytes it wrote, or ``-`` for a removal). After a kill, a listed file in
one of those states is the run's and is committed; a listed file in any other state
was changed by the user since and is left alone, however photosync-like it looks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.archive import (
    PENDING_FILE,
    REMOVED,
    Archive,
    left_by_run,
    parse_pending,
    state_mark,
)
from photosync.archive.git import blob_id
from photosync.archive.jsonio import canonical_bytes
from photosync.model import record_relpath
from tests.helpers import assert_check_clean, git_out
from tests.workflow.test_archive import _record


def _killed(tmp_path: Path) -> tuple[Path, dict, dict, bytes]:
    """An archive whose run wrote one committed record twice and a new one, then was
    killed (closed with nothing committed: the pending list stays, as a kill leaves it).
    Also returns the bytes of the first of the two writes."""
    archive = Archive.init(tmp_path / "a")
    archive.lock()
    old = _record("d")
    archive.write_record(old)
    archive.commit("test: one record")
    old["metadata"]["caption"] = "first write"
    archive.write_record(old)
    first = (archive.root / record_relpath(old)).read_bytes()
    old["metadata"]["caption"] = "second write"
    archive.write_record(old)
    new = _record("e", "2021-07-01T10:00:00")
    archive.write_record(new)
    archive.close()
    return archive.root, old, new, first


def _recover(root: Path) -> list[str]:
    archive = Archive(root)
    notes = archive.lock()
    archive.close()
    return notes


def _head(root: Path, rel: str) -> str:
    return git_out(root, "show", f"HEAD:{rel}")


def test_each_write_is_listed_with_the_blob_id_of_its_bytes(tmp_path: Path) -> None:
    root, old, new, _first = _killed(tmp_path)
    pending = parse_pending((root / PENDING_FILE).read_text())
    rel = record_relpath(old)
    on_disk = (root / rel).read_bytes()
    assert blob_id(on_disk) in pending[rel]
    assert len(pending[rel]) == 2  # both writes: a kill between them leaves the first
    assert pending[record_relpath(new)] == {blob_id((root / record_relpath(new)).read_bytes())}
    # git's own id for the file: a user can check a line with `git hash-object`
    assert git_out(root, "hash-object", rel).strip() == blob_id(on_disk)


def test_the_runs_own_states_are_committed(tmp_path: Path) -> None:
    root, old, new, _first = _killed(tmp_path)
    _recover(root)
    assert "second write" in _head(root, record_relpath(old))
    assert json.loads(_head(root, record_relpath(new)))["photo_id"] == new["photo_id"]
    assert not (root / PENDING_FILE).exists()
    assert_check_clean(root)


def test_a_kill_between_two_writes_commits_the_first(tmp_path: Path) -> None:
    root, old, _new, first = _killed(tmp_path)
    rel = record_relpath(old)
    (root / rel).write_bytes(first)  # killed before the second write replaced the file
    _recover(root)
    assert "first write" in _head(root, rel)
    assert_check_clean(root)


@pytest.mark.parametrize("how", ["canonical-edit", "other-json", "removed"])
def test_a_listed_file_changed_since_is_left_to_the_user(tmp_path: Path, how: str) -> None:
    """A new record edited in photosync's own form, or replaced; a rewritten committed
    record removed: none of them is committed, each is named; the rest is committed."""
    root, old, new, _first = _killed(tmp_path)
    mine, theirs = (old, new) if how == "removed" else (new, old)
    rel = record_relpath(mine)
    if how == "canonical-edit":
        record = json.loads((root / rel).read_text())
        record["metadata"]["caption"] = "MINE"
        (root / rel).write_bytes(canonical_bytes(record))
    elif how == "other-json":
        (root / rel).write_text('{"not": "a record"}\n')
    else:
        (root / rel).unlink()
    notes = _recover(root)
    assert any("left alone" in note and rel in note for note in notes), notes
    tracked = git_out(root, "ls-files", "photos").splitlines()
    assert (rel in tracked) == (how == "removed")  # neither the new file nor the removal
    assert record_relpath(theirs) in tracked  # the run's own: committed
    if how == "removed":
        assert "second write" not in _head(root, rel)  # nothing of it committed
    status = git_out(root, "status", "--porcelain", "--", rel).strip()
    assert status == (f"D {rel}" if how == "removed" else f"?? {rel}")
    archive = Archive(root)
    archive.lock()
    assert rel in archive.user_changed  # and named again on the next run
    archive.close()


def test_a_torn_listed_record_is_still_repaired(tmp_path: Path) -> None:
    """Not a state anyone saves: half a file is the run's, quarantined, HEAD restored."""
    root, old, _new, _first = _killed(tmp_path)
    rel = record_relpath(old)
    (root / rel).write_bytes((root / rel).read_bytes()[:40])
    notes = _recover(root)
    assert any("damaged" in note for note in notes), notes
    assert (root / rel).read_bytes() == _head(root, rel).encode()
    assert list((root / ".photosync" / "quarantine").iterdir())
    assert_check_clean(root)


def test_an_older_photosyncs_list_without_states_still_recovers(tmp_path: Path) -> None:
    """A pending list written by a photosync before states: any file in photosync's own
    form is the run's (as then), a hand-formatted one the user's."""
    root, old, new, _first = _killed(tmp_path)
    listed = parse_pending((root / PENDING_FILE).read_text())
    (root / PENDING_FILE).write_text("".join(f"{rel}\n" for rel in sorted(listed)))
    hand = json.loads((root / record_relpath(new)).read_text())
    (root / record_relpath(new)).write_text(json.dumps(hand, indent=4))
    _recover(root)
    assert "second write" in _head(root, record_relpath(old))
    assert record_relpath(new) not in git_out(root, "ls-files", "photos").splitlines()


def test_check_calls_a_changed_listed_file_a_hand_edit(tmp_path: Path) -> None:
    root, _old, new, _first = _killed(tmp_path)
    rel = record_relpath(new)
    record = json.loads((root / rel).read_text())
    record["metadata"]["caption"] = "MINE"
    (root / rel).write_bytes(canonical_bytes(record))
    out = subprocess.run(
        [sys.executable, "-m", "photosync", "--archive", str(root), "check", "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    found = {(p["kind"], p["detail"].split(":")[0]) for p in json.loads(out.stdout)["problems"]}
    assert ("uncommitted_edit", rel) in found, found
    assert any(kind == "uncommitted_leftover" for kind, _ in found)  # the run's own record


@settings(max_examples=60, deadline=None)
@given(
    written=st.lists(st.binary(max_size=64) | st.none(), min_size=1, max_size=4),
    now=st.binary(max_size=64) | st.none(),
)
def test_left_by_run_is_exactly_a_listed_state(
    tmp_path_factory: pytest.TempPathFactory, written: list[bytes | None], now: bytes | None
) -> None:
    """For any states a run listed and any state the file is in: the run's exactly when
    the file is in one of them (or is torn JSON, never an editor's save)."""
    root = tmp_path_factory.mktemp("root")
    rel = "config/x.bin"
    (root / "config").mkdir()
    if now is not None:
        (root / rel).write_bytes(now)
    pending = {rel: frozenset(state_mark(data) for data in written)}
    assert left_by_run(root, rel, pending) == (state_mark(now) in pending[rel])
    assert not left_by_run(root, "config/other", pending)
    assert state_mark(None) == REMOVED
