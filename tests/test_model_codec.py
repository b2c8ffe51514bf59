"""The typed record model describes every record exactly as it is on disk.

``tests/data/archive-v1`` was written by photosync before ``photosync.model`` had
types (``tests/data/make_archive_v1.py``: local folders, real shared photos with an
XMP sidecar, a Takeout, the Flickr and Google emulators, approvals, decisions,
problems, blob locations, variants). The types must name every key those records
hold, agree with the JSON schema (the gate on disk) on every key and on which are
required, and the archive must read and rewrite each record byte for byte.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import types
import typing
from pathlib import Path
from typing import Any, NotRequired, Required, get_args, get_origin, get_type_hints

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.jsonio import canonical_bytes
from photosync.archive.schema import PHOTO_SCHEMA, is_valid, schema_text
from photosync.errors import ArchiveCorrupt
from photosync.model import codec, record
from tests.helpers import assert_check_clean, new_archive

FIXTURE = Path(__file__).parent / "data" / "archive-v1"
FIXTURE_RECORDS = sorted((FIXTURE / "photos").rglob("*.json"))


def _typeddict_of(hint: Any) -> type | None:
    """The TypedDict a field's type names (inside ``X | None``, ``list[X]``, ``dict[str, list[X]]``)."""
    if typing.is_typeddict(hint):
        return typing.cast(type, hint)
    if get_origin(hint) in (Required, NotRequired):
        return _typeddict_of(get_args(hint)[0])
    for arg in get_args(hint) if get_origin(hint) in (list, dict, types.UnionType) else ():
        found = _typeddict_of(arg)
        if found is not None:
            return found
    return None


def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls, vars(record))


def _untyped_keys(value: Any, cls: type, where: str) -> list[str]:
    """Every key of ``value`` its TypedDict does not declare (recursively), with where it was."""
    out: list[str] = []
    hints = _hints(cls)
    for key, item in value.items():
        if key not in hints:
            out.append(f"{where}.{key}")
            continue
        inner = _typeddict_of(hints[key])
        if inner is None or inner is dict or item is None:
            continue
        if isinstance(item, dict) and key == "instances":
            for service, copies in item.items():
                for copy in copies:
                    out += _untyped_keys(copy, inner, f"{where}.instances[{service}]")
        elif isinstance(item, list):
            for element in item:
                out += _untyped_keys(element, inner, f"{where}.{key}[]")
        elif isinstance(item, dict):
            out += _untyped_keys(item, inner, f"{where}.{key}")
    return out


def test_the_fixture_archive_has_every_part_of_a_record() -> None:
    """The tests below prove something only if the fixture holds each part."""
    assert len(FIXTURE_RECORDS) >= 20
    records = [codec.record_from_json(json.loads(p.read_bytes())) for p in FIXTURE_RECORDS]
    instances = [i for r in records for insts in r["instances"].values() for i in insts]
    conflicts = [c for r in records for c in r["conflicts"]]
    assert {s for r in records for s in r["instances"]} >= {"flickr", "google-photos", "real"}
    assert any(i.get("sidecars") for i in instances)
    assert any((i.get("observed") or {}).get("sources") for i in instances)
    assert any(c.get("decisions") for c in conflicts)
    assert any(c.get("resolution") is not None for c in conflicts)
    assert any(r["visibility"]["approvals"] for r in records)
    assert any(a.get("seal") for r in records for a in r["visibility"]["approvals"])
    assert any(r["problems"] for r in records)
    assert any(r["blob_locations"] for r in records)
    assert any(r.get("variants") for r in records)
    assert any(r["media"].get("fingerprint") for r in records)


@pytest.mark.parametrize("path", FIXTURE_RECORDS, ids=lambda p: p.name[:8])
def test_every_key_of_a_record_written_before_the_types_is_typed(path: Path) -> None:
    raw = path.read_bytes()
    data = codec.record_from_json(json.loads(raw))
    assert _untyped_keys(data, record.Record, "record") == []
    assert canonical_bytes(codec.record_to_json(data)) == raw


def _schema_objects() -> list[tuple[str, dict[str, Any], type]]:
    """Each object the schema describes, with the TypedDict that types it."""
    schema = json.loads(schema_text(PHOTO_SCHEMA))
    defs = schema["$defs"]
    props = schema["properties"]
    vis = props["visibility"]["properties"]
    return [
        ("record", schema, record.Record),
        ("blob location", props["blob_locations"]["items"], record.BlobLocation),
        ("media", props["media"], record.Media),
        ("fingerprint", props["media"]["properties"]["fingerprint"], record.MediaFingerprint),
        ("visibility", props["visibility"], record.VisibilityState),
        ("discrepancy", vis["discrepancies"]["items"], record.Discrepancy),
        ("approval", vis["approvals"]["items"], record.Approval),
        ("problem", props["problems"]["items"], record.Problem),
        ("variant", props["variants"]["items"], record.Variant),
        ("location", defs["location"], record.Location),
        ("camera info", defs["camera_info"], record.CameraInfo),
        ("metadata", defs["canonical_metadata"], record.Metadata),
        ("instance", defs["instance"], record.Instance),
        ("observed", defs["instance"]["properties"]["observed"], record.Observed),
        ("sidecar", defs["instance"]["properties"]["sidecars"]["items"], record.Sidecar),
        ("conflict", defs["conflict"], record.Conflict),
        ("option", defs["conflict"]["properties"]["options"]["items"], record.Option),
        ("decision", defs["conflict"]["properties"]["resolution"], record.Decision),
    ]


@pytest.mark.parametrize("name,schema,cls", _schema_objects(), ids=lambda v: str(v)[:12])
def test_the_types_and_the_schema_name_the_same_keys(
    name: str, schema: dict[str, Any], cls: Any
) -> None:
    """The schema is the gate on disk; the types are what mypy checks the code against:
    a key in one and not the other, or required in one only, is a mistake in one of them.
    (``observed`` also types ``sources`` and ``disagree``, which the schema leaves open.)"""
    declared = set(schema["properties"])
    typed = set(_hints(cls))
    extra_typed = {"sources", "disagree"} if cls is record.Observed else set()
    assert typed - extra_typed == declared, name
    assert set(cls.__required_keys__) == set(schema.get("required", [])), name


def _commit_by_hand(root: Path, message: str) -> None:
    """Records put in the archive the way a user's ``git add`` and ``git commit`` would."""
    for args in (["add", "-A", "photos"], ["commit", "-q", "-m", message]):
        subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def test_the_archive_rewrites_a_record_of_before_the_types_byte_for_byte(tmp_path: Path) -> None:
    """Every fixture record, put in an archive, is read and written back by the archive
    with no change on disk and none for git (``write_record`` of an unchanged record)."""
    archive = new_archive(tmp_path)
    shutil.copytree(FIXTURE / "photos", archive.root / "photos", dirs_exist_ok=True)
    _commit_by_hand(archive.root, "records written before the types")
    archive.ensure_index(force=True)
    before = {p: p.read_bytes() for p in sorted((archive.root / "photos").rglob("*.json"))}
    assert len(before) == len(FIXTURE_RECORDS)
    count = 0
    for data in archive.iter_records():
        assert not archive.write_record(data)  # unchanged: not written, not re-stamped
        count += 1
    assert count == len(before)
    assert {p: p.read_bytes() for p in before} == before
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=archive.root, capture_output=True, text=True
    )
    assert status.stdout == ""
    assert_check_clean(archive.root)


def test_a_change_made_on_a_typed_record_is_written(tmp_path: Path) -> None:
    archive = new_archive(tmp_path)
    shutil.copytree(FIXTURE / "photos", archive.root / "photos", dirs_exist_ok=True)
    _commit_by_hand(archive.root, "records written before the types")
    archive.ensure_index(force=True)
    data = next(iter(archive.iter_records()))
    path = archive.record_path(data["photo_id"])
    assert path is not None
    before = json.loads(path.read_bytes())
    data["metadata"]["caption"] = "at the lake"
    assert archive.write_record(data)
    after = json.loads(path.read_bytes())
    assert after["metadata"] == {**before["metadata"], "caption": "at the lake"}
    assert after["updated_at"] == data["updated_at"] != before["updated_at"]
    rest = ("metadata", "updated_at")
    assert {k: v for k, v in after.items() if k not in rest} == {
        k: v for k, v in before.items() if k not in rest
    }
    archive.commit("test: a caption")
    assert_check_clean(archive.root)


def test_a_record_of_a_newer_photosync_is_refused_not_damaged(tmp_path: Path) -> None:
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    newer = {**data, "schema_version": codec.SCHEMA_VERSION + 1}
    with pytest.raises(codec.RecordVersionError, match="newer photosync"):
        codec.record_from_json(newer)
    assert newer["schema_version"] == codec.SCHEMA_VERSION + 1
    # and the archive says so (a user's clone is behind), leaving the file as it is
    archive = new_archive(tmp_path)
    shutil.copytree(FIXTURE / "photos", archive.root / "photos", dirs_exist_ok=True)
    target = archive.root / FIXTURE_RECORDS[0].relative_to(FIXTURE)
    raw = canonical_bytes(newer)
    target.write_bytes(raw)
    _commit_by_hand(archive.root, "a record of a newer photosync")
    archive.ensure_index(force=True)
    damaged = [
        d for d in archive.damaged_records if d.startswith(str(target.relative_to(archive.root)))
    ]
    assert len(damaged) == 1 and "newer photosync" in damaged[0]
    assert damaged[0].count(str(target.relative_to(archive.root))) == 1  # named once
    with pytest.raises(ArchiveCorrupt, match="newer photosync") as caught:
        archive._load_path(target)
    assert "Update photosync" in str(caught.value.hint)
    assert target.read_bytes() == raw


def test_an_older_record_is_migrated_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    older = {**data, "schema_version": 0, "legacy": "x"}
    del older["problems"]

    def zero_to_one(doc: dict[str, Any]) -> dict[str, Any]:
        doc["problems"] = [{"code": "migrated", "message": doc.pop("legacy")}]
        return doc

    monkeypatch.setitem(codec.MIGRATIONS, 0, zero_to_one)
    migrated = codec.record_from_json(older)
    assert migrated["schema_version"] == codec.SCHEMA_VERSION
    assert migrated["problems"] == [{"code": "migrated", "message": "x"}]
    assert "legacy" not in migrated
    assert "legacy" in older and "problems" not in older  # the input is left alone


def test_a_version_no_migration_leads_from_is_refused() -> None:
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    with pytest.raises(codec.RecordVersionError, match="no migration from schema_version 0"):
        codec.record_from_json({**data, "schema_version": 0})


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.none(), st.text(max_size=3), st.booleans(), st.floats(allow_nan=False)))
def test_a_hand_edited_schema_version_is_left_for_the_schema_to_report(version: Any) -> None:
    """Not a number (typed by hand): read as it is, and the schema names the problem."""
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    edited = {**data, "schema_version": version}
    if isinstance(version, float) and version == codec.SCHEMA_VERSION:
        return  # 1.0 is the current version to JSON and to Python alike
    assert codec.record_from_json(edited) is edited
    assert not is_valid(PHOTO_SCHEMA, edited)
