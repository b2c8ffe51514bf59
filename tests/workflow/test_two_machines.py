"""One archive on two machines: two clones of a bare remote, real git, real folders."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from photosync.archive.archive import Archive
from photosync.emulators.samples import write_jpeg
from photosync.workflow.resolve import decide_in_archive
from tests.helpers import assert_check_clean, make_library, records, run_cli

pytestmark = pytest.mark.timeout(600) if hasattr(pytest.mark, "timeout") else []


def git(root: Path, *args: str, check: bool = True) -> str:
    out = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=False
    )
    if check:
        assert out.returncode == 0, out.stderr
    return out.stdout


def ps(root: Path, *args: str, code: int = 0) -> str:
    result = run_cli("--archive", str(root), *args)
    assert result.exit_code == code, result.output
    return result.output


def clone(remote: Path, dest: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(remote), str(dest)], check=True)
    return dest


def add_folder(root: Path, name: str, folder: Path) -> None:
    ps(root, "service", "add", name, "--type", "local", "--path", str(folder))


def edit_record(root: Path, photo_id: str, **metadata: Any) -> None:
    """A hand edit of a record, committed, as a user may do."""
    path = next((root / "photos").rglob(f"{photo_id}.json"))
    record = json.loads(path.read_text())
    record["metadata"].update(metadata)
    path.write_text(json.dumps(record, indent=2, sort_keys=True) + "\n")
    git(root, "commit", "-qam", f"caption of {photo_id}")


def decide(root: Path, photo_id: str, conflict_id: str, choice: str) -> None:
    archive = Archive(root)
    try:
        archive.lock()
        decide_in_archive(archive, photo_id, conflict_id, choice=choice, by="test")
        archive.commit(f"resolve: {conflict_id}")
    finally:
        archive.close()


def by_id(root: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for record in records(root):
        assert record["photo_id"] not in out, f"photo_id {record['photo_id']} twice"
        out[record["photo_id"]] = record
    return out


def tracked_bytes(root: Path) -> dict[str, bytes]:
    files = git(root, "ls-files", "-z").split("\0")
    return {f: (root / f).read_bytes() for f in files if f}


def no_conflict_markers(root: Path) -> None:
    for path in [*(root / "photos").rglob("*.json"), *(root / "config").glob("*.json")]:
        text = path.read_text()
        assert "<<<<<<<" not in text and ">>>>>>>" not in text, path
        json.loads(text)


def share_originals(root: Path, shared: Path) -> None:
    """Originals go to a folder both machines reach (a NAS, a synced drive)."""
    prefs = json.loads((root / "config" / "user-preferences.json").read_text())
    prefs["blob_storage"]["primary"] = "shared"
    prefs["blob_storage"].pop("local_path", None)
    prefs["blob_storage"]["locations"] = [{"name": "shared", "type": "local", "path": str(shared)}]
    (root / "config" / "user-preferences.json").write_text(json.dumps(prefs, indent=2) + "\n")
    git(root, "commit", "-qam", "shared originals location")


@pytest.fixture
def two_clones(tmp_path: Path) -> tuple[Path, Path, Path]:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    shared = tmp_path / "shared-originals"
    shared.mkdir()
    one = tmp_path / "one"
    Archive.init(one)
    share_originals(one, shared)
    git(one, "remote", "add", "origin", str(remote))
    ps(one, "sync")
    two = clone(remote, tmp_path / "two")
    return remote, one, two


def test_two_machines_sync_both_ways_and_lose_nothing(
    tmp_path: Path, two_clones: tuple[Path, Path, Path]
) -> None:
    remote, one, two = two_clones
    folder_one, folder_two = tmp_path / "pics-one", tmp_path / "pics-two"
    make_library(folder_one, 3, start_seed=0)
    make_library(folder_two, 2, start_seed=10)
    # the same photo, undated, on both machines with different file times: different paths
    for folder, mtime in ((folder_one, 1_577_000_000), (folder_two, 1_620_000_000)):
        common = write_jpeg(folder / "common.jpg", seed=77, size=(96, 64), taken=None)
        os.utime(common, (mtime, mtime))

    add_folder(one, "pics-one", folder_one)
    ps(one, "discover")
    ps(one, "sync")

    add_folder(two, "pics-two", folder_two)
    ps(two, "discover")  # the first run in this clone registers the merge driver too
    assert "merge=photosync" in (two / ".gitattributes").read_text()
    assert "merge-driver" in git(two, "config", "--get", "merge.photosync.driver")
    ps(two, "sync")
    ps(one, "sync")

    ids_one = by_id(one)
    assert ids_one.keys() == by_id(two).keys()
    assert len(ids_one) == 3 + 2 + 1  # the common photo is one record
    common_id = next(pid for pid, r in ids_one.items() if len(r["instances"]) == 2)
    assert set(ids_one[common_id]["instances"]) == {"pics-one", "pics-two"}

    # both machines resolve (the common photo's estimated dates disagree)
    ps(one, "resolve")
    ps(two, "resolve")

    # a caption edited on each side (different photos), and one photo on both sides
    others = sorted(pid for pid in ids_one if pid != common_id)
    edit_record(one, others[0], caption="sea")
    edit_record(two, others[1], caption="hill")
    edit_record(one, others[2], caption="lake, said one")
    edit_record(two, others[2], caption="lake, said two")
    # a widening approved on one machine only
    ps(one, "visibility", "set", others[3], "public", "--yes")
    for root in (one, two, one):
        ps(root, "sync")
    question_id = "merge:caption"
    for root in (one, two):
        question = next(c for c in by_id(root)[others[2]]["conflicts"] if c["id"] == question_id)
        assert question["status"] == "open"
        assert {o["value"] for o in question["options"]} == {"lake, said one", "lake, said two"}
        ps(root, "resolve")  # a resolve run keeps the question the merge raised

    # the same question decided differently on each machine
    decide(one, others[2], question_id, "clone-1")
    decide(two, others[2], question_id, "clone-2")
    for root in (one, two, one):
        ps(root, "sync")

    for root in (one, two):
        no_conflict_markers(root)
        assert_check_clean(root)
    final = by_id(one)
    assert final == by_id(two)
    # every photo in exactly one record: no content hash held by two records
    holders: dict[str, str] = {}
    for pid, record in final.items():
        hashes = {record["content_hash"]} | {
            i["content_hash"] for copies in record["instances"].values() for i in copies
            if i.get("content_hash")
        }  # fmt: skip
        for digest in hashes:
            assert holders.setdefault(digest, pid) == pid, f"{digest} in two records"
    assert len(holders) == 3 + 2 + 1
    assert final.keys() == ids_one.keys()
    assert final[others[0]]["metadata"]["caption"] == "sea"
    assert final[others[1]]["metadata"]["caption"] == "hill"
    reopened = next(c for c in final[others[2]]["conflicts"] if c["id"] == question_id)
    assert reopened["status"] == "open" and reopened["resolution"] is None
    assert sorted(d["choice"] for d in reopened["decisions"]) == ["clone-1", "clone-2"]
    assert final[others[2]]["processing_state"] == "discovered"
    approvals = final[others[3]]["visibility"]["approvals"]
    assert [a["level"] for a in approvals] == ["public"]
    assert final[others[3]]["visibility"]["canonical"] == "public"
    for pid, record in final.items():
        if pid != others[3]:
            assert not record["visibility"]["approvals"], pid

    # a third clone made afterwards agrees byte for byte with both
    three = clone(remote, tmp_path / "three")
    assert tracked_bytes(three) == tracked_bytes(one) == tracked_bytes(two)


def test_sync_refuses_uncommitted_user_changes_and_changes_nothing(
    two_clones: tuple[Path, Path, Path],
) -> None:
    _remote, one, _two = two_clones
    prefs = one / "config" / "user-preferences.json"
    prefs.write_text(
        prefs.read_text().replace('"max_parallel_uploads": 4', '"max_parallel_uploads": 3')
    )
    head = git(one, "rev-parse", "HEAD")
    out = ps(one, "sync", code=3)
    assert "uncommitted changes" in out
    assert git(one, "rev-parse", "HEAD") == head
    git(one, "checkout", "--", "config/user-preferences.json")
    assert_check_clean(one)


def test_sync_names_a_record_of_a_newer_photosync_and_says_to_update(
    tmp_path: Path, two_clones: tuple[Path, Path, Path]
) -> None:
    """A newer schema_version gives a clear error: a record both machines changed, one of
    them with a newer photosync (``schema_version`` 2), is refused by sync (exit 3,
    nothing changed) with "update photosync", not with advice to merge it by hand."""
    _remote, one, two = two_clones
    make_library(tmp_path / "pics", 1)
    add_folder(one, "pics", tmp_path / "pics")
    ps(one, "discover")
    ps(one, "sync")
    git(two, "pull", "-q", "--no-rebase", "--no-edit")
    [photo_id] = by_id(two)
    path = next((one / "photos").rglob(f"{photo_id}.json"))
    newer = json.loads(path.read_text())
    newer["schema_version"] = 2
    newer["metadata"]["caption"] = "by a newer photosync"
    path.write_text(json.dumps(newer, indent=2) + "\n")
    git(one, "commit", "-qam", "a newer photosync wrote it")
    git(one, "push", "-q", "origin", "HEAD:main")
    edit_record(two, photo_id, caption="here")
    head = git(two, "rev-parse", "HEAD")
    out = " ".join(ps(two, "sync", code=3).split()).lower()
    assert "newer photosync" in out and "update photosync" in out, out
    assert git(two, "rev-parse", "HEAD") == head
    no_conflict_markers(two)


def test_a_plain_git_pull_merges_sync_state_without_markers(
    tmp_path: Path, two_clones: tuple[Path, Path, Path]
) -> None:
    _remote, one, two = two_clones
    for root, seed in ((one, 0), (two, 20)):
        folder = tmp_path / f"pics-{root.name}"
        make_library(folder, 2, start_seed=seed)
        ps(root, "service", "add", f"pics-{root.name}", "--type", "local", "--path", str(folder))
        ps(root, "discover")
    ps(one, "sync")
    git(two, "pull", "-q", "--no-rebase", "--no-edit")
    no_conflict_markers(two)
    state = json.loads((two / "config" / "sync-state.json").read_text())
    assert {"pics-one", "pics-two"} <= set(state["services"])
    ps(two, "status")
    assert len(by_id(two)) == 4
    assert_check_clean(two)


def _diverged(tmp_path: Path) -> Path:
    """Two clones with work of their own, the same undated photo at different paths on each:
    clone two has not merged clone one's work yet. Returns the folder holding it all."""
    world = tmp_path / "world"
    world.mkdir()
    remote = world / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = world / "one"
    Archive.init(one)
    (world / "shared").mkdir()
    share_originals(one, world / "shared")
    git(one, "remote", "add", "origin", str(remote))
    ps(one, "sync")
    two = clone(remote, world / "two")
    for root, seed, mtime in ((one, 0, 1_577_000_000), (two, 10, 1_620_000_000)):
        folder = world / f"pics-{root.name}"
        make_library(folder, 2, start_seed=seed)
        common = write_jpeg(folder / "common.jpg", seed=77, size=(96, 64), taken=None)
        os.utime(common, (mtime, mtime))
        add_folder(root, f"pics-{root.name}", folder)
        ps(root, "discover")
    ps(one, "sync")
    return world


def _copy_world(world: Path, dest: Path) -> Path:
    """The same two machines, elsewhere (the originals stay in the first world's shared folder)."""
    subprocess.run(["cp", "-a", str(world), str(dest)], check=True)
    git(dest / "two", "remote", "set-url", "origin", str(dest / "remote.git"))
    return dest / "two"


KILL_AT_GIT_CALL = """
from photosync.archive.git import Git
from photosync.workflow.sync import sync
calls = [0]
real_run = Git.run
def run(self, *args, **kwargs):
    calls[0] += 1
    if calls[0] == {n}:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_run(self, *args, **kwargs)
Git.run = run
sync(archive)
"""

KILL_IN_MERGE = """
archive.git.run("fetch", "-q", "origin")
archive.begin_own_merge(archive.git.run("rev-parse", "origin/main").strip())
archive.git.run("merge", "--no-commit", "--no-ff", "origin/main", check=False)
assert (archive.git.git_dir / "MERGE_HEAD").exists()
"""

# git killed (or dead of its closed output pipe once photosync was) after it wrote the merged
# files and before it wrote the index or MERGE_HEAD: the next run found 5 files "changed
# outside photosync" and every sync after it refused (exit 3)
KILL_AFTER_GIT_WROTE_THE_FILES = (
    KILL_IN_MERGE
    + """
for name in ("MERGE_HEAD", "MERGE_MSG", "MERGE_MODE"):
    (archive.git.git_dir / name).unlink(missing_ok=True)
archive.git.run("reset", "-q")
assert archive.git.run("status", "--porcelain", "--untracked-files=all").count("photos/") >= 3
"""
)

KILL_BEFORE_DUPLICATE_GOES = """
from photosync.workflow.sync import sync
real_unlink = Path.unlink
def unlink(self, missing_ok=False):
    if self.suffix == ".json" and "photos" in self.parts:
        os.kill(os.getpid(), signal.SIGKILL)
    return real_unlink(self, missing_ok=missing_ok)
Path.unlink = unlink
sync(archive)
"""


def test_sync_killed_at_any_point_then_run_again_ends_as_if_never_killed(tmp_path: Path) -> None:
    from tests.helpers import killed_after

    world = _diverged(tmp_path)
    reference = _copy_world(world, tmp_path / "reference")
    ps(reference, "sync")
    wanted = {k: v for k, v in tracked_bytes(reference).items() if not k.startswith("schemas/")}
    assert sum(1 for k in wanted if k.startswith("photos/") and k.endswith(".json")) == 5
    cases = [KILL_IN_MERGE, KILL_AFTER_GIT_WROTE_THE_FILES, KILL_BEFORE_DUPLICATE_GOES] + [
        KILL_AT_GIT_CALL.replace("{n}", str(n)) for n in (1, 3, 5, 8, 12, 16, 20, 25)
    ]
    for number, code in enumerate(cases):
        two = _copy_world(world, tmp_path / f"case{number}")
        killed_after(two, code)
        ps(two, "sync")
        got = {k: v for k, v in tracked_bytes(two).items() if not k.startswith("schemas/")}
        assert got == wanted, f"case {number}"
        no_conflict_markers(two)
        assert_check_clean(two)


def _gone(group: int, deadline_s: float = 60.0) -> None:
    """Wait until no process of ``group`` is left (git, and the merge drivers it runs,
    go on after photosync itself was killed); the deadline only bounds a hang."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"processes of group {group} still run after {deadline_s} s")


def _sync_killed_after(root: Path, delay_s: float, *, whole_group: bool) -> bool:
    """``photosync sync`` in its own process group, sent SIGKILL after ``delay_s``: to
    photosync alone (git and its merge driver finish what they were doing) or to all of
    them (a closed terminal, a power cut of the session). True when it was killed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "photosync", "--archive", str(root), "-q", "sync"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        proc.wait(timeout=delay_s)
        killed = False
    except subprocess.TimeoutExpired:
        if whole_group:
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
        killed = proc.wait() == -signal.SIGKILL
    _gone(proc.pid)
    return killed


def test_sync_killed_at_random_moments_then_run_again_ends_as_an_unkilled_sync(
    tmp_path: Path,
) -> None:
    """SIGKILL at a seeded random moment of a real `photosync sync` (fetch, the merge and
    its driver, one record per photo, originals, check, push): the re-run ends with the
    same files, byte for byte, as a sync nobody killed, on this clone and, once the other
    machine syncs, on that one; `check` clean on both. ``PHOTOSYNC_CHAOS_TRIALS`` sets how
    many moments (default 4), ``PHOTOSYNC_CHAOS_SEED`` picks others."""
    world = _diverged(tmp_path)

    def copy(dest: Path) -> Path:
        two = _copy_world(world, dest)
        git(dest / "one", "remote", "set-url", "origin", str(dest / "remote.git"))
        return two

    reference = copy(tmp_path / "reference")
    started = time.monotonic()
    assert not _sync_killed_after(reference, 600.0, whole_group=False)
    assert git(reference, "status", "--porcelain") == ""
    took = time.monotonic() - started
    ps(reference.parent / "one", "sync")

    def tree(root: Path) -> dict[str, bytes]:
        return {k: v for k, v in tracked_bytes(root).items() if not k.startswith("schemas/")}

    wanted = tree(reference)
    assert tree(reference.parent / "one") == wanted
    seed = int(os.environ.get("PHOTOSYNC_CHAOS_SEED", "1515"))
    rng = random.Random(seed)
    killed = 0
    for trial in range(max(1, int(os.environ.get("PHOTOSYNC_CHAOS_TRIALS", "4")))):
        two = copy(tmp_path / f"trial{trial}")
        delay = rng.uniform(0.0, took)
        whole_group = rng.random() < 0.5
        killed += _sync_killed_after(two, delay, whole_group=whole_group)
        where = f"seed {seed}, trial {trial}: killed after {delay:.3f} s of {took:.3f} s" + (
            " with git" if whole_group else " (git went on)"
        )
        result = run_cli("--archive", str(two), "sync")
        assert result.exit_code == 0, f"{where}: {result.output}"
        assert tree(two) == wanted, where
        no_conflict_markers(two)
        ps(two.parent / "one", "sync")
        assert tree(two.parent / "one") == wanted, where
        for root in (two, two.parent / "one"):
            assert not list(root.glob(".merge_file_??????")), where
            assert_check_clean(root)
    assert killed, f"seed {seed}: no trial was killed before its sync ended"


# what git killed while it runs the merge driver leaves: its temp copies of the three sides
KILL_IN_MERGE_DRIVER = (
    KILL_IN_MERGE
    + """
record = next(archive.root.glob("photos/*/*/*.json"))
for name in (".merge_file_a1B2c3", ".merge_file_Zz9Yx8", ".merge_file_000000"):
    (archive.root / name).write_bytes(record.read_bytes())
"""
)


def test_a_sync_killed_in_the_merge_driver_leaves_no_git_temp_files(tmp_path: Path) -> None:
    from tests.helpers import killed_after

    world = _diverged(tmp_path)
    two = _copy_world(world, tmp_path / "killed")
    killed_after(two, KILL_IN_MERGE_DRIVER)
    (two / ".merge_file_notes").write_text("the user's own file\n")  # not git's template
    report = json.loads(ps(two, "check", "--json", code=6))
    assert report["problem_kinds"].get("merge_temp_leftover") == 3, report
    ps(two, "sync")
    assert not list(two.glob(".merge_file_??????")), "git's temp files are still there"
    assert (two / ".merge_file_notes").read_text() == "the user's own file\n"
    (two / ".merge_file_notes").unlink()
    assert git(two, "status", "--porcelain") == ""
    no_conflict_markers(two)
    assert_check_clean(two)


def test_a_folder_located_on_one_machine_stays_on_that_machine(
    tmp_path: Path, two_clones: tuple[Path, Path, Path]
) -> None:
    _remote, one, two = two_clones
    folder_one, folder_two = tmp_path / "pics-one", tmp_path / "copy-on-two"
    make_library(folder_one, 2, start_seed=0)
    make_library(folder_two, 3, start_seed=30)
    add_folder(one, "pics", folder_one)
    ps(one, "discover")
    ps(one, "sync")
    ps(two, "sync")
    ps(two, "service", "locate", "pics", str(folder_two))
    ps(two, "discover", "--service", "pics")
    services = json.loads((two / "config" / "services.json").read_text())
    assert services["services"]["pics"]["path"] == str(folder_one.resolve())
    assert git(two, "status", "--porcelain") == ""
    ids = {inst["id"] for record in records(two) for inst in record["instances"].get("pics", [])}
    assert len(records(two)) == 5 and len(ids) == 5  # its own folder's three, one's two
    ps(two, "sync")
    ps(one, "sync")
    ps(one, "discover")  # machine one still reads its own folder: nothing new, nothing lost
    assert len(records(one)) == 5
    for root in (one, two):
        assert_check_clean(root)
    ps(two, "service", "locate", "nope", str(folder_two), code=3)


def test_originals_the_other_machine_put_on_s3_are_fetched_by_sync(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = tmp_path / "one"
    Archive.init(one)
    git(one, "remote", "add", "origin", str(remote))
    ps(one, "storage", "add", "cloud", "--type", "s3", "--bucket", s3_bucket,
       "--prefix", "p/", "--endpoint", s3_endpoint, "--region", "us-east-1",
       "--addressing-style", "path")  # fmt: skip
    make_library(tmp_path / "pics", 3)
    add_folder(one, "pics", tmp_path / "pics")
    ps(one, "discover")
    ps(one, "resolve", "--auto-resolve", "simple")
    ps(one, "replicate", "--execute")
    ps(one, "sync")
    two = clone(remote, tmp_path / "two")
    out = ps(two, "sync")
    assert "originals fetched from other locations: 3" in out
    fetched = sorted(p.name for p in (two / "blobs").rglob("*") if p.is_file())
    held = sorted(p.name for p in (one / "blobs").rglob("*") if p.is_file())
    assert fetched == held and len(fetched) == 3
    assert tracked_bytes(two) == tracked_bytes(one)
    for root in (one, two):
        assert_check_clean(root)


def test_originals_only_on_the_other_machine_are_not_here_yet_not_lost(tmp_path: Path) -> None:
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = tmp_path / "one"
    Archive.init(one)
    git(one, "remote", "add", "origin", str(remote))
    make_library(tmp_path / "pics", 3)
    add_folder(one, "pics", tmp_path / "pics")
    ps(one, "discover")
    ps(one, "sync")
    two = clone(remote, tmp_path / "two")
    out = ps(two, "sync")  # exit 0: nothing is lost, three originals are elsewhere
    assert "originals not here yet (on another machine only): 3" in out
    report = assert_check_clean(two)
    assert report["counts"]["originals_not_here"] == 3
    assert json.loads(ps(two, "status", "--json"))["originals_not_here"] == 3
    said = " ".join(ps(two, "status").split())
    assert "originals not here yet: 3" in said and "`photosync restore`" in said
    assert json.loads(ps(one, "status", "--json"))["originals_not_here"] == 0
    assert_check_clean(one)
    # without sync's marker check works it out itself: this clone never had them
    (two / ".photosync" / "originals-elsewhere.json").unlink()
    report = assert_check_clean(two)
    assert report["counts"]["originals_not_here"] == 3


def test_after_a_plain_git_pull_the_other_machines_originals_are_not_here_yet(
    tmp_path: Path,
) -> None:
    """README "Two machines": after a plain `git pull` (no `photosync sync`), check
    said blob_missing ("discover --full-scan") for an original only the other machine
    has; on the machine that discovered it a truly lost blob is still blob_missing."""
    remote = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    one = tmp_path / "one"
    Archive.init(one)
    git(one, "remote", "add", "origin", str(remote))
    ps(one, "sync")
    two = clone(remote, tmp_path / "two")
    ps(two, "sync")
    make_library(tmp_path / "pics-two", 2, start_seed=40)
    add_folder(two, "pics-two", tmp_path / "pics-two")
    ps(two, "discover")
    ps(two, "sync")
    make_library(tmp_path / "pics-one", 2, start_seed=0)
    add_folder(one, "pics-one", tmp_path / "pics-one")
    ps(one, "discover")
    git(one, "pull", "-q", "--no-rebase", "--no-edit", "origin", "main")
    no_conflict_markers(one)
    assert len(by_id(one)) == 4
    elsewhere = one / ".photosync" / "originals-elsewhere.json"
    assert "sha256" not in (elsewhere.read_text() if elsewhere.exists() else "")  # no sync since
    report = assert_check_clean(one)
    assert report["counts"]["originals_not_here"] == 2
    assert any("photosync restore" in note for note in report["notes"])
    assert json.loads(ps(one, "status", "--json"))["originals_not_here"] == 2
    # the machine that discovered them loses one: that is lost, not "not here yet"
    lost = next(p for p in (two / "blobs").rglob("*") if p.is_file())
    lost.chmod(0o644)
    lost.unlink()
    result = run_cli("--archive", str(two), "check", "--json")
    assert result.exit_code == 6, result.output
    kinds = {p["kind"] for p in json.loads(result.stdout)["problems"]}
    assert kinds == {"blob_missing"}
    assert json.loads(ps(two, "status", "--json"))["originals_not_here"] == 0  # lost, not elsewhere
    ps(two, "discover", "--full-scan")  # the fix it names: read it again from the folder
    assert_check_clean(two)


def test_a_merge_sync_cannot_do_safely_leaves_the_archive_as_it_was(
    two_clones: tuple[Path, Path, Path],
) -> None:
    _remote, one, two = two_clones
    for root, value in ((one, 3), (two, 2)):
        prefs = root / "config" / "user-preferences.json"
        data = json.loads(prefs.read_text())
        data["sync_preferences"]["max_parallel_uploads"] = value
        prefs.write_text(json.dumps(data, indent=2) + "\n")
        git(root, "commit", "-qam", f"uploads: {value}")
    ps(one, "sync")
    head = git(two, "rev-parse", "HEAD")
    before = tracked_bytes(two)
    out = ps(two, "sync", code=3)
    assert "config/user-preferences.json" in out
    assert git(two, "rev-parse", "HEAD") == head
    assert not (two / ".git" / "MERGE_HEAD").exists()
    assert tracked_bytes(two) == before
    no_conflict_markers(two)
    assert_check_clean(two)


def test_a_folder_not_on_this_machine_is_skipped_with_the_command_that_locates_it(
    tmp_path: Path, two_clones: tuple[Path, Path, Path]
) -> None:
    """A folder service of machine one, on machine two where that folder does not exist:
    discover stopped with "does not exist" (exit 3, machine two's own folders not read)
    and replicate wrote nowhere it said; now both skip it, say so, name `service locate`
    and exit 4, and `service list` says where (or that it is not) on this machine."""
    _remote, one, two = two_clones
    drive = tmp_path / "drive-one"  # machine one's folders: photos, and a copy it writes
    make_library(drive / "pics", 2, start_seed=0)
    add_folder(one, "pics", drive / "pics")
    ps(one, "service", "add", "out", "--type", "local", "--path", str(drive / "out"),
       "--target", "--no-source")  # fmt: skip
    ps(one, "discover")
    ps(one, "sync")
    ps(two, "sync")
    # machine two: neither of machine one's folders exists here
    drive.rename(tmp_path / "drive-one-away")
    make_library(tmp_path / "pics-two", 3, start_seed=30)
    add_folder(two, "mine", tmp_path / "pics-two")

    out = ps(two, "discover", code=4)  # machine two's own folder is read all the same
    said = " ".join(out.split())
    assert "photosync service locate pics PATH" in said and "skipped" in said
    assert "out:" not in said  # a target only: discover does not read it
    assert len(records(two)) == 5
    found = json.loads(ps(two, "discover", "--json", code=4))
    assert list(found["not_here"]) == ["pics"] and [s["service"] for s in found["services"]] == [
        "mine"
    ]
    listed = json.loads(ps(two, "service", "list", "--json"))
    assert listed["pics"]["on_this_machine"] is None
    assert listed["mine"]["on_this_machine"] == str((tmp_path / "pics-two").resolve())
    assert "not on this machine" in " ".join(ps(two, "service", "list").split())

    ps(two, "resolve", "--auto-resolve", "simple")
    out = ps(two, "replicate", "--execute", code=4)
    assert "photosync service locate out PATH" in " ".join(out.split())
    assert not drive.exists()
    (tmp_path / "out-two").mkdir()
    ps(two, "service", "locate", "out", str(tmp_path / "out-two"))
    done = json.loads(ps(two, "replicate", "--execute", "--json"))
    assert done["done"].get("out:upload") == 5 and list(done["not_here"]) == []
    assert len(list((tmp_path / "out-two").rglob("*.jpg"))) == 5
    ps(two, "service", "locate", "pics", str(tmp_path / "drive-one-away" / "pics"))
    ps(two, "discover")
    # machine one read that folder before: there a vanished folder is a missing drive
    out = ps(one, "discover", code=3)
    assert "does not exist" in out
    ps(two, "sync")
    ps(one, "sync")
    for root in (one, two):
        no_conflict_markers(root)
        assert_check_clean(root)
