"""Issue 14 part 2: the archive itself in every location, ``recover``, and its drills.

The CLI runs as a subprocess against a real S3 endpoint (moto server), through a
proxy that can hold one chosen request open: the test waits until photosync is
stuck exactly there, then kills it with SIGKILL. No sleeps decide anything.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.chaos.harness import run, run_and_kill
from tests.chaos.s3proxy import S3Proxy
from tests.helpers import assert_check_clean, make_library, run_cli
from tests.workflow.test_restore import PREFIX, _local_blobs, _replicated

Match = Callable[[str, str], bool]


class Gate:
    """Holds the ``nth`` request that matches open until released (then drops it)."""

    def __init__(self, match: Match, nth: int = 1) -> None:
        self.match = match
        self.nth = nth
        self.seen = 0
        self.hit = threading.Event()
        self.release = threading.Event()

    def __call__(self, method: str, path: str, _query: dict[str, list[str]]) -> str | None:
        if self.hit.is_set() or not self.match(method, path):
            return None
        self.seen += 1
        if self.seen < self.nth:
            return None
        self.hit.set()
        self.release.wait(120)
        return "reset"


class Switch:
    """The proxy's decision: whichever gate is current (None: forward everything)."""

    def __init__(self) -> None:
        self.gate: Gate | None = None

    def __call__(self, method: str, path: str, query: dict[str, list[str]]) -> str | None:
        return self.gate(method, path, query) if self.gate is not None else None


def _git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    ).stdout


def _history(root: Path) -> list[str]:
    return _git(root, "log", "--format=%H %T %s").splitlines()


def _named(admin: Any, bucket: str) -> dict[str, int]:
    listed = admin.list_objects_v2(Bucket=bucket, Prefix=f"{PREFIX}/archive/")
    return {
        item["Key"].removeprefix(f"{PREFIX}/archive/"): item["Size"]
        for item in listed.get("Contents", [])
    }


def _recover_args(dest: Path, endpoint: str, bucket: str) -> list[str]:
    return [
        "recover", str(dest), "--type", "s3", "--bucket", bucket, "--prefix", PREFIX,
        "--endpoint", endpoint, "--region", "us-east-1", "--addressing-style", "path",
    ]  # fmt: skip


def _photosync(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "photosync", "-q", *args],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == expect, f"{args}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done


def _one_more_commit(root: Path, name: str) -> None:
    folder = root.parent / f"lib-{name}"
    make_library(folder, 2, start_seed=500 + len(name))
    added = run_cli(
        "--archive", str(root), "service", "add", name, "--type", "local", "--path", str(folder)
    )
    assert added.exit_code == 0, added.output


def _chain_ok(named: dict[str, int]) -> None:
    """Every bundle range is stored once; the newest manifest names only listed bundles."""
    ranges = [n.rsplit("-", 1)[0] for n in named if n.startswith("bundle-")]
    assert len(ranges) == len(set(ranges)), f"a bundle range stored twice: {sorted(named)}"


def test_only_one_bucket_survives_recover_then_restore(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    root, truth = _replicated(tmp_path, s3_endpoint, s3_bucket)
    named = _named(s3_admin, s3_bucket)  # replicate --execute copied the archive too
    assert [n for n in named if n.startswith("manifest-")] == [
        f"manifest-0000000001-{_git(root, 'rev-parse', 'HEAD').strip()}.json"
    ]
    # nothing new: nothing uploaded
    assert "up to date" in run(root, "backup-archive").stdout
    assert _named(s3_admin, s3_bucket) == named
    # a later change travels as an incremental bundle with a new manifest; old ones stay
    _one_more_commit(root, "later")
    report = json.loads(run(root, "backup-archive", "--json").stdout)
    assert report["locations"]["cloud"]["outcome"] == "uploaded"
    assert not report["locations"]["cloud"]["full"]
    after = _named(s3_admin, s3_bucket)
    assert set(named) < set(after) and all(after[n] == s for n, s in named.items())
    assert sum(n.startswith("bundle-") for n in after) == 2
    verified = json.loads(run(root, "verify", "--json").stdout)
    assert verified["locations"]["cloud"]["archive_copy"]["state"] == "current"
    history = _history(root)
    services = (root / "config" / "services.json").read_bytes()

    shutil.rmtree(root)  # the machine is lost; only the bucket survives
    dest = tmp_path / "rebuilt"
    done = json.loads(_photosync(*_recover_args(dest, s3_endpoint, s3_bucket), "--json").stdout)
    assert done["bundles"] == 2 and done["commits"] == len(history)
    assert _history(dest) == history  # the whole history, the same commits
    assert (dest / "config" / "services.json").read_bytes() == services
    assert _git(dest, "status", "--porcelain") == ""
    assert _git(dest, "config", "core.fsync").strip() == "committed"  # as init sets it
    assert not (dest / ".photosync" / "recovering").exists()
    assert not _git(dest, "for-each-ref", "refs/photosync-recover")

    restored = json.loads(run(dest, "restore", "--json").stdout)
    assert restored["ok"] and _local_blobs(dest) == truth
    assert "up to date" in run(dest, "backup-archive").stdout
    # recover refuses a folder that holds something else
    refused = _photosync(*_recover_args(dest, s3_endpoint, s3_bucket), expect=3)
    assert "not empty" in refused.stderr
    assert_check_clean(dest, "--read-data")


def test_recover_from_a_local_folder_and_verify_sees_a_missing_or_stale_copy(
    tmp_path: Path,
) -> None:
    make_library(tmp_path / "phone", 3)
    root = tmp_path / "archive"
    nas = tmp_path / "nas"
    for args in (
        ("init", str(root)),
        ("--archive", str(root), "service", "add", "phone", "--type", "local",
         "--path", str(tmp_path / "phone")),
        ("--archive", str(root), "discover"),
        ("--archive", str(root), "storage", "add", "nas", "--type", "local", "--path", str(nas)),
    ):  # fmt: skip
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
    missing = json.loads(run(root, "verify", "--json", expect=6).stdout)
    assert missing["locations"]["nas"]["archive_copy"]["state"] == "missing"
    assert missing["locations"]["local"]["archive_copy"] is None  # blobs/ is inside the archive
    run(root, "replicate", "--execute")  # the originals and the archive itself
    assert run(root, "verify").returncode == 0
    _one_more_commit(root, "more")
    stale = json.loads(run(root, "verify", "--json", expect=6).stdout)
    assert stale["locations"]["nas"]["archive_copy"]["state"] == "behind"
    repaired = json.loads(run(root, "verify", "--repair", "--json").stdout)
    assert repaired["locations"]["nas"]["archive_copy"]["state"] == "current"
    # a bundle that went bad is found by --read-data, and recover refuses it
    bundle = sorted((nas / "archive").glob("bundle-*"))[0]
    good = bundle.read_bytes()
    os.chmod(bundle, 0o644)
    flipped = bytearray(good)
    flipped[len(flipped) // 2] ^= 0xFF  # same size: only the bytes can tell
    bundle.write_bytes(bytes(flipped))
    bad = json.loads(run(root, "verify", "--read-data", "--json", expect=6).stdout)
    assert bad["locations"]["nas"]["archive_copy"]["state"] == "damaged"
    history = _history(root)
    dest = tmp_path / "elsewhere"
    refused = run(dest, "recover", str(dest), "--type", "local", "--path", str(nas), expect=3)
    assert "corrupt" in refused.stderr
    assert not (dest / "photos").exists()  # bad bytes are never applied
    # --repair writes the chain again under new names; the bad object stays, untouched
    repaired = json.loads(run(root, "verify", "--read-data", "--repair", "--json").stdout)
    assert repaired["locations"]["nas"]["archive_copy"]["state"] == "current"
    assert bundle.read_bytes() == bytes(flipped)
    assert json.loads(run(root, "verify", "--read-data", "--json").stdout)["ok"]
    run(dest, "recover", str(dest), "--type", "local", "--path", str(nas))
    assert _history(dest) == history
    run(dest, "restore")
    assert_check_clean(dest)


def test_kill_during_backup_archive_then_rerun_nothing_missing_or_doubled(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    switch = Switch()
    with S3Proxy(s3_endpoint, switch) as proxy:
        root, _truth = _replicated(tmp_path, proxy.url, s3_bucket, count=3)
        bundle: Match = lambda m, p: "/archive/bundle-" in p  # noqa: E731
        manifest: Match = lambda m, p: "/archive/manifest-" in p  # noqa: E731
        points = [
            ("bundle upload", Gate(lambda m, p: m == "PUT" and bundle(m, p))),
            # the bundle landed; photosync never heard back
            ("check after the bundle upload", Gate(lambda m, p: m == "HEAD" and bundle(m, p), 2)),
            ("manifest upload", Gate(lambda m, p: m == "PUT" and manifest(m, p))),
            ("check after the manifest", Gate(lambda m, p: m == "HEAD" and manifest(m, p), 2)),
        ]
        killed = []
        for label, gate in points:
            _one_more_commit(root, label.replace(" ", "-"))
            switch.gate = gate
            try:
                result = run_and_kill(root, ["backup-archive"], gate.hit.is_set)
            finally:
                gate.release.set()
            switch.gate = None
            if result.reached:
                killed.append(label)
            done = json.loads(run(root, "backup-archive", "--json").stdout)
            assert done["ok"], done
            named = _named(s3_admin, s3_bucket)
            _chain_ok(named)
            head = _git(root, "rev-parse", "HEAD").strip()
            assert max(n for n in named if n.startswith("manifest-")).endswith(f"-{head}.json")
            assert not (root / ".photosync" / "backup").exists()
        assert killed == [p[0] for p in points], f"killed only at {killed}"
        doubled = {k: n for k, n in proxy.landed.items() if "/archive/" in k and n > 1}
        assert not doubled, f"uploaded twice: {doubled}"
        history = _history(root)
        dest = tmp_path / "rebuilt"
        _photosync(*_recover_args(dest, proxy.url, s3_bucket))
        assert _history(dest) == history
        run(dest, "restore")
        assert_check_clean(root)
        assert_check_clean(dest)


def test_kill_during_recover_then_rerun_nothing_missing_or_doubled(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str
) -> None:
    switch = Switch()
    with S3Proxy(s3_endpoint, switch) as proxy:
        root, truth = _replicated(tmp_path, proxy.url, s3_bucket, count=3)
        for name in ("two", "three"):
            _one_more_commit(root, name)
            run(root, "backup-archive")
        history = _history(root)
        get_bundle: Match = lambda m, p: m == "GET" and "/archive/bundle-" in p  # noqa: E731
        points = [
            ("manifest read", Gate(lambda m, p: m == "GET" and "/archive/manifest-" in p)),
            ("first bundle", Gate(get_bundle, 1)),
            ("third bundle", Gate(get_bundle, 3)),
        ]
        for index, (label, gate) in enumerate(points):
            dest = tmp_path / f"rebuilt-{index}"
            switch.gate = gate
            try:
                result = run_and_kill(
                    dest, _recover_args(dest, proxy.url, s3_bucket), gate.hit.is_set
                )
            finally:
                gate.release.set()
            switch.gate = None
            assert result.reached, f"not killed at the {label}: {result.stderr}"
            again = json.loads(
                run(dest, *_recover_args(dest, proxy.url, s3_bucket), "--json").stdout
            )
            assert again["bundles"] == 3
            assert _history(dest) == history, label
            assert _git(dest, "status", "--porcelain") == ""
            assert not _git(dest, "for-each-ref", "refs/photosync-recover")
            assert not (dest / ".git" / "photosync-recover").exists()
        # killed after the checkout, before the end: the re-run finishes the same way
        dest = tmp_path / "rebuilt-late"
        run_and_kill(
            dest,
            _recover_args(dest, proxy.url, s3_bucket),
            lambda: (dest / "photos").is_dir(),
        )
        run(dest, *_recover_args(dest, proxy.url, s3_bucket))
        assert _history(dest) == history
        run(dest, "restore")
        assert _local_blobs(dest) == truth
        assert_check_clean(dest, "--read-data")
