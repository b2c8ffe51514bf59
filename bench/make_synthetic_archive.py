"""Make (or reuse) an N-record archive for scale benchmarks, in minutes even at 1,000,000.

    python bench/make_synthetic_archive.py 1000000            # prints the archive's path
    python bench/make_synthetic_archive.py 100000 --files 100000 --blobs

Records are in the real schema and canonical form, sorted by date into
photos/YYYY/MM/ like discover writes them, committed in batches of 10,000 by
``git fast-import`` (no index while writing history), then checked out once. The
state cache (hash index, record paths, the HEAD it matches) is written directly,
so the first photosync run does not re-read a million records. ``--files K``:
the first K photos also exist as small files in the source folder of service
``synth``, with seen-cache rows, so a no-op discover of K files can be timed.
``--blobs``: the archive's blobs/ holds a (tiny) original for every record, so
``check`` has nothing to report. Without it the originals are missing (fake).
``--mirror`` (with ``--blobs``): a second storage location ``mirror``, a local folder
beside the archive (``<path>-mirror``) holding hard links of the blobs (fast, no space),
and every record as a settled replicate leaves it (``replicated``, its ``blob_locations``
naming both); the first ``replicate --execute`` then copies and writes nothing (it reads
every record once and settles), and the second is the no-op of issue 17:

    python bench/make_synthetic_archive.py 1000000 --blobs --mirror
    photosync --archive A replicate --execute       # reads every record once: settles
    /usr/bin/time -v photosync --archive A replicate --execute   # the no-op

Cached under /tmp/photosync-synth-N[-fK][-b] (never committed); a marker file
says it is complete, so a generator killed half-way starts over. Benchmarks that
change the archive snapshot it with ``snapshot``/``restore`` below.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

from photosync.archive.jsonio import canonical_bytes
from photosync.archive.state import StateDB
from photosync.model import new_record, photo_id_for, record_relpath

GENERATOR_VERSION = 2
SERVICE = "synth"
BATCH = 10_000
START = datetime(2000, 1, 1)
SPAN_MINUTES = 26 * 365 * 24 * 60  # 2000 .. 2025


MIRROR = "mirror"


def default_path(count: int, files: int, blobs: bool, mirror: bool = False) -> Path:
    name = f"photosync-synth-{count}" + (f"-f{files}" if files else "") + ("-b" if blobs else "")
    name += "-m" if mirror else ""
    return Path(os.environ.get("TMPDIR", "/tmp")) / name


def _photo_bytes(index: int) -> bytes:
    """A tiny unique "JPEG" (never decoded: a no-op discover does not read it)."""
    return b"\xff\xd8\xff\xe0synthetic photo %d\xff\xd9" % index


def _instance_id(index: int) -> str:
    return f"d{index // 1000:04d}/IMG_{index:07d}.jpg"


def _record(
    index: int, count: int, now: str, mirror: bool = False
) -> tuple[dict[str, object], bytes]:
    data = _photo_bytes(index)
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    taken = START + timedelta(minutes=SPAN_MINUTES * index // max(count, 1))
    record = new_record(
        content_hash=digest,
        size=len(data),
        media={
            "duration_s": None,
            "fingerprint": None,
            "fingerprint_note": None,
            "format": "jpeg",
            "height": 3000,
            "kind": "photo",
            "mime_type": "image/jpeg",
            "orientation": 1,
            "width": 4000,
        },
        canonical_source=f"{SERVICE}:{_instance_id(index)}",
        source_of_truth_path=f"local:sha256/{digest[7:9]}/{digest[7:]}",
        now=now,
    )
    observed = {
        "camera_info": {"make": "Synthetic", "model": f"Camera {index % 7}"},
        "caption": None,
        "filename": f"IMG_{index:07d}.jpg",
        "location": None,
        "tags": [],
        "taken_date": taken.strftime("%Y-%m-%dT%H:%M:%S"),
        "taken_date_source": "exif:DateTimeOriginal",
        "title": None,
    }
    record["instances"] = {
        SERVICE: [
            {
                "content_hash": digest,
                "id": _instance_id(index),
                "last_sync": now,
                "observed": observed,
                "quality": "original",
                "status": "present",
                "url": None,
                "version": None,
                "visibility": None,
                "visibility_raw": None,
            }
        ]
    }
    record["metadata"] = {k: v for k, v in observed.items() if k != "title"}
    if mirror:  # as a settled replicate leaves it: nothing to do, the original in both
        record["processing_state"] = "replicated"
        key = f"sha256/{digest[7:9]}/{digest[7:]}"
        record["blob_locations"] = [
            {"locator": f"{store}:{key}", "store": store, "verified_at": now}
            for store in sorted(("local", MIRROR))
        ]
    return record, data


def _fast_import_stream(
    count: int, now: str, rows: list[tuple[str, str, str]], files: int = 0, mirror: bool = False
) -> Iterator[bytes]:
    """The fast-import commands: one commit per BATCH records on top of HEAD; the last
    one also says the source was listed in full (as after a real first discover, so a
    discover of the source is a true no-op)."""
    stamp = int(time.time())
    for start in range(0, count, BATCH):
        out = [
            b"commit refs/heads/main\n",
            b"committer photosync <photosync@localhost> %d +0000\n" % stamp,
        ]
        message = f"discover: {min(BATCH, count - start)} new, 0 updated from {SERVICE}\n".encode()
        out.append(b"data %d\n%s" % (len(message), message))
        if start == 0:
            out.append(b"from refs/heads/main^0\n")
        for index in range(start, min(start + BATCH, count)):
            record, _data = _record(index, count, now, mirror)
            body = canonical_bytes(record)
            rel = record_relpath(record)
            rows.append((str(record["photo_id"]), rel, str(record["content_hash"])))
            out.append(b"M 100644 inline %s\ndata %d\n%s\n" % (rel.encode(), len(body), body))
        if files and start + BATCH >= count:
            listed = {"cursor": None, "last_discover": now, "last_full_listing_count": files}
            body = canonical_bytes({"services": {SERVICE: listed}})
            out.append(b"M 100644 inline config/sync-state.json\ndata %d\n%s\n" % (len(body), body))
        out.append(b"\n")
        yield b"".join(out)


def _run(cmd: list[str], cwd: Path, **kwargs: object) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, **kwargs)  # type: ignore[call-overload]


def make(
    count: int, path: Path, *, files: int = 0, blobs: bool = False, mirror: bool = False
) -> Path:
    if mirror and not blobs:
        raise SystemExit("--mirror needs --blobs (the mirror holds links of the blobs)")
    marker = path / ".photosync" / "synthetic.json"
    wanted: dict[str, object] = {
        "version": GENERATOR_VERSION,
        "count": count,
        "files": files,
        "blobs": blobs,
    }
    if mirror:
        wanted["mirror"] = "replicated"
    try:
        if json.loads(marker.read_text()) == wanted:
            return path
    except (OSError, ValueError):
        pass
    shutil.rmtree(path, ignore_errors=True)
    source = path.with_name(path.name + "-source")
    shutil.rmtree(source, ignore_errors=True)
    source.mkdir(parents=True)
    mirror_root = path.with_name(path.name + "-mirror")
    shutil.rmtree(mirror_root, ignore_errors=True)
    started = time.monotonic()
    photosync = [sys.executable, "-m", "photosync"]
    _run([*photosync, "init", str(path)], cwd=path.parent, stdout=subprocess.DEVNULL)
    _run(
        [*photosync, "service", "add", SERVICE, "--type", "local", "--path", str(source)],
        cwd=path,
        stdout=subprocess.DEVNULL,
    )
    if mirror:
        _run(
            [*photosync, "storage", "add", MIRROR, "--type", "local", "--path", str(mirror_root)],
            cwd=path,
            stdout=subprocess.DEVNULL,
        )
    now = datetime.now().strftime("%Y-%m-%dT%H:%M:%SZ")
    rows: list[tuple[str, str, str]] = []
    importer = subprocess.Popen(
        ["git", "fast-import", "--quiet", "--done"], cwd=path, stdin=subprocess.PIPE
    )
    assert importer.stdin is not None
    for chunk in _fast_import_stream(count, now, rows, min(files, count), mirror):
        importer.stdin.write(chunk)
    importer.stdin.write(b"done\n")
    importer.stdin.close()
    if importer.wait() != 0:
        raise SystemExit("git fast-import failed")
    print(f"history written: {time.monotonic() - started:.0f} s", file=sys.stderr)
    # the working tree and the index, once (git writes both far faster than Python could)
    _run(["git", "reset", "-q", "--hard", "HEAD"], cwd=path)
    print(f"checked out: {time.monotonic() - started:.0f} s", file=sys.stderr)
    seen = []
    for index in range(min(files, count)):
        file = source / _instance_id(index)
        file.parent.mkdir(exist_ok=True)
        file.write_bytes(_photo_bytes(index))
        st = file.stat()
        version = f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}:{st.st_ctime_ns}"
        seen.append((_instance_id(index), version, rows[index][2]))
    if blobs:
        for index, (_photo, _rel, digest) in enumerate(rows):
            blob = path / "blobs" / "sha256" / digest[7:9] / digest[7:]
            blob.parent.mkdir(parents=True, exist_ok=True)
            blob.write_bytes(_photo_bytes(index))
    if mirror:  # hard links: a second location in no time and no space
        mirror_root.mkdir(parents=True, exist_ok=True)
        _run(["cp", "-al", str(path / "blobs" / "sha256"), str(mirror_root / "sha256")], cwd=path)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    state = StateDB(path / ".photosync" / "state.sqlite")
    state.index_many((photo, rel, [digest]) for photo, rel, digest in rows)
    state.record_seen(SERVICE, seen)
    state.set_meta("index_head", head)
    state.close()
    assert all(photo == photo_id_for(digest) for photo, _rel, digest in rows[:10])
    marker.write_text(json.dumps(wanted))
    print(f"done: {time.monotonic() - started:.0f} s", file=sys.stderr)
    return path


def snapshot(path: Path) -> dict[str, str]:
    """What ``restore`` needs to put a benchmark's archive back as it was."""
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, check=True
    ).stdout.strip()
    saved = path.with_name(path.name + "-state.sqlite")
    state = path / ".photosync" / "state.sqlite"
    db = StateDB(state)  # checkpoint the WAL into the file before copying it
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    shutil.copyfile(state, saved)
    return {"head": head, "state": str(saved)}


def restore(path: Path, saved: dict[str, str]) -> None:
    """Undo a benchmark run: HEAD, working tree, index and state cache as snapshotted."""
    _run(["git", "reset", "-q", "--hard", saved["head"]], cwd=path)
    _run(["git", "clean", "-q", "-f", "-d", "--", "photos", "config"], cwd=path)
    state = path / ".photosync" / "state.sqlite"
    for extra in ("-wal", "-shm"):
        Path(str(state) + extra).unlink(missing_ok=True)
    shutil.copyfile(saved["state"], state)
    (path / ".photosync" / "pending-paths").unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("count", type=int)
    parser.add_argument("--files", type=int, default=0, help="source files with seen rows")
    parser.add_argument("--blobs", action="store_true", help="a tiny original per record")
    parser.add_argument(
        "--mirror", action="store_true", help="a second location of hard links, in the records"
    )
    parser.add_argument("--path", type=Path, default=None)
    args = parser.parse_args()
    path = args.path or default_path(args.count, args.files, args.blobs, args.mirror)
    print(make(args.count, path, files=args.files, blobs=args.blobs, mirror=args.mirror))


if __name__ == "__main__":
    main()
