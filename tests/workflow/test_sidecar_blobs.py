"""XMP sidecars are preserved data (issue 13, part 1): stored as content-addressed blobs,
referenced from the instance that came with them, copied to every location,
verified and repaired like originals."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any

from tests.helpers import assert_check_clean, make_library, records, run_cli, write_xmp

PREFIX = "photos"


def _ok(*args: str) -> Any:
    result = run_cli(*args)
    assert result.exit_code == 0, result.output
    return result


def _blob(root: Path, digest: str) -> Path:
    return root / "blobs" / "sha256" / digest[:2] / digest


def _sidecars(root: Path) -> dict[str, list[dict[str, Any]]]:
    return {
        i["id"]: i.get("sidecars", [])
        for r in records(root)
        for i in r["instances"]["phone"]
        if i.get("status", "present") == "present"
    }


def test_sidecars_are_stored_copied_verified_and_repaired(
    tmp_path: Path, s3_endpoint: str, s3_bucket: str, s3_admin: Any
) -> None:
    lib = tmp_path / "lib"
    photos = make_library(lib, 3)
    write_xmp(photos[0].with_suffix(".xmp"), caption="Lightroom: 5 stars")
    # two photos with byte-identical sidecars (a template): one blob, two references
    write_xmp(Path(f"{photos[1]}.xmp"), caption="same")
    write_xmp(Path(f"{photos[2]}.xmp"), caption="same")
    root = tmp_path / "archive"
    _ok("init", str(root))
    _ok("--archive", str(root), "service", "add", "phone", "--type", "local", "--path", str(lib))
    _ok("--archive", str(root), "discover")

    held = _sidecars(root)
    first = held[photos[0].relative_to(lib).as_posix()]
    assert [s["name"] for s in first] == [photos[0].with_suffix(".xmp").name]
    data = photos[0].with_suffix(".xmp").read_bytes()
    assert first[0]["content_hash"] == "sha256:" + hashlib.sha256(data).hexdigest()
    assert _blob(root, first[0]["content_hash"][7:]).read_bytes() == data
    shared = {held[p.relative_to(lib).as_posix()][0]["content_hash"] for p in photos[1:]}
    assert len(shared) == 1

    # an edited sidecar: the new one is kept, and so is the one it replaced
    write_xmp(photos[0].with_suffix(".xmp"), caption="Lightroom: 4 stars")
    _ok("--archive", str(root), "discover")
    again = _sidecars(root)[photos[0].relative_to(lib).as_posix()]
    assert {s["content_hash"] for s in again} >= {first[0]["content_hash"]}
    assert [s.get("superseded", False) for s in again] == [False, True]
    every = {s["content_hash"][7:] for entries in _sidecars(root).values() for s in entries}
    assert len(every) == 3

    _ok("--archive", str(root), "resolve", "--auto-resolve", "simple")
    _ok(
        "--archive",
        str(root),
        "storage",
        "add",
        "cloud",
        "--type",
        "s3",
        "--bucket",
        s3_bucket,
        "--prefix",
        PREFIX,
        "--endpoint",
        s3_endpoint,
        "--region",
        "us-east-1",
        "--addressing-style",
        "path",
    )
    _ok("--archive", str(root), "replicate", "--execute")
    page = s3_admin.list_objects_v2(Bucket=s3_bucket, Prefix=PREFIX + "/sha256/")
    in_bucket = {item["Key"].rsplit("/", 1)[1] for item in page.get("Contents", [])}
    assert every <= in_bucket  # every sidecar, the superseded one too, is in the cloud

    lost = sorted(every)[0]
    os.chmod(_blob(root, lost), stat.S_IRUSR | stat.S_IWUSR)
    _blob(root, lost).unlink()
    result = run_cli("--archive", str(root), "verify", "--json")
    assert result.exit_code != 0
    assert lost in json.dumps(json.loads(result.stdout))
    _ok("--archive", str(root), "verify", "--repair")
    assert hashlib.sha256(_blob(root, lost).read_bytes()).hexdigest() == lost
    assert_check_clean(root)
