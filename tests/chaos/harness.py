"""A reusable crash harness: run photosync as a process, SIGKILL it at an observed point,
run it again to completion, then check that nothing was lost, doubled or torn.

The kill is ``SIGKILL`` to the whole process group (photosync and any git child
it is waiting for), the harshest way a run can end short of a power cut. The
moment is chosen by *observed progress* (record files written, files in a target
folder, uploads an emulator received, objects in a bucket), polled with a
deadline; nothing here sleeps to synchronise.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from photosync.archive.archive import Archive, record_hashes
from photosync.archive.schema import PHOTO_SCHEMA, schema_errors
from photosync.blobstore.base import BlobStore
from photosync.workflow.context import all_stores
from tests.helpers import assert_check_clean

Record = dict[str, Any]


def wait_for(
    condition: Callable[[], bool], deadline_s: float = 90.0, interval_s: float = 0.005
) -> bool:
    """Poll ``condition`` until it holds or the deadline passes (the poll interval is not a sync)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(interval_s)
    return condition()


# -- observed progress ---------------------------------------------------------------


def record_file_count(root: Path) -> int:
    """Record files on disk, committed or not (temp files excluded)."""
    photos = root / "photos"
    return sum(
        1
        for _dir, _sub, names in os.walk(photos)
        for n in names
        if n.endswith(".json") and not n.startswith(".")
    )


def target_file_count(folder: Path) -> int:
    if not folder.exists():
        return 0
    return sum(1 for _dir, _sub, names in os.walk(folder) for n in names if not n.startswith("."))


def target_digests(folder: Path) -> list[str]:
    from photosync.blobstore.base import hash_file

    out = []
    for dirpath, _sub, names in os.walk(folder):
        out.extend(hash_file(Path(dirpath) / n)[0] for n in names if not n.startswith("."))
    return sorted(out)


# -- running photosync -------------------------------------------------------------------


def argv(root: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "photosync", "--archive", str(root), "-q", *args]


@dataclass
class KillResult:
    #: the progress condition was observed while photosync was still running
    reached: bool
    #: photosync ended by itself before the kill (a small library, a fast machine)
    finished_first: bool
    returncode: int
    stderr: str


def run_and_kill(
    root: Path,
    args: Iterable[str],
    progress: Callable[[], bool],
    *,
    deadline_s: float = 90.0,
    env: dict[str, str] | None = None,
) -> KillResult:
    """Start ``photosync ARGS``, wait until ``progress()`` holds, SIGKILL its process group."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv(root, *args),
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        try:
            reached = wait_for(lambda: proc.poll() is not None or progress(), deadline_s)
            finished_first = proc.poll() is not None
            if not finished_first:
                os.killpg(proc.pid, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        err.seek(0)
        stderr = err.read().decode("utf-8", "replace")
    return KillResult(reached and not finished_first, finished_first, proc.returncode, stderr)


@dataclass
class TerminalRun:
    #: answers sent to "Choice [" prompts
    answers: int
    #: True when the process group was killed (SIGKILL) after ``kill_after`` answers
    killed: bool
    returncode: int
    screen: bytes


def run_on_terminal(
    root: Path,
    args: Iterable[str],
    answer: Callable[[bytes], bytes],
    *,
    kill_after: int | None = None,
    deadline_s: float = 120.0,
) -> TerminalRun:
    """``photosync ARGS`` on a pseudo-terminal, as a person runs ``resolve --interactive``.

    ``answer(screen so far)`` replies to each prompt; with ``kill_after`` the process
    group (photosync and any git child) gets SIGKILL right after that many answers.
    """
    pid, fd = pty.fork()
    if pid == 0:  # the child: photosync on a terminal (a new session: its own group)
        os.execv(sys.executable, [sys.executable, "-m", "photosync", "--archive", str(root), *args])
    screen, answers, killed = b"", 0, False
    end = time.monotonic() + deadline_s
    try:
        while time.monotonic() < end:
            if kill_after is not None and answers >= kill_after:
                os.killpg(pid, signal.SIGKILL)
                killed = True
                break
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break  # the child closed the terminal: it is done
            if not chunk:
                break
            screen += chunk
            while screen.count(b"Choice [") > answers:
                os.write(fd, answer(screen))
                answers += 1
    finally:
        if not killed and time.monotonic() >= end:
            os.killpg(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    return TerminalRun(answers, killed, code, screen)


def run(
    root: Path,
    *args: str,
    expect: int | Iterable[int] | None = 0,
    env: dict[str, str] | None = None,
    timeout: float = 240.0,
) -> subprocess.CompletedProcess[str]:
    """``photosync ARGS`` to completion: never a traceback, and the expected exit code."""
    result = subprocess.run(
        argv(root, *args),
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert "Traceback" not in result.stderr, result.stderr
    if expect is not None:
        wanted = {expect} if isinstance(expect, int) else set(expect)
        assert result.returncode in wanted, (
            f"photosync {' '.join(args)} exited {result.returncode}, wanted {sorted(wanted)}\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def git(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=check
    )


# -- invariants ------------------------------------------------------------------------


@dataclass
class Expect:
    """What the archive must hold once the re-run finished."""

    records: int | None = None
    #: service -> exact number of present instances across all records
    present: dict[str, int] = field(default_factory=dict)
    #: every record in processing_state "replicated"
    replicated: bool = False
    #: every record names every blob location in blob_locations
    located_everywhere: bool = False
    #: the blob locations that must hold every original (None: all configured ones)
    stores: list[str] | None = None


def committed_record_versions(root: Path) -> list[tuple[str, bytes]]:
    """Every version of every record file any commit ever held: (path, bytes)."""
    raw = git(root, "log", "--all", "--format=", "--raw", "--no-abbrev", "--", "photos").stdout
    wanted: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.startswith(":"):
            continue
        meta, _tab, path = line.partition("\t")
        new_blob = meta.split()[3]
        if path.endswith(".json") and set(new_blob) != {"0"}:
            wanted[new_blob] = path
    if not wanted:
        return []
    batch = subprocess.run(
        ["git", "-C", str(root), "cat-file", "--batch"],
        input=("\n".join(wanted) + "\n").encode(),
        capture_output=True,
        check=True,
    ).stdout
    out, offset = [], 0
    for sha in wanted:
        header_end = batch.index(b"\n", offset)
        header = batch[offset:header_end].split()
        assert header[0].decode() == sha and header[1] == b"blob", header
        size = int(header[2])
        out.append((wanted[sha], batch[header_end + 1 : header_end + 1 + size]))
        offset = header_end + 1 + size + 1
    return out


def blob_sizes(store: BlobStore) -> dict[str, int]:
    """digest -> size of every blob in a location (one listing for S3)."""
    listed = getattr(store, "iter_stats", None)
    if listed is not None:
        return {stat.digest: stat.size for stat in listed()}
    out = {}
    for digest in store.iter_digests():
        stat = store.stat(digest)
        if stat is not None:
            out[digest] = stat.size
    return out


def check_invariants(
    root: Path, expect: Expect, *, read_data: bool = True, history: bool = True
) -> list[Record]:
    """Everything the issue promises after a crash and a re-run; returns the records.

    ``history=False`` skips the check of every record version ever committed (for a
    test that committed broken records on purpose).
    """
    # the git repository: clean, sound, nothing half-written in any commit, nothing lost
    status = git(root, "status", "--porcelain", "--untracked-files=all").stdout
    assert status == "", f"working tree not clean after the re-run:\n{status}"
    assert not (root / ".git" / "index.lock").exists(), "a stale .git/index.lock was left"
    fsck = git(root, "fsck", "--full", "--no-dangling", "--no-progress", check=False)
    assert fsck.returncode == 0 and not fsck.stdout.strip(), f"git fsck: {fsck.stdout}{fsck.stderr}"
    head_files = {p.name for p in (root / "photos").rglob("*.json")}
    # a record joined into another (resolve) is gone on purpose: the survivor names it
    for survivor in (root / "photos").rglob("*.json"):
        for variant in json.loads(survivor.read_text(encoding="utf-8")).get("variants") or []:
            if str(variant.get("role") or "").startswith("merged:"):
                head_files.add(f"{variant['photo_id']}.json")
    for path, data in committed_record_versions(root) if history else []:
        try:
            value = json.loads(data)
        except ValueError as error:
            raise AssertionError(f"a commit holds a torn record {path}: {error}") from None
        problems = schema_errors(PHOTO_SCHEMA, value)
        assert not problems, f"a commit holds a schema-invalid record {path}: {problems[:3]}"
        assert Path(path).name in head_files, f"record {path} was committed once and is gone now"

    # the records: one per content, one instance per service item
    records: list[Record] = []
    for path in sorted((root / "photos").rglob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        assert not schema_errors(PHOTO_SCHEMA, record), path
        assert path.stem == record["photo_id"], path
        records.append(record)
    by_hash = Counter(r["content_hash"] for r in records)
    doubled = [h for h, n in by_hash.items() if n > 1]
    assert not doubled, f"content recorded more than once: {doubled[:3]}"
    owners: dict[str, str] = {}
    for record in records:
        for digest in record_hashes(record):
            assert owners.setdefault(digest, record["photo_id"]) == record["photo_id"], (
                f"{digest} belongs to two records"
            )
    instances = Counter(
        (service, inst["id"])
        for r in records
        for service, insts in r["instances"].items()
        for inst in insts
        if inst.get("status") != "superseded"
    )
    doubled_instances = [key for key, n in instances.items() if n > 1]
    assert not doubled_instances, f"instances recorded twice: {doubled_instances[:3]}"
    if expect.records is not None:
        assert len(records) == expect.records, f"{len(records)} records, expected {expect.records}"
    for service, count in expect.present.items():
        present = sum(
            1
            for r in records
            for i in r["instances"].get(service, [])
            if i.get("status") == "present"
        )
        assert present == count, f"{present} present instances on {service}, expected {count}"
    if expect.replicated:
        states = Counter(r["processing_state"] for r in records)
        assert set(states) == {"replicated"}, states

    # the originals: in every location, with the right bytes
    archive = Archive(root)
    try:
        stores = all_stores(archive)
        for store in stores:
            if expect.stores is not None and store.name not in expect.stores:
                continue
            sizes = blob_sizes(store)
            for record in records:
                digest = record["content_hash"].removeprefix("sha256:")
                assert digest in sizes, f"{digest} missing from {store.name}"
                assert sizes[digest] == record["media"]["size"], (
                    f"{digest} has the wrong size in {store.name}"
                )
            with ThreadPoolExecutor(8) as pool:  # every blob re-read and hashed
                good = dict(zip(sizes, pool.map(store.verify, sizes), strict=True))
            corrupt = [d for d, ok in good.items() if not ok]
            assert not corrupt, f"corrupt in {store.name}: {corrupt[:3]}"
        if expect.located_everywhere:
            names = {s.name for s in stores}
            for record in records:
                assert {loc["store"] for loc in record["blob_locations"]} == names, record[
                    "blob_locations"
                ]
    finally:
        archive.close()
    if read_data:
        run(root, "verify", "--read-data")
    assert_check_clean(root)  # and the archive's own check agrees (blobs re-read above)
    return records
