"""The typed record model reads and writes every record exactly as it is on disk.

``tests/data/archive-v1`` was written by photosync before ``photosync.model``
had types (``tests/data/make_archive_v1.py``: local folders, real shared photos
with an XMP sidecar, a Takeout, the Flickr and Google emulators, approvals,
decisions, problems, blob locations, variants); the hypothesis property covers
records no run happened to write (unknown keys, null and empty optional keys).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from photosync.archive.jsonio import canonical_bytes
from photosync.model import codec
from photosync.model.record import JsonObject, PhotoRecord, Problem

FIXTURE = Path(__file__).parent / "data" / "archive-v1"
FIXTURE_RECORDS = sorted((FIXTURE / "photos").rglob("*.json"))


def _unknown_keys(node: Any, where: str = "") -> list[str]:
    """Every key the model kept untyped (``unknown``), with where it was."""
    out: list[str] = []
    if isinstance(node, JsonObject):
        out += [f"{where}.{key}" for key in node.unknown]
        for spec in dataclasses.fields(node):
            if spec.metadata.get("json"):
                out += _unknown_keys(getattr(node, spec.name), f"{where}.{spec.name}")
    elif isinstance(node, list):
        for item in node:
            out += _unknown_keys(item, where)
    elif isinstance(node, dict):
        for key, item in node.items():
            if isinstance(item, (list, JsonObject)):
                out += _unknown_keys(item, f"{where}[{key}]")
    return out


def test_the_fixture_archive_has_every_part_of_a_record() -> None:
    """The byte-for-byte test below proves something only if the fixture holds each part."""
    assert len(FIXTURE_RECORDS) >= 20
    records = [codec.record_from_json(json.loads(p.read_bytes())) for p in FIXTURE_RECORDS]
    instances = [i for r in records for insts in r.instances.values() for i in insts]
    conflicts = [c for r in records for c in r.conflicts]
    assert {s for r in records for s in r.instances} >= {"flickr", "google-photos", "real"}
    assert any(i.sidecars for i in instances)
    assert any(i.observed and i.observed.sources for i in instances)
    assert any(c.decisions for c in conflicts)
    assert any(c.resolution is not None for c in conflicts)
    assert any(r.visibility.approvals for r in records)
    assert any(a.seal for r in records for a in r.visibility.approvals)
    assert any(r.problems for r in records)
    assert any(r.blob_locations for r in records)
    assert any(r.variants for r in records)


@pytest.mark.parametrize("path", FIXTURE_RECORDS, ids=lambda p: p.name[:8])
def test_a_record_written_before_the_model_is_rewritten_byte_for_byte(path: Path) -> None:
    raw = path.read_bytes()
    record = codec.record_from_json(json.loads(raw))
    assert _unknown_keys(record) == []  # typed, not carried through as unknown
    assert canonical_bytes(codec.record_to_json(record)) == raw


# hypothesis: any record JSON of the schema's shape ----------------------------------------
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


def _object(cls: type[JsonObject], depth: int = 0) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects of ``cls``'s shape: required keys, optional ones absent, null, empty or
    set, and keys no photosync knows."""
    required: dict[str, st.SearchStrategy[Any]] = {}
    optional: dict[str, st.SearchStrategy[Any]] = {}
    for spec in dataclasses.fields(cls):
        name = spec.metadata.get("json")
        if name is None:
            continue
        codec_ = spec.metadata["codec"]
        if codec_.node is None:
            value: st.SearchStrategy[Any] = _json
        elif codec_.shape == "one":
            value = _object(codec_.node, depth + 1)
            if not spec.metadata["required"]:
                value = st.one_of(st.none(), value)
        elif codec_.shape == "list":
            value = st.lists(_object(codec_.node, depth + 1), max_size=2 if depth < 2 else 1)
        else:
            value = st.dictionaries(
                st.sampled_from(["real", "flickr", "google-photos"]),
                st.lists(_object(codec_.node, depth + 1), max_size=2),
                max_size=2,
            )
        (required if spec.metadata["required"] else optional)[name] = value
    known = {spec.metadata["json"] for spec in dataclasses.fields(cls) if spec.metadata.get("json")}
    unknown = st.dictionaries(
        st.text(min_size=1, max_size=6).filter(lambda k: k not in known), _json, max_size=2
    )
    return st.tuples(st.fixed_dictionaries(required, optional=optional), unknown).map(
        lambda parts: {**parts[1], **parts[0]}
    )


@settings(max_examples=60, deadline=None)
@given(_object(PhotoRecord).map(lambda d: {**d, "schema_version": codec.SCHEMA_VERSION}))
def test_any_record_json_round_trips(data: dict[str, Any]) -> None:
    record = codec.record_from_json(data)
    assert codec.record_to_json(record) == data
    assert canonical_bytes(codec.record_to_json(record)) == canonical_bytes(data)
    assert codec.record_from_json(codec.record_to_json(record)) == record


def test_a_record_of_a_newer_photosync_is_refused_not_damaged() -> None:
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    newer = {**data, "schema_version": codec.SCHEMA_VERSION + 1}
    with pytest.raises(codec.RecordVersionError, match="newer photosync"):
        codec.record_from_json(newer)
    assert newer["schema_version"] == codec.SCHEMA_VERSION + 1


def test_an_older_record_is_migrated_step_by_step(monkeypatch: pytest.MonkeyPatch) -> None:
    data = json.loads(FIXTURE_RECORDS[0].read_bytes())
    older = {**data, "schema_version": 0, "legacy": "x"}
    del older["problems"]

    def zero_to_one(doc: dict[str, Any]) -> dict[str, Any]:
        doc["problems"] = [{"code": "migrated", "message": doc.pop("legacy")}]
        return doc

    monkeypatch.setitem(codec.MIGRATIONS, 0, zero_to_one)
    record = codec.record_from_json(older)
    assert record.schema_version == codec.SCHEMA_VERSION
    assert record.problems == [Problem("migrated", "x")]
    assert "legacy" in older and "problems" not in older  # the input is left alone


def test_a_new_problem_is_written_as_photosync_always_wrote_one() -> None:
    assert Problem.new("listing", "gone").to_json() == {
        "code": "listing",
        "message": "gone",
        "service": None,
    }
